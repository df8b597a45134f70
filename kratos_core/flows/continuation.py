"""Continuing self-service flows from a plugin route (an OIDC callback, a magic-link landing).

A method that finishes its work outside the flow's own submit endpoint (the browser comes back
from a provider to the plugin's route) loads the flow, and then hands the engine what it proved:
:meth:`Flows.finish_login` issues (or steps up) the session and runs the login hooks and
*after* actions exactly as a submit would; :meth:`Flows.finish_registration` stores the new
identity with its session and runs the registration hooks and actions; :meth:`Flows.show`
shows the flow again with messages; :meth:`Flows.convert` turns a login flow into a
registration flow and back (Kratos does so when a social sign-in finds no account, or finds one).
Every answer is the one the submit endpoint would give (JSON, or a redirect for browsers), and
every error is answered on the flow in Kratos's shape.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..errors import BadRequest
from ..persistence import flows as store
from ..ui import messages
from .errors import FlowExpired, FlowValidationError

if TYPE_CHECKING:  # pragma: no cover
    from litestar import Request, Response

    from ..app import KratosApp
    from ..identity.model import Identity
    from ..identity.schema import IdentitySchema
    from ..methods.protocols import LoginResult, RegistrationResult
    from ..services import Transaction
    from .engine import FlowHandler
    from .model import Flow

__all__ = ["Flows"]


class Flows:
    """Stored self-service flows, and continuing them from plugin routes (``services.flows``)."""

    def __init__(self, app: KratosApp) -> None:
        self._app = app

    # -- reading and saving ------------------------------------------------------------------

    async def get(self, flow_id: uuid.UUID, kind: str) -> Flow | None:
        """The stored flow of ``kind`` (``login``, ``registration`` ...), or None."""
        return await store.get_flow(self._app.db, flow_id, kind)

    async def save(self, flow: Flow, tx: Transaction | None = None) -> None:
        """Store the flow's changed state, UI and internal context."""
        from ..services import _conn

        await store.update_flow(_conn(tx) if tx is not None else self._app.db, flow)

    # -- continuing --------------------------------------------------------------------------

    def _handler(self, request: Request[Any, Any, Any], kind: str) -> FlowHandler:
        from .exchange import Exchange
        from .login import LoginFlows
        from .registration import RegistrationFlows

        handlers: dict[str, type[FlowHandler]] = {"login": LoginFlows, "registration": RegistrationFlows}
        if kind not in handlers:
            raise ValueError(f"flows of kind {kind!r} cannot be continued from a plugin route")
        return handlers[kind](Exchange(request))

    async def _guard(self, handler: FlowHandler, flow: Flow) -> Response[Any] | None:
        """The submit's own checks: session rules, expiry, a flow used up already."""
        early = await handler.precheck(flow)
        if early is not None:
            return early
        if flow.is_expired():
            raise FlowExpired(flow)
        if flow.completed:
            raise FlowValidationError.on_flow(messages.flow_already_completed(handler.kind))  # type: ignore[arg-type]
        return None

    async def finish_login(self, request: Request[Any, Any, Any], flow: Flow, result: LoginResult) -> Response[Any]:
        """Complete a login flow for ``result.identity`` and answer as a successful submit.

        The session is issued (or the request's session is refreshed or stepped up), then
        ``kratos_login_after`` and the configured *after* actions run; the answer carries the
        session (token for API flows, cookie and redirect for browser flows).
        """
        from .login import LoginFlows

        handler = self._handler(request, "login")
        assert isinstance(handler, LoginFlows)
        try:
            self._check_kind(flow, "login")
            early = await self._guard(handler, flow)
            if early is not None:
                return early
            flow.active = result.method
            ctx = handler._context(flow, await handler.ex.current_session())
            return await handler.succeed(flow, ctx, result)
        except Exception as exc:  # noqa: BLE001 - answered on the flow as a submit would be
            return await handler.flow_error(flow, {}, exc)

    async def finish_registration(
        self, request: Request[Any, Any, Any], flow: Flow, result: RegistrationResult
    ) -> Response[Any]:
        """Store ``result.identity`` (from :meth:`new_identity`) with its session and answer.

        Runs the pre-persist and post-persist hooks and the *after* actions exactly as a
        registration submit does; a taken identifier is shown on the flow.
        """
        from .registration import RegistrationFlows

        handler = self._handler(request, "registration")
        assert isinstance(handler, RegistrationFlows)
        try:
            self._check_kind(flow, "registration")
            early = await self._guard(handler, flow)
            if early is not None:
                return early
            flow.active = result.method
            return await handler.complete(flow, result)
        except Exception as exc:  # noqa: BLE001 - answered on the flow as a submit would be
            return await handler.flow_error(flow, {}, exc)

    async def new_identity(self, flow: Flow, traits: Any, *, schema: IdentitySchema | None = None) -> Identity:
        """A new, unsaved identity of the flow's schema (or ``schema``) with validated traits.

        Raises:
            FlowValidationError: The traits break the schema (messages on the trait nodes);
                hand it to :meth:`show` to let the user complete them.
        """
        from ..identity.model import Identity, utcnow
        from ..identity.validation import TraitsValidationError

        if schema is None:
            schemas = self._app.schemas
            wanted = flow.identity_schema
            schema = schemas.get(wanted) if wanted and wanted in schemas else schemas.default
        now = utcnow()
        identity = Identity(
            id=uuid.uuid4(),
            schema_id=schema.id,
            traits={} if traits is None else traits,
            state="active",
            state_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        try:
            await self._app.identities.revalidate(identity)
        except TraitsValidationError as exc:
            raise FlowValidationError.from_traits(exc.issues) from exc
        return identity

    async def show(
        self,
        request: Request[Any, Any, Any],
        flow: Flow,
        error: FlowValidationError | None = None,
        *,
        values: dict[str, Any] | None = None,
    ) -> Response[Any]:
        """Show the flow (with ``error``'s messages and ``values`` filled in): 400 JSON or 303."""
        handler = self._handler(request, flow.kind)
        if error is None:
            await store.update_flow(self._app.db, flow)
            return handler.answer(flow, 200)
        return await handler.rerender(flow, values or {}, error)

    async def convert(self, request: Request[Any, Any, Any], flow: Flow, kind: str) -> Flow:
        """A new, stored flow of ``kind`` (``login`` or ``registration``) continuing ``flow``.

        It keeps the type (browser or API), ``return_to``, the request URL and the identity
        schema; its *before* hooks run; the old flow is left as it is.

        Raises:
            BadRequest: ``kind`` is not the other one of login and registration.
            FlowValidationError, KratosError: The new flow's *before* stage refused it.
        """
        from .login import LoginFlows, LoginParams
        from .registration import RegistrationFlows, RegistrationParams, registration_disabled

        if {flow.kind, kind} != {"login", "registration"}:
            raise BadRequest(f"A {flow.kind} flow cannot become a {kind} flow.")
        handler = self._handler(request, kind)
        if isinstance(handler, RegistrationFlows):
            if not self._app.config.selfservice.flows.registration.enabled:
                raise registration_disabled()
            new = await handler.build(flow.type, RegistrationParams(flow.request_url, flow.return_to, flow.identity_schema))
        else:
            assert isinstance(handler, LoginFlows)
            params = LoginParams(flow.request_url, flow.return_to, False, "aal1", flow.identity_schema)
            new = await handler.build(flow.type, params)
        await handler.before_hook(new)
        await handler.before_actions(new)  # a refusal's messages are shown on the new flow
        await store.insert_flow(self._app.db, new)
        return new

    @staticmethod
    def _check_kind(flow: Flow, kind: str) -> None:
        if flow.kind != kind:
            raise BadRequest(f"Expected a {kind} flow, got a {flow.kind} flow.")
