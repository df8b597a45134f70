"""Logout (kratos-behaviour.md section 3.9) on the public API.

Browsers first fetch a logout URL carrying the session's logout token, then open it; the token
proves the navigation came from a page of ours (a foreign site cannot know it), so logout cannot
be forced cross-site. Native apps send their session token to ``DELETE /self-service/logout/api``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, delete, get

from ..errors import BadRequest, Forbidden, KratosError, Unauthorized
from ..flows.exchange import Exchange
from ..flows.return_to import ReturnToPolicy
from ..persistence.flows import insert_error
from ..session.manager import derive_logout_token
from ..session.tokens import token_digest
from ..web.cookies import CookieResponse
from ..web.negotiation import is_json_request
from .responses import decode_struct, json_response, read_json

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = [
    "logout_public_handlers",
    "SESSION_INACTIVE_ID",
    "LOGOUT_TOKEN_MISMATCH",
    "NATIVE_LOGOUT_UNKNOWN_TOKEN",
]

SESSION_INACTIVE_ID = "session_inactive"
# Kratos's sentences for the two refusals clients match on.
LOGOUT_TOKEN_MISMATCH = "Unable to log out because the logout token in the URL query does not match the session cookie."
NATIVE_LOGOUT_UNKNOWN_TOKEN = "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."

_EXPIRED = "Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"


class NativeLogoutBody(msgspec.Struct, kw_only=True):
    session_token: str


def _kratos(request: Request) -> KratosApp:
    return request.app.state["kratos"]


def session_inactive() -> Unauthorized:
    return Unauthorized(
        "No active session was found in this request.",
        id=SESSION_INACTIVE_ID,
        message="request does not have a valid authentication session",
    )


def _is_json(request: Request) -> bool:
    return is_json_request(request.headers.get("accept"), request.headers.get("content-type"))


def _policy(app: KratosApp) -> ReturnToPolicy:
    cfg = app.config
    return ReturnToPolicy(
        cfg.selfservice.allowed_return_urls,
        app.public_base_url,
        cfg.selfservice.default_browser_return_url,
        allow_insecure_wildcards=cfg.feature_flags.legacy_allow_insecure_origins,
    )


async def _forward(app: KratosApp, request: Request, error: KratosError) -> Response[bytes]:
    """Kratos's error forwarding: JSON callers get the error, browsers the error UI (section 3.5)."""
    if _is_json(request):
        raise error
    error_id = await insert_error(app.db, error.to_dict())
    ui = app.config.selfservice.flows.error.ui_url
    separator = "&" if "?" in ui else "?"
    return Response(content=b"", status_code=303, headers={"Location": f"{ui}{separator}{urlencode({'id': str(error_id)})}"})


def _complete(app: KratosApp, request: Request, return_to: str | None) -> Response[bytes]:
    """Clear the session cookie and hand out a fresh anti-CSRF token (Kratos does; pitfall 8);
    204 for JSON callers (no ``return_to``), else 303 to ``return_to``."""
    cookies = [app.sessions.clear_cookie_header(), Exchange(request).fresh_csrf_cookie()]
    headers: dict[str, str] = {}
    if app.config.selfservice.flows.logout.clear_browser_data and app.public_base_url.startswith("https://"):
        headers["Clear-Site-Data"] = '"cookies", "storage", "cache"'
    if return_to is None:
        return CookieResponse(content=b"", status_code=204, headers=headers, set_cookies=cookies)
    headers["Location"] = return_to
    return CookieResponse(content=b"", status_code=303, headers=headers, set_cookies=cookies)


def logout_public_handlers() -> list[Any]:
    """The public logout routes."""

    @get("/self-service/logout/browser", summary="Create a browser logout URL", tags=["frontend"])
    async def create_browser_logout_flow(request: Request) -> Response[bytes]:
        app = _kratos(request)
        session = await app.sessions.authenticate(request)
        if session is None:
            return await _forward(app, request, session_inactive())
        params = {"token": derive_logout_token(session.token)}
        # An empty return_to (what Kratos's reference UI sends) counts as absent: the logout
        # then ends at flows.logout.after.default_browser_return_url, not at a default baked in
        # here (issue 14, finding 3).
        try:
            wanted = _policy(app).check(request.query_params.get("return_to") or None)
        except BadRequest as exc:
            return await _forward(app, request, exc)
        if wanted:
            params["return_to"] = wanted
        url = f"{app.public_base_url.rstrip('/')}/self-service/logout?{urlencode(params)}"
        return json_response({"logout_url": url, "logout_token": params["token"]})

    @get("/self-service/logout", summary="Log out a browser", tags=["frontend"])
    async def update_logout_flow(request: Request) -> Response[bytes]:
        app = _kratos(request)
        expected = request.query_params.get("token") or ""
        if not expected:
            return await _forward(app, request, BadRequest("Please include a token in the URL query."))
        session = await app.sessions.authenticate(request)
        if session is not None:
            stored = derive_logout_token(session.token)
            # Compare digests in constant time: the token is a secret of the session.
            if not hmac.compare_digest(token_digest(stored), token_digest(expected)):
                return await _forward(app, request, Forbidden(LOGOUT_TOKEN_MISMATCH))
            await app.sessions.revoke(session.id, reason="logout")
        # Without a valid session there is nothing to revoke: Kratos completes the logout anyway.
        if _is_json(request):
            return _complete(app, request, None)
        try:
            target = _policy(app).resolve(
                request.query_params.get("return_to"),
                app.config.selfservice.flows.logout.after.default_browser_return_url,
            )
        except BadRequest as exc:
            return await _forward(app, request, exc)
        return _complete(app, request, target)

    @delete("/self-service/logout/api", summary="Log out a native app", tags=["frontend"], status_code=204)
    async def perform_native_logout(request: Request) -> None:
        app = _kratos(request)
        body = decode_struct(await read_json(request), NativeLogoutBody)
        if not await app.sessions.revoke_token(body.session_token):
            raise Forbidden(NATIVE_LOGOUT_UNKNOWN_TOKEN)

    return [create_browser_logout_flow, update_logout_flow, perform_native_logout]
