"""Session endpoints (kratos-behaviour.md section 4.4): whoami and the caller's own sessions on
the public API, session administration on the admin API.

Admin routes answer under ``/admin/...``; ``/admin/identities/{id}/sessions`` also without the
prefix, like the other identity routes. Unprefixed ``/sessions*`` on the admin port belongs to the
307 hop to the public port (``system.admin_to_public_redirects``), as those are public routes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, delete, get, patch, route
from litestar.params import FromPath

from ..errors import BadRequest
from ..session import store
from ..session.manager import session_not_found
from ..session.model import Session, session_dict
from ..web.cookies import with_cookies
from .responses import int_query_param, json_response

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = [
    "session_public_handlers",
    "session_admin_handlers",
    "WHOAMI_METHODS",
    "AUTHENTICATED_IDENTITY_HEADER",
]

#: Kratos routes whoami for every method but DELETE (CONNECT cannot reach an ASGI app).
WHOAMI_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS", "TRACE"]
AUTHENTICATED_IDENTITY_HEADER = "X-Kratos-Authenticated-Identity-Id"

_JSON = "application/json; charset=utf-8"  # as json_response sends it

DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 1000
_EXPANDABLE = ("identity", "devices")


def _kratos(request: Request) -> KratosApp:
    return request.app.state["kratos"]


# -- query parameters ---------------------------------------------------------------------------


def _parse_id(raw: str) -> uuid.UUID:
    # A path id that is not a UUID cannot name anything: 404 like an unknown one.
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise session_not_found() from exc


_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def _active_param(request: Request) -> str:
    # Kratos parses the filter with Go's strconv.ParseBool.
    raw = request.query_params.get("active")
    if raw in (None, ""):
        return store.ACTIVE_ANY
    if raw in _TRUE:
        return store.ACTIVE_ONLY
    if raw in _FALSE:
        return store.INACTIVE_ONLY
    raise BadRequest(f'The query parameter "active" must be a boolean, got "{raw}".')


def _expand_param(request: Request) -> set[str]:
    values = set(request.query_params.getall("expand", []))
    unknown = values.difference(_EXPANDABLE)
    if unknown:
        raise BadRequest(f'Could not parse expand option "{sorted(unknown)[0]}": use "identity" or "devices".')
    return values


def _page_token(session: Session) -> str:
    raw = msgspec.json.encode({"t": session.created_at, "k": session.id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class _Cursor(msgspec.Struct):
    t: dt.datetime
    k: uuid.UUID


def _parse_page_token(token: str) -> store.Cursor:
    try:
        cursor = msgspec.json.decode(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)), type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise BadRequest("The page_token is invalid; use the one from the Link header.") from exc
    if cursor.t.tzinfo is None:
        raise BadRequest("The page_token is invalid; use the one from the Link header.")
    return cursor.t, cursor.k


# -- pagination ---------------------------------------------------------------------------------


class _Page(msgspec.Struct):
    sessions: list[Session]
    headers: dict[str, str]


def _link(base: str, params: dict[str, Any], rel: str) -> str:
    return f'<{base}?{urlencode(params)}>; rel="{rel}"'


async def _paginate(
    app: KratosApp,
    request: Request,
    link_base: str,
    *,
    total: bool,
    **filters: Any,
) -> _Page:
    """One page by keyset (``page_size``/``page_token``) or legacy offset (``page``/``per_page``).

    Kratos emits ``Link`` with ``first`` and, unless this is the last page, ``next`` (pitfall 22);
    identity-scoped lists also send ``X-Total-Count``.
    """
    q = request.query_params
    if q.get("page") is not None or q.get("per_page") is not None:
        size = int_query_param(request, "per_page", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
        number = int_query_param(request, "page", 0, low=0, high=1_000_000)
        sessions = await app.sessions.list_sessions(limit=size + 1, offset=number * size, **filters)
        params: dict[str, Any] = {"per_page": size}
        first, following = {**params, "page": 0}, {**params, "page": number + 1}
    else:
        size = int_query_param(request, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
        token = q.get("page_token")
        after = _parse_page_token(token) if token else None
        sessions = await app.sessions.list_sessions(limit=size + 1, after=after, **filters)
        first = {"page_size": size}
        following = {"page_size": size, "page_token": _page_token(sessions[size - 1])} if len(sessions) > size else {}
    links = [_link(link_base, first, "first")]
    if len(sessions) > size:
        sessions = sessions[:size]
        links.append(_link(link_base, following, "next"))
    headers = {"Link": ",".join(links)}
    if total and filters.get("identity_id") is not None:
        count_filters = {k: filters[k] for k in ("active", "exclude") if k in filters}
        headers["X-Total-Count"] = str(await app.sessions.count_sessions(filters["identity_id"], **count_filters))
    return _Page(sessions, headers)


# -- public -------------------------------------------------------------------------------------


def session_public_handlers() -> list[Any]:
    """The public session routes: whoami and the caller's own sessions."""

    @route("/sessions/whoami", http_method=WHOAMI_METHODS, summary="Check who the current session belongs to", tags=["frontend"])
    async def whoami(request: Request) -> Response[bytes]:
        app = _kratos(request)
        if request.query_params.get("tokenize_as"):
            # No tokenizer templates are supported yet: Kratos answers an unknown template so.
            raise BadRequest("Unable to find tokenizer template")
        # The hot path: encoded in one go (same bytes as json_response(session_dict(...))),
        # or straight from the session cache when feature_flags.cacheable_sessions is on.
        session, body = await app.sessions.whoami_json(request)
        response = Response(
            content=body,
            status_code=200,
            media_type=_JSON,
            headers={AUTHENTICATED_IDENTITY_HEADER: str(session.identity_id)},
        )
        if app.sessions.cookie_is_stale(session):
            # The cookie remembers an older expiry (admin extend, step-up): hand out a fresh one.
            return with_cookies(response, app.sessions.cookie_header(session, session.token))
        return response

    @get("/sessions", summary="List the caller's other active sessions", tags=["frontend"])
    async def list_my_sessions(request: Request) -> Response[bytes]:
        app = _kratos(request)
        current = await app.sessions.whoami(request)
        page = await _paginate(
            app,
            request,
            f"{app.public_base_url.rstrip('/')}/sessions",
            total=True,
            identity_id=current.identity_id,
            active=store.ACTIVE_ONLY,
            exclude=current.id,
            expand=True,
        )
        body = [session_dict(s, app.public_base_url, admin=False) for s in page.sessions]
        return json_response(body, headers=page.headers)

    @delete("/sessions", summary="Revoke the caller's other sessions", tags=["frontend"], status_code=200)
    async def disable_my_other_sessions(request: Request) -> Response[bytes]:
        app = _kratos(request)
        current = await app.sessions.whoami(request)
        return json_response({"count": await app.sessions.revoke_others(current, reason="self_service")})

    @delete("/sessions/{session_id:str}", summary="Revoke one of the caller's other sessions", tags=["frontend"], status_code=204)
    async def disable_my_session(request: Request, session_id: FromPath[str]) -> None:
        app = _kratos(request)
        current = await app.sessions.whoami(request)
        target = _parse_id(session_id)
        if target == current.id:
            raise BadRequest("You cannot revoke the session you are using; log out instead.")
        await app.sessions.revoke(target, identity_id=current.identity_id, reason="self_service")

    return [whoami, list_my_sessions, disable_my_other_sessions, disable_my_session]


# -- admin --------------------------------------------------------------------------------------


def _admin_paths(suffix: str) -> list[str]:
    if suffix.startswith("/sessions"):
        return [f"/admin{suffix}"]  # unprefixed: the hop to the public port (see module doc)
    return [f"/admin{suffix}", suffix]


def _admin_render(app: KratosApp, session: Session, expand: set[str]) -> dict[str, Any]:
    return session_dict(
        session,
        app.public_base_url,
        admin=True,
        expand_identity="identity" in expand,
        expand_devices="devices" in expand,
    )


def session_admin_handlers() -> list[Any]:
    """The admin session routes."""

    @get(_admin_paths("/sessions"), summary="List all sessions", tags=["identity"])
    async def list_sessions(request: Request) -> Response[bytes]:
        app = _kratos(request)
        expand = _expand_param(request)
        page = await _paginate(
            app,
            request,
            f"{app.admin_base_url.rstrip('/')}/admin/sessions",
            total=False,
            active=_active_param(request),
            expand=bool(expand),
        )
        return json_response([_admin_render(app, s, expand) for s in page.sessions], headers=page.headers)

    @get(_admin_paths("/sessions/{session_id:str}"), summary="Get a session", tags=["identity"])
    async def get_session(request: Request, session_id: FromPath[str]) -> Response[bytes]:
        app = _kratos(request)
        expand = _expand_param(request)
        session = await app.sessions.get(_parse_id(session_id))
        return json_response(_admin_render(app, session, expand))

    @delete(_admin_paths("/sessions/{session_id:str}"), summary="Deactivate a session", tags=["identity"], status_code=204)
    async def disable_session(request: Request, session_id: FromPath[str]) -> None:
        await _kratos(request).sessions.revoke(_parse_id(session_id))

    @patch(_admin_paths("/sessions/{session_id:str}/extend"), summary="Extend a session", tags=["identity"])
    async def extend_session(request: Request, session_id: FromPath[str]) -> Response[bytes]:
        app = _kratos(request)
        session = await app.sessions.extend(_parse_id(session_id))
        if app.config.feature_flags.faster_session_extend:
            return Response(content=b"", status_code=204)
        return json_response(_admin_render(app, session, set(_EXPANDABLE)))

    @get(_admin_paths("/identities/{identity_id:str}/sessions"), summary="List an identity's sessions", tags=["identity"])
    async def list_identity_sessions(request: Request, identity_id: FromPath[str]) -> Response[bytes]:
        app = _kratos(request)
        identity = await app.identities.get(_parse_id(identity_id))
        page = await _paginate(
            app,
            request,
            f"{app.admin_base_url.rstrip('/')}/admin/identities/{identity.id}/sessions",
            total=True,
            identity_id=identity.id,
            active=_active_param(request),
            expand=True,
        )
        return json_response([_admin_render(app, s, set(_EXPANDABLE)) for s in page.sessions], headers=page.headers)

    @delete(_admin_paths("/identities/{identity_id:str}/sessions"), summary="Delete an identity's sessions", tags=["identity"], status_code=204)
    async def delete_identity_sessions(request: Request, identity_id: FromPath[str]) -> None:
        app = _kratos(request)
        identity = await app.identities.get(_parse_id(identity_id))
        if not await app.sessions.delete_all_for_identity(identity.id):
            # Kratos answers 404 when there was nothing to delete.
            raise session_not_found()

    return [
        list_sessions,
        get_session,
        disable_session,
        extend_session,
        list_identity_sessions,
        delete_identity_sessions,
    ]
