"""JSON responses, request-body decoding and error rendering shared by both APIs.

Every error leaves the server in Kratos's shape (``{"error": {...}}``), whatever raised it: our
own :class:`~kratos_core.errors.KratosError`, Litestar's routing errors (404, 405, 413), or an
unexpected exception (500, logged with its stack trace, never sent to the client).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from ..bounds import check_bounds, decode_json_bounded
from ..errors import BadRequest, KratosError, ServiceUnavailable
from ..persistence.db import database_unavailable

__all__ = [
    "json_response",
    "error_response",
    "handle_kratos_error",
    "handle_http_exception",
    "handle_unexpected",
    "read_json",
    "decode_struct",
    "NO_CACHE",
    "int_query_param",
    "unavailable_response",
    "RETRY_AFTER_SECONDS",
]

log = logging.getLogger("kratos.http")

#: Kratos sends this on GET responses so proxies and browsers never cache identity data.
NO_CACHE = "private, no-cache, no-store, must-revalidate"

_encoder = msgspec.json.Encoder()


def json_response(
    data: Any,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """A JSON response encoded with msgspec (fast, and the same bytes everywhere)."""
    return Response(
        content=_encoder.encode(data),
        status_code=status_code,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def _request_id(request: Request) -> str | None:
    return request.headers.get("x-request-id") or None


def error_response(request: Request, error: KratosError) -> Response[bytes]:
    # An error may carry headers of its own (429's Retry-After).
    headers = getattr(error, "headers", None)
    return json_response(error.to_body(_request_id(request)), status_code=error.status_code, headers=headers)


def handle_kratos_error(request: Request, exc: KratosError) -> Response[bytes]:
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.reason or exc.message)
    return error_response(request, exc)


_HTTP_MESSAGES = {
    404: ("The requested resource could not be found", None),
    405: ("The requested method is not allowed for this resource", None),
    413: ("The request body is too large", "The request body exceeds the allowed size."),
}


def handle_http_exception(request: Request, exc: HTTPException) -> Response[bytes]:
    """Litestar's own errors (unknown route, wrong method, body too large...) in Kratos's shape."""
    status = exc.status_code
    message, reason = _HTTP_MESSAGES.get(status, (None, None))
    if status == 404:
        reason = f"The path {request.url.path} does not exist."
    elif reason is None:
        reason = str(exc.detail) if exc.detail else None
    error = KratosError(reason, message=message, status_code=status)
    if message is None:
        error.message = error.status
    response = error_response(request, error)
    if status == 405 and exc.headers:
        response.headers.update(exc.headers)
    return response


#: Seconds a client is asked to wait after a 503 for an unavailable database.
RETRY_AFTER_SECONDS = 1


def unavailable_response(request: Request) -> Response[bytes]:
    """503 in Kratos's shape with ``Retry-After``: the database could not answer in time."""
    error = ServiceUnavailable(
        "The database is unavailable or busy. "
        "Try again shortly.",
    )
    error.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}  # type: ignore[attr-defined]
    return error_response(request, error)


def handle_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    # Database unavailable (down, refused, connection killed, SQLite lock not got in time):
    # 503 with Retry-After, never 500 (issue 15). Logged without the stack: it is an outage.
    if database_unavailable(exc) is not None:
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, database_unavailable(exc))
        return unavailable_response(request)
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    error = KratosError("An unexpected error occurred; it has been logged.")
    return error_response(request, error)


async def read_json(request: Request) -> Any:
    """The request body as JSON, or a 400 in Kratos's words for anything else."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise BadRequest(
            f'Unable to decode body because HTTP Request Content-Type "{media or "(none)"}" is unknown; '
            'send "application/json".',
        )
    body = await request.body()
    # Depth and NUL bounded (issue 15): admin bodies carry whole identities, so no length cap.
    return check_bounds(decode_json_bounded(body), strings=False)


def decode_struct(data: Any, struct: type, *, what: str = "request body") -> Any:
    """Convert decoded JSON into a strict msgspec Struct (unknown fields are refused)."""
    try:
        return msgspec.convert(data, struct)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"The {what} is invalid: {_humanise(str(exc))}") from exc


def _humanise(message: str) -> str:
    # msgspec says "Object contains unknown field `x` - at `$.traits`"; keep it, it is precise.
    return message.replace("$.", "").replace("`$`", "the top level")


def int_query_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``, or a 400 that names it."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f'The query parameter "{name}" must be an integer.') from exc
    if not low <= value <= high:
        raise BadRequest(f'The query parameter "{name}" must be between {low} and {high}.')
    return value
