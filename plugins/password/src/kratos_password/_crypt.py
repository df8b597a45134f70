"""Pure-Python Unix crypt schemes and MD4, for verifying imported hashes only.

Kratos accepts imported ``$md5-crypt$``, ``$sha256-crypt$`` and ``$sha512-crypt$`` hashes
(kratos-behaviour.md section 5.4). The stdlib ``crypt`` module is deprecated (PEP 594) and absent
on some builds, so the algorithms are implemented here from their published descriptions:
Poul-Henning Kamp's MD5-crypt and Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512".
``$hmac-md4$`` needs MD4, which OpenSSL 3 only ships in its legacy provider, so a small RFC 1320
implementation lives here too. Nothing in this module is used to create new hashes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence

__all__ = [
    "CRYPT64_ALPHABET",
    "MD4",
    "SHA_CRYPT_DEFAULT_ROUNDS",
    "SHA_CRYPT_MIN_ROUNDS",
    "md5_crypt_checksum",
    "sha_crypt_checksum",
]

#: The crypt(3) base64 alphabet (note: not the RFC 4648 order).
CRYPT64_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: Rounds used when a SHA-crypt hash has no ``rounds=`` field (Drepper's specification).
SHA_CRYPT_DEFAULT_ROUNDS = 5000
#: The specification clamps smaller ``rounds=`` values up to this.
SHA_CRYPT_MIN_ROUNDS = 1000

_MD5_MAGIC = b"$1$"
_MD5_ROUNDS = 1000

# Byte order of the final encoding: each triple becomes four crypt64 characters.
_MD5_ORDER: Sequence[tuple[int, int, int]] = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))
_SHA256_ORDER: Sequence[tuple[int, int, int]] = (
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29),
)  # fmt: skip
_SHA512_ORDER: Sequence[tuple[int, int, int]] = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)  # fmt: skip


def _b64_from_24bit(b2: int, b1: int, b0: int, n: int) -> str:
    """Encode up to three bytes as ``n`` crypt64 characters, least significant six bits first."""
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(CRYPT64_ALPHABET[w & 0x3F])
        w >>= 6
    return "".join(out)


def _encode(digest: bytes, order: Sequence[tuple[int, int, int]]) -> str:
    return "".join(_b64_from_24bit(digest[a], digest[b], digest[c], 4) for a, b, c in order)


def _repeat_to(block: bytes, length: int) -> bytes:
    """``block`` repeated and cut to exactly ``length`` bytes."""
    full, rest = divmod(length, len(block))
    return block * full + block[:rest]


def md5_crypt_checksum(password: bytes, salt: bytes) -> str:
    """The 22-character checksum of MD5-crypt (``$1$``) for ``password`` and ``salt``.

    Args:
        password: The candidate password.
        salt: The salt as stored (at most 8 bytes are used, as in the original).

    Returns:
        The checksum part of ``$1$<salt>$<checksum>``.
    """
    salt = salt[:8]
    final = hashlib.md5(password + salt + password).digest()
    ctx = hashlib.md5(password + _MD5_MAGIC + salt)
    ctx.update(_repeat_to(final, len(password)))
    i = len(password)
    while i:
        # The original C code adds the first byte of the (NUL-terminated) key buffer or a NUL.
        ctx.update(b"\x00" if i & 1 else password[:1])
        i >>= 1
    final = ctx.digest()
    for i in range(_MD5_ROUNDS):
        ctx = hashlib.md5(password if i & 1 else final)
        if i % 3:
            ctx.update(salt)
        if i % 7:
            ctx.update(password)
        ctx.update(final if i & 1 else password)
        final = ctx.digest()
    return _encode(final, _MD5_ORDER) + _b64_from_24bit(0, 0, final[11], 2)


def sha_crypt_checksum(password: bytes, salt: bytes, rounds: int, *, bits: int) -> str:
    """The checksum of SHA-crypt (``$5$`` for ``bits=256``, ``$6$`` for ``bits=512``).

    Args:
        password: The candidate password.
        salt: The salt as stored (at most 16 bytes are used, per the specification).
        rounds: The ``rounds=`` value (already bounds-checked by the caller; clamped up to 1000).
        bits: 256 or 512.

    Returns:
        The checksum part (43 characters for SHA-256, 86 for SHA-512).
    """
    new: Callable[..., hashlib._Hash] = hashlib.sha256 if bits == 256 else hashlib.sha512
    size = 32 if bits == 256 else 64
    salt = salt[:16]
    rounds = max(rounds, SHA_CRYPT_MIN_ROUNDS)

    b = new(password + salt + password).digest()
    ctx = new(password + salt)
    ctx.update(_repeat_to(b, len(password)))
    n = len(password)
    while n:
        ctx.update(b if n & 1 else password)
        n >>= 1
    a = ctx.digest()

    p_seq = _repeat_to(new(password * len(password)).digest(), len(password))
    s_seq = _repeat_to(new(salt * (16 + a[0])).digest(), len(salt))

    c = a
    for i in range(rounds):
        ctx = new(p_seq if i & 1 else c)
        if i % 3:
            ctx.update(s_seq)
        if i % 7:
            ctx.update(p_seq)
        ctx.update(c if i & 1 else p_seq)
        c = ctx.digest()

    if size == 32:
        return _encode(c, _SHA256_ORDER) + _b64_from_24bit(0, c[31], c[30], 3)
    return _encode(c, _SHA512_ORDER) + _b64_from_24bit(0, 0, c[63], 2)


# --- MD4 (RFC 1320) -------------------------------------------------------------------------------

_MASK = 0xFFFFFFFF


def _rotl(x: int, s: int) -> int:
    return ((x << s) | (x >> (32 - s))) & _MASK


def _md4_compress(state: list[int], block: bytes) -> None:
    x = struct.unpack("<16I", block)
    a, b, c, d = state

    def f(x_: int, y: int, z: int) -> int:
        return (x_ & y) | (~x_ & z)

    def g(x_: int, y: int, z: int) -> int:
        return (x_ & y) | (x_ & z) | (y & z)

    for i in range(16):  # round 1
        k, s = i, (3, 7, 11, 19)[i % 4]
        a, b, c, d = d, _rotl((a + f(b, c, d) + x[k]) & _MASK, s), b, c
    for i in range(16):  # round 2
        k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
        a, b, c, d = d, _rotl((a + g(b, c, d) + x[k] + 0x5A827999) & _MASK, s), b, c
    for i in range(16):  # round 3
        k = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i]
        s = (3, 9, 11, 15)[i % 4]
        a, b, c, d = d, _rotl((a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1) & _MASK, s), b, c
    for i, v in enumerate((a, b, c, d)):
        state[i] = (state[i] + v) & _MASK


class MD4:
    """A minimal hashlib-compatible MD4 object (usable as ``hmac.new(..., digestmod=MD4)``)."""

    digest_size = 16
    block_size = 64
    name = "md4"

    def __init__(self, data: bytes = b"") -> None:
        self._state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
        self._buffer = b""
        self._length = 0
        self.update(data)

    def update(self, data: bytes) -> None:
        """Absorb ``data``."""
        self._length += len(data)
        buf = self._buffer + bytes(data)
        whole = len(buf) - len(buf) % 64
        for off in range(0, whole, 64):
            _md4_compress(self._state, buf[off : off + 64])
        self._buffer = buf[whole:]

    def copy(self) -> MD4:
        """An independent copy of the current state."""
        other = MD4.__new__(MD4)
        other._state = list(self._state)
        other._buffer = self._buffer
        other._length = self._length
        return other

    def digest(self) -> bytes:
        """The 16-byte digest of everything absorbed so far (the object stays usable)."""
        tail = self._buffer + b"\x80" + b"\x00" * ((55 - len(self._buffer)) % 64)
        tail += struct.pack("<Q", (self._length * 8) & 0xFFFFFFFFFFFFFFFF)
        state = list(self._state)
        for off in range(0, len(tail), 64):
            _md4_compress(state, tail[off : off + 64])
        return struct.pack("<4I", *state)

    def hexdigest(self) -> str:
        """The digest as lower-case hex."""
        return self.digest().hex()
