"""The recovery flow (kratos-behaviour.md sections 1.8, 3.2, 3.3, 5.3, 6.2 and 6.3).

``choose_method -> sent_email -> passed_challenge``: the user names a recovery address, the
method in ``selfservice.flows.recovery.use`` sends a code or link, and a matching code or token
lets them in. Unknown addresses get the same answer and the same state as known ones
(``notify_unknown_recipients`` sends them an "invalid" notice instead of a code; pitfall 13).

On success, in one transaction: the secret is used, the recovery address's verifiable twin is
marked verified and a new session (``code_recovery`` / ``link_recovery``, aal1) is stored. Then
``kratos_recovery_after`` and the configured *after* actions run, a settings flow is created
with message 1060001, and the client is handed over (section 1.8, pitfall 24): browsers get the
cookie and a 303 to the settings UI; SPAs and native apps get a 422 pointing there, or with
``feature_flags.use_continue_with_transitions`` the flow with ``continue_with``.

Administrators create codes and links for an identity through :func:`create_admin_recovery`
(``POST /admin/recovery/code`` and ``/link``).
"""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

from litestar import Response

from ..actions.runner import RECOVERY_AFTER, ActionContext, plan_actions, run_actions
from ..errors import BadRequest, Gone, KratosError, NotFound
from ..events import RecoverySucceeded
from ..identity.model import Identity, utcnow
from ..methods.protocols import AdminRecovery, RecoveryContext, RecoveryMethod, RecoveryProof, RestartFlow, ShowFlow
from ..persistence import flows as store
from ..session.model import Session
from ..ui import messages
from ..ui.nodes import csrf_node
from ..ui.text import TextMessage
from ..persistence import codes
from .csrf import mask_token
from .errors import browser_location_change_required, session_already_available
from .exchange import Exchange, with_query
from .model import INITIAL_STATES, STATE_TABLES, Flow
from .params import parse_bool
from .verification import ChallengeFlows, find_verifiable, new_challenge_flow

__all__ = [
    "RECOVERY_STATES",
    "RecoveryFlows",
    "recovery_disabled",
    "create_admin_recovery",
    "open_settings_flow",
]

#: The recovery state machine (section 1.3, recovery v1): a resend stays in ``sent_email``.
RECOVERY_STATES: dict[str, frozenset[str]] = {
    "choose_method": frozenset({"choose_method", "sent_email"}),
    "sent_email": frozenset({"sent_email", "passed_challenge"}),
    "passed_challenge": frozenset({"passed_challenge"}),
}
STATE_TABLES.setdefault("recovery", RECOVERY_STATES)
INITIAL_STATES.setdefault("recovery", "choose_method")

# internal_context keys: flows an administrator created skip CSRF (the user opens them in a
# browser that never saw the flow); skip_settings is the init parameter.
_SKIP_CSRF = "skip_csrf"
_SKIP_SETTINGS = "skip_settings"


def recovery_disabled() -> BadRequest:
    return BadRequest("Recovery is not allowed because it was disabled.")


class RecoveryFlows(ChallengeFlows):
    """Recovery endpoints for one request."""

    kind = "recovery"
    protocol = RecoveryMethod
    carried_over = (_SKIP_SETTINGS,)

    def disabled(self) -> BadRequest:
        return recovery_disabled()

    async def before_hook(self, flow: Flow) -> None:
        await self.app.plugins.hooks.recovery_before(flow=flow, request=self.ex.request)

    def context(self, flow: Flow) -> RecoveryContext:
        return RecoveryContext(self.app, flow, self.ex.request, self.app.schemas.default)

    async def populate(self, method: Any, ctx: RecoveryContext) -> None:
        result = method.populate_recovery(ctx)
        if inspect.isawaitable(result):
            await result

    @property
    def transitions(self) -> bool:
        return self.app.config.feature_flags.use_continue_with_transitions

    # -- init and session rules --------------------------------------------------------------

    async def init_precheck(self, browser: bool) -> Response[Any] | None:
        """Someone signed in has nothing to recover: browsers go on, others get a 400 (1.8)."""
        if await self.ex.current_session() is None:
            return None
        if browser and not self.ex.is_json:
            return_to = self.ex.request.query_params.get("return_to")
            return self.ex.redirect(self.ex.return_to_policy.resolve(return_to, strict=False), status_code=302)
        raise session_already_available()

    def remember_init(self, flow: Flow) -> None:
        if parse_bool(self.ex.request.query_params.get("skip_settings")):
            flow.internal_context[_SKIP_SETTINGS] = True

    async def precheck(self, flow: Flow) -> Response[Any] | None:
        if await self.ex.current_session() is None:
            return None
        if self.browser_html(flow):
            return self.ex.redirect(self.ex.return_to_policy.default_return_url)
        raise session_already_available()

    def needs_csrf(self, flow: Flow, body: Any) -> bool:
        return super().needs_csrf(flow, body) and not flow.internal_context.get(_SKIP_CSRF)

    def fetch_needs_csrf(self, flow: Flow) -> bool:
        # An administrator's flow is opened by a browser that never saw it (Kratos skips here too).
        return not flow.internal_context.get(_SKIP_CSRF)

    # -- replacements ----------------------------------------------------------------------

    def _show_recovery_ui(self, new: Flow) -> dict[str, Any]:
        return {
            "action": "show_recovery_ui",
            "flow": {"id": str(new.id), "url": with_query(self.ui_url, flow=str(new.id))},
        }

    def redirects_to_ui(self, old: Flow) -> bool:
        # With continue-with transitions, API flows always get JSON (section 3.3).
        return super().redirects_to_ui(old) and not (self.transitions and not old.is_browser)

    def json_restart(self, new: Flow) -> Response[Any]:
        if not self.transitions:
            return super().json_restart(new)
        error = Gone(
            "The flow has been replaced by a new flow. Please use the new flow.",
            id="self_service_flow_replaced",
            message="self-service flow replaced",
            details={"continue_with": [self._show_recovery_ui(new)]},
            extra={"use_flow_id": str(new.id)},
        )
        return self.ex.error_json(error)

    def json_expired(self, old: Flow, new: Flow) -> Response[Any]:
        if not (self.transitions and not old.is_browser):
            return super().json_expired(old, new)
        minutes = (utcnow() - old.expires_at).total_seconds() / 60
        error = Gone(
            f"The self-service flow expired {minutes:.2f} minutes ago, initialize a new one.",
            id="self_service_flow_expired",
            message="self-service flow expired",
            details={"continue_with": [self._show_recovery_ui(new)]},
            extra={"use_flow_id": str(new.id)},
        )
        return self.ex.error_json(error)

    # -- submit ----------------------------------------------------------------------------

    async def dispatch(self, flow: Flow, method: Any, body: dict[str, Any]) -> Response[Any]:
        result = await method.recover(self.context(flow), body)
        if isinstance(result, ShowFlow):
            return await self.show(flow, method)
        return await self.complete(flow, method, result)

    async def complete(self, flow: Flow, method: Any, proof: RecoveryProof) -> Response[Any]:
        """Use the secret, verify the address and store a session together; then hand over."""
        identity = await self.app.identities.get(proof.identity_id)
        address = find_verifiable(identity.verifiable_addresses, *proof.address) if proof.address else None
        # Receiving the code or link proves the address: an identity write, unless it was
        # verified already.
        writing = self.app.db.transaction()
        if address is not None and not address.verified:
            writing = self.app.identities.writing(identity, "update", source="recovery", verified_address=address)
        with store.undo_on_error(flow):
            async with writing as tx:
                # Exactly once (issue 15): the flow passes its challenge conditionally; a parallel
                # submit that lost rolls back having written nothing and is told the flow is done.
                self._passed(flow, method, identity)
                if not await store.complete_flow(tx, flow):
                    raise RestartFlow(messages.flow_already_completed(self.kind))  # type: ignore[arg-type]
                await codes.consume(tx, proof.secret)
                # A completed recovery ends every other outstanding code and link of the account.
                await codes.invalidate_identity(tx, identity.id, codes.RECOVERY_KINDS)
                session, token = await self.app.sessions.issue(
                    identity, method=proof.method, aal="aal1", request=self.ex.request, conn=tx
                )
        await self.app.sessions.announce_issued(session, flow="recovery")
        try:
            settings_flow = await self._after(flow, identity, session, proof.method)
        except BaseException:
            # Fail closed: the client never received this session, so it must not stay active.
            await self.app.sessions.revoke(session.id, reason="hook_refused")
            raise
        event = RecoverySucceeded(flow_id=flow.id, identity_id=identity.id, session_id=session.id, method=method.id)
        await self.app.plugins.hooks.event(payload=event)
        return self._hand_over(flow, session, token, settings_flow)

    def _passed(self, flow: Flow, method: Any, identity: Identity) -> None:
        flow.move_to("passed_challenge")
        flow.active = method.id
        flow.identity_id = identity.id
        flow.internal_context["recovered_identity_id"] = str(identity.id)
        flow.internal_context.pop(_SKIP_CSRF, None)
        flow.ui.reset_messages()
        if flow.is_browser:
            # Recovery signs the browser in: it gets a new anti-CSRF token (section 3.1).
            token = self.ex.regenerate_csrf()
            flow.csrf_token = mask_token(token)
            flow.ui.upsert(csrf_node(mask_token(token)))

    async def _after(self, flow: Flow, identity: Identity, session: Session, method: str) -> Flow | None:
        """``kratos_recovery_after``, the configured actions, then the settings flow (if wanted)."""
        await self.app.plugins.hooks.recovery_after(flow=flow, identity=identity, session=session)
        ctx = ActionContext(
            app=self.app,
            stage=RECOVERY_AFTER,
            flow=flow,
            request=self.ex.request,
            identity=identity,
            session=session,
            method=method,
            hand_out_session=True,
        )
        await run_actions(ctx, plan_actions((), self.settings.after.hooks), self.app.plugins.actions)
        if flow.internal_context.get(_SKIP_SETTINGS):
            return None
        max_age = self.app.config.selfservice.flows.settings.privileged_session_max_age
        notice = messages.recovery_successful(session.authenticated_at + max_age)
        csrf = self.ex.csrf_token() if flow.is_browser else None
        return await open_settings_flow(self.ex, identity, session, flow, notice, csrf)

    def _hand_over(self, flow: Flow, session: Session, token: str, settings_flow: Flow | None) -> Response[Any]:
        """The answer of section 1.8: cookie and redirect, 422, or ``continue_with``.

        Like Kratos, the request decides between redirect and JSON (a recovery link opened in a
        browser lands in the settings UI even for a flow a native app started); only with
        continue-with transitions do API flows always get JSON.
        """
        redirect = self.redirects_to_ui(flow)
        if flow.is_browser or redirect:
            self.ex.set_session_cookie(session, token)
        if settings_flow is None:
            return self._skip_settings(flow, token, redirect)
        url = with_query(self.app.config.selfservice.flows.settings.ui_url, flow=str(settings_flow.id))
        if redirect:
            return self.ex.redirect(url)
        if not self.transitions:
            # Native apps need the flag to receive the token (pitfall 24).
            return self.ex.error_json(browser_location_change_required(url))
        items: list[dict[str, Any]] = []
        if not flow.is_browser:
            items.append({"action": "set_ory_session_token", "ory_session_token": token})
        items.append({"action": "show_settings_ui", "flow": {"id": str(settings_flow.id), "url": url}})
        return self.ex.json({**flow.to_dict(), "continue_with": items})

    def _skip_settings(self, flow: Flow, token: str, redirect: bool) -> Response[Any]:
        """``skip_settings=true``: straight to ``return_to`` (redirect or ``continue_with``)."""
        return_url = self.ex.return_to_policy.resolve(
            flow.return_to, self.settings.after.default_browser_return_url, strict=False
        )
        if redirect:
            return self.ex.redirect(return_url)
        if flow.is_browser:
            items = [{"action": "redirect_browser_to", "redirect_browser_to": return_url}]
        else:
            items = [{"action": "set_ory_session_token", "ory_session_token": token}]
        return self.ex.json({**flow.to_dict(), "continue_with": items})


# -- the hand-over to settings --------------------------------------------------------------


async def open_settings_flow(
    ex: Exchange, identity: Identity, session: Session, origin: Flow, notice: TextMessage, csrf_token: str | None
) -> Flow:
    """Create the settings flow a recovered user continues in (message ``notice``).

    Uses the settings flow's own :func:`kratos_core.flows.settings.create_settings_flow` (its form,
    its hooks). When that module cannot be imported, a bare ``show_form`` flow is stored so that
    recovery still works; the settings endpoints fill its form when they show it.
    """
    try:
        from .settings import create_settings_flow
    except ImportError:
        return await _bare_settings_flow(ex, identity, session, origin, notice, csrf_token)
    return await create_settings_flow(
        ex.app,
        session=session,
        identity=identity,
        request=ex.request,
        flow_type=origin.type,
        return_to=origin.return_to,
        messages=[notice],
        csrf_token=csrf_token,
    )


async def _bare_settings_flow(
    ex: Exchange, identity: Identity, session: Session, origin: Flow, notice: TextMessage, csrf_token: str | None
) -> Flow:
    app = ex.app
    INITIAL_STATES.setdefault("settings", "show_form")
    STATE_TABLES.setdefault(
        "settings", {"show_form": frozenset({"show_form", "success"}), "success": frozenset({"success"})}
    )
    flow = new_challenge_flow(app, "settings", origin.type, ex.url(), origin.return_to)
    flow.identity_id, flow.session_id = identity.id, session.id
    flow.data = {"organization_id": None}
    if flow.is_browser and csrf_token:
        flow.csrf_token = mask_token(csrf_token)
        flow.ui.upsert(csrf_node(mask_token(csrf_token)))
    flow.ui.add_message(notice)
    await store.insert_flow(app.db, flow)
    return flow


# -- administrator-issued codes and links ---------------------------------------------------


async def create_admin_recovery(
    ex: Exchange, method_id: str, identity_id: Any, lifespan: dt.timedelta | None, flow_type: str, return_to: str | None
) -> AdminRecovery:
    """A recovery flow in ``sent_email`` with a code or link for an identity (section 5.3).

    The flow lives as long as the secret, skips CSRF checks (the user opens it in a browser
    that never saw it), and a secret used on it verifies no address.

    Raises:
        BadRequest: Recovery is disabled.
        NotFound: The method is disabled (Kratos's "endpoint disabled" 404) or the identity
            does not exist.
    """
    app = ex.app
    if not app.config.selfservice.flows.recovery.enabled:
        raise recovery_disabled()
    method = app.plugins.enabled_methods(app.config).get(method_id)
    if not isinstance(method, RecoveryMethod):
        from .engine import METHOD_DISABLED_REASON

        raise NotFound(METHOD_DISABLED_REASON)
    identity = await _identity(app, identity_id)
    lifespan = lifespan if lifespan is not None else method.secret_lifespan
    flow = new_challenge_flow(app, "recovery", flow_type, ex.url(), return_to)
    flow.expires_at = flow.issued_at + lifespan
    flow.internal_context[_SKIP_CSRF] = True
    ctx = RecoveryContext(app, flow, ex.request, app.schemas.default)
    async with app.db.transaction() as tx:
        await store.insert_flow(tx, flow)
        issued = await method.issue_admin_recovery(ctx, tx, identity, lifespan)
        flow.active = method.id
        await store.update_flow(tx, flow)
    return issued


async def _identity(app: Any, identity_id: Any) -> Identity:
    try:
        return await app.identities.get(identity_id)
    except KratosError:
        raise NotFound("The requested identity id does not exist.") from None
