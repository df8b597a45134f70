"""Bounds on what a request may carry (issue 15, item 4): each breach is a 400 in Kratos's shape.

The body size is bounded before anything is read (:func:`kratos_core.http.app.body_limit`);
what a decoded body holds is bounded here, once, right after decoding, so that nothing
downstream (hashing, schema validation, SQL) ever sees it:

* nesting deeper than :data:`MAX_DEPTH` (deep JSON exhausts recursion in decoders and
  validators; msgspec itself gives up near 1,000 levels with a ``RecursionError``);
* a NUL character in any string or key (PostgreSQL's ``text`` cannot hold one, and no
  identifier, trait or secret legitimately contains it);
* strings longer than their limit: passwords :data:`MAX_PASSWORD_LENGTH` (hashing a 1 MB
  password with argon2 is a denial of service), identifiers and traits
  :data:`MAX_TRAIT_LENGTH`, anything else :data:`MAX_STRING_LENGTH` (WebAuthn responses are
  a few kilobytes).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import BadRequest

__all__ = [
    "MAX_DEPTH",
    "MAX_PASSWORD_LENGTH",
    "MAX_TRAIT_LENGTH",
    "MAX_STRING_LENGTH",
    "decode_json_bounded",
    "check_bounds",
    "has_nul",
]

#: Deepest nesting of objects and arrays a body may have.
MAX_DEPTH = 32
#: Longest password (in characters) that reaches any method; NIST SP 800-63B asks for at
#: least 64 to be accepted. The password plugin's own policy (at most 1,024, message 4000033)
#: still answers in between, on the field.
MAX_PASSWORD_LENGTH = 4096
#: Longest identifier or trait string (an email address is at most 254).
MAX_TRAIT_LENGTH = 4096
#: Longest string anywhere else in a self-service body.
MAX_STRING_LENGTH = 64 * 1024

_PASSWORD_KEYS = frozenset({"password", "new_password", "password_confirm"})
_TRAIT_KEYS = frozenset({"identifier", "traits", "email", "phone", "code", "totp_code", "lookup_secret"})


def has_nul(text: str) -> bool:
    return "\x00" in text


def decode_json_bounded(raw: bytes) -> Any:
    """``msgspec.json.decode`` whose failures, deep nesting included, are 400s.

    Raises:
        BadRequest: Not JSON, or nested too deeply to decode.
    """
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Unable to decode JSON payload: {exc}") from exc
    except RecursionError:
        raise BadRequest(f"Unable to decode JSON payload: nested deeper than {MAX_DEPTH} levels.") from None


def check_bounds(data: Any, *, strings: bool = True) -> Any:
    """Refuse ``data`` (decoded JSON or form) that breaks the bounds above; returns it.

    Args:
        data: The decoded body.
        strings: Also bound string lengths (self-service bodies); admin bodies, which import
            whole identities, are bounded in depth, NUL and password length only.

    Raises:
        BadRequest: Too deep, a NUL character, or a string over its limit (the field named).
    """
    # Iterative: a recursive walk is exactly what deep input is built to break.
    stack: list[tuple[Any, int, int, str]] = [(data, 0, MAX_STRING_LENGTH, "")]
    while stack:
        value, depth, limit, name = stack.pop()
        if isinstance(value, str):
            # Passwords are bounded everywhere: an imported one is hashed too.
            _check_string(value, limit if strings or limit == MAX_PASSWORD_LENGTH else None, name)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise BadRequest(f"The request body is nested deeper than {MAX_DEPTH} levels.")
            if isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(key, str):
                        _check_string(key, MAX_TRAIT_LENGTH if strings else None, "a key")
                    stack.append((item, depth + 1, _limit_for(key, limit), str(key)))
            else:
                stack.extend((item, depth + 1, limit, name) for item in value)
    return data


def _limit_for(key: Any, inherited: int) -> int:
    if key in _PASSWORD_KEYS:
        return MAX_PASSWORD_LENGTH
    if key in _TRAIT_KEYS:
        return min(inherited, MAX_TRAIT_LENGTH)
    return inherited


def _check_string(value: str, limit: int | None, name: str) -> None:
    if "\x00" in value:
        raise BadRequest(f"The field {name or 'value'!r} contains a NUL character, which is not allowed.")
    if limit is not None and len(value) > limit:
        raise BadRequest(f"The field {name or 'value'!r} is longer than the allowed {limit} characters.")
