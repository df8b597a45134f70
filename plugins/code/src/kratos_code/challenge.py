"""Verification and recovery by six-digit code (kratos-behaviour.md sections 1.8, 1.9 and 6.2).

Sending: the previous codes of the flow are deleted, a new code is stored for a known address
and queued in the same transaction (``verification_code_valid`` / ``recovery_code_valid``; an
unknown address gets nothing, or the "invalid" notice with ``notify_unknown_recipients``), and
the flow moves to ``sent_email`` with the same form whether the address was known or not.

Throttling (issue 15): every send counts per recipient and client (``code_sending``), every
guess per account across all its flows (``code``), both before anything is looked up.

Checking: every check counts against the flow's ``max_submissions`` first; a wrong or expired
code leaves a message on the flow (4070006 / 4060006, answered 200); a match becomes a proof the
engine turns into a verified address or a recovery session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kratos_code.common import (
    channel_for,
    count_guess,
    count_send,
    guess_succeeded,
    may_send,
    minutes,
    phone_allowed,
    remember_subject,
    required,
    text_field,
)
from kratos_code.config import CodeConfig
from kratos_code.ui import address_form, admin_code_form, challenge_code_form
from kratos_core.api import (
    SHOW_FLOW,
    AddressProof,
    AdminRecovery,
    CodeNotFound,
    Identity,
    OneTimeSecret,
    RecoveryAddress,
    RecoveryContext,
    RecoveryProof,
    ShowFlow,
    VerifiableAddress,
    VerificationContext,
    messages,
    with_query,
)

__all__ = ["CodeChallenges"]

_VERIFICATION = "verification_code"
_RECOVERY = "recovery_code"


class CodeChallenges:
    """The verification and recovery half of the ``code`` method."""

    id = "code"
    config: CodeConfig

    @property
    def secret_lifespan(self) -> Any:
        """How long codes work (the admin API's default ``expires_in``)."""
        return self.config.lifespan

    async def _check(self, ctx: Any, kind: str, value: str) -> OneTimeSecret:
        raise NotImplementedError

    # -- verification ----------------------------------------------------------------------

    def populate_verification(self, ctx: VerificationContext) -> None:
        """``email`` (or email-or-phone with an SMS channel) and ``method=code``."""
        address_form(ctx.flow.ui, "code", phone_allowed=phone_allowed(ctx.config))

    async def verify(self, ctx: VerificationContext, body: Mapping[str, Any]) -> AddressProof | ShowFlow:
        """A ``code`` is checked; otherwise ``email`` gets a (new) code."""
        code = text_field(body.get("code"))
        if code:
            return await self._use_verification_code(ctx, code)
        email = text_field(body.get("email"))
        if not email:
            raise required("email")
        await count_send(ctx, email)
        found = await ctx.find_address(email)
        remember_subject(ctx.flow, found[0].id if found is not None else email)
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.discard(tx, ctx.flow.id, _VERIFICATION)
            if found is not None:
                await self._deliver_verification(ctx, tx, *found)
            elif ctx.notify_unknown_recipients and "@" in email:
                # Only email has an "invalid" template: unknown phone numbers get nothing.
                data = ctx.template_data(email)
                await ctx.queue_message(
                    tx, recipient=email, template_type="verification_code_invalid", template_data=data
                )
        self._verification_sent(ctx, email, "email" if "@" in email else "sms")
        return SHOW_FLOW

    async def send_verification(self, ctx: VerificationContext, identity: Identity, address: VerifiableAddress) -> None:
        """Send a code for a known address (the ``verification`` action's flows)."""
        remember_subject(ctx.flow, identity.id)
        if await may_send(ctx, address.value):
            async with ctx.services.transaction() as tx:
                await ctx.services.secrets.discard(tx, ctx.flow.id, _VERIFICATION)
                await self._deliver_verification(ctx, tx, identity, address)
        self._verification_sent(ctx, address.value, address.via)

    async def _deliver_verification(
        self, ctx: VerificationContext, conn: Any, identity: Identity, address: VerifiableAddress
    ) -> None:
        code = ctx.services.secrets.new_code()
        await ctx.services.secrets.issue(
            conn,
            kind=_VERIFICATION,
            flow_id=ctx.flow.id,
            value=code,
            lifespan=self.config.lifespan,
            identity_id=identity.id,
            address=(address.via, address.value),
        )
        data = ctx.template_data(
            address.value,
            verification_code=code,
            identity=ctx.identity_data(identity),
            expires_in_minutes=minutes(self.config.lifespan),
        )
        if address.via == "email":
            # The mail's link only pre-fills the code (section 6.2); SMS carry the code alone.
            data["verification_url"] = ctx.link(code=code)
        channel = channel_for(address.via)
        await ctx.queue_message(
            conn, recipient=address.value, template_type="verification_code_valid", template_data=data, channel=channel
        )
        await ctx.mark_sent(conn, identity, address)

    def _verification_sent(self, ctx: VerificationContext, address: str, via: str) -> None:
        ctx.flow.move_to("sent_email")
        notice = messages.verification_sms_code_sent() if via == "sms" else messages.verification_code_sent()
        challenge_code_form(ctx.flow.ui, label=messages.label_verification_code(), address=address, notice=notice)

    async def _use_verification_code(self, ctx: VerificationContext, code: str) -> AddressProof | ShowFlow:
        keys = await count_guess(ctx)
        try:
            found = await self._check(ctx, _VERIFICATION, code)
        except CodeNotFound:
            ctx.flow.ui.messages = [messages.invalid_verification_code()]
            return SHOW_FLOW
        await guess_succeeded(ctx, keys)
        return AddressProof(identity_id=found.identity_id, via=found.address_via, value=found.address_value, secret=found)  # type: ignore[arg-type]

    # -- recovery --------------------------------------------------------------------------

    def populate_recovery(self, ctx: RecoveryContext) -> None:
        """``email`` and ``method=code`` (recovery v1 takes email addresses only)."""
        address_form(ctx.flow.ui, "code")

    async def recover(self, ctx: RecoveryContext, body: Mapping[str, Any]) -> RecoveryProof | ShowFlow:
        """An ``email`` gets a (new) code; once one was sent, a submit without it is a code."""
        email = text_field(body.get("email"))
        if ctx.flow.state != "choose_method" and not email:
            code = text_field(body.get("code"))
            if not code:
                raise required("code")
            return await self._use_recovery_code(ctx, code)
        if not email:
            raise required("email")
        await count_send(ctx, email)
        found = await ctx.find_address(email)
        remember_subject(ctx.flow, found[0].id if found is not None else email)
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.discard(tx, ctx.flow.id, _RECOVERY)
            if found is not None:
                await self._deliver_recovery(ctx, tx, *found)
            elif ctx.notify_unknown_recipients:
                data = ctx.template_data(email)
                await ctx.queue_message(tx, recipient=email, template_type="recovery_code_invalid", template_data=data)
        ctx.flow.move_to("sent_email")
        challenge_code_form(
            ctx.flow.ui, label=messages.label_recovery_code(), address=email, notice=messages.recovery_code_sent()
        )
        return SHOW_FLOW

    async def _deliver_recovery(
        self, ctx: RecoveryContext, conn: Any, identity: Identity, address: RecoveryAddress
    ) -> None:
        code = ctx.services.secrets.new_code()
        await ctx.services.secrets.issue(
            conn,
            kind=_RECOVERY,
            flow_id=ctx.flow.id,
            value=code,
            lifespan=self.config.lifespan,
            identity_id=identity.id,
            address=(address.via, address.value),
        )
        data = ctx.template_data(
            address.value,
            recovery_code=code,
            identity=ctx.identity_data(identity),
            expires_in_minutes=minutes(self.config.lifespan),
        )
        await ctx.queue_message(conn, recipient=address.value, template_type="recovery_code_valid", template_data=data)

    async def _use_recovery_code(self, ctx: RecoveryContext, code: str) -> RecoveryProof | ShowFlow:
        keys = await count_guess(ctx)
        try:
            found = await self._check(ctx, _RECOVERY, code)
        except CodeNotFound:
            ctx.flow.ui.messages = [messages.invalid_recovery_code()]
            return SHOW_FLOW
        await guess_succeeded(ctx, keys)
        # Codes an administrator created were sent to no address, so they verify none.
        address = (found.address_via, found.address_value) if found.address_via else None
        return RecoveryProof(identity_id=found.identity_id, secret=found, method="code_recovery", address=address)  # type: ignore[arg-type]

    async def issue_admin_recovery(
        self, ctx: RecoveryContext, conn: Any, identity: Identity, lifespan: Any
    ) -> AdminRecovery:
        """A code for ``identity`` on the administrator's flow, waiting in ``sent_email``."""
        code = ctx.services.secrets.new_code()
        # The code and its flow expire together.
        stored = await ctx.services.secrets.issue(
            conn,
            kind=_RECOVERY,
            flow_id=ctx.flow.id,
            value=code,
            expires_at=ctx.flow.expires_at,
            identity_id=identity.id,
        )
        remember_subject(ctx.flow, identity.id)
        ctx.flow.move_to("sent_email")
        admin_code_form(ctx.flow.ui)
        link = with_query(ctx.config.selfservice.flows.recovery.ui_url, flow=str(ctx.flow.id))
        return AdminRecovery(link=link, expires_at=stored.expires_at, code=code)
