"""The session cookie value: encrypted and authenticated, with secret rotation.

Kratos stores the session token and the session's ``expires_at`` in a gorilla/securecookie value
keyed by ``secrets.cookie``; the first secret seals, all secrets open, and the value changes on each
issue (kratos-behaviour.md section 3.6). Byte compatibility with gorilla is not needed, so we use:

    value = base64url_nopad( 0x01 || nonce(12) || AES-256-GCM(key, nonce, plaintext, aad=0x01) )
    plaintext = expires_at as int64 big-endian microseconds since the epoch || session token UTF-8
    key = HKDF-SHA256(secret, salt=None, info="kratos_core session cookie v1", length=32)

AES-GCM rather than Fernet: one AEAD primitive instead of CBC + HMAC, a shorter cookie (29 bytes of
overhead vs. Fernet's 57 plus its own base64 layer), and the version byte is authenticated as
associated data. HKDF turns the human-chosen secret strings into uniform keys and separates them
from any other use of the same secrets. Random 96-bit nonces are safe far beyond the number of
cookies one key will ever seal.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["CookiePayload", "SessionCookieCodec", "MAX_COOKIE_VALUE_LENGTH"]

#: Browsers guarantee about 4096 bytes per cookie (name and attributes included); anything longer
#: is not ours and is refused before decoding.
MAX_COOKIE_VALUE_LENGTH = 3800

_VERSION = b"\x01"
_NONCE_LEN = 12
_TAG_LEN = 16
_TIME = struct.Struct(">q")
_HKDF_INFO = b"kratos_core session cookie v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_RAW_LEN = len(_VERSION) + _NONCE_LEN + _TIME.size + _TAG_LEN
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class CookiePayload:
    """What the session cookie carries.

    Attributes:
        session_token: The session token (``ory_st_...``).
        expires_at: The session's expiry as of issuing the cookie (timezone-aware, UTC). ``whoami``
            re-issues the cookie when the session now expires later (section 3.6).
    """

    session_token: str
    expires_at: datetime


def _derive_key(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    return AESGCM(key)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(value: str) -> bytes | None:
    """Strict base64url without padding; None for any non-canonical spelling.

    Lenient decoders ignore stray characters and unused trailing bits, which would let distinct
    strings decode to the same cookie; re-encoding and comparing rules that out.
    """
    if len(value) % 4 == 1 or not _B64URL.fullmatch(value):
        return None
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64encode(data) == value else None


def _to_micros(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive datetime would be read as local time by .timestamp(); refuse to guess.
        raise ValueError("expires_at must be timezone-aware")
    return (moment - _EPOCH) // timedelta(microseconds=1)


class SessionCookieCodec:
    """Seals and opens session cookie values.

    Args:
        secrets: ``secrets.cookie`` (falling back to ``secrets.default``); the first one encrypts,
            all of them decrypt, so a new secret can be prepended without logging anyone out.

    Raises:
        ValueError: If no secret, or an empty one, is given.
    """

    __slots__ = ("_sealer", "_openers")

    def __init__(self, secrets: Sequence[str]) -> None:
        if isinstance(secrets, str) or not secrets or not all(secrets):
            raise ValueError("at least one non-empty cookie secret is required")
        # Key derivation costs far more than a cookie operation; do it once.
        self._openers: tuple[AESGCM, ...] = tuple(_derive_key(s) for s in secrets)
        self._sealer = self._openers[0]

    def encode(self, session_token: str, expires_at: datetime) -> str:
        """Seal a cookie value; a fresh nonce makes every value different.

        Raises:
            ValueError: If ``expires_at`` is naive or the result would not fit in a cookie.
        """
        plaintext = _TIME.pack(_to_micros(expires_at)) + session_token.encode("utf-8")
        nonce = os.urandom(_NONCE_LEN)
        sealed = self._sealer.encrypt(nonce, plaintext, _VERSION)
        value = _b64encode(_VERSION + nonce + sealed)
        if len(value) > MAX_COOKIE_VALUE_LENGTH:
            raise ValueError("session token too long for a cookie")
        return value

    def decode(self, value: str | None) -> CookiePayload | None:
        """Open a cookie value; None for anything not sealed by one of our secrets. Never raises."""
        if not isinstance(value, str) or len(value) > MAX_COOKIE_VALUE_LENGTH:
            return None
        raw = _b64decode(value)
        if raw is None or len(raw) < _MIN_RAW_LEN or raw[:1] != _VERSION:
            return None
        nonce, sealed = raw[1 : 1 + _NONCE_LEN], raw[1 + _NONCE_LEN :]
        plaintext = self._open(nonce, sealed)
        if plaintext is None:
            return None
        return _payload(plaintext)

    def _open(self, nonce: bytes, sealed: bytes) -> bytes | None:
        for opener in self._openers:
            try:
                return opener.decrypt(nonce, sealed, _VERSION)
            except InvalidTag:
                continue
        return None


def _payload(plaintext: bytes) -> CookiePayload | None:
    # Authenticated data is ours, but stay total: a bug elsewhere must not turn into a 500 here.
    try:
        (micros,) = _TIME.unpack_from(plaintext)
        expires_at = _EPOCH + timedelta(microseconds=micros)
        token = plaintext[_TIME.size :].decode("utf-8")
    except (struct.error, OverflowError, UnicodeDecodeError):
        return None
    return CookiePayload(session_token=token, expires_at=expires_at)
