"""The admin courier API (kratos-behaviour.md section 8.1), on the admin port only.

``GET /admin/courier/messages`` lists messages newest first (filters ``status`` and
``recipient``, keyset pages with a ``Link`` header); ``GET /admin/courier/messages/{id}`` shows
one message with its delivery attempts. Both also answer without the ``/admin`` prefix.

What the official SDK (25.4.0) can parse decides the shape: SMS messages are ``type: "phone"``
(Kratos itself says ``sms``, which the SDK rejects), and messages of template types the SDK does
not know are never shown. ``subject`` and ``body`` are redacted unless the server runs with
``--dev``, as Kratos does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get

from ..courier import store
from ..courier.model import SDK_TEMPLATE_TYPES, STATUSES, Dispatch, Message
from ..errors import BadRequest, NotFound
from .responses import json_response

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["courier_admin_handlers", "message_dict", "REDACTED"]

DEFAULT_PAGE_SIZE = 10
#: Kratos allows pages of up to 1000 messages.
MAX_PAGE_SIZE = 1000

#: What ``subject`` and ``body`` read outside dev mode.
REDACTED = "<redacted-unless-dev-mode>"

_INVALID_TOKEN = "The page_token is invalid; use the one from the Link header."


def _kratos(request: Request) -> KratosApp:
    return request.app.state["kratos"]


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dispatch_dict(dispatch: Dispatch) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(dispatch.id),
        "message_id": str(dispatch.message_id),
        "status": dispatch.status,
        "created_at": _ts(dispatch.created_at),
        "updated_at": _ts(dispatch.updated_at),
    }
    if dispatch.error is not None:
        out["error"] = dispatch.error
    return out


def message_dict(message: Message, *, dev: bool, dispatches: list[Dispatch] | None = None) -> dict[str, Any]:
    """A message as the admin API shows it.

    Args:
        message: The stored message.
        dev: Show ``subject`` and ``body`` (the server runs with ``--dev``).
        dispatches: The attempts, newest first (single-message endpoint only).
    """
    out: dict[str, Any] = {
        "id": str(message.id),
        "status": message.status,
        "type": "email" if message.type == "email" else "phone",
        "channel": message.channel,
        "recipient": message.recipient,
        "subject": message.subject if dev else REDACTED,
        "body": message.body if dev else REDACTED,
        "template_type": message.template_type,
        "send_count": message.send_count,
        "created_at": _ts(message.created_at),
        "updated_at": _ts(message.updated_at),
    }
    if dispatches is not None:
        out["dispatches"] = [_dispatch_dict(d) for d in dispatches]
    return out


# -- query parameters and pagination --------------------------------------------------------------


def _page_size(request: Request) -> int:
    raw = request.query_params.get("page_size")
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest('The query parameter "page_size" must be an integer.') from exc
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise BadRequest(f'The query parameter "page_size" must be between 1 and {MAX_PAGE_SIZE}.')
    return value


def _status(request: Request) -> str | None:
    raw = request.query_params.get("status")
    if raw in (None, ""):
        return None
    if raw not in STATUSES:
        raise BadRequest("Message status is not valid")
    return raw


class _Cursor(msgspec.Struct):
    t: dt.datetime
    k: uuid.UUID


def _page_token(message: Message) -> str:
    raw = msgspec.json.encode(_Cursor(message.created_at, message.id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_page_token(token: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        cursor = msgspec.json.decode(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)), type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise BadRequest(_INVALID_TOKEN) from exc
    if cursor.t.tzinfo is None:
        raise BadRequest(_INVALID_TOKEN)
    return cursor.t, cursor.k


def _link(app: KratosApp, params: dict[str, Any], rel: str) -> str:
    url = f"{app.admin_base_url.rstrip('/')}/admin/courier/messages?{urlencode(params)}"
    return f'<{url}>; rel="{rel}"'


def _parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise BadRequest(f'The message id "{raw}" is not a valid UUID.') from exc


def _not_found() -> NotFound:
    return NotFound("Unable to locate the resource", message="Unable to locate the resource")


# -- handlers -------------------------------------------------------------------------------------


def courier_admin_handlers() -> list[Any]:
    """The admin courier routes (created per app so each app owns its handler objects)."""

    def paths(suffix: str = "") -> list[str]:
        return [f"/admin/courier/messages{suffix}", f"/courier/messages{suffix}"]

    @get(paths(), summary="List courier messages", tags=["courier"])
    async def list_courier_messages(request: Request) -> Response[bytes]:
        app = _kratos(request)
        size = _page_size(request)
        status = _status(request)
        recipient = request.query_params.get("recipient") or None
        token = request.query_params.get("page_token")
        before = _parse_page_token(token) if token else None
        messages = await store.list_messages(app.db, limit=size + 1, status=status, recipient=recipient, before=before)
        filters = {k: v for k, v in (("status", status), ("recipient", recipient)) if v}
        links = [_link(app, {"page_size": size, **filters}, "first")]
        if len(messages) > size:
            messages = messages[:size]
            links.append(_link(app, {"page_size": size, **filters, "page_token": _page_token(messages[-1])}, "next"))
        body = [message_dict(m, dev=app.config.dev) for m in messages]
        return json_response(body, headers={"Link": ",".join(links)})

    @get(paths("/{message_id:str}"), summary="Get a courier message", tags=["courier"])
    async def get_courier_message(request: Request) -> Response[bytes]:
        app = _kratos(request)
        message_id = _parse_id(request.path_params["message_id"])
        message = await store.get_message(app.db, message_id)
        if message is None or message.template_type not in SDK_TEMPLATE_TYPES:
            raise _not_found()
        dispatches = await store.list_dispatches(app.db, message_id)
        return json_response(message_dict(message, dev=app.config.dev, dispatches=dispatches))

    return [list_courier_messages, get_courier_message]
