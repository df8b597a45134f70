"""Building the two Litestar apps (public and admin) around one :class:`KratosApp`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar, Response
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from .. import __version__
from ..errors import KratosError
from .admin_identities import identity_handlers
from .admin_recovery import admin_recovery_handlers
from .admin_audit import audit_admin_handlers, metrics_handlers
from .admin_throttle import throttle_admin_handlers
from .courier import courier_admin_handlers
from .logout import logout_public_handlers
from ..web.observability import observe_requests, record_response
from .responses import NO_CACHE, handle_http_exception, handle_kratos_error, handle_unexpected
from .selfservice import selfservice_public_handlers
from .selfservice_recovery import recovery_verification_public_handlers
from .selfservice_settings import settings_public_handlers
from .sessions import session_admin_handlers, session_public_handlers
from .system import admin_to_public_redirects, public_to_admin_redirects, shared_handlers

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["build_public_app", "build_admin_app", "body_limit", "MAX_BODY_BYTES", "OPENAPI_PATH", "SECURITY_HEADERS"]

#: Kratos caps request bodies at 5 MB on both ports.
MAX_BODY_BYTES = 5 * 1024 * 1024

#: Our own OpenAPI document is served at ``{OPENAPI_PATH}/openapi.json`` on each port.
OPENAPI_PATH = "/.well-known/kratos-core/openapi"


async def _after_request(response: Response) -> Response:
    # Answers carry identity data: never cached (Kratos sends the same header on GETs).
    response.headers.setdefault("Cache-Control", NO_CACHE)
    return response


#: Sent with every answer of both ports, errors and redirects included (issue 15, item 8):
#: no content sniffing, no flow ids or recovery-link tokens leaking to other sites in
#: ``Referer``, and nothing stored by browsers or proxies (answers carry sessions, flows,
#: tokens and identities).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", NO_CACHE.encode()),
)


async def _security_headers(message: Any, scope: Any) -> None:
    """``before_send`` hook: add :data:`SECURITY_HEADERS` a response does not set itself."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or ())
    present = {bytes(name).lower() for name, _ in headers}
    headers.extend((name, value) for name, value in SECURITY_HEADERS if name not in present)
    message["headers"] = headers


class _TooLarge(BaseException):
    # Not an Exception: the flow engine's and Litestar's catch-alls must let it through to
    # :func:`body_limit`, which answers 413.
    pass


def body_limit(app: Any, limit: int = MAX_BODY_BYTES) -> Any:
    """ASGI wrapper: 413 in Kratos's shape for a body over ``limit`` on every route.

    A declared ``Content-Length`` over the limit is refused before anything is read or routed;
    a body streamed without one is cut off as soon as it passes the limit. Either way no
    handler ever holds more than ``limit`` bytes of it.
    """

    async def limited(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_too_large(scope, send)
            return
        if _NUL_IN_QUERY.search(scope.get("query_string") or b""):
            # No parameter may carry a NUL (PostgreSQL text cannot hold one): refused up front.
            await _send_error(scope, send, 400, "The query string contains a NUL character, which is not allowed.")
            return
        seen = 0
        started = False

        async def counting_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_too_large(scope, send)

    return limited


_NUL_IN_QUERY = re.compile(rb"%00|\x00")


async def _send_too_large(scope: Any, send: Any) -> None:
    reason = f"The request body exceeds the allowed size of {MAX_BODY_BYTES} bytes."
    await _send_error(scope, send, 413, reason, message="The request body is too large", close=True)


async def _send_error(scope: Any, send: Any, status: int, reason: str, *, message: str | None = None, close: bool = False) -> None:
    """An error in Kratos's shape, sent before the request reached any handler."""
    from ..errors import BadRequest, KratosError

    request_id = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), None)
    error = BadRequest(reason) if status == 400 else KratosError(reason, message=message, status_code=status)
    body = msgspec.json.encode(error.to_body(request_id))
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers.extend(SECURITY_HEADERS)
    if close:
        # The client may still be sending: tell it the connection ends here.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_PARAM = re.compile(r"\{[^}:]*(:[^}]*)?\}")


def _route_keys(handler: Any) -> Iterator[tuple[str, str]]:
    """``(normalised path, HTTP method)`` for a route handler or router (parameters as ``{}``)."""
    routes = getattr(handler, "routes", None)
    if routes is not None:  # a Router
        pairs: Iterable[tuple[str, Iterable[str]]] = ((r.path, getattr(r, "methods", ())) for r in routes)
    else:
        pairs = ((path, handler.http_methods) for path in handler.paths)
    for path, methods in pairs:
        normal = _PARAM.sub(lambda m: "{*}" if (m.group(1) or "") == ":path" else "{}", path).rstrip("/") or "/"
        for method in methods:
            if method not in ("OPTIONS", "HEAD"):
                yield normal, method


def _shadows(path: str, core: str) -> bool:
    if path == core:
        return True
    if core.endswith("/{*}"):  # a catch-all (the port hops): every path below it is the core's
        prefix = core[: -len("{*}")]
        return path.startswith(prefix) or path + "/" == prefix
    return False


def check_plugin_routes(api: str, core_handlers: Iterable[Any], plugin_handlers: Iterable[Any], owner: Any) -> None:
    """Refuse plugin routes that answer a path and method a core route answers.

    Raises:
        PluginError: Names the plugin, the route and the API.
    """
    from ..plugins.manager import PluginError

    core = {key for handler in core_handlers for key in _route_keys(handler)}
    for handler in plugin_handlers:
        for path, method in _route_keys(handler):
            if any(m == method and _shadows(path, p) for p, m in core):
                raise PluginError(
                    f"plugin {owner(handler)!r} registers {method} {path} on the {api} API, "
                    "which a core route already answers: plugin routes may not shadow core routes"
                )


def _build(kratos: KratosApp, api: str, handlers: list[Any]) -> Litestar:
    routes = kratos.plugins.routes()
    extra = routes.public if api == "public" else routes.admin
    check_plugin_routes(api, handlers, extra, routes.owner)
    app = Litestar(
        route_handlers=[*handlers, *extra],
        # Plugin routes ask for the services by naming a ``services`` parameter.
        dependencies={"services": Provide(lambda: kratos.services, sync_to_thread=False)},
        exception_handlers={
            KratosError: handle_kratos_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        request_max_body_size=MAX_BODY_BYTES,
        after_request=_after_request,
        before_send=[_security_headers, record_response],
        middleware=[observe_requests, body_limit],
        openapi_config=OpenAPIConfig(
            title=f"kratos-core {api} API",
            version=__version__,
            path=OPENAPI_PATH,
            render_plugins=[JsonRenderPlugin()],
        ),
        debug=False,
        logging_config=None,
    )
    app.state["kratos"] = kratos
    app.state["api"] = api
    return app


def build_public_app(kratos: KratosApp) -> Litestar:
    """The public API: self-service, sessions, schemas, health (and hops to the admin port)."""
    return _build(
        kratos,
        "public",
        [*shared_handlers("public"), *session_public_handlers(), *logout_public_handlers(), *selfservice_public_handlers(), *recovery_verification_public_handlers(), *settings_public_handlers(), *public_to_admin_redirects()],
    )


def build_admin_app(kratos: KratosApp) -> Litestar:
    """The admin API: identities (and more to come), schemas, health, version."""
    return _build(
        kratos,
        "admin",
        [*shared_handlers("admin"), *identity_handlers(), *admin_recovery_handlers(), *courier_admin_handlers(), *session_admin_handlers(), *throttle_admin_handlers(), *audit_admin_handlers(), *metrics_handlers(), *admin_to_public_redirects()],
    )

