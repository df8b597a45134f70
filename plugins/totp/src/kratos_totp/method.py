"""The ``totp`` method: authenticator apps as a second factor (kratos-behaviour.md section 6.4).

Settings: every new flow gets a new key (its otpauth URL, encrypted, in the flow's internal
context) shown as a QR code and as text; a correct code stores it as the identity's ``totp``
credential and records ``totp`` (aal2) on the session. Unlinking removes it. Both need a
privileged session.

Login (``aal=aal2`` only): a correct ``totp_code`` for the session's identity. Unlike Kratos, a
code is accepted once: the time step of the last accepted code is stored with the credential
(a conditional write, so two requests racing with one code cannot both win) and a code of that
step or an earlier one is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from kratos_core.api import (
    Credential,
    FlowValidationError,
    Identity,
    LoginContext,
    LoginResult,
    SettingsContext,
    SettingsResult,
    StateKey,
    img_node,
    input_node,
    messages,
    submit_node,
    text_node,
    utcnow,
)
from kratos_totp import totp
from kratos_totp.cipher import Cipher, CipherError
from kratos_totp.config import TotpConfig

__all__ = ["TotpMethod"]

_TYPE = "totp"
#: Credential config and flow internal context key of the (encrypted) otpauth URL, as Kratos names it.
_URL = "totp_url"
#: The new key a settings flow offers, encrypted, until a code confirms it.
_PENDING_URL = StateKey("totp", "pending_url", str)
#: Credential config key of the time step of the last accepted login code.
_LAST_STEP = "last_step"
_GROUP = "totp"
#: How often a login retries after losing the conditional write to a concurrent request.
_RETRIES = 3


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class TotpMethod:
    """The ``totp`` method object (login at aal2, settings).

    Declarations read by the core: it provides ``aal2``; an identity's credential is a second
    factor once it holds a key; the trait flagged ``totp.account_name`` names the account in
    authenticator apps. The admin API shows the credential's keys only, values redacted (the
    otpauth URL is shown once, at set-up).
    """

    id = _TYPE
    credential_type = _TYPE
    config_model = TotpConfig

    aal = "aal2"
    multi_factor_aal2 = False
    credential_schema_keys = frozenset({"account_name"})
    implicit_credential = False

    def __init__(self) -> None:
        self.config = TotpConfig()
        self.cipher = Cipher("noop", ())

    def configure(self, config: TotpConfig | None, app_config: Any) -> None:
        """Take the validated config and the cipher settings (``ciphers``, ``secrets.cipher``)."""
        self.config = config if config is not None else TotpConfig()
        self.cipher = Cipher(app_config.ciphers.algorithm, tuple(app_config.secrets_for("cipher")))

    # -- declarations ----------------------------------------------------------------------

    def first_factor(self, credential: Credential) -> bool:
        """Never: a TOTP code alone does not sign anyone in."""
        del credential
        return False

    def second_factor(self, credential: Credential) -> bool:
        """A stored key makes the identity aal2-capable."""
        return bool(credential.config.get(_URL))

    # -- login -----------------------------------------------------------------------------

    def populate_login(self, ctx: LoginContext) -> None:
        """``totp_code`` and "Use Authenticator", on aal2 flows of identities with a key."""
        if ctx.requested_aal != "aal2" or ctx.identity is None:
            return
        cred = ctx.identity.credentials.get(_TYPE)
        if cred is None or not self.second_factor(cred):
            return
        ui = ctx.flow.ui
        ui.append(input_node("totp_code", "text", _GROUP, required=True, label=messages.login_totp_label()))
        ui.append(submit_node("method", _TYPE, _GROUP, messages.login_totp()))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult:
        """Check ``totp_code`` against the session identity's key; each time step works once."""
        if ctx.requested_aal != "aal2" or ctx.session is None:
            raise FlowValidationError.on_flow(messages.no_strategy("login"))
        code = body.get("totp_code")
        if not isinstance(code, str) or not code.strip():
            raise FlowValidationError.on_field("totp_code", messages.missing_property("totp_code"))
        # Six digits fall to guessing without a limit (security.rate_limits.totp); counted per
        # account, before the code is looked at, so a refusal says nothing about the code.
        throttle = ctx.services.throttle
        attempt = throttle.keys(ctx.request, str(ctx.session.identity_id))
        await throttle.check("totp", attempt)
        for _ in range(_RETRIES):
            identity = await ctx.services.identity(ctx.session.identity_id)
            cred = identity.credentials.get(_TYPE) if identity is not None else None
            if identity is None or cred is None or not self.second_factor(cred):
                raise FlowValidationError.on_flow(messages.no_totp_device())
            step = self._step(cred, code.strip())
            if step is None or step <= int(cred.config.get(_LAST_STEP, -1)):
                raise FlowValidationError.on_flow(messages.invalid_totp_code())
            updated = {**cred.config, _LAST_STEP: step}
            if await ctx.services.swap_credential_config(identity.id, _TYPE, cred.config, updated):
                await throttle.succeed("totp", attempt)
                return LoginResult(identity=identity, method=_TYPE, aal="aal2")
        raise FlowValidationError.on_flow(messages.invalid_totp_code())

    def _step(self, cred: Credential, code: str) -> int | None:
        try:
            url = self.cipher.decrypt(cred.config[_URL])
        except CipherError:
            return None  # a key this server cannot read (secrets.cipher changed) matches nothing
        return totp.matching_step(url, code)

    # -- settings --------------------------------------------------------------------------

    def populate_settings(self, ctx: SettingsContext) -> None:
        """Unlink for a stored key; else a new key as QR code and text, and the code input."""
        ui = ctx.flow.ui
        cred = ctx.identity.credentials.get(_TYPE)
        if cred is not None and self.second_factor(cred):
            ui.append(
                input_node("totp_unlink", "submit", _GROUP, value="true", required=True, label=messages.totp_unlink())
            )
            return
        url = totp.new_key_url(self._issuer(ctx), self._account(ctx, ctx.identity))
        ctx.flow.set_state(_PENDING_URL, self.cipher.encrypt(url))
        ui.append(img_node("totp_qr", totp.qr_data_uri(url), totp.QR_SIZE, totp.QR_SIZE, _GROUP, messages.totp_qr()))
        ui.append(
            text_node("totp_secret_key", messages.totp_secret(totp.secret_of(url)), _GROUP, messages.totp_secret_label())
        )
        ui.append(input_node("totp_code", "text", _GROUP, required=True, label=messages.label_verify_code()))
        ui.append(submit_node("method", _TYPE, _GROUP, messages.label_save()))

    def _issuer(self, ctx: SettingsContext) -> str:
        return self.config.issuer or totp.default_issuer(ctx.services.public_base_url)

    @staticmethod
    def _account(ctx: SettingsContext, identity: Identity) -> str:
        return totp.account_name(ctx.schema.raw, identity.traits, str(identity.id))

    async def update_settings(self, ctx: SettingsContext, body: Mapping[str, Any]) -> SettingsResult:
        """Confirm the flow's new key with a code, or unlink the stored one (privileged only)."""
        ctx.require_privileged()
        identity = ctx.identity
        if _truthy(body.get("totp_unlink")):
            if identity.credentials.pop(_TYPE, None) is None:
                raise FlowValidationError.on_flow(messages.no_totp_device())
            return SettingsResult(identity=identity, method=_TYPE)
        code = body.get("totp_code")
        if not isinstance(code, str) or not code.strip():
            raise FlowValidationError.on_field("totp_code", messages.missing_property("totp_code"))
        pending = ctx.flow.get_state(_PENDING_URL)
        try:
            url = self.cipher.decrypt(pending) if isinstance(pending, str) else None
        except CipherError:
            url = None
        step = totp.matching_step(url, code.strip()) if url else None
        if url is None or step is None:
            raise FlowValidationError.on_field("totp_code", messages.invalid_totp_code())
        now = utcnow()
        identity.credentials[_TYPE] = Credential(
            id=uuid.uuid4(),
            type=_TYPE,
            identifiers=[str(identity.id)],
            # The set-up code counts as used: it cannot be replayed for a login.
            config={_URL: self.cipher.encrypt(url), _LAST_STEP: step},
            created_at=now,
            updated_at=now,
        )
        return SettingsResult(identity=identity, method=_TYPE, proved_aal="aal2")
