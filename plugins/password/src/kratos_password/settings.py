"""Changing the password in the settings flow (kratos-behaviour.md sections 1.7, 2.4 and 6.1).

The section is a new-password input and a Save button. A submit needs a privileged session (a
recent login), a password that differs from the current one (4000039) and that passes the policy
for every identifier of the credential; the new hash is made in the hashing pool and replaces the
old one. The engine stores the identity and runs the ``after.password`` hooks
(``revoke_active_sessions`` ends the identity's other sessions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kratos_core.api import FlowValidationError, SettingsContext, SettingsResult, input_node, messages, submit_node, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from kratos_password.method import PasswordMethod

__all__ = ["populate_settings", "update_settings"]

_CREDENTIAL = "password"


def populate_settings(ctx: SettingsContext) -> None:
    """The ``password`` input (new-password) and ``method=password`` Save (group ``password``)."""
    ui = ctx.flow.ui
    ui.append(
        input_node("password", "password", "password", required=True, autocomplete="new-password", label=messages.label_password())
    )
    ui.append(submit_node("method", "password", "password", messages.label_save()))


async def update_settings(method: PasswordMethod, ctx: SettingsContext, body: Mapping[str, Any]) -> SettingsResult:
    """Check the new password and put its hash on ``ctx.identity``.

    Raises:
        kratos_core.errors.Forbidden: ``session_refresh_required`` (checked before anything else,
            as Kratos does, so a stale session learns nothing about the password).
        FlowValidationError: Missing (4000002), same as before (4000039), no identifier
            (4000009) or a policy violation (on ``password``).
    """
    ctx.require_privileged()
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise FlowValidationError.on_field("password", messages.missing_property("password"))
    cred = ctx.identity.credentials.get(_CREDENTIAL)
    if cred is None or not cred.identifiers:
        raise FlowValidationError.on_flow(messages.no_identifiers())
    if await _is_current(method, password, cred.config.get("hashed_password")):
        raise FlowValidationError.on_field("password", messages.password_same_as_old())
    await method._check_policy(password, list(cred.identifiers))  # noqa: SLF001 - same plugin
    hashed = await method.pool.hash(password, method.hasher)
    # A new password replaces an imported hash and the migration-hook marker alike.
    cred.config = {"hashed_password": hashed}
    cred.updated_at = utcnow()
    return SettingsResult(identity=ctx.identity, method=_CREDENTIAL)


async def _is_current(method: PasswordMethod, password: str, hashed: Any) -> bool:
    if not isinstance(hashed, str) or not hashed:
        return False
    try:
        return await method.pool.verify(password, hashed)
    except Exception:  # noqa: BLE001 - an unreadable stored hash cannot equal the new password
        return False
