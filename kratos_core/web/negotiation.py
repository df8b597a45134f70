"""Request classification: JSON vs. HTML callers, AJAX, and cookies on API flows.

Kratos answers the same endpoint with a redirect or with JSON depending on whether the request is a
"JSON request": content negotiation of ``Accept`` prefers ``application/json`` over ``text/html``
(``text/*`` and ``*/*`` count as HTML, no ``Accept`` means HTML), or the body is
``application/json`` (kratos-behaviour.md Conventions, pitfall 23).
"""

from __future__ import annotations

import string
from functools import lru_cache

__all__ = [
    "is_json_request",
    "accepts_json",
    "is_json_content_type",
    "is_ajax",
    "is_cloudflare_cookie",
    "non_cloudflare_cookie_names",
]

# Kratos negotiates among these offers with "text/html" as the default; the offer order breaks
# ties, so an equally weighted "application/json, text/html" still yields HTML.
_OFFERS = ("text/html", "text/*", "*/*", "application/json")
_JSON = "application/json"
_CLOUDFLARE_PREFIXES = ("__cf", "_cf", "cf_")
# RFC 6265 cookie-name (an RFC 7230 token); names outside it are skipped like Go's net/http does.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


def _parse_quality(params: list[str]) -> float | None:
    """The ``q`` parameter of one Accept element (1.0 if absent), None if it is malformed."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() != "q":
            continue
        try:
            q = float(value.strip())
        except ValueError:
            return None
        return q if 0.0 <= q <= 1.0 else None
    return 1.0


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    """``(media-range, q)`` pairs of an Accept header, lower-cased, malformed elements dropped."""
    specs: list[tuple[str, float]] = []
    for element in accept.split(","):
        media, *params = element.split(";")
        media = media.strip().lower()
        if "/" not in media:
            continue
        q = _parse_quality(params)
        if q is not None:
            specs.append((media, q))
    return specs


def _negotiate(specs: list[tuple[str, float]]) -> str:
    """The offer Go's ``httputil.NegotiateContentType`` would pick (as Kratos does).

    Higher q wins; at equal q an exact match beats ``type/*`` which beats ``*/*``; remaining ties
    go to the earlier offer. q=0 ranges are ignored.
    """
    best, best_q, best_wild = "text/html", -1.0, 3
    for offer in _OFFERS:
        for media, q in specs:
            if q == 0.0 or q < best_q:
                continue
            if media == "*/*":
                wild = 2
            elif media.endswith("/*"):
                if not offer.startswith(media[:-1]):
                    continue
                wild = 1
            elif media == offer:
                wild = 0
            else:
                continue
            if q > best_q or best_wild > wild:
                best, best_q, best_wild = offer, q, wild
    return best


def accepts_json(accept: str | None) -> bool:
    """Whether ``Accept`` prefers ``application/json`` over HTML (absent/empty means HTML)."""
    if not accept:
        return False
    return _accepts_json(accept)


# Browsers and SDKs send a handful of distinct Accept strings; the bounded cache makes repeat
# negotiations a dict lookup without letting odd headers grow memory.
@lru_cache(maxsize=512)
def _accepts_json(accept: str) -> bool:
    return _negotiate(_parse_accept(accept)) == _JSON


def is_json_content_type(content_type: str | None) -> bool:
    """Whether ``Content-Type`` is ``application/json`` (parameters such as charset allowed).

    Structured-syntax types like ``application/merge-patch+json`` do not count, as in Kratos.
    """
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == _JSON


def is_json_request(accept: str | None, content_type: str | None) -> bool:
    """Kratos's "JSON request": answer with JSON bodies (and 422 instead of redirects).

    Args:
        accept: The ``Accept`` header (several headers joined with ``,``), or None.
        content_type: The ``Content-Type`` header, or None.
    """
    return is_json_content_type(content_type) or accepts_json(accept)


def is_ajax(sec_fetch_mode: str | None) -> bool:
    """Whether the browser marked the request as fetch/XHR (``Sec-Fetch-Mode: cors|same-origin``).

    Kratos uses this only to choose the CSRF error hint.
    """
    if not sec_fetch_mode:
        return False
    return sec_fetch_mode.strip().lower() in ("cors", "same-origin")


def is_cloudflare_cookie(name: str) -> bool:
    """Whether a cookie name is one Cloudflare injects (``__cf*``, ``_cf*``, ``cf_*``).

    API flows tolerate these because a CDN in front of Kratos adds them to native clients' requests
    too (section 3.1); the prefixes are case-sensitive as in Kratos.
    """
    return name.startswith(_CLOUDFLARE_PREFIXES)


def _is_cookie_name(name: str) -> bool:
    return bool(name) and all(ch in _TOKEN_CHARS for ch in name)


def non_cloudflare_cookie_names(cookie_header: str | None) -> list[str]:
    """Names of the cookies in a ``Cookie`` header that are not Cloudflare's, in header order.

    A non-empty result means an API-flow submit came from a browser and must be refused with 400
    (the names go into the error's ``found cookies`` detail). Malformed names are skipped, like Go's
    cookie parser does.
    """
    if not cookie_header:
        return []
    names: list[str] = []
    for part in cookie_header.split(";"):
        name = part.partition("=")[0].strip()
        if _is_cookie_name(name) and not is_cloudflare_cookie(name):
            names.append(name)
    return names
