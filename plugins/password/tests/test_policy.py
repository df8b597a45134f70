"""The password policy: length in bytes, identifier similarity, breach check and its cache."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import msgspec
import pytest
from kratos_password.errors import BreachCheckUnavailable, PolicyViolation
from kratos_password.policy import (
    BreachCache,
    PasswordPolicyConfig,
    check_password,
    check_similarity,
    levenshtein,
    longest_common_substring,
)

OFFLINE = PasswordPolicyConfig(haveibeenpwned_enabled=False)
NO_CHECKS = PasswordPolicyConfig(haveibeenpwned_enabled=False, identifier_similarity_check_enabled=False)
BREACHED = "P@ssw0rd-breached"
SAFE = "unbreached-and-unusual-9f1c"


def sha1_parts(password: str) -> tuple[str, str]:
    digest = hashlib.sha1(password.encode()).hexdigest().upper()
    return digest[:5], digest[5:]


async def run(
    password: str,
    config: PasswordPolicyConfig = NO_CHECKS,
    *,
    identifiers: tuple[str, ...] = (),
    algorithm: str = "argon2",
    http: httpx.AsyncClient | None = None,
    cache: BreachCache | None = None,
) -> None:
    await check_password(
        password, identifiers, config, hasher_algorithm=algorithm, http=http, cache=cache
    )


async def violation(password: str, config: PasswordPolicyConfig = NO_CHECKS, **kwargs: object) -> dict:
    with pytest.raises(PolicyViolation) as info:
        await run(password, config, **kwargs)  # type: ignore[arg-type]
    return info.value.message.to_dict()


# --- Configuration ----------------------------------------------------------------------------


def test_config_defaults_and_strictness() -> None:
    config = msgspec.convert({}, PasswordPolicyConfig)
    assert config.min_password_length == 8
    assert config.identifier_similarity_check_enabled and config.haveibeenpwned_enabled
    assert config.haveibeenpwned_host == "api.pwnedpasswords.com"
    assert (config.max_breaches, config.ignore_network_errors, config.migrate_hook) == (0, True, None)
    hook = {"enabled": True, "config": {"url": "https://example.org/migrate"}}
    assert msgspec.convert({"migrate_hook": hook}, PasswordPolicyConfig).migrate_hook == hook
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"min_length": 8}, PasswordPolicyConfig)


# --- Length -----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 7])
async def test_too_short(length: int) -> None:
    message = await violation("a" * length)
    assert message == {
        "id": 4000032,
        "text": f"The password must be at least 8 characters long, but got {length}.",
        "type": "error",
        "context": {"min_length": 8, "actual_length": length},
    }


@pytest.mark.parametrize("length", [8, 72, 1024])
async def test_accepted_lengths(length: int) -> None:
    await run("a" * length)


async def test_overall_maximum_is_1024_bytes() -> None:
    message = await violation("a" * 1025)
    assert message["id"] == 4000033
    assert message["text"] == "The password must be at most 1024 characters long, but got 1025."
    assert message["context"] == {"max_length": 1024, "actual_length": 1025}


async def test_bcrypt_maximum_is_72_bytes() -> None:
    await run("a" * 72, algorithm="bcrypt")
    message = await violation("a" * 73, algorithm="bcrypt")
    assert message["id"] == 4000033
    assert message["context"] == {"max_length": 72, "actual_length": 73}


async def test_length_counts_utf8_bytes() -> None:
    await run("ä" * 4)  # 4 characters, 8 bytes: long enough
    message = await violation("ä" * 3)
    assert message["context"] == {"min_length": 8, "actual_length": 6}
    message = await violation("€" * 25, algorithm="bcrypt")  # 25 characters, 75 bytes
    assert message["context"] == {"max_length": 72, "actual_length": 75}
    message = await violation("€" * 342)  # 342 characters, 1026 bytes
    assert message["context"] == {"max_length": 1024, "actual_length": 1026}


async def test_custom_minimum() -> None:
    config = PasswordPolicyConfig(min_password_length=12, haveibeenpwned_enabled=False)
    assert (await violation("a1b2c3d4e5f", config))["context"]["min_length"] == 12


# --- Similarity -------------------------------------------------------------------------------


def test_distance_helpers() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert longest_common_substring("johnsmith", "xxjohnsmyy") == 6
    assert longest_common_substring("abc", "xyz") == 0


@pytest.mark.parametrize(
    ("identifier", "password"),
    [
        ("alice@example.com", "alice@example.com"),
        ("alice@example.com", "alice@example.com12"),  # distance 2
        ("Alice@Example.COM", "ALICE@example.org!"),  # compared lower-cased
        ("johnsmith", "johnsmith2024!x"),  # common substring 9 of 15 characters
        ("jane.doe@example.org", "Jane.Doe-1987"),  # "jane.doe" is 8 of 13 characters
    ],
)
async def test_too_similar(identifier: str, password: str) -> None:
    message = await violation(password, OFFLINE, identifiers=(identifier,))
    assert message == {
        "id": 4000031,
        "text": "The password can not be used because it is too similar to the identifier.",
        "type": "error",
    }


@pytest.mark.parametrize(
    ("identifier", "password"),
    [
        ("alice@example.com", "correct horse battery staple"),
        ("johnsmith", "john-loves-pancakes"),  # "john" is only 4 of 19 characters
        ("+4915112345678", "Tr0ub4dor&3-xyz"),
    ],
)
async def test_not_similar(identifier: str, password: str) -> None:
    await run(password, OFFLINE, identifiers=(identifier,))


async def test_every_identifier_is_checked() -> None:
    identifiers = ("alice@example.com", "alice-the-great")
    assert (await violation("alice-the-great1", OFFLINE, identifiers=identifiers))["id"] == 4000031


def test_similarity_skipped_for_long_strings() -> None:
    long_identifier = "a" * 257
    check_similarity("a" * 256, long_identifier)  # identifier over 256 bytes: not compared
    check_similarity("a" * 257, "a" * 250)  # password over 256 bytes: not compared
    check_similarity("ä" * 130, "ä" * 130)  # 260 bytes each, though only 130 characters
    with pytest.raises(PolicyViolation):
        check_similarity("a" * 256, "a" * 256)


async def test_similarity_can_be_disabled() -> None:
    await run("alice@example.com", NO_CHECKS, identifiers=("alice@example.com",))


async def test_length_is_checked_before_similarity() -> None:
    message = await violation("alice", OFFLINE, identifiers=("alice",))
    assert message["id"] == 4000032


# --- Breach check -----------------------------------------------------------------------------


class RangeServer:
    """A local stand-in for the Have I Been Pwned range API (threaded http.server)."""

    def __init__(self) -> None:
        self.ranges: dict[str, str] = {}
        self.requests: list[str] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.requests.append(self.path)
                prefix = self.path.rsplit("/", 1)[-1]
                body = outer.ranges.get(prefix, "").encode()
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.closed = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def add(self, password: str, count: str | None) -> None:
        prefix, suffix = sha1_parts(password)
        line = suffix if count is None else f"{suffix}:{count}"
        self.ranges[prefix] = "\r\n".join(["0" * 35 + ":0", line, "F" * 35 + ":12"])

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[RangeServer]:
    instance = RangeServer()
    yield instance
    instance.close()


@pytest.fixture
async def http() -> Iterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def hibp(server: RangeServer, **overrides: object) -> PasswordPolicyConfig:
    return PasswordPolicyConfig(
        haveibeenpwned_host=server.host, identifier_similarity_check_enabled=False, **overrides
    )  # type: ignore[arg-type]


async def test_breached_password(server: RangeServer, http: httpx.AsyncClient) -> None:
    server.add(BREACHED, "3")
    message = await violation(BREACHED, hibp(server), http=http)
    assert message == {
        "id": 4000034,
        "text": "The password has been found in data breaches and must no longer be used.",
        "type": "error",
        "context": {"breaches": 3},
    }
    prefix, _ = sha1_parts(BREACHED)
    assert server.requests == [f"/range/{prefix}"]  # only the 5-character prefix leaves


async def test_unbreached_password(server: RangeServer, http: httpx.AsyncClient) -> None:
    server.add(BREACHED, "3")
    await run(SAFE, hibp(server), http=http)
    await run(SAFE, hibp(server), http=http)
    assert len(server.requests) == 2


async def test_max_breaches(server: RangeServer, http: httpx.AsyncClient) -> None:
    server.add(BREACHED, "5")
    await run(BREACHED, hibp(server, max_breaches=5), http=http)
    assert (await violation(BREACHED, hibp(server, max_breaches=4), http=http))["context"] == {
        "breaches": 5
    }


@pytest.mark.parametrize(("count", "expected"), [("1,234", 1234), (None, 1), (" 7 ", 7)])
async def test_count_formats(
    server: RangeServer, http: httpx.AsyncClient, count: str | None, expected: int
) -> None:
    server.add(BREACHED, count)
    message = await violation(BREACHED, hibp(server), http=http)
    assert message["context"] == {"breaches": expected}


async def test_lower_case_suffixes(http: httpx.AsyncClient) -> None:
    prefix, suffix = sha1_parts(BREACHED)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=f"{suffix.lower()}:2\n"))
    async with httpx.AsyncClient(transport=transport) as client:
        message = await violation(BREACHED, PasswordPolicyConfig(), http=client)
    assert message["context"] == {"breaches": 2}


async def test_default_host_and_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await run(SAFE, PasswordPolicyConfig(), http=client)
    prefix, _ = sha1_parts(SAFE)
    assert str(seen[0].url) == f"https://api.pwnedpasswords.com/range/{prefix}"
    assert seen[0].extensions["timeout"]["read"] == 1.0


async def test_cache_avoids_second_request(server: RangeServer, http: httpx.AsyncClient) -> None:
    server.add(BREACHED, "3")
    cache = BreachCache()
    for _ in range(2):
        assert (await violation(BREACHED, hibp(server), http=http, cache=cache))["id"] == 4000034
    assert len(server.requests) == 1
    server.close()  # even with the server gone the cached range answers
    config = hibp(server, ignore_network_errors=False)
    assert (await violation(BREACHED, config, http=http, cache=cache))["id"] == 4000034


async def test_cache_expires_after_an_hour(server: RangeServer, http: httpx.AsyncClient) -> None:
    server.add(BREACHED, "3")
    now = [1000.0]
    cache = BreachCache(clock=lambda: now[0])
    await violation(BREACHED, hibp(server), http=http, cache=cache)
    now[0] += 3599
    await violation(BREACHED, hibp(server), http=http, cache=cache)
    assert len(server.requests) == 1
    now[0] += 2
    await violation(BREACHED, hibp(server), http=http, cache=cache)
    assert len(server.requests) == 2


def test_cache_is_bounded() -> None:
    cache = BreachCache(max_entries=2)
    cache.put("AAAAA", {"X": 1})
    cache.put("BBBBB", {"Y": 1})
    assert cache.get("AAAAA") == {"X": 1}  # now the most recently used
    cache.put("CCCCC", {"Z": 1})
    assert len(cache) == 2
    assert cache.get("BBBBB") is None
    assert cache.get("AAAAA") is not None and cache.get("CCCCC") is not None
    cache.clear()
    assert len(cache) == 0


def failing(exc: Exception | None = None, status: int = 500) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if exc is not None:
            raise exc
        return httpx.Response(status, text="oops")

    return handler


@pytest.mark.parametrize(
    "handler",
    [
        failing(httpx.ConnectError("refused")),
        failing(httpx.ReadTimeout("slow")),
        failing(status=500),
        failing(status=429),
    ],
)
async def test_network_errors(handler: Callable[[httpx.Request], httpx.Response]) -> None:
    cache = BreachCache()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await run(BREACHED, PasswordPolicyConfig(), http=client, cache=cache)  # ignored
        with pytest.raises(BreachCheckUnavailable) as info:
            await run(
                BREACHED, PasswordPolicyConfig(ignore_network_errors=False), http=client, cache=cache
            )
    assert info.value.status_code == 502
    assert len(cache) == 0  # failures are not cached


async def test_unreachable_real_server(http: httpx.AsyncClient, server: RangeServer) -> None:
    server.close()
    await run(SAFE, hibp(server), http=http)
    with pytest.raises(BreachCheckUnavailable):
        await run(SAFE, hibp(server, ignore_network_errors=False), http=http)


async def test_breach_check_runs_last(server: RangeServer, http: httpx.AsyncClient) -> None:
    await violation("short", hibp(server), http=http)
    assert server.requests == []


async def test_breach_check_disabled_needs_no_client() -> None:
    await run(SAFE, OFFLINE, http=None)
    with pytest.raises(ValueError):
        await run(SAFE, PasswordPolicyConfig(), http=None)
