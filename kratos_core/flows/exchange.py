"""One request to a self-service endpoint: who is asking, its cookies, and how to answer.

The same endpoint answers a browser form post with a redirect and a fetch/SDK call with JSON
(kratos-behaviour.md section 3.2, pitfall 23); the anti-CSRF cookie is handed out and renewed
here (section 3.1); errors a browser cannot be shown on a flow are stored and the browser is sent
to the error UI (section 3.5). :class:`Exchange` collects the cookies an answer must set so every
response built from it carries them.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec
from litestar import Request, Response

from ..errors import BadRequest, KratosError
from ..persistence import flows as store
from ..web.cookies import CookieResponse
from ..web.negotiation import is_ajax, is_json_request, non_cloudflare_cookie_names
from . import csrf
from .return_to import ReturnToPolicy

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["Exchange", "CSRF_COOKIE_MAX_AGE", "with_query"]

#: The anti-CSRF cookie lives about a year (nosurf's default max age).
CSRF_COOKIE_MAX_AGE = 365 * 24 * 3600

_encoder = msgspec.json.Encoder()


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query string."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


class Exchange:
    """The request being answered and the cookies the answer will set.

    Args:
        request: The Litestar request.
    """

    def __init__(self, request: Request) -> None:
        self.request = request
        self.app: KratosApp = request.app.state["kratos"]
        self._new_csrf_token: str | None = None
        self._set_cookies: list[str] = []
        self._session: Any = None
        self._session_loaded = False

    # -- who is asking ---------------------------------------------------------------------

    @cached_property
    def is_json(self) -> bool:
        """Kratos's "JSON request": answer with bodies instead of redirects."""
        headers = self.request.headers
        return is_json_request(headers.get("accept"), headers.get("content-type"))

    @property
    def ajax(self) -> bool:
        return is_ajax(self.request.headers.get("sec-fetch-mode"))

    def url(self) -> str:
        """The full request URL as the client sent it (honouring ``X-Forwarded-Proto/Host``)."""
        headers = self.request.headers
        url = self.request.url
        scheme = headers.get("x-forwarded-proto") or url.scheme
        host = headers.get("x-forwarded-host") or headers.get("host") or url.netloc
        return urlunsplit((scheme, host, url.path, url.query, ""))

    @property
    def public_url(self) -> str:
        """``serve.public.base_url`` without the trailing slash."""
        return self.app.public_base_url.rstrip("/")

    @cached_property
    def return_to_policy(self) -> ReturnToPolicy:
        selfservice = self.app.config.selfservice
        return ReturnToPolicy(
            selfservice.allowed_return_urls,
            self.app.public_base_url,
            selfservice.default_browser_return_url,
            allow_insecure_wildcards=self.app.config.feature_flags.legacy_allow_insecure_origins,
        )

    async def current_session(self) -> Any:
        """The request's active session (cookie or token), or None; looked up once."""
        if not self._session_loaded:
            self._session_loaded = True
            self._session = await self.app.sessions.authenticate(self.request)
        return self._session

    # -- CSRF (browser flows) --------------------------------------------------------------

    @cached_property
    def csrf_cookie_name(self) -> str:
        return csrf.csrf_cookie_name(self.app.public_base_url)

    def _request_csrf_token(self) -> str | None:
        return self.request.cookies.get(self.csrf_cookie_name)

    def csrf_token(self) -> str:
        """The browser's anti-CSRF token; a new one (and its cookie) if it has no valid one."""
        if self._new_csrf_token is not None:
            return self._new_csrf_token
        current = self._request_csrf_token()
        if csrf.is_valid_cookie_token(current):
            return current  # type: ignore[return-value]
        return self.regenerate_csrf()

    def regenerate_csrf(self) -> str:
        """Hand the browser a fresh anti-CSRF token (login, registration: section 3.1)."""
        self._new_csrf_token = csrf.new_csrf_token()
        return self._new_csrf_token

    def fresh_csrf_cookie(self) -> str:
        """A ``Set-Cookie`` value handing the browser a new anti-CSRF token (logout does)."""
        return self._csrf_set_cookie(self.regenerate_csrf())

    def _csrf_set_cookie(self, token: str) -> str:
        # Written by hand: base64 has "/", "+" and "=", which Python's cookie helpers put in
        # quotes while Kratos (Go) sends them bare; browsers would keep the quotes.
        cookies = self.app.config.cookies
        secure = cookies.secure if cookies.secure is not None else not self.app.config.dev
        # Browsers drop SameSite=None without Secure; Kratos falls back to Lax then.
        same_site = cookies.same_site if secure else "Lax"
        parts = [f"{self.csrf_cookie_name}={token}", f"Path={cookies.path or '/'}"]
        if cookies.domain:
            parts.append(f"Domain={cookies.domain}")
        parts.append(f"Max-Age={CSRF_COOKIE_MAX_AGE}")
        parts.append("HttpOnly")
        if secure:
            parts.append("Secure")
        parts.append(f"SameSite={same_site}")
        return "; ".join(parts)

    def check_csrf(self, body_token: Any) -> None:
        """Refuse a browser-flow submit whose body token does not match the cookie (403)."""
        header_token = self.request.headers.get("x-csrf-token")
        token = body_token if isinstance(body_token, str) and body_token else header_token
        csrf.check_submit(
            self._request_csrf_token(),
            token,
            cookie_header_present=bool(self.request.headers.get("cookie")),
            ajax=self.ajax,
        )

    def check_flow_fetch(self, stored_token: str) -> None:
        """Refuse to show a browser flow to another browser (403)."""
        csrf.check_flow_fetch(
            self._request_csrf_token(),
            stored_token,
            cookie_header_present=bool(self.request.headers.get("cookie")),
            ajax=self.ajax,
        )

    def check_api_submit(self) -> None:
        """Refuse an API-flow submit that comes from a browser (400, section 3.1).

        Native apps send neither ``Origin`` nor cookies; a browser always sends one of them, and
        an API flow has no CSRF protection, so such a request is refused.
        """
        if self.request.headers.get("origin"):
            raise BadRequest(
                'The HTTP Request Header included the "Origin" key, indicating that this request was made as part '
                "of an AJAX request in a Browser. The flow however was initiated as an API request. To prevent "
                "potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. "
                "Please consult the documentation."
            )
        found = non_cloudflare_cookie_names(self.request.headers.get("cookie"))
        if found:
            raise BadRequest(
                'The HTTP Request Header included the "Cookie" key, indicating that this request was made by a '
                "Browser. The flow however was initiated as an API request. To prevent potential misuse and "
                "mitigate several attack vectors including CSRF, the request has been blocked. Please consult "
                "the documentation.",
                details={"found cookies": found},
            )

    # -- answers ---------------------------------------------------------------------------

    def set_session_cookie(self, session: Any, token: str) -> None:
        """Send the session cookie with whatever answer this exchange gives."""
        self._set_cookies.append(self.app.sessions.cookie_header(session, token))

    def discard_pending_cookies(self) -> None:
        """Forget the session cookie and new CSRF token of a submit that lost its completion."""
        self._set_cookies.clear()
        self._new_csrf_token = None

    def _respond(self, content: bytes, status_code: int, media_type: str, headers: dict[str, str] | None = None) -> Response[bytes]:
        # Litestar keeps one value per header name; CookieResponse adds the raw Set-Cookie values.
        cookies = list(self._set_cookies)
        if self._new_csrf_token is not None:
            cookies.append(self._csrf_set_cookie(self._new_csrf_token))
        return CookieResponse(content=content, status_code=status_code, media_type=media_type, headers=headers, set_cookies=cookies)

    def json(self, data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
        return self._respond(_encoder.encode(data), status_code, "application/json; charset=utf-8", headers)

    def redirect(self, url: str, status_code: int = 303) -> Response[bytes]:
        return self._respond(b"", status_code, "text/plain", {"Location": url})

    def error_json(self, error: KratosError) -> Response[bytes]:
        request_id = self.request.headers.get("x-request-id") or None
        # An error may carry headers of its own (429's Retry-After).
        return self.json(error.to_body(request_id), status_code=error.status_code, headers=getattr(error, "headers", None))

    async def error(self, error: KratosError, *, browser: bool) -> Response[bytes]:
        """Answer with an error: JSON, or for browsers a 303 to the error UI (section 3.5)."""
        if not browser or self.is_json:
            return self.error_json(error)
        error_id = await store.insert_error(self.app.db, error.to_dict(), self._request_csrf_token() or "")
        ui_url = self.app.config.selfservice.flows.error.ui_url
        response = self.redirect(with_query(ui_url, id=str(error_id)))
        response.headers.update(getattr(error, "headers", None) or {})
        return response
