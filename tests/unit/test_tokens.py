"""Tests for session and logout token generation and digests."""

from __future__ import annotations

import hashlib
import re
import string

import pytest

from kratos_core.session.tokens import (
    looks_like_logout_token,
    looks_like_session_token,
    new_alnum,
    new_logout_token,
    new_session_token,
    token_digest,
)

ALNUM = re.compile(r"[A-Za-z0-9]*")


def test_session_token_shape() -> None:
    token = new_session_token()
    assert token.startswith("ory_st_")
    assert len(token) == 39
    assert ALNUM.fullmatch(token[7:])
    assert looks_like_session_token(token)
    assert not looks_like_logout_token(token)


def test_logout_token_shape() -> None:
    token = new_logout_token()
    assert token.startswith("ory_lo_")
    assert len(token) == 39
    assert ALNUM.fullmatch(token[7:])
    assert looks_like_logout_token(token)
    assert not looks_like_session_token(token)


def test_tokens_are_unique() -> None:
    assert len({new_session_token() for _ in range(1000)}) == 1000
    assert len({new_logout_token() for _ in range(1000)}) == 1000


def test_alnum_uses_whole_alphabet() -> None:
    seen = set("".join(new_alnum(64) for _ in range(200)))
    assert seen == set(string.ascii_letters + string.digits)


@pytest.mark.parametrize("n", [0, 1, 16, 100])
def test_alnum_length(n: int) -> None:
    value = new_alnum(n)
    assert len(value) == n
    assert ALNUM.fullmatch(value)


def test_alnum_negative() -> None:
    with pytest.raises(ValueError):
        new_alnum(-1)


def test_digest_is_hex_sha256() -> None:
    token = new_session_token()
    assert token_digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", token_digest(token))
    assert token_digest(token) != token_digest(new_session_token())
    assert token not in token_digest(token)


@pytest.mark.parametrize(
    "value",
    [
        None,
        123,
        b"ory_st_" + b"a" * 32,
        "",
        "ory_st_",
        "ory_st_" + "a" * 31,
        "ory_st_" + "a" * 33,
        "ory_st_" + "a" * 31 + "-",
        "ory_st_" + "a" * 31 + "\u00e9",
        "ory_st_" + "a" * 31 + "\uff11",  # full-width digit: Unicode alnum, not ASCII
        "ORY_ST_" + "a" * 32,
        "a" * 39,
        "ory_st_" + "a" * 32 + "\n",
        "ory_lo_" + "a" * 32,
    ],
)
def test_looks_like_session_token_refuses_garbage(value: object) -> None:
    assert not looks_like_session_token(value)
