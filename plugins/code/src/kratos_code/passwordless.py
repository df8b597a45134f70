"""Sign-in and sign-up by code (``selfservice.methods.code.passwordless_enabled``).

kratos-behaviour.md section 6.2. Login: ``identifier`` -> a code to the matching code address
(``login_code_valid``), flow ``sent_email``, answered 400 with the flow; then ``code`` -> the
address that received it becomes verified and the user is signed in with method ``code`` (aal1).
Unknown identifiers get 4000035 (Kratos reveals this), wrong codes 4010008.

Registration: ``traits`` -> codes to every code address (``registration_code_valid``), traits
kept hidden; then ``code`` with the same traits (else 4000036) -> the identity is created with
the address that received the code verified. Wrong codes get 4040003. ``resend=code`` sends
again in both flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kratos_code.common import (
    channel_for,
    count_guess,
    count_send,
    guess_succeeded,
    minutes,
    remember_subject,
    required,
    text_field,
)
from kratos_code.config import CodeConfig
from kratos_code.ui import login_code_form, registration_code_form
from kratos_core.api import (
    SHOW_FLOW,
    CodeNotFound,
    FlowValidationError,
    Identity,
    LoginContext,
    LoginResult,
    OneTimeSecret,
    RegistrationContext,
    RegistrationResult,
    ShowFlow,
    StateKey,
    find_verifiable,
    identifier_label,
    identity_public_dict,
    input_node,
    messages,
    normalize_identifier,
    submit_node,
    utcnow,
)

__all__ = ["PasswordlessCode"]

_LOGIN = "login_code"
_REGISTRATION = "registration_code"
_TRAITS_KEY = StateKey("code", "registration_traits", dict[str, Any])


def _code_addresses(identity: Identity) -> list[tuple[str, str]]:
    """``(channel, address)`` of every address the identity receives codes at."""
    cred = identity.credentials.get("code")
    entries = cred.config.get("addresses", []) if cred is not None else []
    return [(e["channel"], e["address"]) for e in entries if isinstance(e, Mapping) and e.get("address")]


def _template_data(ctx: Any, to: str, **fields: Any) -> dict[str, Any]:
    flow = ctx.flow
    return {"to": to, "request_url": flow.request_url, "transient_payload": flow.transient_payload or {}, **fields}


class PasswordlessCode:
    """The login and registration half of the ``code`` method."""

    config: CodeConfig
    passwordless: bool = False

    async def _check(self, ctx: Any, kind: str, value: str) -> OneTimeSecret:
        raise NotImplementedError

    def _active(self, ctx: Any) -> bool:
        return self.passwordless and getattr(ctx, "requested_aal", "aal1") == "aal1"

    # -- login -----------------------------------------------------------------------------

    def populate_login(self, ctx: LoginContext) -> None:
        """``identifier`` and "Send sign in code" (1010015) on first-factor flows."""
        if not self._active(ctx):
            return
        if ctx.identity is not None:
            # Refresh: only for an identity that signs in by code, its identifier pre-filled.
            cred = ctx.identity.credentials.get("code")
            if cred is None or not cred.identifiers:
                return
            identifier = input_node("identifier", "hidden", "default", value=cred.identifiers[0], required=True)
        else:
            label = identifier_label(ctx.schema.raw)
            identifier = input_node("identifier", "text", "default", value="", required=True, label=label)
        ctx.flow.ui.upsert(identifier)
        ctx.flow.ui.append(submit_node("method", "code", "code", messages.login_code()))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult | ShowFlow:
        """Send a code for ``identifier``, resend it, or check ``code``."""
        if not self._active(ctx):
            raise FlowValidationError.on_flow(messages.no_strategy("login"))
        if ctx.flow.state == "choose_method" or body.get("resend") == "code":
            return await self._send_login(ctx, text_field(body.get("identifier")))
        code = text_field(body.get("code"))
        if not code:
            raise required("code")
        return await self._use_login_code(ctx, code)

    async def _send_login(self, ctx: LoginContext, identifier: str) -> ShowFlow:
        if not identifier:
            raise required("identifier")
        await count_send(ctx, identifier)
        identity = await ctx.find_identity(identifier, "code")
        if identity is not None and ctx.identity is not None and identity.id != ctx.identity.id:
            identity = None  # a refresh only accepts the signed-in identity
        targets = _login_targets(identity, identifier) if identity is not None else []
        if not targets:
            raise FlowValidationError.on_flow(messages.no_code_user())
        remember_subject(ctx.flow, identity.id)  # type: ignore[union-attr]
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.discard(tx, ctx.flow.id, _LOGIN)
            for via, address in targets:
                await self._deliver_login(ctx, tx, identity, via, address)  # type: ignore[arg-type]
        if ctx.flow.state != "choose_method":
            ctx.flow.move_to("choose_method")  # a resend starts over (section 1.3)
        ctx.flow.move_to("sent_email")
        login_code_form(ctx.flow.ui, identifier=identifier)
        return SHOW_FLOW

    async def _deliver_login(self, ctx: LoginContext, conn: Any, identity: Identity, via: str, address: str) -> None:
        code = ctx.services.secrets.new_code()
        await ctx.services.secrets.issue(
            conn,
            kind=_LOGIN,
            flow_id=ctx.flow.id,
            value=code,
            lifespan=self.config.lifespan,
            identity_id=identity.id,
            address=(via, address),
        )
        data = _template_data(
            ctx,
            address,
            login_code=code,
            identity=identity_public_dict(identity, ctx.services.public_base_url),
            expires_in_minutes=minutes(self.config.lifespan),
        )
        await ctx.services.outbox.queue(
            conn,
            recipient=address,
            template_type="login_code_valid",
            template_data=data,
            channel=channel_for(via),
        )

    async def _use_login_code(self, ctx: LoginContext, code: str) -> LoginResult:
        keys = await count_guess(ctx)
        try:
            found = await self._check(ctx, _LOGIN, code)
        except CodeNotFound:
            raise FlowValidationError.on_flow(messages.invalid_login_code()) from None
        await guess_succeeded(ctx, keys)
        identity = await ctx.services.identities.get(found.identity_id)  # type: ignore[arg-type]
        address = find_verifiable(identity.verifiable_addresses, found.address_via or "", found.address_value or "")
        writing = ctx.services.transaction()
        if address is not None and not address.verified:
            # Receiving the code proved the address (section 6.2): an identity write, with hooks.
            writing = ctx.services.identities.writing(identity, "update", source="login", verified_address=address)
        async with writing as tx:
            await ctx.services.secrets.consume(tx, found)
        ctx.flow.move_to("passed_challenge")
        return LoginResult(identity=identity, method="code", aal="aal1")

    # -- registration ----------------------------------------------------------------------

    def populate_registration(self, ctx: RegistrationContext) -> None:
        """ "Send sign up code" (1040006) once the credential methods are shown."""
        if self.passwordless and ctx.step != "profile":
            ctx.flow.ui.append(submit_node("method", "code", "code", messages.registration_code()))

    async def register(self, ctx: RegistrationContext, body: Mapping[str, Any]) -> RegistrationResult | ShowFlow:
        """Send codes for the submitted traits, resend them, or check ``code``."""
        if not self.passwordless:
            raise FlowValidationError.on_flow(messages.no_strategy("registration"))
        if ctx.flow.state == "choose_method":
            return await self._send_registration(ctx, body.get("traits"))
        identity = await ctx.new_identity(body.get("traits"))
        if identity.traits != ctx.flow.get_state(_TRAITS_KEY):
            raise FlowValidationError.on_flow(messages.traits_mismatch())
        if body.get("resend") == "code":
            return await self._send_registration(ctx, identity.traits)
        code = text_field(body.get("code"))
        if not code:
            raise required("code")
        return await self._use_registration_code(ctx, identity, code)

    async def _send_registration(self, ctx: RegistrationContext, traits: Any) -> ShowFlow:
        identity = await ctx.new_identity(traits)
        targets = _code_addresses(identity)
        if not targets:
            raise FlowValidationError.on_flow(messages.no_identifiers())
        for _, address in targets:
            await count_send(ctx, address)
        remember_subject(ctx.flow, min(address for _, address in targets))
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.discard(tx, ctx.flow.id, _REGISTRATION)
            for via, address in targets:
                await self._deliver_registration(ctx, tx, identity, via, address)
        ctx.flow.set_state(_TRAITS_KEY, identity.traits)
        ctx.flow.move_to("sent_email")
        registration_code_form(ctx.flow.ui, schema_raw=ctx.schema.raw, traits=identity.traits)
        return SHOW_FLOW

    async def _deliver_registration(
        self, ctx: RegistrationContext, conn: Any, identity: Identity, via: str, address: str
    ) -> None:
        code = ctx.services.secrets.new_code()
        # No identity_id: the identity does not exist until the code comes back.
        await ctx.services.secrets.issue(
            conn,
            kind=_REGISTRATION,
            flow_id=ctx.flow.id,
            value=code,
            lifespan=self.config.lifespan,
            address=(via, address),
        )
        who: dict[str, Any] = (
            {"traits": identity.traits} if via == "email" else {"identity": {"traits": identity.traits}}
        )
        data = _template_data(
            ctx, address, registration_code=code, expires_in_minutes=minutes(self.config.lifespan), **who
        )
        await ctx.services.outbox.queue(
            conn,
            recipient=address,
            template_type="registration_code_valid",
            template_data=data,
            channel=channel_for(via),
        )

    async def _use_registration_code(
        self, ctx: RegistrationContext, identity: Identity, code: str
    ) -> RegistrationResult:
        keys = await count_guess(ctx)
        try:
            found = await self._check(ctx, _REGISTRATION, code)
        except CodeNotFound:
            raise FlowValidationError.on_flow(messages.invalid_registration_code()) from None
        await guess_succeeded(ctx, keys)
        address = find_verifiable(identity.verifiable_addresses, found.address_via or "", found.address_value or "")
        if address is not None:
            now = utcnow()
            address.verified, address.status, address.verified_at, address.updated_at = True, "completed", now, now
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.consume(tx, found)
        ctx.flow.move_to("passed_challenge")
        return RegistrationResult(identity=identity, method="code")


def _keys(ctx: Any) -> tuple[str, ...]:
    return ctx.services.secrets_for("cookie")


def _login_targets(identity: Identity, identifier: str) -> list[tuple[str, str]]:
    """The code address the identifier names, else every code address of the identity."""
    addresses = _code_addresses(identity)
    wanted = normalize_identifier(identifier)
    named = [(via, address) for via, address in addresses if address == wanted]
    return named or addresses
