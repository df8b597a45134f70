"""The ``link`` method: Kratos's legacy magic links for recovery and verification.

kratos-behaviour.md section 6.3. Used when ``selfservice.flows.{recovery,verification}.use`` is
``link`` (and ``selfservice.methods.link.enabled``). Submitting ``email`` sends a link
``{base}/self-service/<flow>?flow=<id>&token=<32 letters and digits>`` (``recovery_valid`` /
``verification_valid``; unknown addresses get nothing or the "invalid" notice) and moves the flow
to ``sent_email`` (message 1060002 / 1080001). Opening the link (a GET with ``token``) uses the
token once; an unknown, used or expired token restarts the flow with 4060004 / 4070001.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from kratos_code.common import count_send, may_send, minutes, required, text_field
from kratos_code.config import LinkConfig
from kratos_code.ui import address_form
from kratos_core.api import (
    SHOW_FLOW,
    AddressProof,
    AdminRecovery,
    CodeAlreadyUsed,
    CodeNotFound,
    Identity,
    OneTimeSecret,
    RecoveryAddress,
    RecoveryContext,
    RecoveryProof,
    RestartFlow,
    ShowFlow,
    TextMessage,
    VerifiableAddress,
    VerificationContext,
    messages,
)

__all__ = ["LinkMethod"]

_VERIFICATION = "verification_link"
_RECOVERY = "recovery_link"


class LinkMethod:
    """The ``link`` method registered with the plugin host.

    Attributes:
        id: ``link``.
        credential_type: None (a link proves an address; it is no credential).
        config_model: :class:`LinkConfig`.
        config: The validated config (set by :meth:`configure`).
    """

    id = "link"
    credential_type = None
    config_model = LinkConfig

    def __init__(self) -> None:
        self.config = LinkConfig()

    def configure(self, config: LinkConfig | None, app_config: Any) -> None:
        """Take the validated config (at start-up)."""
        del app_config
        self.config = config if config is not None else LinkConfig()

    @property
    def secret_lifespan(self) -> Any:
        """How long links work (the admin API's default ``expires_in``)."""
        return self.config.lifespan

    def _url(self, ctx: Any, token: str) -> str:
        base = (self.config.base_url or ctx.services.public_base_url).rstrip("/")
        return f"{base}/self-service/{ctx.kind}?{urlencode({'flow': str(ctx.flow.id), 'token': token})}"

    async def _issue(
        self, ctx: Any, conn: Any, kind: str, identity: Identity, address: Any, **expiry: Any
    ) -> tuple[str, Any]:
        token = ctx.services.secrets.new_token()
        where = (address.via, address.value) if address is not None else None
        stored = await ctx.services.secrets.issue(
            conn,
            kind=kind,
            flow_id=ctx.flow.id,
            value=token,
            identity_id=identity.id,
            address=where,
            **expiry,
        )
        return self._url(ctx, token), stored

    async def _find(self, ctx: Any, kind: str, token: str, invalid: TextMessage) -> OneTimeSecret:
        try:
            return await ctx.services.secrets.find(flow_id=ctx.flow.id, kind=kind, value=token)
        except (CodeNotFound, CodeAlreadyUsed):
            raise RestartFlow(invalid) from None

    def _sent(self, ctx: Any, email: str, notice: TextMessage) -> None:
        ctx.flow.move_to("sent_email")
        ctx.flow.ui.set_value("email", email)
        ctx.flow.ui.messages = [notice]

    # -- verification ----------------------------------------------------------------------

    def populate_verification(self, ctx: VerificationContext) -> None:
        """``email`` and ``method=link``."""
        address_form(ctx.flow.ui, "link")

    async def verify(self, ctx: VerificationContext, body: Mapping[str, Any]) -> AddressProof | ShowFlow:
        """A ``token`` is used; otherwise ``email`` gets a (new) link."""
        token = text_field(body.get("token"))
        if token:
            found = await self._find(ctx, _VERIFICATION, token, messages.invalid_verification_token())
            return AddressProof(identity_id=found.identity_id, via=found.address_via, value=found.address_value, secret=found)  # type: ignore[arg-type]
        email = text_field(body.get("email"))
        if not email:
            raise required("email")
        await count_send(ctx, email)  # mail bombing (issue 15)
        found_address = await ctx.find_address(email)
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.discard(tx, ctx.flow.id, _VERIFICATION)
            if found_address is not None:
                await self._deliver_verification(ctx, tx, *found_address)
            elif ctx.notify_unknown_recipients and "@" in email:
                await ctx.queue_message(
                    tx, recipient=email, template_type="verification_invalid", template_data=ctx.template_data(email)
                )
        self._sent(ctx, email, messages.verification_link_sent())
        return SHOW_FLOW

    async def send_verification(self, ctx: VerificationContext, identity: Identity, address: VerifiableAddress) -> None:
        """Send a link for a known address (the ``verification`` action's flows)."""
        if await may_send(ctx, address.value):
            async with ctx.services.transaction() as tx:
                await ctx.services.secrets.discard(tx, ctx.flow.id, _VERIFICATION)
                await self._deliver_verification(ctx, tx, identity, address)
        self._sent(ctx, address.value, messages.verification_link_sent())

    async def _deliver_verification(
        self, ctx: VerificationContext, conn: Any, identity: Identity, address: VerifiableAddress
    ) -> None:
        url, _ = await self._issue(ctx, conn, _VERIFICATION, identity, address, lifespan=self.config.lifespan)
        data = ctx.template_data(
            address.value,
            verification_url=url,
            identity=ctx.identity_data(identity),
            expires_in_minutes=minutes(self.config.lifespan),
        )
        await ctx.queue_message(conn, recipient=address.value, template_type="verification_valid", template_data=data)
        await ctx.mark_sent(conn, identity, address)

    # -- recovery --------------------------------------------------------------------------

    def populate_recovery(self, ctx: RecoveryContext) -> None:
        """``email`` and ``method=link``."""
        address_form(ctx.flow.ui, "link")

    async def recover(self, ctx: RecoveryContext, body: Mapping[str, Any]) -> RecoveryProof | ShowFlow:
        """A ``token`` is used; otherwise ``email`` gets a (new) link."""
        token = text_field(body.get("token"))
        if token:
            found = await self._find(ctx, _RECOVERY, token, messages.invalid_recovery_token())
            address = (found.address_via, found.address_value) if found.address_via else None
            return RecoveryProof(identity_id=found.identity_id, secret=found, method="link_recovery", address=address)  # type: ignore[arg-type]
        email = text_field(body.get("email"))
        if not email:
            raise required("email")
        await count_send(ctx, email)  # mail bombing (issue 15)
        found_address = await ctx.find_address(email)
        async with ctx.services.transaction() as tx:
            await ctx.services.secrets.discard(tx, ctx.flow.id, _RECOVERY)
            if found_address is not None:
                await self._deliver_recovery(ctx, tx, *found_address)
            elif ctx.notify_unknown_recipients:
                await ctx.queue_message(
                    tx, recipient=email, template_type="recovery_invalid", template_data=ctx.template_data(email)
                )
        self._sent(ctx, email, messages.recovery_link_sent())
        return SHOW_FLOW

    async def _deliver_recovery(
        self, ctx: RecoveryContext, conn: Any, identity: Identity, address: RecoveryAddress
    ) -> None:
        url, _ = await self._issue(ctx, conn, _RECOVERY, identity, address, lifespan=self.config.lifespan)
        data = ctx.template_data(
            address.value,
            recovery_url=url,
            identity=ctx.identity_data(identity),
            expires_in_minutes=minutes(self.config.lifespan),
        )
        await ctx.queue_message(conn, recipient=address.value, template_type="recovery_valid", template_data=data)

    async def issue_admin_recovery(
        self, ctx: RecoveryContext, conn: Any, identity: Identity, lifespan: Any
    ) -> AdminRecovery:
        """A link for ``identity``; opening it signs the user in (no address is verified)."""
        address_form(ctx.flow.ui, "link")
        ctx.flow.move_to("sent_email")  # the administrator hands the link over
        # The link and its flow expire together.
        url, stored = await self._issue(ctx, conn, _RECOVERY, identity, None, expires_at=ctx.flow.expires_at)
        return AdminRecovery(link=url, expires_at=stored.expires_at)
