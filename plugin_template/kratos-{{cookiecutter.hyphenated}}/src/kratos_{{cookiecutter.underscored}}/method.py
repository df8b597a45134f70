"""The ``{{ cookiecutter.underscored }}`` method: a numeric PIN as a second factor.

Admins import a PIN with the identity (``credentials.{{ cookiecutter.underscored }}.config.pin``
in ``POST /admin/identities``); it is stored as a salted PBKDF2 hash. A signed-in user steps up
to ``aal2`` by entering it in a login flow created with ``aal=aal2``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from kratos_core.errors import BadRequest
from kratos_core.flows.errors import FlowValidationError
from kratos_core.identity.model import Identity
from kratos_core.methods.protocols import LoginContext, LoginResult
from kratos_core.ui import messages
from kratos_core.ui.nodes import input_node, submit_node

from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

__all__ = ["{{ cookiecutter.class_name }}Method", "hash_pin", "verify_pin"]

METHOD_ID = "{{ cookiecutter.underscored }}"


def hash_pin(pin: str, iterations: int) -> str:
    """``pbkdf2-sha256$<iterations>$<salt>$<hash>`` (hex) for ``pin``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str) -> bool:
    """Whether ``pin`` matches a hash made by :func:`hash_pin` (constant-time comparison)."""
    try:
        _, rounds, salt, expected = encoded.split("$")
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


class {{ cookiecutter.class_name }}Method:
    """The method object: its id, credential type and config, login and admin import.

    Attributes:
        config: The validated ``selfservice.methods.{{ cookiecutter.underscored }}.config``.
    """

    id = METHOD_ID
    credential_type = METHOD_ID
    config_model = {{ cookiecutter.class_name }}Config

    def __init__(self) -> None:
        self.config = {{ cookiecutter.class_name }}Config()

    def configure(self, config: {{ cookiecutter.class_name }}Config | None, app_config: Any) -> None:
        """Take the validated config at start-up."""
        del app_config
        self.config = config or {{ cookiecutter.class_name }}Config()

    # -- admin import ----------------------------------------------------------------------

    async def import_credentials(self, identity: Identity, raw: dict[str, Any]) -> dict[str, Any]:
        """``{"config": {"pin": "123456"}}`` from an admin body -> the stored ``{"hashed_pin": ...}``.

        Raises:
            BadRequest: No PIN, not digits only, or shorter than ``min_length``.
        """
        del identity
        config = raw.get("config")
        pin = config.get("pin") if isinstance(config, Mapping) else None
        if not isinstance(pin, str) or not pin.isdigit():
            raise BadRequest(f'credentials.{METHOD_ID}.config.pin must be a string of digits.')
        if len(pin) < self.config.min_length:
            raise BadRequest(f"credentials.{METHOD_ID}.config.pin must have at least {self.config.min_length} digits.")
        return {"hashed_pin": hash_pin(pin, self.config.iterations)}

    # -- login (second factor) -------------------------------------------------------------

    def populate_login(self, ctx: LoginContext) -> None:
        """A PIN input on aal2 flows of identities that have a PIN."""
        if ctx.requested_aal != "aal2" or _hashed_pin(ctx.identity) is None:
            return
        ctx.flow.ui.append(input_node("pin", "password", "default", required=True, label=messages.label("PIN")))
        ctx.flow.ui.append(submit_node("method", METHOD_ID, "default", messages.label("Use PIN")))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult:
        """Check the PIN of the session's identity; the session steps up to aal2."""
        hashed = _hashed_pin(ctx.identity)
        if ctx.identity is None or hashed is None:
            # Only a signed-in identity with a PIN can use it (a second factor).
            raise FlowValidationError.on_flow(messages.no_strategy("login"))
        pin = body.get("pin")
        if not isinstance(pin, str) or not pin:
            raise FlowValidationError.on_field("pin", messages.missing_property("pin"))
        if not verify_pin(pin, hashed):
            raise FlowValidationError.on_flow(messages.invalid_credentials())
        return LoginResult(identity=ctx.identity, method=METHOD_ID, aal="aal2")


def _hashed_pin(identity: Identity | None) -> str | None:
    credential = identity.credentials.get(METHOD_ID) if identity is not None else None
    hashed = credential.config.get("hashed_pin") if credential is not None else None
    return hashed if isinstance(hashed, str) else None
