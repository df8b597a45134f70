"""kratos-password: the ``password`` credential method for kratos_core.

This package holds the pure building blocks: hashing and verification of every hash format
Kratos accepts (:mod:`.hashing`, :mod:`.formats`), a thread pool that hashes off the event loop
within a memory budget (:mod:`.pool`), and the password policy (:mod:`.policy`). The hook
implementations live in :mod:`kratos_password.plugin`, registered under the ``kratos`` entry point.
"""

from __future__ import annotations

from kratos_password.errors import (
    BreachCheckUnavailable,
    HashBoundsError,
    HashFormatError,
    PasswordTooLongError,
    PolicyViolation,
    UnknownHashFormatError,
)
from kratos_password.hashing import (
    MAX_PASSWORD_BYTES,
    HasherSettings,
    hash_password,
    identify,
    needs_rehash,
    parse_byte_size,
    validate_hash,
    verify_password,
)
from kratos_password.policy import BreachCache, PasswordPolicyConfig, check_password
from kratos_password.pool import HashPool

__version__ = "0.1.0"

__all__ = [
    "MAX_PASSWORD_BYTES",
    "BreachCache",
    "BreachCheckUnavailable",
    "HashBoundsError",
    "HashFormatError",
    "HashPool",
    "HasherSettings",
    "PasswordPolicyConfig",
    "PasswordTooLongError",
    "PolicyViolation",
    "UnknownHashFormatError",
    "__version__",
    "check_password",
    "hash_password",
    "identify",
    "needs_rehash",
    "parse_byte_size",
    "validate_hash",
    "verify_password",
]
