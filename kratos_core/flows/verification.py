"""The verification flow (kratos-behaviour.md sections 1.9, 3.2, 3.3, 6.2 and 6.3).

``choose_method -> sent_email -> passed_challenge``: the user names an address, the method in
``selfservice.flows.verification.use`` (``code`` or ``link``) sends a code or link, and a
matching code or token proves the address, which becomes ``verified: true, status: completed``.
Unknown addresses get exactly the answer known ones get (anti-enumeration, pitfall 13).

:class:`ChallengeFlows` holds what verification and recovery share and where they differ from
login and registration: "code sent" and "wrong code" answer 200 with the flow; a finished flow,
a used-up secret or too many guesses are answered with a *replacement* flow; an expired flow is
replaced and JSON callers are sent to the new flow with a 303 (section 3.3); and a submit that
carries its own proof (a code link, a token link) needs no anti-CSRF token.

Flows are also started without a request of their own: :func:`start_verification` creates one in
``sent_email`` for an address right after registration or login (the ``verification`` action).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar import Request, Response

from ..actions.runner import VERIFICATION_AFTER, ActionContext, plan_actions, run_actions
from ..errors import BadRequest, Gone, KratosError, NotFound
from ..events import VerificationSucceeded
from ..identity.model import Identity, VerifiableAddress, utcnow
from ..methods.protocols import AddressProof, RestartFlow, ShowFlow, VerificationContext, VerificationMethod
from ..persistence import flows as store
from ..ui import messages
from ..ui.container import Container
from ..ui.nodes import anchor_node, csrf_node
from ..ui.text import TextMessage
from ..persistence import codes
from .csrf import csrf_cookie_name, is_valid_cookie_token, mask_token
from .engine import FlowHandler, choose_method, parse_flow_id
from .exchange import with_query
from .model import INITIAL_STATES, STATE_TABLES, Flow
from .return_to import ReturnToPolicy

__all__ = [
    "VERIFICATION_STATES",
    "VERIFICATION_AFTER",
    "ChallengeFlows",
    "VerificationFlows",
    "verification_disabled",
    "start_verification",
    "find_verifiable",
    "new_challenge_flow",
]

#: The verification state machine (section 1.3): a resend stays in ``sent_email``.
VERIFICATION_STATES: dict[str, frozenset[str]] = {
    "choose_method": frozenset({"choose_method", "sent_email"}),
    "sent_email": frozenset({"sent_email", "passed_challenge"}),
    "passed_challenge": frozenset({"passed_challenge"}),
}
# The flow model keeps one table per kind; the kinds that live outside it register theirs.
STATE_TABLES.setdefault("verification", VERIFICATION_STATES)
INITIAL_STATES.setdefault("verification", "choose_method")

_FROM_HOOK = "created_by_hook"


def verification_disabled() -> BadRequest:
    return BadRequest("Verification is not allowed because it was disabled.")


def _replaced(new: Flow) -> Gone:
    """Kratos's 410 telling JSON callers to continue on ``new`` (``self_service_flow_replaced``)."""
    return Gone(
        "The flow has been replaced by a new flow. Please use the new flow.",
        id="self_service_flow_replaced",
        message="self-service flow replaced",
        extra={"use_flow_id": str(new.id)},
    )


class ChallengeFlows(FlowHandler):
    """Init, fetch and submit for the flows that send a code or link (verification, recovery)."""

    protocol: type = object
    #: ``internal_context`` keys a replacement flow inherits (init parameters such as
    #: recovery's ``skip_settings``).
    carried_over: tuple[str, ...] = ()

    # -- configuration -----------------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """``selfservice.flows.<kind>``."""
        return getattr(self.app.config.selfservice.flows, self.kind)

    @property
    def ui_url(self) -> str:
        return self.settings.ui_url

    @property
    def use(self) -> str:
        """The one method this kind uses (``selfservice.flows.<kind>.use``)."""
        return self.settings.use

    def disabled(self) -> BadRequest:
        raise NotImplementedError

    def method_in_use(self) -> Any | None:
        """The ``use`` method when it is installed, enabled and takes part in this kind."""
        method = self.app.plugins.enabled_methods(self.app.config).get(self.use)
        return method if isinstance(method, self.protocol) else None

    # -- what a subclass provides ----------------------------------------------------------

    def context(self, flow: Flow) -> Any:
        raise NotImplementedError

    async def populate(self, method: Any, ctx: Any) -> None:
        raise NotImplementedError

    async def dispatch(self, flow: Flow, method: Any, body: dict[str, Any]) -> Response[Any]:
        raise NotImplementedError

    def json_restart(self, new: Flow) -> Response[Any]:
        """How JSON and API callers learn about a replacement flow (differs per kind and method)."""
        return self.ex.redirect(self.fetch_url(new))

    def needs_csrf(self, flow: Flow, body: Mapping[str, Any]) -> bool:
        """Whether a browser submit must carry the anti-CSRF token (links never can)."""
        return self.ex.request.method != "GET"

    # -- building --------------------------------------------------------------------------

    def fetch_url(self, flow: Flow) -> str:
        return with_query(f"{self.ex.public_url}/self-service/{self.kind}/flows", id=str(flow.id))

    async def build(self, flow_type: str, request_url: str, return_to: str | None) -> Flow:
        """A new flow with the ``use`` method's form (not stored)."""
        flow = new_challenge_flow(self.app, self.kind, flow_type, request_url, return_to)
        self.set_csrf(flow)
        method = self.method_in_use()
        if method is not None:
            await self.populate(method, self.context(flow))
        return flow

    # -- init ------------------------------------------------------------------------------

    async def init(self, flow_type: str) -> Response[Any]:
        """``GET /self-service/<kind>/browser`` and ``/api``."""
        browser = flow_type == "browser"
        try:
            if not self.settings.enabled:
                raise self.disabled()
            early = await self.init_precheck(browser)
            if early is not None:
                return early
            return_to = self.ex.return_to_policy.check(self.ex.request.query_params.get("return_to"))
            flow = await self.build(flow_type, self.ex.url(), return_to)
            self.remember_init(flow)
        except KratosError as exc:
            return await self.ex.error(exc, browser=browser)
        return await self.store_new(flow)

    async def init_precheck(self, browser: bool) -> Response[Any] | None:
        """Session rules at init; a response ends it."""
        return None

    def remember_init(self, flow: Flow) -> None:
        """Keep init parameters the flow needs later (recovery's ``skip_settings``)."""

    async def replacement(self, old: Flow) -> Flow:
        """A stored flow of the same type, ``return_to`` and request URL, with a fresh form."""
        if old.is_browser:
            self.ex.regenerate_csrf()  # Kratos hands out a new token with every replacement
        flow = await self.build(old.type, old.request_url, old.return_to)
        flow.internal_context.update({k: v for k, v in old.internal_context.items() if k in self.carried_over})
        await self.before_actions(flow)
        return flow

    # -- fetch -----------------------------------------------------------------------------

    async def fetch(self) -> Response[Any]:
        """``GET /self-service/<kind>/flows?id=``; 400 while the flow kind is disabled."""
        if not self.settings.enabled:
            raise self.disabled()
        try:
            flow_id = uuid.UUID(self.ex.request.query_params.get("id") or "")
        except ValueError:
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource") from None
        flow = await self.load(flow_id)
        if flow.is_browser and self.fetch_needs_csrf(flow):
            self.ex.check_flow_fetch(flow.csrf_token)
        if flow.is_expired():
            raise self._expired_on_fetch(flow)
        return self.ex.json(flow.to_dict())

    def fetch_needs_csrf(self, flow: Flow) -> bool:
        """Whether reading this browser flow needs the browser's anti-CSRF cookie."""
        return True

    # -- submit ----------------------------------------------------------------------------

    async def submit(self) -> Response[Any]:
        """``POST /self-service/<kind>?flow=`` and the GET of code and token links."""
        try:
            flow = await self.load(parse_flow_id(self.ex.request.query_params.get("flow")))
        except KratosError as exc:
            return await self.ex.error(exc, browser=True)
        if not self.settings.enabled:
            return await self.ex.error(self.disabled(), browser=flow.is_browser)
        body: dict[str, Any] = {}
        try:
            early = await self.precheck(flow)
            if early is not None:
                return early
            body = await self.read_body(flow)
            if flow.is_expired():
                return await self.expired(flow)
            if flow.state == "passed_challenge" and not _is_link_token(body):
                raise RestartFlow(messages.flow_already_completed(self.kind))  # type: ignore[arg-type]
            method = self.pick_method(body)
            if self.needs_csrf(flow, body):
                self.check_origin(flow, body)
            if isinstance(body.get("transient_payload"), Mapping):
                flow.transient_payload = dict(body["transient_payload"])
            return await self.dispatch(flow, method, body)
        except RestartFlow as exc:
            return await self.restart(flow, exc.message)
        except (codes.CodeAlreadyUsed, codes.TooManySubmissions) as exc:
            # These end a code flow for good: Kratos shows them on a replacement (section 6.2).
            return await self.restart(flow, messages.validation_generic(exc.reason or exc.message))
        except Exception as exc:  # noqa: BLE001 - every error gets Kratos's answer
            return await self.flow_error(flow, body, exc)

    def pick_method(self, body: Mapping[str, Any]) -> Any:
        """The method a submit is for: the body's ``method``; a link names it by its parameter.

        Every enabled method may answer, not only the one ``use`` selects for new forms:
        links an administrator created work whichever method the self-service form uses.
        """
        method_id = body.get("method")
        if not method_id:
            method_id = "link" if "token" in body else "code" if "code" in body else None
        return choose_method(self.ex, self.kind, self.protocol, method_id)

    async def show(self, flow: Flow, method: Any) -> Response[Any]:
        """Store a flow the method changed and show it: 200 (JSON, API) or 303 to the UI."""
        flow.active = method.id
        self.set_csrf(flow)
        await store.update_flow(self.app.db, flow)
        return self.answer(flow, 200)

    # -- replacements ----------------------------------------------------------------------

    async def restart(self, old: Flow, message: TextMessage) -> Response[Any]:
        """Replace ``old`` with a new flow carrying ``message`` (section 3.3)."""
        new = await self.replacement(old)
        new.ui.add_message(message)
        await store.insert_flow(self.app.db, new)
        if self.redirects_to_ui(old):
            return self.ex.redirect(with_query(self.ui_url, flow=str(new.id)))
        return self.json_restart(new)

    async def expired(self, old: Flow) -> Response[Any]:
        """A late submit: replacement with the expiry message; JSON callers get a 303 to it."""
        new = await self.replacement(old)
        new.ui.add_message(self.expiry_message(old))
        await store.insert_flow(self.app.db, new)
        if self.redirects_to_ui(old):
            return self.ex.redirect(with_query(self.ui_url, flow=str(new.id)))
        return self.json_expired(old, new)

    def redirects_to_ui(self, old: Flow) -> bool:
        """Whether a replacement is answered with a 303 to the UI.

        Kratos decides by the request, not the flow type: a link opened in a browser lands in the
        UI even for a flow a native app started.
        """
        return not self.ex.is_json

    def json_expired(self, old: Flow, new: Flow) -> Response[Any]:
        return self.ex.redirect(self.fetch_url(new))


def _is_link_token(body: Mapping[str, Any]) -> bool:
    """Whether a submit carries a link's token, which Kratos checks before the flow's state.

    So a link opened again after it finished its flow answers "the link is invalid or was
    already used" (4060004 / 4070001, section 6.3), not "already completed".
    """
    return bool(body.get("token")) and body.get("method") in (None, "", "link")


def new_challenge_flow(app: Any, kind: str, flow_type: str, request_url: str, return_to: str | None) -> Flow:
    """A fresh verification or recovery flow in ``choose_method`` with an empty form."""
    now = utcnow()
    flow_id = uuid.uuid4()
    lifespan = getattr(app.config.selfservice.flows, kind).lifespan
    public = app.public_base_url.rstrip("/")
    return Flow(
        id=flow_id,
        kind=kind,
        type=flow_type,
        state=INITIAL_STATES[kind],
        ui=Container(action=f"{public}/self-service/{kind}?flow={flow_id}"),
        request_url=request_url,
        return_to=return_to,
        issued_at=now,
        expires_at=now + lifespan,
        created_at=now,
        updated_at=now,
    )


class VerificationFlows(ChallengeFlows):
    """Verification endpoints for one request."""

    kind = "verification"
    protocol = VerificationMethod

    def disabled(self) -> BadRequest:
        return verification_disabled()

    async def before_hook(self, flow: Flow) -> None:
        await self.app.plugins.hooks.verification_before(flow=flow, request=self.ex.request)

    def context(self, flow: Flow) -> VerificationContext:
        return VerificationContext(self.app, flow, self.ex.request, self.app.schemas.default)

    async def populate(self, method: Any, ctx: VerificationContext) -> None:
        result = method.populate_verification(ctx)
        if inspect.isawaitable(result):
            await result

    def needs_csrf(self, flow: Flow, body: Mapping[str, Any]) -> bool:
        # A code is its own proof and may come from an email link (section 6.2): Kratos does
        # not check CSRF for the code step.
        return super().needs_csrf(flow, body) and not body.get("code")

    def json_restart(self, new: Flow) -> Response[Any]:
        if self.use == "code":
            return self.ex.error_json(_replaced(new))
        return super().json_restart(new)

    # -- fetch -----------------------------------------------------------------------------

    async def fetch(self) -> Response[Any]:
        try:
            return await super().fetch()
        except KratosError as exc:
            rebound = await self._rebind_hook_flow(exc)
            if rebound is None:
                raise
            return rebound

    async def _rebind_hook_flow(self, exc: KratosError) -> Response[Any] | None:
        """Let the signed-in owner read a flow the ``verification`` action made for them.

        That flow was created before registration or login handed the browser a new anti-CSRF
        token, so its stored token is the old one. Its owner, who now holds a session of the
        same identity, gets the flow bound to the current token instead of a 403.
        """
        if exc.id != "security_csrf_violation":
            return None
        try:
            flow = await self.load(uuid.UUID(self.ex.request.query_params.get("id") or ""))
        except (ValueError, KratosError):
            return None
        session = await self.ex.current_session()
        if not flow.internal_context.get(_FROM_HOOK) or session is None or session.identity_id != flow.identity_id:
            return None
        if flow.is_expired():
            raise self._expired_on_fetch(flow)
        self.set_csrf(flow)
        await store.update_flow(self.app.db, flow)
        return self.ex.json(flow.to_dict())

    # -- submit ----------------------------------------------------------------------------

    async def dispatch(self, flow: Flow, method: Any, body: dict[str, Any]) -> Response[Any]:
        if self.ex.request.method == "GET" and body.get("code") and not body.get("token"):
            return await self._prefill(flow, str(body["code"]))
        result = await method.verify(self.context(flow), body)
        if isinstance(result, ShowFlow):
            return await self.show(flow, method)
        return await self.complete(flow, method, result)

    async def _prefill(self, flow: Flow, code: str) -> Response[Any]:
        """A code link was opened: fill the code in and send the browser to the UI (6.2).

        The GET does not verify (mail scanners open links); Kratos renews the anti-CSRF token
        and always redirects, for API flows too, so the user submits the code there.
        """
        flow.ui.set_value("code", code)
        token = self.ex.regenerate_csrf()
        if flow.is_browser:
            flow.csrf_token = mask_token(token)
            flow.ui.upsert(csrf_node(mask_token(token)))
        await store.update_flow(self.app.db, flow)
        return self.ex.redirect(with_query(self.ui_url, flow=str(flow.id)))

    async def complete(self, flow: Flow, method: Any, proof: AddressProof) -> Response[Any]:
        """Use the secret and verify the address atomically, then the ``after`` hooks."""
        identity = await self.app.identities.get(proof.identity_id)
        address = find_verifiable(identity.verifiable_addresses, proof.via, proof.value)
        if address is None:
            # The address left the identity's traits after the code was sent.
            raise RestartFlow(messages.verification_failed_state())
        with store.undo_on_error(flow):
            async with self.app.identities.writing(identity, "update", source="verification", verified_address=address) as tx:
                # Exactly once (issue 15): the flow passes its challenge conditionally.
                flow.active = method.id
                self._succeed(flow, method, address)
                if not await store.complete_flow(tx, flow):
                    raise RestartFlow(messages.flow_already_completed(self.kind))  # type: ignore[arg-type]
                await codes.consume(tx, proof.secret)
        event = VerificationSucceeded(flow_id=flow.id, identity_id=identity.id, address_id=address.id, via=address.via)
        await self.app.plugins.hooks.event(payload=event)
        await self._after(flow, identity, address)
        if self.ex.request.method == "GET":
            return self._link_done(flow)
        return self.answer(flow, 200)

    def _link_done(self, flow: Flow) -> Response[Any]:
        """A clicked link always ends in the verification UI, which shows the result.

        As Kratos does for browser requests: the UI shows "verified" and the ``continue`` link
        to the return URL (``return_to`` or the configured one), not the return URL itself.
        """
        self.ex.regenerate_csrf()  # a clicked verification link renews the token (3.1)
        return self.ex.redirect(with_query(self.ui_url, flow=str(flow.id)))

    def _succeed(self, flow: Flow, method: Any, address: VerifiableAddress) -> None:
        """``passed_challenge`` with Kratos's success form: one ``continue`` link, method GET."""
        after = self.settings.after
        return_url = self.ex.return_to_policy.resolve(flow.return_to, after.default_browser_return_url, strict=False)
        group = "link" if method.id == "link" else "code"
        done = messages.phone_verified() if address.via == "sms" else messages.email_verified()
        flow.move_to("passed_challenge")
        flow.ui = Container(action=return_url, method="GET", messages=[done])
        flow.ui.append(
            anchor_node("continue", return_url, messages.label_continue(), group, label=messages.label_continue())
        )

    async def _after(self, flow: Flow, identity: Identity, address: VerifiableAddress) -> None:
        await self.app.plugins.hooks.verification_after(flow=flow, identity=identity, address=address)
        ctx = ActionContext(
            app=self.app,
            stage=VERIFICATION_AFTER,
            flow=flow,
            request=self.ex.request,
            identity=identity,
            session=None,
            method=flow.active or self.use,
        )
        await run_actions(ctx, plan_actions((), self.settings.after.hooks), self.app.plugins.actions)


def find_verifiable(addresses: list[VerifiableAddress], via: str, value: str) -> VerifiableAddress | None:
    """The address with this channel and value, or None."""
    return next((a for a in addresses if a.via == via and a.value == value), None)


# -- flows started by the verification action ---------------------------------------------


async def start_verification(
    app: Any,
    request: Request,
    origin: Flow,
    identity: Identity,
    address: VerifiableAddress,
    *,
    session_id: uuid.UUID | None = None,
) -> Flow | None:
    """Create a verification flow in ``sent_email`` for ``address`` and send its code or link.

    The new flow has the origin flow's type and ``transient_payload``, the identity (and session)
    it was created for, and as ``return_to`` the registration's ``after_verification_return_to``
    when that is allowed (kratos-behaviour.md section 7.3).

    Returns:
        The stored flow, or None when verification is off or its method is unavailable.
    """
    settings = app.config.selfservice.flows.verification
    method = app.plugins.enabled_methods(app.config).get(settings.use)
    if not settings.enabled or not isinstance(method, VerificationMethod):
        return None
    flow = new_challenge_flow(
        app, "verification", origin.type, origin.request_url, _after_verification_return_to(app, origin)
    )
    flow.identity_id, flow.session_id = identity.id, session_id
    flow.transient_payload = origin.transient_payload
    flow.internal_context[_FROM_HOOK] = origin.kind
    if flow.is_browser:
        _bind_csrf(app, request, flow)
    ctx = VerificationContext(app, flow, request, app.schemas.default)
    result = method.populate_verification(ctx)
    if inspect.isawaitable(result):
        await result
    await store.insert_flow(app.db, flow)
    await method.send_verification(ctx, identity, address)
    flow.active = method.id
    await store.update_flow(app.db, flow)
    return flow


def _bind_csrf(app: Any, request: Request, flow: Flow) -> None:
    token = request.cookies.get(csrf_cookie_name(app.public_base_url))
    if is_valid_cookie_token(token):
        flow.csrf_token = mask_token(token)  # type: ignore[arg-type]
        flow.ui.upsert(csrf_node(mask_token(token)))  # type: ignore[arg-type]


def _after_verification_return_to(app: Any, origin: Flow) -> str | None:
    """The origin's ``after_verification_return_to`` init parameter, if the allow-list admits it."""
    wanted = parse_qs(urlsplit(origin.request_url).query).get("after_verification_return_to")
    if not wanted:
        return None
    selfservice = app.config.selfservice
    policy = ReturnToPolicy(
        selfservice.allowed_return_urls,
        app.public_base_url,
        selfservice.default_browser_return_url,
        allow_insecure_wildcards=app.config.feature_flags.legacy_allow_insecure_origins,
    )
    return policy.check(wanted[0]) if policy.is_allowed(wanted[0]) else None
