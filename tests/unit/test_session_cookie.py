"""Tests for the encrypted session cookie codec."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kratos_core.session.cookie import CookiePayload, SessionCookieCodec

SECRET_OLD = "old-cookie-secret-0123456789"
SECRET_NEW = "new-cookie-secret-9876543210"
TOKEN = "ory_st_" + "A1b2C3d4" * 4
EXPIRES = datetime(2030, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)


@pytest.fixture
def codec() -> SessionCookieCodec:
    return SessionCookieCodec([SECRET_OLD])


def _raw(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _enc(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip(codec: SessionCookieCodec) -> None:
    value = codec.encode(TOKEN, EXPIRES)
    payload = codec.decode(value)
    assert payload == CookiePayload(session_token=TOKEN, expires_at=EXPIRES)
    assert payload is not None and payload.expires_at.utcoffset() == timedelta(0)


def test_value_is_cookie_safe_and_small(codec: SessionCookieCodec) -> None:
    value = codec.encode(TOKEN, EXPIRES)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value)
    assert len(value) < 200
    assert TOKEN not in value


def test_value_changes_every_issue(codec: SessionCookieCodec) -> None:
    values = {codec.encode(TOKEN, EXPIRES) for _ in range(50)}
    assert len(values) == 50
    assert all(codec.decode(v) == CookiePayload(TOKEN, EXPIRES) for v in values)


def test_non_utc_timezone_is_normalised(codec: SessionCookieCodec) -> None:
    local = EXPIRES.astimezone(timezone(timedelta(hours=5, minutes=30)))
    payload = codec.decode(codec.encode(TOKEN, local))
    assert payload is not None
    assert payload.expires_at == EXPIRES
    assert payload.expires_at.tzinfo == UTC


def test_naive_datetime_is_refused(codec: SessionCookieCodec) -> None:
    with pytest.raises(ValueError):
        codec.encode(TOKEN, datetime(2030, 1, 1))


def test_rotation() -> None:
    old = SessionCookieCodec([SECRET_OLD])
    rotated = SessionCookieCodec([SECRET_NEW, SECRET_OLD])
    new_only = SessionCookieCodec([SECRET_NEW])

    old_value = old.encode(TOKEN, EXPIRES)
    assert rotated.decode(old_value) == CookiePayload(TOKEN, EXPIRES)  # old still opens

    new_value = rotated.encode(TOKEN, EXPIRES)  # first secret seals
    assert new_only.decode(new_value) == CookiePayload(TOKEN, EXPIRES)
    assert old.decode(new_value) is None
    assert new_only.decode(old_value) is None  # old secret retired


def test_foreign_secret(codec: SessionCookieCodec) -> None:
    foreign = SessionCookieCodec(["someone-elses-secret-000000"])
    assert codec.decode(foreign.encode(TOKEN, EXPIRES)) is None


def test_every_single_bit_flip_is_detected(codec: SessionCookieCodec) -> None:
    raw = _raw(codec.encode(TOKEN, EXPIRES))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[i] ^= bit
            assert codec.decode(_enc(bytes(tampered))) is None


def test_every_character_change_is_detected(codec: SessionCookieCodec) -> None:
    value = codec.encode(TOKEN, EXPIRES)
    for i in range(len(value)):
        replacement = "A" if value[i] != "A" else "B"
        assert codec.decode(value[:i] + replacement + value[i + 1 :]) is None


def test_truncation_and_extension(codec: SessionCookieCodec) -> None:
    value = codec.encode(TOKEN, EXPIRES)
    for n in range(len(value)):
        assert codec.decode(value[:n]) is None
    assert codec.decode(value + "A") is None
    assert codec.decode(value + "AA") is None
    assert codec.decode(value + "=") is None
    assert codec.decode(value + "==") is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "A",
        "garbage",
        "!!!!",
        "not base64 at all",
        "é" * 40,
        "A" * 10_000,
        "A" * 100,
        "\x00" * 50,
        123,
    ],
)
def test_malformed_is_none(codec: SessionCookieCodec, value: object) -> None:
    assert codec.decode(value) is None  # type: ignore[arg-type]


def test_padded_or_standard_alphabet_variants_are_refused(codec: SessionCookieCodec) -> None:
    value = codec.encode(TOKEN, EXPIRES)
    std = base64.b64encode(_raw(value)).decode()
    if std.rstrip("=") != value:  # differs when "+"/"/" or padding appear
        assert codec.decode(std) is None


def test_wrong_version_byte_is_refused(codec: SessionCookieCodec) -> None:
    raw = bytearray(_raw(codec.encode(TOKEN, EXPIRES)))
    raw[0] = 0x02
    assert codec.decode(_enc(bytes(raw))) is None


@pytest.mark.parametrize("secrets", [[], [""], ["ok-secret-0123456789", ""], "a-plain-string"])
def test_invalid_secrets(secrets: object) -> None:
    with pytest.raises(ValueError):
        SessionCookieCodec(secrets)  # type: ignore[arg-type]


def test_oversized_token_is_refused(codec: SessionCookieCodec) -> None:
    with pytest.raises(ValueError):
        codec.encode("x" * 5000, EXPIRES)
