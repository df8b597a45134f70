"""Backup codes: making them, and storing them as keyed digests (never in plain text)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence

__all__ = ["COUNT", "LENGTH", "new_codes", "digest", "matches", "normalize"]

#: How many codes one regeneration makes, and how long each is (Kratos: 12 of 8).
COUNT = 12
LENGTH = 8
_ALPHABET = string.ascii_lowercase + string.digits


def new_codes() -> list[str]:
    """Twelve new codes of eight lower-case letters and digits."""
    return ["".join(secrets.choice(_ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]


def normalize(value: str) -> str:
    """What a user typed, as codes are made: no surrounding blanks, lower case."""
    return value.strip().lower()


def digest(key: str, code: str) -> str:
    """HMAC-SHA256 of ``code`` under ``key``, hex."""
    return hmac.new(key.encode(), code.encode(), hashlib.sha256).hexdigest()


def matches(keys: Sequence[str], stored: str, code: str) -> bool:
    """Whether ``stored`` is the digest of ``code`` under any of ``keys`` (key rotation)."""
    return any(hmac.compare_digest(digest(key, code), stored) for key in keys)
