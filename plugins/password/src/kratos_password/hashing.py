"""Creating and checking password hashes (the ``hashers.*`` configuration, kratos-behaviour.md §9).

New passwords are hashed with Argon2id or bcrypt. Verification accepts every format of section
5.4 (see :mod:`kratos_password.formats`). Everything here is synchronous and CPU-bound; call it
through :class:`kratos_password.pool.HashPool` from async code.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Literal

import bcrypt
import msgspec
from argon2.low_level import Type, hash_secret

from kratos_password import formats
from kratos_password.errors import (
    HashBoundsError,
    HashFormatError,
    PasswordTooLongError,
    UnknownHashFormatError,
)
from kratos_password.formats import BCRYPT_MAX_PASSWORD_BYTES, identify

__all__ = [
    "BCRYPT_MAX_PASSWORD_BYTES",
    "HashBoundsError",
    "HashFormatError",
    "HasherSettings",
    "MAX_PASSWORD_BYTES",
    "PasswordTooLongError",
    "UnknownHashFormatError",
    "hash_password",
    "identify",
    "needs_rehash",
    "parse_byte_size",
    "validate_hash",
    "verify_password",
]

logger = logging.getLogger(__name__)

#: Our own cap on password length for every hasher (Kratos has none besides bcrypt's 72 bytes):
#: the policy rejects longer new passwords with 4000033, hash_password refuses them and
#: verify_password returns False for them, so a megabyte "password" never reaches a slow hasher.
MAX_PASSWORD_BYTES = 1024

#: bcrypt costs below this are raised to it unless in dev mode (Kratos ``hashers.bcrypt.cost``).
BCRYPT_MIN_PRODUCTION_COST = 12


class HasherSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How new password hashes are made (``hashers.*``).

    The defaults are our product defaults, not Kratos's: Argon2id with OWASP's minimum
    recommendation (19 MiB, 2 iterations, 1 lane) instead of Kratos's bcrypt/128 MB settings.
    Values are checked against the verification bounds so every hash we create also verifies.
    Frozen, hence hashable (the hash pool keys its dummy hashes by settings).
    """

    algorithm: Literal["argon2", "bcrypt"] = "argon2"
    """``hashers.algorithm``: the hasher for new passwords."""
    bcrypt_cost: int = 12
    """``hashers.bcrypt.cost``; raised to 12 unless ``dev`` (see :attr:`effective_bcrypt_cost`)."""
    argon2_memory_kib: int = 19_456
    """``hashers.argon2.memory`` in KiB."""
    argon2_iterations: int = 2
    """``hashers.argon2.iterations``."""
    argon2_parallelism: int = 1
    """``hashers.argon2.parallelism``."""
    argon2_salt_length: int = 16
    """``hashers.argon2.salt_length`` in bytes."""
    argon2_key_length: int = 32
    """``hashers.argon2.key_length`` in bytes."""
    dev: bool = False
    """Dev mode (``--dev``): allows bcrypt costs below 12, which keeps tests fast."""

    def __post_init__(self) -> None:
        if self.algorithm not in ("argon2", "bcrypt"):
            raise ValueError(f"algorithm must be 'argon2' or 'bcrypt', got {self.algorithm!r}")
        _check_range("bcrypt_cost", self.bcrypt_cost, formats.BCRYPT_MIN_COST, formats.BCRYPT_MAX_COST)
        _check_range("argon2_iterations", self.argon2_iterations, 1, formats.ARGON2_MAX_ITERATIONS)
        _check_range("argon2_parallelism", self.argon2_parallelism, 1, formats.ARGON2_MAX_PARALLELISM)
        _check_range(
            "argon2_memory_kib",
            self.argon2_memory_kib,
            8 * self.argon2_parallelism,
            formats.ARGON2_MAX_MEMORY_KIB,
        )
        _check_range("argon2_salt_length", self.argon2_salt_length, 8, 1024)
        _check_range("argon2_key_length", self.argon2_key_length, 4, formats.ARGON2_MAX_KEY_BYTES)

    @property
    def effective_bcrypt_cost(self) -> int:
        """The cost actually used: at least 12 outside dev mode, as Kratos enforces."""
        return self.bcrypt_cost if self.dev else max(self.bcrypt_cost, BCRYPT_MIN_PRODUCTION_COST)

    @property
    def memory_bytes(self) -> int:
        """Memory one hash with these settings needs (bcrypt's few KiB count as 0)."""
        return self.argon2_memory_kib * 1024 if self.algorithm == "argon2" else 0

    @classmethod
    def from_config(cls, hashers: Mapping[str, Any] | None, *, dev: bool = False) -> HasherSettings:
        """Build settings from the ``hashers`` config section; missing keys keep our defaults.

        Args:
            hashers: ``{"algorithm", "bcrypt": {"cost"}, "argon2": {"memory", "iterations",
                "parallelism", "salt_length", "key_length", ...}}``. ``memory`` is a byte size
                (``"128MB"`` or an int of bytes). Other keys (``expected_duration``,
                ``dedicated_memory`` ...) are ignored here.
            dev: Whether the server runs with ``--dev``.

        Returns:
            The settings.

        Raises:
            ValueError: A value is invalid or outside the verification bounds.
        """
        hashers = hashers or {}
        argon2 = hashers.get("argon2") or {}
        kwargs: dict[str, Any] = {"dev": dev}
        if "algorithm" in hashers:
            kwargs["algorithm"] = hashers["algorithm"]
        if "cost" in (hashers.get("bcrypt") or {}):
            kwargs["bcrypt_cost"] = hashers["bcrypt"]["cost"]
        if "memory" in argon2:
            kwargs["argon2_memory_kib"] = parse_byte_size(argon2["memory"]) // 1024
        for key in ("iterations", "parallelism", "salt_length", "key_length"):
            if key in argon2:
                kwargs[f"argon2_{key}"] = argon2[key]
        try:
            return msgspec.convert(kwargs, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from exc


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


_SIZE_RE = re.compile(r"\s*([0-9]+)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


def parse_byte_size(value: int | str) -> int:
    """Parse a Kratos byte size (``"128MB"``, ``"1GB"``, ``"512KiB"`` or an int) into bytes.

    Kratos's byte sizes use binary multiples (1 KB = 1024 B), so ``"128MB"`` is 134217728.

    Raises:
        ValueError: Not a byte size.
    """
    if isinstance(value, bool):
        raise ValueError("a byte size cannot be a boolean")
    if isinstance(value, int):
        return value
    match = _SIZE_RE.fullmatch(str(value))
    if match is None:
        raise ValueError(f"not a byte size: {value!r}")
    exponent = " KMGT".index(match.group(2).upper() or " ")
    return int(match.group(1)) * 1024**exponent


def _to_bytes(password: str | bytes) -> bytes:
    return password if isinstance(password, bytes) else password.encode("utf-8")


def hash_password(password: str, settings: HasherSettings) -> str:
    """Hash a new password with the configured algorithm.

    Args:
        password: The cleartext password.
        settings: The hasher settings.

    Returns:
        ``$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>`` or ``$2b$<cost>$...``.

    Raises:
        PasswordTooLongError: Over 72 bytes for bcrypt (never truncated, pitfall 5) or over
            :data:`MAX_PASSWORD_BYTES` for any hasher.
    """
    raw = _to_bytes(password)
    limit = BCRYPT_MAX_PASSWORD_BYTES if settings.algorithm == "bcrypt" else MAX_PASSWORD_BYTES
    if len(raw) > limit:
        raise PasswordTooLongError(limit, len(raw))
    if settings.algorithm == "bcrypt":
        salt = bcrypt.gensalt(rounds=settings.effective_bcrypt_cost, prefix=b"2b")
        return bcrypt.hashpw(raw, salt).decode("ascii")
    return hash_secret(
        raw,
        os.urandom(settings.argon2_salt_length),
        time_cost=settings.argon2_iterations,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        hash_len=settings.argon2_key_length,
        type=Type.ID,
        version=formats.ARGON2_VERSION,
    ).decode("ascii")


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the stored hash ``encoded``, in any accepted format.

    Never raises: unknown, malformed or out-of-bounds hashes simply do not match, and bounds are
    checked before any key derivation, so a hostile hash cannot make this slow.

    Args:
        password: The candidate password.
        encoded: The stored hash.

    Returns:
        True on a match.
    """
    try:
        parsed = formats.parse_hash(encoded)
    except HashFormatError as exc:
        logger.debug("unusable password hash: %s", exc.detail)
        return False
    try:
        raw = _to_bytes(password)
        if len(raw) > MAX_PASSWORD_BYTES:
            return False
        return parsed.verify(raw)
    except Exception:  # a library refusing odd input must not turn into a 500 on login
        logger.warning("verifying a %s hash failed", parsed.scheme, exc_info=True)
        return False


def validate_hash(encoded: str) -> None:
    """Check an imported hash (admin identity import) without verifying any password.

    Raises:
        UnknownHashFormatError: "The imported password does not match any known hash format."
        HashBoundsError: The hash's cost parameters exceed the allowed bounds.
    """
    formats.parse_hash(encoded)


def needs_rehash(encoded: str, settings: HasherSettings) -> bool:
    """Whether a hash that just verified should be replaced by a fresh one.

    True when it is not the configured algorithm (Kratos re-hashes such hashes after a
    successful login, section 5.4) or, for the configured algorithm, when its parameters differ
    from the settings (we also follow parameter changes). Unusable hashes need re-hashing too.
    """
    try:
        parsed = formats.parse_hash(encoded)
    except HashFormatError:
        return True
    if settings.algorithm == "bcrypt":
        return parsed.scheme != "bcrypt" or parsed.params["cost"] != settings.effective_bcrypt_cost
    wanted = {
        "m": settings.argon2_memory_kib,
        "t": settings.argon2_iterations,
        "p": settings.argon2_parallelism,
        "salt_length": settings.argon2_salt_length,
        "key_length": settings.argon2_key_length,
    }
    return parsed.scheme != "argon2id" or dict(parsed.params) != wanted
