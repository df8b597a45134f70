"""The parts every self-service flow shares: fetch, the submit pipeline and its error answers.

:class:`FlowHandler` is subclassed once per flow kind (:mod:`.login`, :mod:`.registration`);
a subclass builds its flows and handles a dispatched submit, the base class does the rest as
kratos-behaviour.md sections 1.5 and 3.2-3.3 describe:

* fetch (``GET /self-service/<kind>/flows?id=``): 404 for unknown ids, 403 when a browser flow
  is read by another browser, 410 with a way to start over when it expired;
* submit: parse the flow id (400), load it (404), the kind's session checks, expiry (410 with a
  replacement flow, or a 303 to it), the body (JSON or form), CSRF for browser flows or the
  browser refusal for API flows, a replay refusal, then the method named by ``method``;
* every error raised on the way is answered by :meth:`FlowHandler.flow_error`: validation
  problems and any other 400 come back on the flow, other errors as JSON or via the error UI.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestar import Response

from ..actions.runner import run_before
from ..errors import BadRequest, Gone, InternalServerError, KratosError, NotFound
from ..identity.model import utcnow
from ..identity.validation import TraitsValidationError
from ..persistence import flows as store
from ..persistence.db import database_unavailable
from ..ui import messages
from ..ui.nodes import csrf_node
from ..ui.text import TextMessage
from .body import parse_body
from .csrf import mask_token
from .errors import FlowAlreadyCompleted, FlowExpired, FlowRedirect, FlowValidationError, browser_location_change_required
from .exchange import Exchange, with_query
from .model import Flow, timestamp

if TYPE_CHECKING:  # pragma: no cover
    from ..identity.schema import IdentitySchema

__all__ = [
    "STRATEGY_ORDER",
    "METHOD_DISABLED_REASON",
    "FlowHandler",
    "parse_flow_id",
    "enabled_methods",
    "choose_method",
]

log = logging.getLogger("kratos.flows")

#: The order Kratos asks its strategies in (section 1.5); methods it does not know come after.
STRATEGY_ORDER = (
    "profile",
    "password",
    "oidc",
    "code",
    "link",
    "totp",
    "passkey",
    "webauthn",
    "lookup_secret",
    "identifier_first",
)

METHOD_DISABLED_REASON = (
    "This endpoint was disabled by system administrator. Please check your url or contact the system "
    "administrator to enable it."
)


def parse_flow_id(raw: str | None) -> uuid.UUID:
    """The ``flow`` query parameter of a submit.

    Raises:
        BadRequest: Missing or not a UUID (section 1.5, step 1).
    """
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        raise BadRequest("The flow query parameter is missing or malformed.") from None


def _not_found() -> NotFound:
    return NotFound("Unable to locate the resource", message="Unable to locate the resource")


def enabled_methods(ex: Exchange, protocol: type) -> list[Any]:
    """Enabled methods implementing ``protocol``, in Kratos's strategy order."""
    host, config = ex.app.plugins, ex.app.config
    enabled = host.enabled_methods(config)
    # Config and registry do not change while the app runs, and isinstance on a runtime
    # Protocol inspects every attribute each time (~30 us): remember the answer per protocol.
    key = (protocol, id(config), tuple(enabled))
    cache = host.__dict__.setdefault("_methods_by_protocol", {})
    hit = cache.get(key)
    if hit is None or hit[0] is not config:
        rank = {name: i for i, name in enumerate(STRATEGY_ORDER)}
        ordered = sorted(enabled.values(), key=lambda m: rank.get(m.id, len(rank)))
        hit = cache[key] = (config, [m for m in ordered if isinstance(m, protocol)])
    return list(hit[1])


def implements(host: Any, method: Any, protocol: type) -> bool:
    """``isinstance(method, protocol)``, remembered per method object of this plugin host."""
    cache = host.__dict__.setdefault("_implements", {})
    key = (id(method), protocol)
    hit = cache.get(key)
    if hit is None or hit[0] is not method:
        hit = cache[key] = (method, isinstance(method, protocol))
    return hit[1]


def choose_method(ex: Exchange, kind: str, protocol: type, method_id: Any) -> Any:
    """The method a submit names.

    Raises:
        FlowValidationError: No installed method of that name takes part in this flow kind
            (4010002 / 4010003 on the flow).
        NotFound: The method exists but is disabled in config (Kratos answers 404).
    """
    method = ex.app.plugins.methods.get(method_id) if isinstance(method_id, str) else None
    if method is None or not implements(ex.app.plugins, method, protocol):
        raise FlowValidationError.on_flow(messages.no_strategy(kind))  # type: ignore[arg-type]
    if method_id not in ex.app.plugins.enabled_methods(ex.app.config):
        raise NotFound(METHOD_DISABLED_REASON)
    return method


def _as_message(error: KratosError) -> TextMessage:
    """The flow message a 400 becomes: 4010011 for a disabled identity, else 4000001."""
    if error.id == "identity_disabled":
        return messages.account_disabled()
    return messages.validation_generic(error.reason or error.message)


class FlowHandler:
    """Fetch and submit for one flow kind; subclasses add init and the kind's own rules.

    Args:
        ex: The request being answered.
    """

    kind: str = ""

    def __init__(self, ex: Exchange) -> None:
        self.ex = ex
        self.app = ex.app

    # -- what a subclass provides ----------------------------------------------------------

    @property
    def ui_url(self) -> str:
        """The kind's ``selfservice.flows.<kind>.ui_url``."""
        raise NotImplementedError

    async def replacement(self, expired: Flow) -> Flow:
        """A new, stored flow continuing an expired one (same type, return_to, schema)."""
        raise NotImplementedError

    async def before_hook(self, flow: Flow) -> None:
        """Call the kind's ``kratos_<kind>_before`` hook (each kind through its facade method)."""
        raise NotImplementedError

    async def precheck(self, flow: Flow) -> Response[Any] | None:
        """Session rules before anything else; a response ends the submit (e.g. a redirect)."""
        return None

    async def handle(self, flow: Flow, body: dict[str, Any]) -> Response[Any]:
        """Dispatch a checked submit to its method and answer."""
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------------------

    def schema_for(self, flow: Flow) -> IdentitySchema:
        schemas = self.app.schemas
        wanted = flow.identity_schema
        return schemas.get(wanted) if wanted and wanted in schemas else schemas.default

    def browser_html(self, flow: Flow) -> bool:
        """Whether the answer is a redirect (browser flow, not a JSON request)."""
        return flow.is_browser and not self.ex.is_json

    def answer(self, flow: Flow, status_code: int = 200) -> Response[Any]:
        """The flow itself: 303 to the UI for browsers, else JSON with ``status_code``."""
        if self.browser_html(flow):
            return self.ex.redirect(with_query(self.ui_url, flow=str(flow.id)))
        return self.ex.json(flow.to_dict(), status_code)

    async def store_new(self, flow: Flow) -> Response[Any]:
        """Run ``kratos_<kind>_before`` and the ``before`` actions, and store the flow; their
        messages are shown on it (400, or a 303 to the UI for browsers).

        The *before* stage fails closed: any other error answers as an error and nothing is
        stored. A client past ``security.rate_limits.flow_creation`` gets 429 (JSON) or the
        error UI (browsers) and no flow.
        """
        status = 200
        try:
            # Issue 15: a bounded number of new flows per client (code flows feed guessing).
            throttle = self.app.throttle
            await throttle.check("flow_creation", throttle.keys(self.ex.request))
        except KratosError as exc:
            return await self.ex.error(exc, browser=flow.is_browser)
        try:
            await self.before_hook(flow)
            await run_before(self.app, self.kind, flow, self.ex.request)
        except FlowValidationError as exc:
            flow.ui.add_issues(exc.issues)
            for message in exc.messages:
                flow.ui.add_message(message)
            status = 400
        except KratosError as exc:
            return await self.ex.error(exc, browser=flow.is_browser)
        await store.insert_flow(self.app.db, flow)
        return self.answer(flow, status)

    async def before_actions(self, flow: Flow, *, identity: Any = None, session: Any = None) -> None:
        """The ``before`` actions for a replacement flow; a refusal's messages go on the flow."""
        try:
            await run_before(self.app, self.kind, flow, self.ex.request, identity=identity, session=session)
        except FlowValidationError as exc:
            flow.ui.add_issues(exc.issues)
            for message in exc.messages:
                flow.ui.add_message(message)

    def set_csrf(self, flow: Flow) -> None:
        """Give a browser flow the browser's token, masked afresh in its ``csrf_token`` node."""
        if not flow.is_browser:
            return
        token = self.ex.csrf_token()
        flow.csrf_token = mask_token(token)
        flow.ui.upsert(csrf_node(mask_token(token)))

    async def load(self, flow_id: uuid.UUID) -> Flow:
        flow = await store.get_flow(self.app.db, flow_id, self.kind)
        if flow is None:
            raise _not_found()
        return flow

    # -- fetch -----------------------------------------------------------------------------

    async def fetch(self) -> Response[Any]:
        """``GET /self-service/<kind>/flows?id=`` (errors are JSON: the caller is a UI server)."""
        try:
            flow_id = uuid.UUID(self.ex.request.query_params.get("id") or "")
        except ValueError:
            raise _not_found() from None
        flow = await self.load(flow_id)
        if flow.is_browser:
            self.ex.check_flow_fetch(flow.csrf_token)
        if flow.is_expired():
            raise self._expired_on_fetch(flow)
        return self.ex.json(flow.to_dict())

    def _expired_on_fetch(self, flow: Flow) -> Gone:
        base = f"{self.ex.public_url}/self-service/{self.kind}"
        if flow.is_browser:
            redirect_to = f"{base}/browser"
            if flow.return_to:
                redirect_to = with_query(redirect_to, return_to=flow.return_to)
            reason = (
                f"The {self.kind} flow has expired. Redirect the user to the {self.kind} flow init endpoint to "
                f"initialize a new {self.kind} flow."
            )
            details = {"redirect_to": redirect_to, "return_to": flow.return_to or ""}
        else:
            reason = (
                f"The {self.kind} flow has expired. Call the {self.kind} flow init API endpoint to initialize a "
                f"new {self.kind} flow."
            )
            details = {"api": f"{base}/api"}
        return Gone(reason, id="self_service_flow_expired", details=details)

    # -- submit ----------------------------------------------------------------------------

    async def submit(self) -> Response[Any]:
        """``POST /self-service/<kind>?flow=`` (and GET where Kratos routes it)."""
        try:
            flow = await self.load(parse_flow_id(self.ex.request.query_params.get("flow")))
        except KratosError as exc:
            # No flow to show anything on: an error page for form posts, JSON otherwise.
            return await self.ex.error(exc, browser=True)
        body: dict[str, Any] = {}
        try:
            early = await self.precheck(flow)
            if early is not None:
                return early
            if flow.is_expired():
                raise FlowExpired(flow)
            body = await self.read_body(flow)
            self.check_origin(flow, body)
            if flow.completed:
                raise FlowValidationError.on_flow(messages.flow_already_completed(self.kind))  # type: ignore[arg-type]
            flow.submit_count += 1
            if isinstance(body.get("transient_payload"), Mapping):
                flow.transient_payload = dict(body["transient_payload"])
            return await self.handle(flow, body)
        except Exception as exc:  # noqa: BLE001 - every error gets Kratos's answer
            return await self.flow_error(flow, body, exc)

    async def read_body(self, flow: Flow) -> dict[str, Any]:
        request = self.ex.request
        schema_raw = self.schema_for(flow).raw
        if request.method == "GET":
            return parse_body(None, b"", list(request.query_params.multi_items()), schema_raw)
        return parse_body(request.headers.get("content-type"), await request.body(), None, schema_raw)

    def check_origin(self, flow: Flow, body: Mapping[str, Any]) -> None:
        """CSRF for browser flows; the browser refusal for API flows (section 3.1)."""
        if flow.is_browser:
            self.ex.check_csrf(body.get("csrf_token"))
            return
        if self.app.config.dev and os.environ.get("DEV_DISABLE_API_FLOW_ENFORCEMENT") == "true":
            return
        self.ex.check_api_submit()

    # -- errors ----------------------------------------------------------------------------

    async def flow_error(self, flow: Flow, body: Mapping[str, Any], exc: Exception) -> Response[Any]:
        """Answer an error raised while a flow exists (the response matrix, section 3.2)."""
        if database_unavailable(exc) is not None:
            raise exc  # 503 with Retry-After from the app's handler, never a 500 (issue 15)
        if isinstance(exc, TraitsValidationError):
            exc = FlowValidationError.from_traits(exc.issues)
        if isinstance(exc, FlowExpired):
            return await self.expired(exc.flow)
        if isinstance(exc, FlowAlreadyCompleted):
            return await self.lost_completion(flow, body)
        if isinstance(exc, FlowRedirect):
            if self.browser_html(flow):
                return self.ex.redirect(exc.url)
            return self.ex.error_json(browser_location_change_required(exc.url))
        if isinstance(exc, FlowValidationError):
            return await self.rerender(flow, body, exc)
        if isinstance(exc, KratosError) and exc.status_code == 400:
            # Any 400 during a submit is shown on the flow (pitfall 2).
            return await self.rerender(flow, body, FlowValidationError.on_flow(_as_message(exc)))
        if not isinstance(exc, KratosError):
            log.exception("%s flow %s failed", self.kind, flow.id, exc_info=exc)
            exc = InternalServerError("An unexpected error occurred; it has been logged.")
        return await self.ex.error(exc, browser=flow.is_browser)

    async def lost_completion(self, flow: Flow, body: Mapping[str, Any]) -> Response[Any]:
        """A parallel submit completed the flow first: answer as for a replayed completed flow.

        Nothing this submit prepared is sent (no session cookie, no new CSRF token); the stored,
        completed flow is shown with 4010007 / 4040002, as a later submit would see it.
        """
        self.ex.discard_pending_cookies()
        stored = await store.get_flow(self.app.db, flow.id, self.kind) or flow
        error = FlowValidationError.on_flow(messages.flow_already_completed(self.kind))  # type: ignore[arg-type]
        return await self.rerender(stored, body, error)

    async def rerender(self, flow: Flow, body: Mapping[str, Any], error: FlowValidationError) -> Response[Any]:
        """Show the flow again with the error's messages and the submitted values (400 / 303)."""
        flow.ui.reset_messages()
        if body:
            flow.ui.fill_values(body)
        flow.ui.add_issues(error.issues)
        for message in error.messages:
            flow.ui.add_message(message)
        self.set_csrf(flow)
        await store.update_flow(self.app.db, flow)
        return self.answer(flow, 400)

    async def expired(self, flow: Flow) -> Response[Any]:
        """A replacement flow carrying the expiry message; 303 to it or 410 (section 3.3)."""
        new = await self.replacement(flow)
        if self.browser_html(flow):
            return self.ex.redirect(with_query(self.ui_url, flow=str(new.id)))
        now = utcnow()
        minutes = (now - flow.expires_at).total_seconds() / 60
        error = Gone(
            f"The self-service flow expired {minutes:.2f} minutes ago, initialize a new one.",
            id="self_service_flow_expired",
            message="self-service flow expired",
            extra={
                "expired_at": timestamp(flow.expires_at),
                # A Go duration in nanoseconds (deprecated in Kratos, still sent).
                "since": int((now - flow.expires_at).total_seconds() * 1_000_000_000),
                "use_flow_id": str(new.id),
            },
        )
        return self.ex.error_json(error)

    def expiry_message(self, expired: Flow) -> TextMessage:
        """4010001 / 4040001 for the replacement of an expired flow."""
        return messages.flow_expired(self.kind, expired.expires_at)  # type: ignore[arg-type]
