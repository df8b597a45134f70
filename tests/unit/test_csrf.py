"""Tests for the nosurf-style anti-CSRF primitives."""

from __future__ import annotations

import base64
import hashlib

import pytest

from kratos_core.errors import Forbidden
from kratos_core.flows import csrf
from kratos_core.flows.csrf import (
    check_flow_fetch,
    check_submit,
    csrf_cookie_name,
    is_valid_cookie_token,
    mask_token,
    new_csrf_token,
    tokens_match,
    unmask,
)

REASON = (
    "Please retry the flow and optionally clear your cookies. The request was rejected to protect "
    "you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking "
    "personal information, and other serious security issues."
)
MESSAGE = "the request was rejected to protect you from Cross-Site-Request-Forgery"


def test_cookie_name_is_sha256_of_base_url_as_configured() -> None:
    url = "https://auth.example.org/"
    expected = "csrf_token_" + hashlib.sha256(b"https://auth.example.org/").hexdigest()
    assert csrf_cookie_name(url) == expected
    # Not normalised: the trailing slash changes the name.
    assert csrf_cookie_name("https://auth.example.org") != expected


def test_new_token_is_base64_of_32_bytes_and_random() -> None:
    tokens = {new_csrf_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(base64.b64decode(token, validate=True)) == 32
        assert is_valid_cookie_token(token)


def test_masked_tokens_differ_per_call_and_all_match_cookie() -> None:
    cookie = new_csrf_token()
    masked = [mask_token(cookie) for _ in range(20)]
    assert len(set(masked)) == 20
    for m in masked:
        assert len(base64.b64decode(m, validate=True)) == 64
        assert unmask(m) == base64.b64decode(cookie)
        assert tokens_match(cookie, m)
        assert tokens_match(m, cookie)
    assert tokens_match(masked[0], masked[1])  # two renders of the same cookie token


def test_mask_layout_is_pad_then_xor() -> None:
    cookie = new_csrf_token()
    raw = base64.b64decode(cookie)
    data = base64.b64decode(mask_token(cookie))
    pad, masked = data[:32], data[32:]
    assert bytes(a ^ b for a, b in zip(pad, masked, strict=True)) == raw


def test_unmask_raw_token_is_identity() -> None:
    cookie = new_csrf_token()
    assert unmask(cookie) == base64.b64decode(cookie)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not base64!",
        base64.b64encode(b"x" * 31).decode(),
        base64.b64encode(b"x" * 33).decode(),
        base64.b64encode(b"x" * 63).decode(),
        base64.b64encode(b"x" * 65).decode(),
        base64.b64encode(b"x" * 128).decode(),
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # URL-safe alphabet is not accepted
        "é" * 44,
        "A" * 43 + "!",
    ],
)
def test_unmask_garbage_is_none(value: str | None) -> None:
    assert unmask(value) is None


def test_mask_token_rejects_non_raw_token() -> None:
    with pytest.raises(ValueError):
        mask_token(mask_token(new_csrf_token()))
    with pytest.raises(ValueError):
        mask_token("garbage")


def test_tokens_match_refuses_mismatch_and_missing() -> None:
    a, b = new_csrf_token(), new_csrf_token()
    assert not tokens_match(a, b)
    assert not tokens_match(a, mask_token(b))
    assert not tokens_match(a, None)
    assert not tokens_match(None, None)
    assert not tokens_match("", "")


def test_is_valid_cookie_token() -> None:
    assert not is_valid_cookie_token(None)
    assert not is_valid_cookie_token("")
    assert not is_valid_cookie_token(mask_token(new_csrf_token()))
    assert not is_valid_cookie_token("x" * 44)  # 44 chars without padding: 33 bytes


def test_check_submit_accepts_matching_tokens() -> None:
    cookie = new_csrf_token()
    check_submit(cookie, mask_token(cookie), cookie_header_present=True)
    check_submit(cookie, cookie, cookie_header_present=True, ajax=True)


def _assert_csrf_error(err: Forbidden, reject_reason: str) -> None:
    assert isinstance(err, Forbidden)
    assert err.status_code == 403
    assert err.id == "security_csrf_violation"
    assert err.reason == REASON
    assert err.message == MESSAGE
    assert err.details["reject_reason"] == reject_reason
    assert err.details["hint"]
    assert err.details["docs"]
    body = err.to_body()["error"]
    assert body["code"] == 403 and body["status"] == "Forbidden"


def test_check_submit_without_cookie_header() -> None:
    with pytest.raises(Forbidden) as exc:
        check_submit(None, mask_token(new_csrf_token()), cookie_header_present=False)
    _assert_csrf_error(exc.value, "The HTTP Cookie Header is empty or not set.")


def test_check_submit_cookie_header_without_csrf_cookie() -> None:
    with pytest.raises(Forbidden) as exc:
        check_submit(None, mask_token(new_csrf_token()), cookie_header_present=True)
    _assert_csrf_error(
        exc.value, "The HTTP Cookie Header was set but did not include the anti-CSRF cookie."
    )


@pytest.mark.parametrize(
    "body_token",
    [
        "other",  # filled below with a different token
        "garbage",
        base64.b64encode(b"y" * 48).decode(),
        "",
        None,
    ],
)
def test_check_submit_mismatch(body_token: str | None) -> None:
    cookie = new_csrf_token()
    if body_token == "other":
        body_token = mask_token(new_csrf_token())
    with pytest.raises(Forbidden) as exc:
        check_submit(cookie, body_token, cookie_header_present=True)
    err = exc.value
    assert err.details["reject_reason"].startswith(
        "The HTTP Cookie Header was set and a CSRF token was sent but they do not match."
    )
    _assert_csrf_error(err, err.details["reject_reason"])


def test_check_submit_garbage_cookie_is_mismatch() -> None:
    with pytest.raises(Forbidden) as exc:
        check_submit("garbage", mask_token(new_csrf_token()), cookie_header_present=True)
    assert exc.value.details["reject_reason"] == csrf.REJECT_MISMATCH


def test_hints_differ_for_missing_token_ajax_and_server_side() -> None:
    cookie = new_csrf_token()
    wrong = mask_token(new_csrf_token())
    hints = []
    for body_token, ajax in ((None, False), (wrong, True), (wrong, False)):
        with pytest.raises(Forbidden) as exc:
            check_submit(cookie, body_token, cookie_header_present=True, ajax=ajax)
        hints.append(exc.value.details["hint"])
    assert len(set(hints)) == 3
    assert "csrf_token" in hints[0] and "X-CSRF-Token" in hints[0]


def test_check_flow_fetch() -> None:
    cookie = new_csrf_token()
    stored = mask_token(cookie)
    check_flow_fetch(cookie, stored)

    with pytest.raises(Forbidden) as exc:
        check_flow_fetch(new_csrf_token(), stored)  # flow fetched from another browser
    _assert_csrf_error(exc.value, csrf.REJECT_MISMATCH)

    with pytest.raises(Forbidden) as exc:
        check_flow_fetch(None, stored)
    _assert_csrf_error(exc.value, csrf.REJECT_NO_COOKIE_HEADER)

    with pytest.raises(Forbidden) as exc:
        check_flow_fetch(None, stored, cookie_header_present=True)
    _assert_csrf_error(exc.value, csrf.REJECT_NO_CSRF_COOKIE)

    with pytest.raises(Forbidden):
        check_flow_fetch(cookie, None)
