"""Anti-CSRF tokens for browser flows (Kratos's nosurf double-submit scheme).

The browser holds a random 32-byte token in an ``HttpOnly`` cookie; every rendered flow carries a
*masked* copy of it in its ``csrf_token`` node. A submit is genuine when the body's token unmasks to
the cookie's token (kratos-behaviour.md section 3.1). Masking (a fresh random pad XORed over the
token) makes every rendered copy different, so the token never appears verbatim in a page and a
compression side channel cannot recover it (BREACH), which is why nosurf does it.

Everything here is pure and framework-free: the HTTP layer hands in cookie and body values and sets
the cookie attributes itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from kratos_core.errors import Forbidden

__all__ = [
    "CSRF_ERROR_ID",
    "CSRF_ERROR_MESSAGE",
    "CSRF_ERROR_REASON",
    "CSRF_DOCS_URL",
    "REJECT_NO_COOKIE_HEADER",
    "REJECT_NO_CSRF_COOKIE",
    "REJECT_MISMATCH",
    "TOKEN_LENGTH",
    "csrf_cookie_name",
    "new_csrf_token",
    "is_valid_cookie_token",
    "mask_token",
    "unmask",
    "tokens_match",
    "csrf_violation",
    "check_submit",
    "check_flow_fetch",
]

#: Raw token size in bytes (nosurf's ``tokenLength``).
TOKEN_LENGTH = 32

# Base64 lengths of a raw (32-byte) and a masked (64-byte) token; anything else is refused before
# decoding so garbage costs nothing.
_RAW_B64_LEN = 44
_MASKED_B64_LEN = 88

CSRF_ERROR_ID = "security_csrf_violation"
CSRF_ERROR_MESSAGE = "the request was rejected to protect you from Cross-Site-Request-Forgery"
CSRF_ERROR_REASON = (
    "Please retry the flow and optionally clear your cookies. The request was rejected to protect "
    "you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking "
    "personal information, and other serious security issues."
)
CSRF_DOCS_URL = "https://www.ory.sh/docs/kratos/debug/csrf"

# The three ``details.reject_reason`` values Kratos distinguishes (section 3.1). The first two are
# Kratos's sentences; the mismatch one starts with Kratos's sentence.
REJECT_NO_COOKIE_HEADER = "The HTTP Cookie Header is empty or not set."
REJECT_NO_CSRF_COOKIE = "The HTTP Cookie Header was set but did not include the anti-CSRF cookie."
REJECT_MISMATCH = (
    "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. "
    "Clearing the cookies of this site and starting a new flow usually fixes this."
)

_HINT_MISSING_TOKEN = (
    "No anti-CSRF token was found in the request. Send the value of the flow's csrf_token node "
    "as the csrf_token field of the form or JSON body (or in the X-CSRF-Token header)."
)
_HINT_AJAX = (
    "This looks like a fetch/XHR call from a browser. Make sure it is sent with credentials "
    "(credentials: 'include' or withCredentials) so the anti-CSRF cookie travels with it, that "
    "the page and the API share a cookie domain, and that the csrf_token of this very flow is "
    "in the body."
)
_HINT_SERVER_SIDE = (
    "If the request is made by your own server on behalf of a browser, forward the browser's "
    "complete Cookie header and the csrf_token from the flow. Otherwise make sure the form was "
    "rendered from the same flow and in the same browser that submits it."
)


def csrf_cookie_name(public_base_url: str) -> str:
    """Name of the anti-CSRF cookie for a public base URL.

    Kratos hashes the base URL string exactly as configured, so ``https://a/`` and ``https://a``
    give different names; do not normalise it here.

    Args:
        public_base_url: ``serve.public.base_url`` as configured.

    Returns:
        ``csrf_token_`` followed by the hex SHA-256 of the URL string.
    """
    return "csrf_token_" + hashlib.sha256(public_base_url.encode("utf-8")).hexdigest()


def new_csrf_token() -> str:
    """A fresh cookie token: standard base64 of 32 random bytes."""
    return base64.b64encode(secrets.token_bytes(TOKEN_LENGTH)).decode("ascii")


def _b64decode(value: str, expected_len: int) -> bytes | None:
    """Strict standard-base64 decode of a string of one expected length, else None."""
    if len(value) != expected_len:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters
        return None


def _xor(a: bytes, b: bytes) -> bytes:
    """XOR two equal-length byte strings (via ints: much faster than a per-byte loop)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def is_valid_cookie_token(value: str | None) -> bool:
    """Whether a cookie value is a well-formed raw token.

    nosurf replaces a cookie whose value does not decode to exactly 32 bytes, so the HTTP layer
    uses this to decide whether to hand out a new cookie.
    """
    if not value:
        return False
    raw = _b64decode(value, _RAW_B64_LEN)
    return raw is not None and len(raw) == TOKEN_LENGTH


def mask_token(cookie_token: str) -> str:
    """Mask a cookie token for embedding in a flow.

    Args:
        cookie_token: The cookie value (base64 of 32 bytes).

    Returns:
        Standard base64 of ``pad || (token XOR pad)`` with a fresh 32-byte pad, so every call
        returns a different string that unmasks to the same token.

    Raises:
        ValueError: If ``cookie_token`` is not a raw 32-byte token.
    """
    raw = _b64decode(cookie_token, _RAW_B64_LEN)
    if raw is None or len(raw) != TOKEN_LENGTH:
        raise ValueError("not a raw anti-CSRF cookie token")
    pad = secrets.token_bytes(TOKEN_LENGTH)
    masked = _xor(raw, pad)
    return base64.b64encode(pad + masked).decode("ascii")


def unmask(value: str | None) -> bytes | None:
    """Recover the raw 32-byte token from a masked or raw token string.

    Args:
        value: Standard base64 of 64 bytes (masked) or 32 bytes (raw).

    Returns:
        The 32 raw bytes, or None for anything else (wrong length, bad base64, empty).
    """
    if not value or not isinstance(value, str):
        return None
    if len(value) == _MASKED_B64_LEN:
        data = _b64decode(value, _MASKED_B64_LEN)
        if data is None or len(data) != 2 * TOKEN_LENGTH:
            return None
        pad, masked = data[:TOKEN_LENGTH], data[TOKEN_LENGTH:]
        return _xor(pad, masked)
    data = _b64decode(value, _RAW_B64_LEN)
    if data is None or len(data) != TOKEN_LENGTH:
        return None
    return data


def tokens_match(a: str | None, b: str | None) -> bool:
    """Whether two token strings (masked or raw) carry the same token, compared in constant time."""
    raw_a = unmask(a)
    raw_b = unmask(b)
    if raw_a is None or raw_b is None:
        return False
    return hmac.compare_digest(raw_a, raw_b)


def csrf_violation(reject_reason: str, hint: str) -> Forbidden:
    """Build Kratos's 403 ``security_csrf_violation`` error.

    Args:
        reject_reason: One of the ``REJECT_*`` constants.
        hint: Advice for the developer, chosen by the caller's situation.
    """
    return Forbidden(
        CSRF_ERROR_REASON,
        id=CSRF_ERROR_ID,
        message=CSRF_ERROR_MESSAGE,
        details={"docs": CSRF_DOCS_URL, "hint": hint, "reject_reason": reject_reason},
    )


def _hint(*, token_missing: bool, ajax: bool) -> str:
    # Kratos names the missing field when the body carries no token, and otherwise tailors the
    # advice to AJAX vs. server-side callers (section 3.1).
    if token_missing:
        return _HINT_MISSING_TOKEN
    return _HINT_AJAX if ajax else _HINT_SERVER_SIDE


def _reject_reason(cookie_value: str | None, *, cookie_header_present: bool) -> str:
    if not cookie_header_present:
        return REJECT_NO_COOKIE_HEADER
    if not cookie_value:
        return REJECT_NO_CSRF_COOKIE
    return REJECT_MISMATCH


def check_submit(
    cookie_value: str | None,
    body_token: str | None,
    *,
    cookie_header_present: bool,
    ajax: bool = False,
) -> None:
    """Verify a browser-flow submit: the body's token must unmask to the cookie's token.

    Kratos compares with the cookie, not with the token stored on the flow (pitfall 7), so a flow
    rendered earlier in the same browser stays submittable after the page is reloaded.

    Args:
        cookie_value: Value of the anti-CSRF cookie, None if the request has none.
        body_token: ``csrf_token`` from the form/JSON body (or the ``X-CSRF-Token`` header).
        cookie_header_present: Whether the request had a non-empty ``Cookie`` header at all.
        ajax: Whether the browser marked the request as fetch/XHR (``Sec-Fetch-Mode``).

    Raises:
        Forbidden: ``security_csrf_violation`` (403) when the tokens do not match.
    """
    if cookie_header_present and cookie_value and tokens_match(cookie_value, body_token):
        return
    reason = _reject_reason(cookie_value, cookie_header_present=cookie_header_present)
    raise csrf_violation(reason, _hint(token_missing=not body_token, ajax=ajax))


def check_flow_fetch(
    cookie_value: str | None,
    stored_flow_token: str | None,
    *,
    cookie_header_present: bool | None = None,
    ajax: bool = False,
) -> None:
    """Verify that a browser flow is fetched by the browser it was created for.

    ``GET /self-service/<flow>/flows?id=`` of a browser flow compares the token stored on the flow
    with the cookie token, so a flow id leaked to another browser cannot be read (section 3.1).
    API flows carry no CSRF token and must not be passed here.

    Args:
        cookie_value: Value of the anti-CSRF cookie, None if the request has none.
        stored_flow_token: The (masked) token stored on the flow.
        cookie_header_present: Whether the request had a ``Cookie`` header; when None it is
            assumed present exactly when the anti-CSRF cookie is.
        ajax: Whether the browser marked the request as fetch/XHR (``Sec-Fetch-Mode``).

    Raises:
        Forbidden: ``security_csrf_violation`` (403) when the tokens do not match.
    """
    if cookie_header_present is None:
        cookie_header_present = bool(cookie_value)
    if cookie_header_present and cookie_value and tokens_match(cookie_value, stored_flow_token):
        return
    reason = _reject_reason(cookie_value, cookie_header_present=cookie_header_present)
    raise csrf_violation(reason, _HINT_AJAX if ajax else _HINT_SERVER_SIDE)
