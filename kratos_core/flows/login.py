"""The login flow (kratos-behaviour.md sections 1.6, 3.2 and 7.2).

Init checks the session rules (already logged in, ``refresh``, ``aal``), lets every enabled
login method add its nodes, runs the *before* hooks and stores the flow. A submit goes through
the shared pipeline (:class:`~kratos_core.flows.engine.FlowHandler`) to the method the body names;
on success the session is issued (or stepped up, keeping its id), ``kratos_login_after`` and the
configured *after* actions run, and the client gets the session (token, cookie or redirect).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from litestar import Response

from ..actions.runner import LOGIN_AFTER, ActionContext, after_hooks, plan_actions, run_actions
from ..errors import BadRequest, KratosError, Unauthorized
from ..events import LoginFailed, LoginSucceeded, failure_reason
from ..identity.model import encodable_time
from ..methods.protocols import LoginContext, LoginMethod, LoginResult, ShowFlow
from ..persistence import flows as store
from ..session.model import session_dict
from ..ui import messages
from .csrf import mask_token
from .engine import FlowHandler, choose_method, enabled_methods
from .errors import FlowAlreadyCompleted, identity_disabled, session_already_available
from .model import Flow, new_flow
from .params import AAL_RANK, parse_bool, select_schema

__all__ = ["LoginFlows", "LoginParams"]

_AALS = ("aal1", "aal2")


@dataclass(frozen=True, slots=True)
class LoginParams:
    """What a login flow is created from (the init query, or an expired flow)."""

    request_url: str
    return_to: str | None
    refresh: bool
    aal: str
    identity_schema: str | None


def session_aal1_required() -> Unauthorized:
    """401 for ``aal=aal2`` without a session (section 3.4)."""
    return Unauthorized("aal2 and aal3 can only be requested if a session exists already.", id="session_aal1_required")


class LoginFlows(FlowHandler):
    """Login endpoints for one request."""

    kind = "login"

    @property
    def ui_url(self) -> str:
        return self.app.config.selfservice.flows.login.ui_url

    # -- init ------------------------------------------------------------------------------

    async def init(self, flow_type: str) -> Response[Any]:
        """``GET /self-service/login/browser`` and ``/api``."""
        browser = flow_type == "browser"
        try:
            params = self._params()
            session = await self.ex.current_session()
            if session is not None and not params.refresh and AAL_RANK[params.aal] <= AAL_RANK.get(session.aal, 0):
                # Already logged in (section 1.6): browsers go on, everyone else gets a 400.
                if browser and not self.ex.is_json:
                    return self.ex.redirect(self.ex.return_to_policy.resolve(params.return_to))
                raise session_already_available()
            if session is None and params.aal != "aal1":
                raise session_aal1_required()
            flow = await self.build(flow_type, params)
        except KratosError as exc:
            return await self.ex.error(exc, browser=browser)
        return await self.store_new(flow)

    def _params(self) -> LoginParams:
        query = self.ex.request.query_params
        aal = query.get("aal") or "aal1"
        if aal not in _AALS:
            raise BadRequest(
                f'Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of {", ".join(_AALS)} but got "{aal}".'
            )
        if query.get("login_challenge"):
            raise BadRequest(
                "The login_challenge query parameter needs an OAuth 2.0 provider, but oauth2_provider.url is not set."
            )
        schema = select_schema(self.app, query.get("identity_schema"))
        return LoginParams(
            request_url=self.ex.url(),
            return_to=self.ex.return_to_policy.check(query.get("return_to")),
            refresh=parse_bool(query.get("refresh")),
            aal=aal,
            identity_schema=schema,
        )

    async def build(self, flow_type: str, params: LoginParams) -> Flow:
        """A populated, not yet stored flow (``refresh`` is ignored without a session)."""
        session = await self.ex.current_session()
        refresh = params.refresh and session is not None
        data: dict[str, Any] = {"refresh": refresh, "requested_aal": params.aal}
        if params.identity_schema:
            data["identity_schema"] = params.identity_schema
        flow = new_flow(
            kind="login",
            type=flow_type,
            request_url=params.request_url,
            return_to=params.return_to,
            lifespan=self.app.config.selfservice.flows.login.lifespan,
            action=f"{self.ex.public_url}/self-service/login",
            data=data,
        )
        stepping_up = session is not None and (refresh or params.aal != "aal1")
        if stepping_up:
            flow.session_id, flow.identity_id = session.id, session.identity_id
        self.set_csrf(flow)
        ctx = self._context(flow, session if stepping_up else None)
        for method in enabled_methods(self.ex, LoginMethod):
            result = method.populate_login(ctx)
            if inspect.isawaitable(result):
                await result
        if refresh:
            flow.ui.add_message(messages.login_refresh())
        elif params.aal == "aal2" and session is not None and session.aal != "aal2":
            flow.ui.add_message(messages.login_mfa())
        flow.ui.sort("login")
        return flow

    async def replacement(self, expired: Flow) -> Flow:
        params = LoginParams(
            request_url=expired.request_url,
            return_to=expired.return_to,
            refresh=bool(expired.data.get("refresh")),
            aal=str(expired.data.get("requested_aal", "aal1")),
            identity_schema=expired.identity_schema,
        )
        flow = await self.build(expired.type, params)
        await self.before_hook(flow)
        await self.before_actions(flow)
        flow.ui.add_message(self.expiry_message(expired))
        await store.insert_flow(self.app.db, flow)
        return flow

    async def before_hook(self, flow: Flow) -> None:
        await self.app.plugins.hooks.login_before(flow=flow, request=self.ex.request)

    def _context(self, flow: Flow, session: Any) -> LoginContext:
        identity = session.identity if session is not None else None
        return LoginContext(self.app, flow, self.ex.request, self.schema_for(flow), session=session, identity=identity)

    # -- submit ----------------------------------------------------------------------------

    async def precheck(self, flow: Flow) -> Response[Any] | None:
        session = await self.ex.current_session()
        if session is None or flow.data.get("refresh"):
            return None
        if AAL_RANK.get(flow.data.get("requested_aal", "aal1"), 1) > AAL_RANK.get(session.aal, 0):
            return None  # a step-up
        if self.browser_html(flow):
            return self.ex.redirect(self.ex.return_to_policy.default_return_url)
        raise session_already_available()

    async def handle(self, flow: Flow, body: dict[str, Any]) -> Response[Any]:
        method = choose_method(self.ex, "login", LoginMethod, body.get("method"))
        flow.active = method.id
        session = await self.ex.current_session()
        ctx = self._context(flow, session)
        try:
            result = await method.login(ctx, body)
            if isinstance(result, ShowFlow):
                self.set_csrf(flow)
                await store.update_flow(self.app.db, flow)
                return self.answer(flow, 400)
            return await self.succeed(flow, ctx, result)
        except KratosError as exc:
            await self.app.plugins.hooks.event(payload=LoginFailed(flow_id=flow.id, method=method.id, reason=failure_reason(exc)))
            raise

    async def succeed(self, flow: Flow, ctx: LoginContext, result: LoginResult) -> Response[Any]:
        identity = result.identity
        if not identity.active:
            raise identity_disabled()
        await self._claim(flow)
        try:
            return await self._complete(flow, ctx, result)
        except Exception:
            # A hook or action refused the login: the flow stays usable, as before the claim.
            flow.internal_context.pop("completed_at", None)
            await store.reopen_flow(self.app.db, flow)
            raise

    async def _claim(self, flow: Flow) -> None:
        """Complete the flow before anything is written (issue 15): of parallel submits of one
        flow only the first gets past here; the others write nothing and are told the flow was
        completed already."""
        flow.mark_completed()
        if not await store.complete_flow(self.app.db, flow):
            flow.internal_context.pop("completed_at", None)
            raise FlowAlreadyCompleted()

    async def _complete(self, flow: Flow, ctx: LoginContext, result: LoginResult) -> Response[Any]:
        identity = result.identity
        sessions = self.app.sessions
        previous = ctx.session
        if previous is not None and previous.identity_id == identity.id:
            # Refresh and step-up keep the session id and token (pitfall 11).
            session = await sessions.step_up(previous, result.method, result.aal, self.ex.request)
            token, fresh = previous.token, False
            # Stored now, whatever the hooks decide next (as the hookspec says).
            await sessions.announce_refreshed(session, reason="reauthenticated")
        else:
            # Stored only once the hooks and actions accepted the login, together with the
            # completed flow (one statement): a refused login leaves no session behind.
            session, token = sessions.new(identity, method=result.method, aal=result.aal, request=self.ex.request)
            fresh = True
        actions = await self._after(flow, identity, session, result.method)
        return await self._answer_success(flow, session, token, previous, actions, result.method, fresh=fresh)

    def _aal2_login_url(self, flow: Flow, session: Any) -> str | None:
        """Where a browser goes instead of its return URL when whoami would refuse the session.

        As Kratos's post-login hook does: under ``session.whoami.required_aal:
        highest_available`` an identity that has a second factor is sent on from its first-factor
        login to the aal2 login (keeping ``return_to``), as a 303 or as the ``redirect_browser_to``
        of ``continue_with``. API clients get their token and ask for aal2 themselves.
        """
        if session.identity is None:
            return None
        try:
            self.app.sessions.check_aal(session, self.app.config.session.whoami.required_aal, return_to=flow.return_to)
        except KratosError as exc:
            target = exc.extra.get("redirect_browser_to")
            return target if isinstance(target, str) else None
        return None

    async def _after(self, flow: Flow, identity: Any, session: Any, method: str) -> ActionContext:
        await self.app.plugins.hooks.login_after(flow=flow, identity=identity, session=session)
        after = self.app.config.selfservice.flows.login.after
        ctx = ActionContext(
            app=self.app,
            stage=LOGIN_AFTER,
            flow=flow,
            request=self.ex.request,
            identity=identity,
            session=session,
            method=method,
            hand_out_session=True,
        )
        entries = plan_actions(after_hooks(self.app.config, "login", method), after.hooks)
        await run_actions(ctx, entries, self.app.plugins.actions)
        return ctx

    async def _answer_success(
        self, flow: Flow, session: Any, token: str, previous: Any, actions: ActionContext, method: str, *, fresh: bool
    ) -> Response[Any]:
        after = self.app.config.selfservice.flows.login.after
        return_url = self.ex.return_to_policy.resolve(flow.return_to, after.return_url_for(method), strict=False)
        body: dict[str, Any] = {"session": session_dict(session, self.app.public_base_url, admin=False, ts=encodable_time)}
        if flow.is_browser:
            return_url = self._aal2_login_url(flow, session) or return_url
            if previous is None or previous.identity_id != session.identity_id:
                # A new login in this browser gets a new anti-CSRF token (pitfall 8).
                flow.csrf_token = mask_token(self.ex.regenerate_csrf())
            self.ex.set_session_cookie(session, token)
            body["continue_with"] = [{"action": "redirect_browser_to", "redirect_browser_to": return_url}, *actions.continue_with]
        else:
            body = {"session_token": token, **body, "continue_with": actions.continue_with or None}
        flow.mark_completed()
        if fresh:
            async with self.app.db.batch() as tx:
                await self.app.sessions.persist_new(session, conn=tx)
                await store.update_flow(tx, flow)
            await self.app.sessions.announce_issued(session, flow="login")
        else:
            await store.update_flow(self.app.db, flow)
        succeeded = LoginSucceeded(
            flow_id=flow.id, identity_id=session.identity_id, session_id=session.id, method=method, aal=session.aal
        )
        await self.app.plugins.hooks.event(payload=succeeded)
        if self.browser_html(flow):
            return self.ex.redirect(return_url)
        return self.ex.json(body)
