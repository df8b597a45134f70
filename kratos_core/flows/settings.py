"""The settings flow (kratos-behaviour.md sections 1.7, 3.2-3.4, 7.1-7.3 and pitfalls 10-12).

A signed-in identity changes its own data here. Every request needs a session: init without one
sends browsers to the login and refuses everyone else (401 ``session_inactive``); fetch and submit
answer 401 without an error id (or a 302 to the login UI). The session must satisfy
``selfservice.flows.settings.required_aal`` and the flow must belong to its identity (403
``security_identity_mismatch``).

A submit is handed to the method named by ``method`` (:class:`~kratos_core.methods.protocols.
SettingsMethod`), which changes a private copy of the identity. The engine then refuses changes
of protected data (credentials, identifiers, addresses) unless the session is privileged
(403 ``session_refresh_required``), runs ``kratos_settings_pre_persist``, stores the identity,
moves the flow to ``success`` with a rebuilt form and message 1050001, runs
``kratos_settings_post_persist`` and the configured *after* actions, and answers: the flow (API,
SPA with ``continue_with``) or a redirect (browser forms).

:func:`create_settings_flow` is how other flows (recovery) hand a session over to settings.
"""

from __future__ import annotations

import copy
import inspect
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from litestar import Request, Response

from ..actions.runner import (
    SETTINGS_AFTER,
    ActionContext,
    HookEntry,
    after_hooks,
    plan_actions,
    run_actions,
    run_before,
    run_pre_persist,
    split_pre_persist,
)
from ..errors import Conflict, KratosError, NotFound
from ..events import SettingsChanged
from ..identity.model import Identity, identity_public_dict, utcnow
from ..methods.protocols import SettingsContext, SettingsMethod, SettingsResult, ShowFlow
from ..persistence import flows as store
from ..ui import messages
from ..ui.container import Container
from ..ui.nodes import csrf_node
from ..ui.text import TextMessage
from ..ui.traits import trait_names
from .csrf import mask_token
from .engine import STRATEGY_ORDER, FlowHandler, choose_method, parse_flow_id
from .errors import FlowValidationError
from .exchange import Exchange, with_query
from .model import INITIAL_STATES, STATE_TABLES, Flow
from .settings_errors import (
    identity_mismatch,
    redirects_browser,
    session_missing,
    session_refresh_required,
    settings_session_inactive,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp
    from ..identity.schema import IdentitySchema

__all__ = ["SETTINGS_STATES", "SettingsFlows", "create_settings_flow", "protected_data_changed"]

#: The settings state machine (section 1.3): nothing ever leads back to ``show_form``; a failed
#: submit after a success keeps ``success`` and only adds messages.
SETTINGS_STATES: dict[str, frozenset[str]] = {
    "show_form": frozenset({"show_form", "success"}),
    "success": frozenset({"success"}),
}
STATE_TABLES.setdefault("settings", SETTINGS_STATES)
INITIAL_STATES.setdefault("settings", "show_form")


# -- building flows (shared with create_settings_flow) ------------------------------------------


def _schema_of(app: KratosApp, identity: Identity) -> IdentitySchema:
    schemas = app.schemas
    return schemas.get(identity.schema_id) if identity.schema_id in schemas else schemas.default


def _new_flow(app: KratosApp, *, flow_type: str, identity: Identity, session: Any, request_url: str, return_to: str | None) -> Flow:
    now = utcnow()
    flow_id = uuid.uuid4()
    public = app.public_base_url.rstrip("/")
    return Flow(
        id=flow_id,
        kind="settings",
        type=flow_type,
        state=INITIAL_STATES["settings"],
        ui=Container(action=f"{public}/self-service/settings?flow={flow_id}"),
        request_url=request_url,
        return_to=return_to,
        issued_at=now,
        expires_at=now + app.config.selfservice.flows.settings.lifespan,
        created_at=now,
        updated_at=now,
        identity_id=identity.id,
        session_id=session.id,
        data={"organization_id": None},
    )


async def _populate(app: KratosApp, flow: Flow, request: Request, session: Any, identity: Identity, csrf_token: str | None) -> None:
    """Rebuild the form from scratch: the csrf node, then every enabled method's section, sorted."""
    flow.ui.nodes = []
    flow.ui.messages = []
    if flow.is_browser and csrf_token:
        flow.csrf_token = mask_token(csrf_token)
        flow.ui.upsert(csrf_node(mask_token(csrf_token)))
    schema = _schema_of(app, identity)
    ctx = SettingsContext(app, flow, request, schema, session=session, identity=identity)
    for method in _settings_methods(app):
        result = method.populate_settings(ctx)
        if inspect.isawaitable(result):
            await result
    flow.ui.sort("settings", trait_order=trait_names(schema.raw))


def _settings_methods(app: KratosApp) -> list[Any]:
    # The engine's strategy order (section 1.5); computed here because recovery has no Exchange.
    rank = {name: i for i, name in enumerate(STRATEGY_ORDER)}
    enabled = sorted(app.plugins.enabled_methods(app.config).values(), key=lambda m: rank.get(m.id, len(rank)))
    return [m for m in enabled if isinstance(m, SettingsMethod)]


async def _before_hook(app: KratosApp, flow: Flow, request: Request, identity: Identity, session: Any) -> None:
    await app.plugins.hooks.settings_before(flow=flow, request=request, identity=identity, session=session)


async def _run_before(app: KratosApp, flow: Flow, request: Request, identity: Identity, session: Any) -> bool:
    """``kratos_settings_before``; its validation messages go on the flow (returns False then)."""
    try:
        await _before_hook(app, flow, request, identity, session)
        await run_before(app, "settings", flow, request, identity=identity, session=session)
    except FlowValidationError as exc:
        flow.ui.add_issues(exc.issues)
        for message in exc.messages:
            flow.ui.add_message(message)
        return False
    return True


async def create_settings_flow(
    app: KratosApp,
    *,
    session: Any,
    identity: Identity,
    request: Request,
    flow_type: str,
    return_to: str | None = None,
    messages: Iterable[TextMessage] = (),
    csrf_token: str | None = None,
) -> Flow:
    """Create and store a settings flow for ``identity`` (the hand-over from other flows).

    Recovery calls this after it issued a session, with message 1060001, then sends the client to
    ``{settings_ui}?flow=<id>``. The form is built as for ``GET /self-service/settings/<type>``
    and ``kratos_settings_before`` runs (its validation messages are shown on the flow); the AAL
    and ``return_to`` checks of the init endpoints are the caller's business.

    Args:
        app: The server.
        session: The session the flow is for (stored; its identity owns the flow).
        identity: That session's identity, with credentials.
        request: The HTTP request being answered (its URL becomes ``request_url``).
        flow_type: ``browser`` or ``api``.
        return_to: An already validated ``return_to``, or None.
        messages: Flow-level messages to show (e.g. ``messages.recovery_successful(...)``).
        csrf_token: For browser flows, the unmasked anti-CSRF token the browser holds after this
            response. Pass ``exchange.csrf_token()`` when your answer sets a new CSRF cookie (as
            recovery does); by default the token of the request's CSRF cookie is used (without
            one, the browser's submits would fail the CSRF check).

    Returns:
        The stored flow.

    Raises:
        kratos_core.errors.KratosError: ``kratos_settings_before`` aborted; nothing is stored.
    """
    ex = Exchange(request)
    flow = _new_flow(app, flow_type=flow_type, identity=identity, session=session, request_url=ex.url(), return_to=return_to)
    token = csrf_token or (ex.csrf_token() if flow.is_browser else None)
    await _populate(app, flow, request, session, identity, token)
    await _run_before(app, flow, request, identity, session)
    for message in messages:
        flow.ui.add_message(message)
    await store.insert_flow(app.db, flow)
    return flow


# -- protected data ---------------------------------------------------------------------------


def protected_data_changed(before: Identity, after: Identity) -> bool:
    """Whether a change touches what needs a privileged session (section 1.7, pitfall 12).

    Protected: any credential (identifiers or config, added or removed), the verifiable
    addresses and the recovery addresses (compared by channel and value, not by state).
    """
    if set(before.credentials) != set(after.credentials):
        return True
    for ctype, old in before.credentials.items():
        new = after.credentials[ctype]
        if sorted(old.identifiers) != sorted(new.identifiers) or old.config != new.config:
            return True
    verifiable = {(a.via, a.value) for a in before.verifiable_addresses}
    if verifiable != {(a.via, a.value) for a in after.verifiable_addresses}:
        return True
    recovery = {(a.via, a.value) for a in before.recovery_addresses}
    return recovery != {(a.via, a.value) for a in after.recovery_addresses}


# -- the endpoints ----------------------------------------------------------------------------


class SettingsFlows(FlowHandler):
    """Settings endpoints for one request."""

    kind = "settings"

    def __init__(self, ex: Exchange) -> None:
        super().__init__(ex)
        # The identity the flow JSON shows: the session's, or the updated one after a success.
        self._shown: Identity | None = None

    @property
    def ui_url(self) -> str:
        return self.app.config.selfservice.flows.settings.ui_url

    def schema_for(self, flow: Flow) -> IdentitySchema:
        if self._shown is not None:
            return _schema_of(self.app, self._shown)
        return super().schema_for(flow)

    # -- rendering -------------------------------------------------------------------------

    def flow_json(self, flow: Flow) -> dict[str, Any]:
        """The settings flow's JSON: the common shape plus ``identity`` (no credentials)."""
        out = flow.to_dict()
        if self._shown is not None:
            out["identity"] = identity_public_dict(self._shown, self.app.public_base_url)
        return out

    def answer(self, flow: Flow, status_code: int = 200) -> Response[Any]:
        if self.browser_html(flow):
            return self.ex.redirect(with_query(self.ui_url, flow=str(flow.id)))
        return self.ex.json(self.flow_json(flow), status_code)

    def unauthenticated(self) -> Response[Any]:
        """Fetch or submit without a session: 401 without id for JSON, 302 to the login UI."""
        if self.ex.is_json:
            return self.ex.error_json(session_missing())
        return self.ex.redirect(self.app.config.selfservice.flows.login.ui_url, status_code=302)

    # -- session rules ---------------------------------------------------------------------

    def check_aal(self, session: Any, return_to: str | None) -> None:
        """``selfservice.flows.settings.required_aal`` (403 ``session_aal2_required``)."""
        self.app.sessions.check_aal(session, self.app.config.selfservice.flows.settings.required_aal, return_to=return_to)

    async def _session_for(self, flow: Flow, aal_return_to: str | None) -> Any:
        """The request's session, checked against the flow (identity) and the AAL rule."""
        session = await self.ex.current_session()
        if session is None:
            raise session_missing()
        if flow.identity_id != session.identity_id:
            raise identity_mismatch()
        self.check_aal(session, aal_return_to)
        self._shown = session.identity
        return session

    # -- init ------------------------------------------------------------------------------

    async def init(self, flow_type: str) -> Response[Any]:
        """``GET /self-service/settings/browser`` and ``/api``."""
        browser = flow_type == "browser"
        html = browser and not self.ex.is_json
        session = await self.ex.current_session()
        raw_return_to = self.ex.request.query_params.get("return_to")
        if session is None:
            if html:
                return self.ex.redirect(self._login_url(raw_return_to))
            return self.ex.error_json(settings_session_inactive())
        try:
            # The aal2 login comes back to this init only when the init carried a return_to.
            self.check_aal(session, self.ex.url() if raw_return_to else None)
            return_to = self.ex.return_to_policy.check(raw_return_to)
        except KratosError as exc:
            target = redirects_browser(exc)
            if html and target:
                return self.ex.redirect(target)
            return await self.ex.error(exc, browser=browser)
        self._shown = session.identity
        flow = _new_flow(
            self.app, flow_type=flow_type, identity=session.identity, session=session, request_url=self.ex.url(), return_to=return_to
        )
        return await self.store_new(flow, session)

    def _login_url(self, return_to: str | None) -> str:
        login = f"{self.ex.public_url}/self-service/login/browser"
        return with_query(login, return_to=return_to) if return_to else login

    async def build(self, flow: Flow, session: Any) -> None:
        token = self.ex.csrf_token() if flow.is_browser else None
        await _populate(self.app, flow, self.ex.request, session, session.identity, token)

    async def store_new(self, flow: Flow, session: Any) -> Response[Any]:
        """Populate, run ``kratos_settings_before`` and store; hook messages are shown (400)."""
        try:
            await self.build(flow, session)
            shown = await _run_before(self.app, flow, self.ex.request, session.identity, session)
        except KratosError as exc:
            return await self.ex.error(exc, browser=flow.is_browser)
        await store.insert_flow(self.app.db, flow)
        return self.answer(flow, 200 if shown else 400)

    async def replacement(self, expired: Flow) -> Flow:
        session = await self.ex.current_session()
        flow = _new_flow(
            self.app,
            flow_type=expired.type,
            identity=session.identity,
            session=session,
            request_url=expired.request_url,
            return_to=expired.return_to,
        )
        await self.build(flow, session)
        await _before_hook(self.app, flow, self.ex.request, session.identity, session)
        await self.before_actions(flow, identity=session.identity, session=session)
        flow.ui.add_message(self.expiry_message(expired))
        await store.insert_flow(self.app.db, flow)
        return flow

    # -- fetch -----------------------------------------------------------------------------

    async def fetch(self) -> Response[Any]:
        """``GET /self-service/settings/flows?id=``: session, owner and AAL; no CSRF check."""
        if await self.ex.current_session() is None:
            return self.unauthenticated()
        try:
            flow_id = uuid.UUID(self.ex.request.query_params.get("id") or "")
        except ValueError:
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource") from None
        flow = await self.load(flow_id)
        # An aal2 login started here returns to the UI showing this flow, not to this JSON.
        await self._session_for(flow, with_query(self.ui_url, flow=str(flow.id)))
        if flow.is_expired():
            raise self._expired_on_fetch(flow)
        return self.ex.json(self.flow_json(flow))

    async def resume(self) -> Response[Any]:
        """``GET /self-service/settings?flow=``: where a refresh login returns to.

        Kratos replays the change stashed before the re-authentication; we do not stash it, so
        the user is shown the flow again (browsers: 303 to the UI) and re-submits.
        """
        if await self.ex.current_session() is None:
            return self.unauthenticated()
        flow: Flow | None = None
        try:
            flow = await self.load(parse_flow_id(self.ex.request.query_params.get("flow")))
            await self._session_for(flow, None)
        except KratosError as exc:
            if flow is None:
                return await self.ex.error(exc, browser=True)
            return await self.flow_error(flow, {}, exc)
        self.set_csrf(flow)
        await store.update_flow(self.app.db, flow)
        return self.answer(flow)

    # -- submit ----------------------------------------------------------------------------

    async def submit(self) -> Response[Any]:
        if await self.ex.current_session() is None:
            return self.unauthenticated()
        return await super().submit()

    async def precheck(self, flow: Flow) -> Response[Any] | None:
        await self._session_for(flow, None)
        return None

    async def handle(self, flow: Flow, body: dict[str, Any]) -> Response[Any]:
        method = choose_method(self.ex, "settings", SettingsMethod, body.get("method"))
        session = await self.ex.current_session()
        stored: Identity = session.identity
        ctx = SettingsContext(
            self.app, flow, self.ex.request, self.schema_for(flow), session=session, identity=copy.deepcopy(stored)
        )
        result = await method.update_settings(ctx, body)
        if isinstance(result, ShowFlow):
            self.set_csrf(flow)
            await store.update_flow(self.app.db, flow)
            return self.answer(flow)
        # One effect per version of the flow (issue 15): of parallel submits that loaded the
        # same flow only the first to claim it changes the identity; the others are shown the
        # flow as it is now.
        if not await store.claim_submit(self.app.db, flow):
            return await self.lost_claim(flow)
        pre, post = self._plan(result.method)
        await self.persist(flow, ctx, stored, result, pre)
        return await self.succeed(flow, session, result, post)

    async def lost_claim(self, flow: Flow) -> Response[Any]:
        """A parallel submit of the same flow changed the settings first: nothing is stored
        and the flow, as that submit left it, is shown again with a 4000001 message (400)."""
        self.ex.discard_pending_cookies()
        stored = await self.load(flow.id)
        reason = "The settings flow was changed by a parallel request; nothing was saved. Please try again."
        return await self.rerender(stored, {}, FlowValidationError.on_flow(messages.validation_generic(reason)))

    def _plan(self, method: str) -> tuple[list[HookEntry], list[HookEntry]]:
        """The configured ``after`` entries, split into (``pre_persist``, ``after``) ones."""
        config = self.app.config
        registry = self.app.plugins.actions
        # Enabled verification sends its code first, without being configured (section 7.2).
        verify = config.selfservice.flows.verification.enabled and "verification" in registry.items
        after = config.selfservice.flows.settings.after
        entries = plan_actions(after_hooks(config, "settings", method), after.hooks, prepend=("verification",) if verify else ())
        return split_pre_persist(entries, registry, "settings")

    async def persist(
        self, flow: Flow, ctx: SettingsContext, stored: Identity, result: SettingsResult, pre: Sequence[HookEntry] = ()
    ) -> None:
        """Check and store the changed identity (fail closed: nothing is stored on an error).

        The ``pre_persist`` actions (``pre``) may change the identity; it is validated against
        its schema again, and the privileged-session rule checked again, before it is stored.
        """
        identity = result.identity
        if protected_data_changed(stored, identity) and not ctx.privileged:
            raise session_refresh_required(self.app.public_base_url, flow.id)
        await self.app.plugins.hooks.settings_pre_persist(
            flow=flow, identity=identity, session=ctx.session, method=result.method
        )
        if await run_pre_persist(
            self.app, "settings", pre, flow, self.ex.request, identity, session=ctx.session, method=result.method
        ):
            await self.app.identities.revalidate(identity)
            if protected_data_changed(stored, identity) and not ctx.privileged:
                raise session_refresh_required(self.app.public_base_url, flow.id)
        identity.updated_at = utcnow()
        try:
            await self.app.identities.save(identity, source="settings")
        except Conflict:
            # Self-service never answers 409: the taken identifier is shown on the flow (pitfall 19).
            raise FlowValidationError.on_flow(messages.duplicate_credentials()) from None

    async def succeed(self, flow: Flow, session: Any, result: SettingsResult, entries: list[HookEntry] | None = None) -> Response[Any]:
        """Mark the flow ``success`` with a fresh form, run the post-persist hooks and answer."""
        identity = result.identity
        session.identity = identity
        if result.proved_aal:
            # Setting up a second factor proves it (section 4.2): the session gains the method.
            await self.app.sessions.step_up(session, result.method, result.proved_aal, self.ex.request)
        self._shown = identity
        flow.move_to("success")
        flow.active = result.method
        flow.internal_context = {}
        await self.build(flow, session)
        flow.ui.add_message(messages.settings_saved())
        await store.update_flow(self.app.db, flow)
        hooks = self.app.plugins.hooks
        await hooks.settings_post_persist(flow=flow, identity=identity, session=session, method=result.method)
        await hooks.event(payload=SettingsChanged(flow_id=flow.id, identity_id=identity.id, method=result.method))
        if entries is None:
            entries = self._plan(result.method)[1]
        actions = await self._after(flow, identity, session, result.method, entries)
        return self._answer_success(flow, session, actions, result.method)

    async def _after(self, flow: Flow, identity: Identity, session: Any, method: str, entries: list[HookEntry]) -> ActionContext:
        ctx = ActionContext(
            app=self.app,
            stage=SETTINGS_AFTER,
            flow=flow,
            request=self.ex.request,
            identity=identity,
            session=session,
            method=method,
        )
        await run_actions(ctx, entries, self.app.plugins.actions)
        return ctx

    def _answer_success(self, flow: Flow, session: Any, actions: ActionContext, method: str) -> Response[Any]:
        after = self.app.config.selfservice.flows.settings.after
        default = with_query(self.ui_url, flow=str(flow.id))
        return_url = self.ex.return_to_policy.resolve(flow.return_to, after.return_url_for(method), default, strict=False)
        body = self.flow_json(flow)
        continue_with = list(actions.continue_with)
        if flow.is_browser:
            # Settings success re-issues the session cookie (section 3.6).
            self.ex.set_session_cookie(session, session.token)
            continue_with.append({"action": "redirect_browser_to", "redirect_browser_to": return_url})
        if self.browser_html(flow):
            return self.ex.redirect(return_url)
        if continue_with:
            body["continue_with"] = continue_with
        return self.ex.json(body)

    # -- errors ----------------------------------------------------------------------------

    async def flow_error(self, flow: Flow, body: Any, exc: Exception) -> Response[Any]:
        """Refresh and aal2 logins are redirects for browser forms, JSON errors otherwise."""
        target = redirects_browser(exc)
        if target is not None:
            if self.browser_html(flow):
                return self.ex.redirect(target)
            return self.ex.error_json(exc)  # type: ignore[arg-type]
        return await super().flow_error(flow, body, exc)
