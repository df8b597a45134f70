"""Responses that set several cookies at once (Litestar keeps one value per header name)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Response

__all__ = ["CookieResponse", "with_cookies"]


class CookieResponse(Response[bytes]):
    """A response carrying any number of raw ``Set-Cookie`` values.

    Litestar keeps response headers in a dict (one ``Set-Cookie`` at most); logout must delete the
    session cookie *and* the anti-CSRF cookie in one response.
    """

    def __init__(self, *args: Any, set_cookies: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_cookies = list(set_cookies)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        asgi = super().to_asgi_response(*args, **kwargs)
        for value in self.set_cookies:
            asgi.headers.add("set-cookie", value)
        return asgi


def with_cookies(response: Response[bytes], *set_cookies: str) -> CookieResponse:
    """Re-wrap a response so that it also sends ``set_cookies``."""
    return CookieResponse(
        content=response.content,
        status_code=response.status_code,
        media_type=response.media_type,
        headers=dict(response.headers),
        set_cookies=set_cookies,
    )
