"""Tests for JSON/HTML negotiation, AJAX detection and API-flow cookie screening."""

from __future__ import annotations

import pytest

from kratos_core.web.negotiation import (
    accepts_json,
    is_ajax,
    is_cloudflare_cookie,
    is_json_content_type,
    is_json_request,
    non_cloudflare_cookie_names,
)

CHROME_NAVIGATION = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX_NAVIGATION = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI_NAVIGATION = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
AXIOS = "application/json, text/plain, */*"


@pytest.mark.parametrize(
    ("accept", "content_type", "expected"),
    [
        # browsers navigating / posting forms
        (CHROME_NAVIGATION, None, False),
        (FIREFOX_NAVIGATION, "application/x-www-form-urlencoded", False),
        (SAFARI_NAVIGATION, None, False),
        # fetch() default and missing headers -> HTML
        ("*/*", None, False),
        (None, None, False),
        ("", None, False),
        ("text/*", None, False),
        ("text/html", None, False),
        # SPAs and SDKs
        ("application/json", None, True),
        (AXIOS, None, True),
        ("application/json, */*", None, True),
        ("application/json;q=0.9, text/html;q=0.8", None, True),
        ("text/html;q=0.5, application/json", None, True),
        ("APPLICATION/JSON", None, True),
        ("application/json; charset=utf-8", None, True),
        ("application/*", None, True),
        # q-values favouring HTML
        ("application/json;q=0.5, text/html", None, False),
        ("application/json;q=0.5, */*", None, False),
        ("application/json;q=0.8, text/*;q=0.9", None, False),
        # equal weight exact matches: the first offer (HTML) wins, as in Kratos
        ("application/json, text/html", None, False),
        ("text/html, application/json", None, False),
        # q=0 means "not acceptable"
        ("application/json;q=0, */*", None, False),
        ("text/html;q=0, application/json", None, True),
        # malformed elements are skipped
        ("application/json;q=abc, text/html", None, False),
        ("garbage, application/json", None, True),
        # Content-Type JSON always counts
        (CHROME_NAVIGATION, "application/json", True),
        (None, "application/json; charset=utf-8", True),
        (None, "Application/JSON", True),
        (None, "application/merge-patch+json", False),
        (None, "application/jsonx", False),
        (None, "text/json", False),
        (None, "multipart/form-data; boundary=x", False),
    ],
)
def test_is_json_request(accept: str | None, content_type: str | None, expected: bool) -> None:
    assert is_json_request(accept, content_type) is expected


def test_helpers() -> None:
    assert accepts_json("application/json")
    assert not accepts_json(None)
    assert is_json_content_type("application/json ;charset=UTF-8")
    assert not is_json_content_type(None)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("cors", True),
        ("same-origin", True),
        ("CORS", True),
        ("navigate", False),
        ("no-cors", False),
        ("websocket", False),
        ("", False),
        (None, False),
    ],
)
def test_is_ajax(mode: str | None, expected: bool) -> None:
    assert is_ajax(mode) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("__cf_bm", True),
        ("__cfduid", True),
        ("_cfuvid", True),
        ("cf_clearance", True),
        ("cf_ob_info", True),
        ("ory_kratos_session", False),
        ("csrf_token_abc", False),
        ("cfx", False),
        ("CF_clearance", False),
        ("x__cf", False),
    ],
)
def test_is_cloudflare_cookie(name: str, expected: bool) -> None:
    assert is_cloudflare_cookie(name) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("__cf_bm=abc; _cfuvid=def; cf_clearance=ghi", []),
        ("ory_kratos_session=abc", ["ory_kratos_session"]),
        (
            "__cf_bm=a; ory_kratos_session=b; csrf_token_x=c; cf_clearance=d",
            ["ory_kratos_session", "csrf_token_x"],
        ),
        ("  a=1 ;b=2;;  ", ["a", "b"]),
        ("flag", ["flag"]),
        ('q="quoted value"', ["q"]),
        ("bad name=1; good=2", ["good"]),
        ("=nameless", []),
    ],
)
def test_non_cloudflare_cookie_names(header: str | None, expected: list[str]) -> None:
    assert non_cloudflare_cookie_names(header) == expected
