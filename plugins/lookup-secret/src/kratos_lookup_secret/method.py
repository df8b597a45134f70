"""The ``lookup_secret`` method: backup codes as a second factor (kratos-behaviour.md section 6.5).

Settings (privileged session): *regenerate* shows twelve new codes once and keeps their digests
in the flow's internal context; *confirm* stores them as the identity's ``lookup_secret``
credential (replacing older codes) and records ``lookup_secret`` (aal2) on the session;
*reveal* lists which codes are left and which were used when; *disable* removes them.

Login (``aal=aal2`` only): an unused code of the session's identity. Codes are stored as keyed
digests (HMAC-SHA256 under ``secrets.default``), so unlike Kratos, *reveal* cannot show unused
codes again: it masks them. A code is used up by a conditional write of the credential, so of
two requests racing with the same code exactly one signs in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kratos_core.api import (
    SHOW_FLOW,
    BadRequest,
    Credential,
    FlowValidationError,
    LoginContext,
    LoginResult,
    SettingsContext,
    SettingsResult,
    ShowFlow,
    StateKey,
    input_node,
    messages,
    submit_node,
    text_node,
    utcnow,
)
from kratos_lookup_secret import codes

__all__ = ["LookupSecretMethod"]

_TYPE = "lookup_secret"
_GROUP = "lookup_secret"
#: Credential config key (Kratos's name) of the list of ``{"code": digest, "used_at": ...}``.
_CODES = "recovery_codes"
#: Flow internal context key of the digests of freshly generated, not yet confirmed codes.
_PENDING = StateKey("lookup_secret", "pending_digests", list[str])
#: How unused codes are shown by *reveal* (only their digests are stored).
MASK = "*" * codes.LENGTH
_RETRIES = 5


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _button(name: str, label: Any) -> Any:
    # Kratos's lookup buttons all carry the string "true".
    return input_node(name, "submit", _GROUP, value="true", label=label)


def _used_at(entry: Mapping[str, Any]) -> datetime | None:
    raw = entry.get("used_at")
    if not raw:
        return None
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


class LookupSecretMethod:
    """The ``lookup_secret`` method object (login at aal2, settings).

    Declarations read by the core: it provides ``aal2``; an identity's credential is a second
    factor while it holds codes; the admin API shows it with values redacted.
    """

    id = _TYPE
    credential_type = _TYPE
    config_model = None

    aal = "aal2"
    multi_factor_aal2 = False
    credential_schema_keys = frozenset()
    implicit_credential = False

    def configure(self, config: Any, app_config: Any) -> None:
        """No config of its own."""
        del config, app_config

    # -- declarations ----------------------------------------------------------------------

    def first_factor(self, credential: Credential) -> bool:
        """Never: a backup code alone does not sign anyone in."""
        del credential
        return False

    def second_factor(self, credential: Credential) -> bool:
        """Set-up codes (used or not, as Kratos counts them) make the identity aal2-capable."""
        return bool(credential.config.get(_CODES))

    @staticmethod
    def _keys(ctx: Any) -> Sequence[str]:
        return tuple(ctx.services.secrets_for("default")) or tuple(ctx.services.secrets_for("cookie"))

    # -- login -----------------------------------------------------------------------------

    def populate_login(self, ctx: LoginContext) -> None:
        """``lookup_secret`` and "Use backup recovery code", on aal2 flows of identities with codes."""
        if ctx.requested_aal != "aal2" or ctx.identity is None:
            return
        cred = ctx.identity.credentials.get(_TYPE)
        if cred is None or not self.second_factor(cred):
            return
        ui = ctx.flow.ui
        ui.append(input_node("lookup_secret", "text", _GROUP, required=True, label=messages.login_lookup_label()))
        ui.append(submit_node("method", _TYPE, _GROUP, messages.login_lookup()))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult:
        """Use up one unused code: used -> 4000012, unknown -> 4000016, none set up -> 4000014."""
        if ctx.requested_aal != "aal2" or ctx.session is None:
            raise FlowValidationError.on_flow(messages.no_strategy("login"))
        raw = body.get("lookup_secret")
        if not isinstance(raw, str) or not raw.strip():
            raise FlowValidationError.on_field("lookup_secret", messages.missing_property("lookup_secret"))
        code, keys = codes.normalize(raw), self._keys(ctx)
        # Counted per account before any code is compared (security.rate_limits.lookup_secret).
        throttle = ctx.services.throttle
        attempt = throttle.keys(ctx.request, str(ctx.session.identity_id))
        await throttle.check("lookup_secret", attempt)
        for _ in range(_RETRIES):
            identity = await ctx.services.identity(ctx.session.identity_id)
            cred = identity.credentials.get(_TYPE) if identity is not None else None
            if identity is None or cred is None or not self.second_factor(cred):
                raise FlowValidationError.on_flow(messages.no_lookup_codes())
            entries = list(cred.config[_CODES])
            index = next((i for i, e in enumerate(entries) if codes.matches(keys, str(e.get("code", "")), code)), None)
            if index is None:
                raise FlowValidationError.on_flow(messages.invalid_lookup_code())
            if entries[index].get("used_at"):
                raise FlowValidationError.on_flow(messages.lookup_code_already_used())
            used_at = utcnow().replace(microsecond=0)
            entries[index] = {**entries[index], "used_at": used_at.isoformat().replace("+00:00", "Z")}
            if await ctx.services.swap_credential_config(identity.id, _TYPE, cred.config, {**cred.config, _CODES: entries}):
                await throttle.succeed("lookup_secret", attempt)
                return LoginResult(identity=identity, method=_TYPE, aal="aal2")
            # Another request changed the codes first: look again (it may have used this one).
        raise FlowValidationError.on_flow(messages.lookup_code_already_used())

    # -- settings --------------------------------------------------------------------------

    def populate_settings(self, ctx: SettingsContext) -> None:
        """Reveal and disable for set-up codes, else regenerate."""
        cred = ctx.identity.credentials.get(_TYPE)
        ui = ctx.flow.ui
        if cred is not None and self.second_factor(cred):
            ui.append(_button("lookup_secret_reveal", messages.lookup_reveal()))
            ui.append(_button("lookup_secret_disable", messages.lookup_disable()))
        else:
            ui.append(_button("lookup_secret_regenerate", messages.lookup_regenerate()))

    async def update_settings(self, ctx: SettingsContext, body: Mapping[str, Any]) -> SettingsResult | ShowFlow:
        """Regenerate, confirm, reveal or disable (whichever the body sets to true)."""
        ctx.require_privileged()
        if _truthy(body.get("lookup_secret_regenerate")):
            return self._regenerate(ctx)
        if _truthy(body.get("lookup_secret_confirm")):
            return self._confirm(ctx)
        if _truthy(body.get("lookup_secret_reveal")):
            return self._reveal(ctx)
        if _truthy(body.get("lookup_secret_disable")):
            if ctx.identity.credentials.pop(_TYPE, None) is None:
                raise FlowValidationError.on_flow(messages.no_lookup_codes())
            return SettingsResult(identity=ctx.identity, method=_TYPE)
        raise BadRequest("Choose one of lookup_secret_regenerate, lookup_secret_confirm, lookup_secret_reveal or lookup_secret_disable.")

    def _show_codes(self, ctx: SettingsContext, listed: Sequence[tuple[str, datetime | None]], *buttons: Any) -> None:
        ui = ctx.flow.ui
        for name in ("lookup_secret_reveal", "lookup_secret_regenerate", "lookup_secret_disable", "lookup_secret_confirm", "lookup_secret_codes"):
            ui.remove(name)
        ui.append(
            text_node("lookup_secret_codes", messages.lookup_secret_list(listed), _GROUP, messages.lookup_codes_notice())
        )
        for button in buttons:
            ui.append(button)

    def _regenerate(self, ctx: SettingsContext) -> ShowFlow:
        fresh = codes.new_codes()
        key = self._keys(ctx)[0]
        ctx.flow.set_state(_PENDING, [codes.digest(key, c) for c in fresh])
        self._show_codes(ctx, [(c, None) for c in fresh], _button("lookup_secret_confirm", messages.lookup_confirm()))
        return SHOW_FLOW

    def _confirm(self, ctx: SettingsContext) -> SettingsResult:
        pending = ctx.flow.get_state(_PENDING)
        if not isinstance(pending, list) or not pending:
            raise BadRequest("You must (re-)generate recovery backup codes before you can save them.")
        identity = ctx.identity
        now = utcnow()
        identity.credentials[_TYPE] = Credential(
            id=uuid.uuid4(),
            type=_TYPE,
            identifiers=[str(identity.id)],
            config={_CODES: [{"code": d, "used_at": None} for d in pending]},
            created_at=now,
            updated_at=now,
        )
        return SettingsResult(identity=identity, method=_TYPE, proved_aal="aal2")

    def _reveal(self, ctx: SettingsContext) -> ShowFlow:
        cred = ctx.identity.credentials.get(_TYPE)
        if cred is None or not self.second_factor(cred):
            raise FlowValidationError.on_flow(messages.no_lookup_codes())
        listed = [(MASK, _used_at(e)) for e in cred.config[_CODES]]
        self._show_codes(
            ctx,
            listed,
            _button("lookup_secret_regenerate", messages.lookup_regenerate()),
            _button("lookup_secret_disable", messages.lookup_disable()),
        )
        return SHOW_FLOW
