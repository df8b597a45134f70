"""Encryption at rest with ``secrets.cipher`` and ``ciphers.algorithm``, as Kratos spells it.

``aes`` is AES-256-GCM and ``xchacha20-poly1305`` is XChaCha20-Poly1305, both with a random
nonce in front of the ciphertext, hex encoded (Kratos's format); ``noop`` stores the text as it
is. The first ``secrets.cipher`` key encrypts, every key is tried to decrypt (key rotation).

``cryptography`` has no XChaCha20 construction, so the 24-byte-nonce variant is built from its
ChaCha20-Poly1305 the standard way (draft-irtf-cfrg-xchacha): HChaCha20 derives a sub-key from
the key and the first 16 nonce bytes; the last 8 nonce bytes, after four zero bytes, are the
ChaCha20-Poly1305 nonce.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

__all__ = ["Cipher", "CipherError", "hchacha20"]


class CipherError(Exception):
    """A stored value could not be decrypted with any configured key."""


def _rotl(v: int, n: int) -> int:
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """The HChaCha20 sub-key of a 32-byte key and a 16-byte nonce."""
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574, *struct.unpack("<8L", key), *struct.unpack("<4L", nonce16)]

    def quarter(a: int, b: int, c: int, d: int) -> None:
        s = state
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)
    return struct.pack("<8L", *state[0:4], *state[12:16])


class _XChaCha20Poly1305:
    NONCE = 24

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _inner(self, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
        return ChaCha20Poly1305(hchacha20(self._key, nonce[:16])), b"\0\0\0\0" + nonce[16:]

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        aead, inner = self._inner(nonce)
        return aead.encrypt(inner, data, aad)

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        aead, inner = self._inner(nonce)
        return aead.decrypt(inner, data, aad)


class _Aes:
    NONCE = 12

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        return self._aead.encrypt(nonce, data, aad)

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        return self._aead.decrypt(nonce, data, aad)


_ALGORITHMS = {"aes": _Aes, "xchacha20-poly1305": _XChaCha20Poly1305}


class Cipher:
    """Encrypts and decrypts short texts with the configured algorithm and keys.

    Args:
        algorithm: ``ciphers.algorithm`` (``noop``, ``aes``, ``xchacha20-poly1305``).
        keys: ``secrets.cipher``, newest first (32 characters each; the config checks that a
            key exists unless the algorithm is ``noop``).
    """

    def __init__(self, algorithm: str, keys: Sequence[str]) -> None:
        if algorithm != "noop" and algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown cipher algorithm {algorithm!r}")
        if algorithm != "noop" and not keys:
            raise ValueError(f"ciphers.algorithm {algorithm!r} needs secrets.cipher")
        self.algorithm = algorithm
        self._keys = [k.encode() for k in keys]

    def encrypt(self, text: str) -> str:
        """``text`` encrypted with the newest key (hex of nonce and ciphertext), or as is (noop)."""
        if self.algorithm == "noop":
            return text
        kind = _ALGORITHMS[self.algorithm]
        nonce = os.urandom(kind.NONCE)
        return (nonce + kind(self._keys[0]).encrypt(nonce, text.encode(), None)).hex()

    def decrypt(self, stored: str) -> str:
        """The text ``encrypt`` made, trying every key.

        Raises:
            CipherError: Not hex, or no key opens it (wrong keys, tampered value).
        """
        if self.algorithm == "noop":
            return stored
        kind = _ALGORITHMS[self.algorithm]
        try:
            raw = bytes.fromhex(stored)
        except ValueError:
            raise CipherError("the stored value is not encrypted with the configured cipher") from None
        if len(raw) < kind.NONCE + 16:  # nonce and authentication tag at least
            raise CipherError("the stored value is too short")
        nonce, data = raw[: kind.NONCE], raw[kind.NONCE :]
        for key in self._keys:
            try:
                return kind(key).decrypt(nonce, data, None).decode()
            except (InvalidTag, ValueError):
                continue
        raise CipherError("no key in secrets.cipher decrypts the stored value")
