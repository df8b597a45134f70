"""Administrator-issued recovery codes and links (admin API, kratos-behaviour.md section 5.3).

* ``POST /admin/recovery/code`` ``{identity_id, expires_in?, flow_type?}`` -> **201**
  ``{recovery_link, recovery_code, expires_at}``: a recovery flow waiting for the code; the link
  opens the recovery UI with it.
* ``POST /admin/recovery/link`` ``{identity_id, expires_in?}`` (``?return_to=``) -> 200
  ``{recovery_link, expires_at}``: a link that signs the user in when opened.

Both answer 400 for a malformed body or ``expires_in`` (Go duration syntax, not negative), 404
for an unknown identity and, as Kratos does, 404 "endpoint disabled" when the method is off.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Request, Response, post

from ..config.durations import parse_duration
from ..errors import BadRequest
from ..flows.exchange import Exchange
from ..flows.model import timestamp
from ..flows.recovery import create_admin_recovery
from .responses import json_response, read_json

__all__ = ["admin_recovery_handlers"]

_TAGS = ["identity"]


def _paths(path: str) -> list[str]:
    # The admin router answers with and without the /admin prefix (section 10).
    return [path, "/admin" + path]


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def _identity_id(body: dict[str, Any]) -> uuid.UUID:
    raw = body.get("identity_id")
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else uuid.UUID("")
    except ValueError:
        raise BadRequest('The "identity_id" field must be the UUID of an identity.') from None


def _expires_in(body: dict[str, Any]) -> dt.timedelta | None:
    raw = body.get("expires_in")
    if raw is None or raw == "":
        return None
    try:
        value = parse_duration(raw)
    except ValueError:
        raise BadRequest(
            f'Unable to parse "expires_in" whose format should match "[0-9]+(ns|us|ms|s|m|h)" but did not: {raw}'
        ) from None
    if value < dt.timedelta(0):
        raise BadRequest(f'Value from "expires_in" parameter is in the past: {raw}')
    return value


def _flow_type(body: dict[str, Any]) -> str:
    raw = body.get("flow_type") or "browser"
    if raw not in ("browser", "api"):
        raise BadRequest('The "flow_type" field must be "browser" or "api".')
    return raw


def admin_recovery_handlers() -> list[Any]:
    """The two admin recovery routes (created per app)."""

    @post(_paths("/recovery/code"), summary="Create a recovery code for an identity", tags=_TAGS, status_code=201)
    async def create_recovery_code_for_identity(request: Request) -> Response[bytes]:
        body = _object(await read_json(request))
        identity_id, lifespan, flow_type = _identity_id(body), _expires_in(body), _flow_type(body)
        ex = Exchange(request)
        issued = await create_admin_recovery(ex, "code", identity_id, lifespan, flow_type, None)
        out = {"recovery_link": issued.link, "recovery_code": issued.code, "expires_at": timestamp(issued.expires_at)}
        return json_response(out, status_code=201)

    @post(_paths("/recovery/link"), summary="Create a recovery link for an identity", tags=_TAGS, status_code=200)
    async def create_recovery_link_for_identity(request: Request) -> Response[bytes]:
        body = _object(await read_json(request))
        identity_id, lifespan = _identity_id(body), _expires_in(body)
        ex = Exchange(request)
        return_to = ex.return_to_policy.check(request.query_params.get("return_to"))
        issued = await create_admin_recovery(ex, "link", identity_id, lifespan, "browser", return_to)
        return json_response({"recovery_link": issued.link, "expires_at": timestamp(issued.expires_at)})

    return [create_recovery_code_for_identity, create_recovery_link_for_identity]
