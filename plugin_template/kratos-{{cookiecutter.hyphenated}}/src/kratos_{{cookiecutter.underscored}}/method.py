{% if cookiecutter.method_factor == "second" -%}
"""The ``{{ cookiecutter.underscored }}`` method: a numeric PIN as a second factor.

Admins import a PIN with the identity (``credentials.{{ cookiecutter.underscored }}.config.pin``
in ``POST /admin/identities``); it is stored as a salted PBKDF2 hash. A signed-in user steps up
to ``aal2`` by entering it in a login flow created with ``aal=aal2``.

The method *declares* that it is a second factor (``aal``, :meth:`second_factor`), so an
identity with a PIN has the available AAL ``aal2``: under
``session.whoami.required_aal: highest_available`` its aal1 sessions are asked to step up.
"""
{%- else -%}
"""The ``{{ cookiecutter.underscored }}`` method: sign in with an identifier and a numeric PIN.

Admins import a PIN with the identity (``credentials.{{ cookiecutter.underscored }}.config.pin``
in ``POST /admin/identities``); it is stored as a salted PBKDF2 hash. The identifier is a trait
the identity schema flags with
``"ory.sh/kratos": {"credentials": {"{{ cookiecutter.underscored }}": {"identifier": true}}}``.

The method *declares* that it is a first factor (``aal``, :meth:`first_factor`) and that it reads
the ``identifier`` key of its schema block (``credential_schema_keys``): the core keeps the
credential's identifiers in sync with the traits and reserves them (``implicit_credential``).
"""
{%- endif %}

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from kratos_core.api import BadRequest
from kratos_core.api import FlowValidationError
from kratos_core.api import Credential, Identity
from kratos_core.api import MethodBase
from kratos_core.api import LoginContext, LoginResult
from kratos_core.api import messages
from kratos_core.api import input_node, submit_node
{%- if cookiecutter.method_factor == "first" %}
from kratos_core.api import identifier_label
{%- endif %}

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


class {{ cookiecutter.class_name }}Method(MethodBase):
    """The method object: its id, credential type and config, what it declares, login and import.

    Attributes:
        config: The validated ``selfservice.methods.{{ cookiecutter.underscored }}.config``.
    """

    id = METHOD_ID
    credential_type = METHOD_ID
    config_model = {{ cookiecutter.class_name }}Config
{%- if cookiecutter.method_factor == "second" %}

    #: A completed PIN login is a second factor.
    aal = "aal2"
{%- else %}

    #: A completed PIN login is a first factor.
    aal = "aal1"
    #: The schema flags the traits that identify the user for a PIN sign-in.
    credential_schema_keys = frozenset({"identifier"})
    #: The identifiers are reserved as soon as the traits give them, PIN or not.
    implicit_credential = True
{%- endif %}

    def __init__(self) -> None:
        self.config = {{ cookiecutter.class_name }}Config()

    def configure(self, config: {{ cookiecutter.class_name }}Config | None, app_config: Any) -> None:
        """Take the validated config at start-up."""
        del app_config
        self.config = config or {{ cookiecutter.class_name }}Config()

    # -- declarations ----------------------------------------------------------------------
{% if cookiecutter.method_factor == "second" %}
    def second_factor(self, credential: Credential) -> bool:
        """A credential with a PIN steps a session up to aal2 (the identity can reach aal2)."""
        return _hashed(credential) is not None
{%- else %}
    def first_factor(self, credential: Credential) -> bool:
        """A credential with an identifier and a PIN signs in on its own (aal1)."""
        return bool(credential.identifiers) and _hashed(credential) is not None
{%- endif %}

    # The admin API (``include_credential``) shows the config through ``present_credential``;
    # the inherited default redacts every value, which suits a PIN hash.

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
{% if cookiecutter.method_factor == "second" %}
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
        return LoginResult(identity=ctx.identity, method=METHOD_ID, aal=self.aal)
{%- else %}
    # -- login (first factor) --------------------------------------------------------------

    def populate_login(self, ctx: LoginContext) -> None:
        """Identifier and PIN inputs on first-factor (aal1) flows."""
        if ctx.requested_aal != "aal1":
            return
        label = identifier_label(ctx.schema.raw)
        ctx.flow.ui.append(input_node("identifier", "text", "default", value="", required=True, label=label))
        ctx.flow.ui.append(input_node("pin", "password", "default", required=True, label=messages.label("PIN")))
        ctx.flow.ui.append(submit_node("method", METHOD_ID, "default", messages.label("Sign in with PIN")))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult:
        """Find the identity by its identifier and check its PIN (4000006 for either mistake)."""
        identifier, pin = body.get("identifier"), body.get("pin")
        if not isinstance(identifier, str) or not identifier:
            raise FlowValidationError.on_field("identifier", messages.missing_property("identifier"))
        if not isinstance(pin, str) or not pin:
            raise FlowValidationError.on_field("pin", messages.missing_property("pin"))
        identity = await ctx.find_identity(identifier, METHOD_ID)
        hashed = _hashed_pin(identity)
        if identity is None or hashed is None or not verify_pin(pin, hashed):
            raise FlowValidationError.on_flow(messages.invalid_credentials())
        return LoginResult(identity=identity, method=METHOD_ID, aal=self.aal)
{%- endif %}


def _hashed(credential: Credential | None) -> str | None:
    hashed = credential.config.get("hashed_pin") if credential is not None else None
    return hashed if isinstance(hashed, str) else None


def _hashed_pin(identity: Identity | None) -> str | None:
    return _hashed(identity.credentials.get(METHOD_ID) if identity is not None else None)
