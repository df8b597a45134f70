"""The registration flow (kratos-behaviour.md sections 1.10, 6.9, 7.2 and 7.3).

Init refuses when registration is disabled or a session exists, and renders the first form:
``profile_first`` (the default) shows the traits and a ``method=profile`` button; after that
step the traits are hidden and the credential methods are shown (``credentials``); ``unified``
shows everything at once. A method's successful submit yields a complete identity, which is
written together with its credentials, addresses and a session in one transaction; then
``kratos_registration_post_persist`` and the configured *after* actions run. The session is
handed to the client only when the ``session`` action ran.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Response

from ..actions.runner import (
    REGISTRATION_AFTER,
    ActionContext,
    HookEntry,
    after_hooks,
    plan_actions,
    run_actions,
    run_pre_persist,
    split_pre_persist,
)
from ..errors import BadRequest, Conflict, KratosError
from ..events import RegistrationSucceeded
from ..identity.model import encodable_time, identity_public_dict
from ..methods.protocols import RegistrationContext, RegistrationMethod, RegistrationResult, RegistrationStep, ShowFlow
from ..persistence import flows as store
from ..session.model import session_dict
from ..ui import messages
from ..ui.traits import trait_names, trait_nodes
from .csrf import mask_token
from .engine import FlowHandler, choose_method, enabled_methods
from .errors import FlowAlreadyCompleted, FlowValidationError, session_already_available
from .model import Flow, new_flow
from .params import select_schema

__all__ = ["RegistrationFlows", "RegistrationParams", "registration_disabled"]

_STEP_KEY = "registration_step"


@dataclass(frozen=True, slots=True)
class RegistrationParams:
    """What a registration flow is created from (the init query, or an expired flow)."""

    request_url: str
    return_to: str | None
    identity_schema: str | None


def registration_disabled() -> BadRequest:
    return BadRequest("Registration is not allowed because it was disabled.", id="self_service_flow_disabled")


class RegistrationFlows(FlowHandler):
    """Registration endpoints for one request."""

    kind = "registration"

    @property
    def ui_url(self) -> str:
        return self.app.config.selfservice.flows.registration.ui_url

    def first_step(self) -> RegistrationStep:
        """``profile`` for two-step registration, ``unified`` for the one-form styles."""
        settings = self.app.config.selfservice.flows.registration
        two_step = settings.style == "profile_first" and not settings.enable_legacy_one_step
        profile_on = "profile" in self.app.plugins.enabled_methods(self.app.config)
        return "profile" if two_step and profile_on else "unified"

    # -- init ------------------------------------------------------------------------------

    async def init(self, flow_type: str) -> Response[Any]:
        """``GET /self-service/registration/browser`` and ``/api``."""
        browser = flow_type == "browser"
        try:
            if not self.app.config.selfservice.flows.registration.enabled:
                raise registration_disabled()
            query = self.ex.request.query_params
            params = RegistrationParams(
                request_url=self.ex.url(),
                return_to=self.ex.return_to_policy.check(query.get("return_to")),
                identity_schema=select_schema(self.app, query.get("identity_schema")),
            )
            if await self.ex.current_session() is not None:
                if browser and not self.ex.is_json:
                    return self.ex.redirect(self.ex.return_to_policy.resolve(params.return_to))
                raise session_already_available()
            flow = await self.build(flow_type, params)
        except KratosError as exc:
            return await self.ex.error(exc, browser=browser)
        return await self.store_new(flow)

    async def build(self, flow_type: str, params: RegistrationParams) -> Flow:
        data = {"identity_schema": params.identity_schema} if params.identity_schema else {}
        flow = new_flow(
            kind="registration",
            type=flow_type,
            request_url=params.request_url,
            return_to=params.return_to,
            lifespan=self.app.config.selfservice.flows.registration.lifespan,
            action=f"{self.ex.public_url}/self-service/registration",
            data=data,
        )
        self.set_csrf(flow)
        await self.render(flow, self.first_step(), {})
        return flow

    async def replacement(self, expired: Flow) -> Flow:
        params = RegistrationParams(expired.request_url, expired.return_to, expired.identity_schema)
        flow = await self.build(expired.type, params)
        await self.before_hook(flow)
        await self.before_actions(flow)
        flow.ui.add_message(self.expiry_message(expired))
        await store.insert_flow(self.app.db, flow)
        return flow

    async def before_hook(self, flow: Flow) -> None:
        await self.app.plugins.hooks.registration_before(flow=flow, request=self.ex.request)

    # -- the form --------------------------------------------------------------------------

    async def render(self, flow: Flow, step: RegistrationStep, traits: Mapping[str, Any]) -> None:
        """Rebuild the form for ``step``: csrf, trait nodes, then every method's nodes."""
        schema = self.schema_for(flow)
        kept = flow.ui.find("csrf_token")
        flow.ui.nodes = [kept] if kept is not None else []
        flow.ui.messages = []
        group = "default"
        if step == "unified" and self.app.config.feature_flags.password_profile_registration_node_group == "password":
            group = "password"
        values = traits if isinstance(traits, Mapping) else {}
        flow.ui.nodes.extend(trait_nodes(schema.raw, group=group, values=values, hidden=step == "credentials"))
        flow.internal_context[_STEP_KEY] = step
        ctx = self._context(flow, step)
        for method in enabled_methods(self.ex, RegistrationMethod):
            result = method.populate_registration(ctx)
            if inspect.isawaitable(result):
                await result
        flow.ui.sort("registration", trait_order=trait_names(schema.raw))

    def _context(self, flow: Flow, step: RegistrationStep) -> RegistrationContext:
        async def render(new_step: RegistrationStep, traits: Mapping[str, Any]) -> None:
            await self.render(flow, new_step, traits)

        return RegistrationContext(self.app, flow, self.ex.request, self.schema_for(flow), step=step, render=render)

    # -- submit ----------------------------------------------------------------------------

    async def precheck(self, flow: Flow) -> Response[Any] | None:
        if await self.ex.current_session() is None:
            return None
        if self.browser_html(flow):
            return self.ex.redirect(self.ex.return_to_policy.default_return_url, status_code=302)
        raise session_already_available()

    async def handle(self, flow: Flow, body: dict[str, Any]) -> Response[Any]:
        method = choose_method(self.ex, "registration", RegistrationMethod, _method_id(body))
        flow.active = method.id
        step = flow.internal_context.get(_STEP_KEY) or self.first_step()
        result = await method.register(self._context(flow, step), body)
        if isinstance(result, ShowFlow):
            self.set_csrf(flow)
            await store.update_flow(self.app.db, flow)
            return self.answer(flow, 400)
        return await self.complete(flow, result)

    async def complete(self, flow: Flow, result: RegistrationResult) -> Response[Any]:
        """Store the new identity and its session, run the hooks and actions, and answer."""
        pre, post = self._plan(result.method)
        session, token = await self.persist(flow, result, pre)
        hooks = self.app.plugins.hooks
        await hooks.registration_post_persist(flow=flow, identity=result.identity, session=session)
        await hooks.event(payload=RegistrationSucceeded(flow_id=flow.id, identity_id=result.identity.id, method=result.method))
        actions = await self._after(flow, result, session, post)
        return await self._answer_success(flow, result, session, token, actions)

    def _plan(self, method: str) -> tuple[list[HookEntry], list[HookEntry]]:
        """The configured ``after`` entries, split into (``pre_persist``, ``after``) ones."""
        config = self.app.config
        registry = self.app.plugins.actions
        # Enabled verification sends its code first, without being configured (section 7.2).
        verify = config.selfservice.flows.verification.enabled and "verification" in registry.items
        after = config.selfservice.flows.registration.after
        entries = plan_actions(after_hooks(config, "registration", method), after.hooks, prepend=("verification",) if verify else ())
        return split_pre_persist(entries, registry, "registration")

    async def persist(self, flow: Flow, result: RegistrationResult, pre: Sequence[HookEntry] = ()) -> tuple[Any, str]:
        """Write identity, credentials, addresses, session and the completed flow atomically.

        The ``pre_persist`` actions (``pre``) run first and may change the identity, which is
        then validated against its schema again; a refusal stores nothing.
        """
        identity = result.identity
        await self.app.plugins.hooks.registration_pre_persist(flow=flow, identity=identity)
        if await run_pre_persist(
            self.app, "registration", pre, flow, self.ex.request, identity, session=None, method=result.method
        ):
            await self.app.identities.revalidate(identity)
        try:
            with store.undo_on_error(flow):
                async with self.app.identities.writing(identity, "create", source="registration") as tx:
                    # Exactly once (issue 15): the flow's completion is conditional on it not being
                    # completed, in the transaction of the identity and session; a parallel submit
                    # that lost rolls back having written nothing (on PostgreSQL it waits for the
                    # winner's row lock, then sees the flow done).
                    flow.mark_completed()
                    if not await store.complete_flow(tx, flow):
                        raise FlowAlreadyCompleted()
                    session, token = await self.app.sessions.issue(
                        identity, method=result.method, request=self.ex.request, conn=tx
                    )
                    flow.identity_id = identity.id  # after the identity: the column references it
                    await store.update_flow(tx, flow)
        except FlowAlreadyCompleted:
            flow.identity_id = None
            flow.internal_context.pop("completed_at", None)
            raise
        except Conflict:
            if await self._completed_meanwhile(flow):
                # The identifier is taken by the identity a parallel submit of this flow created.
                raise FlowAlreadyCompleted() from None
            # Self-service never answers 409: the taken identifier is shown on the flow (pitfall 19).
            flow.identity_id = None
            flow.internal_context.pop("completed_at", None)
            raise FlowValidationError.on_flow(messages.duplicate_credentials()) from None
        await self.app.sessions.announce_issued(session, flow="registration")
        return session, token

    async def _completed_meanwhile(self, flow: Flow) -> bool:
        """Whether a parallel submit completed ``flow`` since this one loaded it."""
        stored = await store.get_flow(self.app.db, flow.id, self.kind)
        return stored is not None and stored.completed

    async def _after(self, flow: Flow, result: RegistrationResult, session: Any, entries: list[HookEntry]) -> ActionContext:
        ctx = ActionContext(
            app=self.app,
            stage=REGISTRATION_AFTER,
            flow=flow,
            request=self.ex.request,
            identity=result.identity,
            session=session,
            method=result.method,
        )
        await run_actions(ctx, entries, self.app.plugins.actions)
        return ctx

    async def _answer_success(
        self, flow: Flow, result: RegistrationResult, session: Any, token: str, actions: ActionContext
    ) -> Response[Any]:
        after = self.app.config.selfservice.flows.registration.after
        return_url = self.ex.return_to_policy.resolve(flow.return_to, after.return_url_for(result.method), strict=False)
        body: dict[str, Any] = {}
        if actions.hand_out_session:
            body["session"] = session_dict(session, self.app.public_base_url, admin=False, ts=encodable_time)
            if flow.is_browser:
                flow.csrf_token = mask_token(self.ex.regenerate_csrf())
                await store.update_flow(self.app.db, flow)
                self.ex.set_session_cookie(session, token)
            else:
                body = {"session_token": token, **body}
        body["identity"] = identity_public_dict(result.identity, self.app.public_base_url, ts=encodable_time)
        if flow.is_browser:
            body["continue_with"] = [{"action": "redirect_browser_to", "redirect_browser_to": return_url}, *actions.continue_with]
        else:
            body["continue_with"] = actions.continue_with or None
        if self.browser_html(flow):
            return self.ex.redirect(return_url)
        return self.ex.json(body)


def _method_id(body: Mapping[str, Any]) -> Any:
    """The submit's method; the back button and ``screen`` submits belong to ``profile`` (6.9)."""
    method = body.get("method")
    if method == "profile:back" or (not method and body.get("screen")):
        return "profile"
    return method
