"""Session and logout tokens (kratos-behaviour.md section 3.6).

Tokens are ``ory_st_`` / ``ory_lo_`` followed by 32 random alphanumerics, as in Kratos. They are
bearer secrets: the database stores only their SHA-256 digest and they must never be logged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

__all__ = [
    "SESSION_TOKEN_PREFIX",
    "LOGOUT_TOKEN_PREFIX",
    "TOKEN_RANDOM_LENGTH",
    "new_alnum",
    "new_session_token",
    "new_logout_token",
    "token_digest",
    "looks_like_session_token",
    "looks_like_logout_token",
]

SESSION_TOKEN_PREFIX = "ory_st_"
LOGOUT_TOKEN_PREFIX = "ory_lo_"
#: 32 characters from a 62-letter alphabet: about 190 bits of entropy.
TOKEN_RANDOM_LENGTH = 32

_ALNUM = string.ascii_letters + string.digits
_REJECT_FROM = 256 - 256 % len(_ALNUM)  # 248
_SESSION_TOKEN = re.compile(r"ory_st_[A-Za-z0-9]{32}")
_LOGOUT_TOKEN = re.compile(r"ory_lo_[A-Za-z0-9]{32}")
_TOKEN_LENGTH = len(SESSION_TOKEN_PREFIX) + TOKEN_RANDOM_LENGTH


def new_alnum(n: int) -> str:
    """``n`` characters drawn uniformly from ``[A-Za-z0-9]`` with the OS CSPRNG."""
    if n < 0:
        raise ValueError("length must not be negative")
    # Rejection sampling over random bytes: bytes >= 248 (4 * 62) are dropped so that
    # ``byte % 62`` stays uniform. Several times faster than one secrets.choice() per character.
    chars: list[str] = []
    while len(chars) < n:
        for byte in secrets.token_bytes(n - len(chars) + 4):
            if byte < _REJECT_FROM:
                chars.append(_ALNUM[byte % len(_ALNUM)])
    return "".join(chars[:n])


def new_session_token() -> str:
    """A fresh session token, ``ory_st_`` + 32 alphanumerics."""
    return SESSION_TOKEN_PREFIX + new_alnum(TOKEN_RANDOM_LENGTH)


def new_logout_token() -> str:
    """A fresh logout token, ``ory_lo_`` + 32 alphanumerics."""
    return LOGOUT_TOKEN_PREFIX + new_alnum(TOKEN_RANDOM_LENGTH)


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token, the form in which tokens are stored and looked up.

    A plain, unsalted hash suffices: the tokens carry ~190 random bits, so there is nothing to
    brute-force, and a deterministic digest keeps the lookup a single indexed equality.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_session_token(s: object) -> bool:
    """Cheap shape check so that garbage is refused before any database access."""
    if not isinstance(s, str) or len(s) != _TOKEN_LENGTH:
        return False
    return _SESSION_TOKEN.fullmatch(s) is not None


def looks_like_logout_token(s: object) -> bool:
    """Cheap shape check for logout tokens (``ory_lo_`` + 32 alphanumerics)."""
    if not isinstance(s, str) or len(s) != _TOKEN_LENGTH:
        return False
    return _LOGOUT_TOKEN.fullmatch(s) is not None
