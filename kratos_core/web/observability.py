"""Per-request observability: the request metrics, and the request an event comes from.

:func:`observe_requests` (an ASGI middleware, outermost of each app's) notes when a request
started and makes it the *current request* (a context variable) while it is handled, so that the
audit observer can record the client address and user agent of the request an event came from
without every emitter passing them on. :func:`record_response` (a ``before_send`` hook) counts
the answer under its route template (``/admin/identities/{id:str}``, never the raw path, so
ids do not explode the label set).
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

from .. import metrics

__all__ = ["current_request_scope", "observe_requests", "record_response"]

_CURRENT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("kratos_request_scope", default=None)

_STARTED = "kratos.started"
_STATUS = "kratos.status"


def current_request_scope() -> dict[str, Any] | None:
    """The ASGI scope of the request being handled in this context, or None (background work)."""
    return _CURRENT.get()


def observe_requests(app: Any) -> Any:
    """ASGI middleware: start the request's clock and make it the current request."""

    async def observed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        scope[_STARTED] = time.perf_counter()
        token = _CURRENT.set(scope)
        try:
            await app(scope, receive, send)
        finally:
            _CURRENT.reset(token)

    return observed


async def record_response(message: Any, scope: Any) -> None:
    """``before_send`` hook: count the answer and its latency once its last byte is sent."""
    kind = message["type"]
    if kind == "http.response.start":
        scope[_STATUS] = message["status"]
        return
    if kind != "http.response.body" or message.get("more_body"):
        return
    started = scope.get(_STARTED)
    api = scope["app"].state.get("api", "") if "app" in scope else ""
    route = scope.get("path_template") or "unmatched"
    method = scope.get("method", "")
    metrics.HTTP_REQUESTS.labels(api, method, route, str(scope.get(_STATUS, 0))).inc()
    if started is not None:
        metrics.HTTP_LATENCY.labels(api, method, route).observe(time.perf_counter() - started)
