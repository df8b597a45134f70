"""Creating hashes, the bcrypt length rules, settings and re-hash decisions."""

from __future__ import annotations

import re

import argon2
import bcrypt
import msgspec
import pytest
from kratos_password.hashing import (
    MAX_PASSWORD_BYTES,
    HasherSettings,
    PasswordTooLongError,
    hash_password,
    identify,
    needs_rehash,
    parse_byte_size,
    verify_password,
)

FAST_ARGON2 = HasherSettings(argon2_memory_kib=64, argon2_iterations=1, argon2_parallelism=1)
FAST_BCRYPT = HasherSettings(algorithm="bcrypt", bcrypt_cost=4, dev=True)


def test_product_defaults() -> None:
    settings = HasherSettings()
    assert settings.algorithm == "argon2"
    assert (settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism) == (
        19_456,
        2,
        1,
    )
    assert (settings.argon2_salt_length, settings.argon2_key_length) == (16, 32)
    assert settings.memory_bytes == 19_456 * 1024


def test_argon2id_encoding_verifies_with_the_reference_library() -> None:
    encoded = hash_password("s3cret ✓", HasherSettings())
    match = re.fullmatch(
        r"\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})", encoded
    )
    assert match, encoded  # 16-byte salt and 32-byte key, unpadded standard base64
    assert argon2.PasswordHasher().verify(encoded, "s3cret ✓")
    assert verify_password("s3cret ✓", encoded)
    assert not verify_password("s3cret", encoded)
    assert identify(encoded) == "argon2id"


def test_argon2_salts_differ() -> None:
    assert hash_password("same", FAST_ARGON2) != hash_password("same", FAST_ARGON2)


def test_argon2_custom_parameters() -> None:
    settings = HasherSettings(
        argon2_memory_kib=128, argon2_iterations=3, argon2_parallelism=2, argon2_salt_length=8,
        argon2_key_length=16,
    )  # fmt: skip
    encoded = hash_password("pw", settings)
    assert encoded.startswith("$argon2id$v=19$m=128,t=3,p=2$")
    assert argon2.PasswordHasher().verify(encoded, "pw")


def test_bcrypt_hash() -> None:
    encoded = hash_password("s3cret", FAST_BCRYPT)
    assert encoded.startswith("$2b$04$") and len(encoded) == 60
    assert bcrypt.checkpw(b"s3cret", encoded.encode())
    assert verify_password("s3cret", encoded)


def test_bcrypt_cost_raised_to_12_outside_dev() -> None:
    settings = HasherSettings(algorithm="bcrypt", bcrypt_cost=4)
    assert settings.effective_bcrypt_cost == 12
    assert hash_password("pw", settings).startswith("$2b$12$")
    assert HasherSettings(algorithm="bcrypt", bcrypt_cost=13).effective_bcrypt_cost == 13


def test_bcrypt_72_bytes_accepted_73_rejected() -> None:
    encoded = hash_password("a" * 72, FAST_BCRYPT)
    assert verify_password("a" * 72, encoded)
    with pytest.raises(PasswordTooLongError) as info:
        hash_password("a" * 73, FAST_BCRYPT)
    assert (info.value.max_length, info.value.actual_length) == (72, 73)
    assert not verify_password("a" * 73, encoded)  # no silent truncation


def test_bcrypt_length_counts_bytes() -> None:
    hash_password("€" * 24, FAST_BCRYPT)  # 72 bytes
    with pytest.raises(PasswordTooLongError) as info:
        hash_password("€" * 25, FAST_BCRYPT)  # 25 characters, 75 bytes
    assert info.value.actual_length == 75


def test_overall_password_cap() -> None:
    encoded = hash_password("x" * MAX_PASSWORD_BYTES, FAST_ARGON2)
    assert verify_password("x" * MAX_PASSWORD_BYTES, encoded)
    with pytest.raises(PasswordTooLongError) as info:
        hash_password("x" * (MAX_PASSWORD_BYTES + 1), FAST_ARGON2)
    assert info.value.max_length == MAX_PASSWORD_BYTES
    assert not verify_password("x" * (MAX_PASSWORD_BYTES + 1), encoded)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithm": "scrypt"},
        {"bcrypt_cost": 3},
        {"bcrypt_cost": 16},  # would create hashes our own verifier refuses
        {"argon2_memory_kib": 1_048_577},
        {"argon2_memory_kib": 8, "argon2_parallelism": 2},
        {"argon2_iterations": 0},
        {"argon2_iterations": 11},
        {"argon2_parallelism": 17},
        {"argon2_salt_length": 4},
        {"argon2_key_length": 2},
    ],
)
def test_invalid_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        HasherSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_are_hashable() -> None:
    assert {HasherSettings(): 1}[HasherSettings()] == 1


def test_from_config() -> None:
    settings = HasherSettings.from_config(
        {
            "algorithm": "argon2",
            "argon2": {"memory": "128MB", "iterations": 1, "parallelism": 4, "dedicated_memory": "1GB"},
            "bcrypt": {"cost": 13},
        }
    )
    assert settings.argon2_memory_kib == 131_072
    assert (settings.argon2_iterations, settings.argon2_parallelism, settings.bcrypt_cost) == (1, 4, 13)
    assert settings.argon2_salt_length == 16  # absent keys keep our defaults
    assert HasherSettings.from_config(None, dev=True) == HasherSettings(dev=True)
    with pytest.raises(ValueError):
        HasherSettings.from_config({"bcrypt": {"cost": 40}})
    with pytest.raises(ValueError):
        HasherSettings.from_config({"algorithm": "md5"})
    with pytest.raises(ValueError):
        msgspec.convert({"unknown": 1}, HasherSettings)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("128MB", 128 * 1024**2), ("1GB", 1024**3), ("512KiB", 512 * 1024), ("64 kb", 65536), ("10B", 10)],
)
def test_parse_byte_size(value: int | str, expected: int) -> None:
    assert parse_byte_size(value) == expected


@pytest.mark.parametrize("value", ["", "MB", "1.5GB", "-1KB", True])
def test_parse_byte_size_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_byte_size(value)  # type: ignore[arg-type]


def test_needs_rehash_argon2() -> None:
    current = hash_password("pw", FAST_ARGON2)
    assert not needs_rehash(current, FAST_ARGON2)
    for change in (
        {"argon2_memory_kib": 128},
        {"argon2_iterations": 2},
        {"argon2_parallelism": 2},
        {"argon2_salt_length": 32},
        {"argon2_key_length": 64},
    ):
        assert needs_rehash(current, msgspec.structs.replace(FAST_ARGON2, **change)), change
    argon2i = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=argon2.Type.I)
    assert needs_rehash(argon2i.hash("pw"), FAST_ARGON2)
    assert needs_rehash(hash_password("pw", FAST_BCRYPT), FAST_ARGON2)
    assert needs_rehash("$md5$" + "A" * 22 + "==", FAST_ARGON2)
    assert needs_rehash("garbage", FAST_ARGON2)


def test_needs_rehash_bcrypt() -> None:
    current = hash_password("pw", FAST_BCRYPT)
    assert not needs_rehash(current, FAST_BCRYPT)
    assert needs_rehash(current, HasherSettings(algorithm="bcrypt", bcrypt_cost=5, dev=True))
    # Outside dev mode cost 4 is configured but 12 is what new hashes get.
    assert needs_rehash(current, HasherSettings(algorithm="bcrypt", bcrypt_cost=4))
    assert needs_rehash(hash_password("pw", FAST_ARGON2), FAST_BCRYPT)


@pytest.mark.parametrize("password", [None, 42, object()])
def test_verify_never_raises(password: object) -> None:
    encoded = hash_password("pw", FAST_ARGON2)
    assert verify_password(password, encoded) is False  # type: ignore[arg-type]


def test_verify_accepts_bytes() -> None:
    assert verify_password(b"pw", hash_password("pw", FAST_ARGON2))  # type: ignore[arg-type]
