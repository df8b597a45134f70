"""Tests for return_to allow-listing."""

from __future__ import annotations

import pytest

from kratos_core.errors import BadRequest
from kratos_core.flows.return_to import ReturnToPolicy

PUBLIC = "https://auth.example.org/"
DEFAULT = "https://app.example.org/welcome"
ALLOWED = [
    "https://app.example.org/",
    "https://shop.example.org/app",
    "https://*.tenants.example.com",
    "http://localhost:3000/",
    "https://ports.example.org:8443/",
    "com.example.native:/callback",
    "myapp://auth/done",
    "https://*",  # ignored unless insecure wildcards are allowed
]


@pytest.fixture
def policy() -> ReturnToPolicy:
    return ReturnToPolicy(ALLOWED, PUBLIC, DEFAULT)


@pytest.mark.parametrize(
    ("return_to", "expected"),
    [
        ("https://app.example.org/", "https://app.example.org/"),
        ("https://app.example.org", "https://app.example.org"),
        ("https://app.example.org/dashboard?x=1#top", "https://app.example.org/dashboard?x=1#top"),
        ("HTTPS://APP.Example.ORG/x", "HTTPS://APP.Example.ORG/x"),
        ("https://app.example.org:443/x", "https://app.example.org:443/x"),
        ("  https://app.example.org/x  ", "https://app.example.org/x"),
        # relative -> scheme and host of the default return URL
        ("/dashboard", "https://app.example.org/dashboard"),
        ("/dashboard?next=%2Fx", "https://app.example.org/dashboard?next=%2Fx"),
        # path prefixes
        ("https://shop.example.org/app", "https://shop.example.org/app"),
        ("https://shop.example.org/app/", "https://shop.example.org/app/"),
        ("https://shop.example.org/app/cart?id=1", "https://shop.example.org/app/cart?id=1"),
        # wildcard subdomains
        ("https://a.tenants.example.com/", "https://a.tenants.example.com/"),
        ("https://x.y.TENANTS.example.com/z", "https://x.y.TENANTS.example.com/z"),
        # ports
        ("http://localhost:3000/cb", "http://localhost:3000/cb"),
        ("https://ports.example.org:8443/p", "https://ports.example.org:8443/p"),
        # {public}/self-service is always allowed
        (
            "https://auth.example.org/self-service/login/browser",
            "https://auth.example.org/self-service/login/browser",
        ),
        ("https://auth.example.org/self-service", "https://auth.example.org/self-service"),
        # native apps
        ("com.example.native:/callback/x", "com.example.native:/callback/x"),
        ("myapp://auth/done?code=1", "myapp://auth/done?code=1"),
        # Unicode host mapped through IDNA like a browser would (full-width dots)
        ("https://app\uff0eexample\uff0eorg/", "https://app\uff0eexample\uff0eorg/"),
    ],
)
def test_allowed(policy: ReturnToPolicy, return_to: str, expected: str) -> None:
    assert policy.check(return_to) == expected
    assert policy.is_allowed(return_to)


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.com/",
        "http://app.example.org/",  # scheme differs
        "https://app.example.org.evil.com/",
        "https://evilapp.example.org/",
        # path prefixes are segment-aware
        "https://shop.example.org/application",
        "https://shop.example.org/ap",
        "https://shop.example.org/",
        "https://shop.example.org/app/../admin",
        "https://shop.example.org/app/%2e%2e/admin",
        "https://shop.example.org/app/%2E%2E/admin",
        "https://shop.example.org/app/./x",
        "https://auth.example.org/self-services",
        "https://auth.example.org/sessions/whoami",
        # wildcards
        "https://tenants.example.com/",
        "https://eviltenants.example.com/",
        "https://evil-tenants.example.com/",
        "https://a.tenants.example.com.evil.org/",
        "https://a.tenants.example.com%2f.evil.org/",
        # ports
        "http://localhost/",
        "http://localhost:3001/",
        "https://app.example.org:8443/",
        "https://ports.example.org/",
        "https://app.example.org:99999/",
        "https://app.example.org:abc/",
        # scripting schemes
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "javascript://app.example.org/%0Aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        # schemeless / authority tricks
        "//evil.com",
        "//evil.com/app",
        "///evil.com",
        "https:evil.com",
        "https:/evil.com",
        "https:app.example.org",
        # backslashes
        "https:\\\\evil.com",
        "https:\\evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https://app.example.org\\@evil.com",
        "https://app.example.org/\\evil.com",
        # userinfo
        "https://app.example.org@evil.com",
        "https://app.example.org:443@evil.com/",
        "https://user:pass@app.example.org/",
        "https://evil.com#@app.example.org",
        "https://evil.com?@app.example.org",
        # control characters and spaces
        "https://app.example.org/\n",
        "java\tscript:alert(1)",
        "/\t/evil.com",
        "https://app.example.org/\x00",
        "https://app.example.org/a b",
        "https://app.example.org/\x7f",
        "\x01https://app.example.org/",
        # relative references that are not path-absolute
        "dashboard",
        "?x=1",
        "#frag",
        "app.example.org/",
        # malformed
        "https://[::1/",
        "https:///",
        "https://",
        "https://app..example.org/",
        "https://%61pp.example.org/",
        "myapp://other/done",
        "com.example.native:/elsewhere",
    ],
)
def test_refused(policy: ReturnToPolicy, return_to: str) -> None:
    with pytest.raises(BadRequest) as exc:
        policy.check(return_to)
    err = exc.value
    assert err.status_code == 400
    assert err.id == "self_service_flow_return_to_forbidden"
    assert err.reason is not None
    assert err.reason.startswith('Requested return_to URL "')
    assert err.reason.endswith('" is not allowed.')
    assert not policy.is_allowed(return_to)


def test_reason_names_the_resolved_url(policy: ReturnToPolicy) -> None:
    with pytest.raises(BadRequest) as exc:
        policy.check("/dashboard", base="https://other.example.org/")
    expected = 'Requested return_to URL "https://other.example.org/dashboard" is not allowed.'
    assert exc.value.reason == expected
    with pytest.raises(BadRequest) as exc:
        policy.check("https://evil.com/x")
    assert exc.value.reason == 'Requested return_to URL "https://evil.com/x" is not allowed.'


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_is_none(policy: ReturnToPolicy, value: str | None) -> None:
    assert policy.check(value) is None


def test_insecure_wildcards_only_when_enabled() -> None:
    strict = ReturnToPolicy(["https://*"], PUBLIC, DEFAULT)
    assert not strict.is_allowed("https://anything.example.net/")
    legacy = ReturnToPolicy(["https://*"], PUBLIC, DEFAULT, allow_insecure_wildcards=True)
    assert legacy.check("https://anything.example.net/x") == "https://anything.example.net/x"
    assert not legacy.is_allowed("http://anything.example.net/")  # scheme still matters

    suffix = ReturnToPolicy(["https://*example.org"], PUBLIC, DEFAULT)
    assert not suffix.is_allowed("https://evil-example.org/")
    legacy_suffix = ReturnToPolicy(
        ["https://*example.org"], PUBLIC, DEFAULT, allow_insecure_wildcards=True
    )
    assert legacy_suffix.is_allowed("https://evil-example.org/")


def test_wildcard_entry_with_path_and_port() -> None:
    policy = ReturnToPolicy(["https://*.example.net:8443/app"], PUBLIC, DEFAULT)
    assert policy.is_allowed("https://a.example.net:8443/app/x")
    assert not policy.is_allowed("https://a.example.net/app/x")
    assert not policy.is_allowed("https://a.example.net:8443/other")


def test_allow_list_path_with_trailing_slash() -> None:
    policy = ReturnToPolicy(["https://app.example.org/app/"], PUBLIC, DEFAULT)
    assert policy.is_allowed("https://app.example.org/app/x")
    assert not policy.is_allowed("https://app.example.org/application")


def test_public_base_url_without_trailing_slash() -> None:
    policy = ReturnToPolicy([], "https://auth.example.org", DEFAULT)
    assert policy.is_allowed("https://auth.example.org/self-service/login/browser")
    assert not policy.is_allowed("https://app.example.org/")


@pytest.mark.parametrize("entry", ["not a url", "/relative", "https://", "https://user@host/"])
def test_invalid_allow_list_entry_raises(entry: str) -> None:
    with pytest.raises(ValueError):
        ReturnToPolicy([entry], PUBLIC, DEFAULT)


def test_relative_default_return_url_raises() -> None:
    with pytest.raises(ValueError):
        ReturnToPolicy([], PUBLIC, "/welcome")


class TestResolve:
    def test_return_to_wins(self, policy: ReturnToPolicy) -> None:
        assert (
            policy.resolve("https://app.example.org/x", "https://app.example.org/method")
            == "https://app.example.org/x"
        )

    def test_fallback_order(self, policy: ReturnToPolicy) -> None:
        method = "https://app.example.org/after-password"
        after = "https://app.example.org/after"
        assert policy.resolve(None, method, after) == method
        assert policy.resolve("", None, after) == after
        assert policy.resolve(None, "", None) == DEFAULT
        assert policy.resolve(None) == DEFAULT

    def test_relative_uses_first_fallback_as_base(self) -> None:
        policy = ReturnToPolicy(["https://other.example.org/"], PUBLIC, DEFAULT)
        assert (
            policy.resolve("/x", "https://other.example.org/after")
            == "https://other.example.org/x"
        )

    def test_forbidden_return_to_raises_when_strict(self, policy: ReturnToPolicy) -> None:
        with pytest.raises(BadRequest):
            policy.resolve("https://evil.com/", "https://app.example.org/m")

    def test_forbidden_return_to_falls_back_when_lenient(self, policy: ReturnToPolicy) -> None:
        assert (
            policy.resolve("https://evil.com/", "https://app.example.org/m", strict=False)
            == "https://app.example.org/m"
        )
        assert policy.resolve("//evil.com", strict=False) == DEFAULT
