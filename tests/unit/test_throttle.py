"""The throttle service and the client address rule on their own (issue 15).

Parallel attempts run as concurrent tasks on the memory storage and on Redis: the count is
atomic, so no burst gets more attempts than a window holds.
"""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from litestar.datastructures import Headers

from kratos_core.config.model import RateLimits
from kratos_core.security import ClientAddressResolver, Throttle, ThrottleKeys, TooManyAttempts
from tests.conftest import require_or_skip
from tests.courier_helpers import REDIS_URL, redis_available


def request(peer: str, forwarded: list[str] = ()) -> Any:
    headers = Headers([(b"x-forwarded-for", value.encode()) for value in forwarded])
    return SimpleNamespace(client=SimpleNamespace(host=peer, port=1), headers=headers)


def limits(**kinds: Any) -> RateLimits:
    return msgspec.convert({"key_prefix": f"test-{uuid.uuid4().hex[:8]}", **kinds}, RateLimits)


# -- client addresses --------------------------------------------------------------------------


def test_the_peer_counts_without_trusted_proxies() -> None:
    resolve = ClientAddressResolver()
    assert resolve(request("203.0.113.5", ["10.0.0.1"])) == "203.0.113.5"


def test_forwarded_for_is_read_from_the_right_past_trusted_proxies() -> None:
    resolve = ClientAddressResolver(["10.0.0.0/8", "192.0.2.1"])
    # client, then two proxies of ours; a spoofed entry the client wrote itself comes first.
    forwarded = ["6.6.6.6, 198.51.100.7, 10.1.1.1"]
    assert resolve(request("192.0.2.1", forwarded)) == "198.51.100.7"
    assert resolve(request("192.0.2.1", ["198.51.100.7", "10.1.1.1"])) == "198.51.100.7"  # split headers
    assert resolve(request("203.0.113.5", forwarded)) == "203.0.113.5"  # not a proxy of ours
    assert resolve(request("192.0.2.1", [])) == "192.0.2.1"
    assert resolve(request("192.0.2.1", ["garbage, 10.2.2.2"])) == "10.2.2.2"


def test_ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    resolve = ClientAddressResolver()
    assert resolve(request("2001:db8:1:2:aaaa::1")) == resolve(request("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert resolve(request("::ffff:203.0.113.5")) == "203.0.113.5"
    assert resolve(request("testclient")) == "testclient"


def test_a_trusted_proxy_that_is_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match="proxy.example"):
        ClientAddressResolver(["proxy.example"])


# -- the service -------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        require_or_skip(redis_available())
        return REDIS_URL
    return "memory://"


async def test_attempts_past_a_window_are_refused_with_the_wait(storage_url: str) -> None:
    throttle = Throttle(limits(storage_url=storage_url, password={"address_and_identifier": ["3/hour"], "identifier": [], "address": []}))
    keys = throttle.keys(request("203.0.113.5"), " Jane@Example.org ")
    assert keys == ThrottleKeys(address="203.0.113.5", identifier="jane@example.org")
    for _ in range(3):
        await throttle.check("password", keys)
    with pytest.raises(TooManyAttempts) as refused:
        await throttle.check("password", keys)
    assert 3590 <= refused.value.retry_after <= 3600
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": str(refused.value.retry_after)}
    assert await throttle.locked("password", keys) >= 3590
    # Another address for the same identifier is a key of its own.
    await throttle.check("password", throttle.keys(request("198.51.100.7"), "jane@example.org"))
    await throttle.succeed("password", keys)
    await throttle.check("password", keys)  # the success forgot the account's window
    await throttle.close()
    assert await throttle.locked("password", keys) == 0


async def test_a_success_keeps_the_address_count(storage_url: str) -> None:
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    throttle = Throttle(limits(storage_url=storage_url, password={"address_and_identifier": [], "identifier": [], "address": ["2/hour"]}))
    keys = throttle.keys(request(address), "jane@example.org")
    await throttle.check("password", keys)
    await throttle.check("password", keys)
    await throttle.succeed("password", keys)
    with pytest.raises(TooManyAttempts):
        await throttle.check("password", keys)
    await throttle.unlock_address(address)
    await throttle.check("password", keys)
    await throttle.close()


async def test_unlock_forgets_an_identifier_from_every_address(storage_url: str) -> None:
    throttle = Throttle(limits(storage_url=storage_url, code={"address_and_identifier": ["1/day"], "identifier": ["2/day"], "address": []}))
    a, b, c = (throttle.keys(request(peer), "victim@example.org") for peer in ("10.0.0.1", "10.0.0.2", "10.0.0.3"))
    await throttle.check("code", a)
    await throttle.check("code", b)
    with pytest.raises(TooManyAttempts):
        await throttle.check("code", c)  # the identifier's window is full
    await throttle.unlock(["Victim@Example.org"])
    await throttle.check("code", a)  # a's own window, too, was forgotten
    await throttle.check("code", c)
    await throttle.close()


async def test_switched_off_counts_nothing() -> None:
    throttle = Throttle(limits(enabled=False, password={"address": ["1/hour"]}))
    keys = throttle.keys(request("203.0.113.5"), "x")
    for _ in range(5):
        await throttle.check("password", keys)


async def test_unknown_kinds_are_a_programming_error() -> None:
    throttle = Throttle(limits())
    with pytest.raises(KeyError, match="pin"):
        await throttle.check("pin", ThrottleKeys(address="x"))


async def test_parallel_attempts_get_no_more_than_a_window_holds(storage_url: str) -> None:
    config = limits(storage_url=storage_url, code={"address_and_identifier": ["5/hour"], "identifier": ["8/hour"], "address": []})
    throttles = [Throttle(config), Throttle(config)] if storage_url != "memory://" else [Throttle(config)]
    try:

        async def attempt(i: int) -> bool:
            throttle = throttles[i % len(throttles)]
            try:
                await throttle.check("code", throttle.keys(request(f"10.0.0.{i % 2}"), "victim@example.org"))
            except TooManyAttempts:
                return False
            return True

        results = await asyncio.gather(*(attempt(i) for i in range(40)))
        # 5 per address, 8 for the identifier whichever address: exactly 8 got through.
        assert sum(results) == 8
    finally:
        for throttle in throttles:
            await throttle.close()


def test_environment_overrides_reach_the_limits(tmp_path: Any) -> None:
    from kratos_core.app import build_app
    from tests.conftest import base_config, write_config

    path = write_config(tmp_path, base_config(tmp_path))
    env = {
        "SECURITY_RATE_LIMITS_STORAGE_URL": "redis://127.0.0.1:6379/3",
        "SECURITY_RATE_LIMITS_PASSWORD_ADDRESS": '["7/minute"]',
        "SECURITY_TRUSTED_PROXIES": "10.0.0.0/8",
    }
    config = build_app([str(path)], dev=True, autoload=False, env=env).config
    assert config.security.rate_limits.storage_url == "redis://127.0.0.1:6379/3"
    assert config.security.rate_limits.rule("password").address == ("7/minute",)
    assert config.security.rate_limits.rule("password").identifier == ("100/hour",)
    assert config.security.trusted_proxies == ("10.0.0.0/8",)


async def test_on_redis_a_check_and_a_success_are_one_round_trip_each() -> None:
    """The whole ladder (three scopes, several windows each) in one script call (issue 15)."""
    require_or_skip(redis_available())
    ladder = {"address_and_identifier": ["5/minute", "10/hour"], "identifier": ["20/hour", "50/day"], "address": ["30/hour", "100/day"]}
    throttle = Throttle(limits(storage_url=REDIS_URL, password=ladder))
    client = throttle.storage.bridge.storage
    calls: list[str] = []
    original = client.execute_command

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return await original(*args, **kwargs)

    client.execute_command = counting
    try:
        keys = throttle.keys(request("203.0.113.77"), f"{uuid.uuid4().hex}@example.org")
        await throttle.check("password", keys)  # loads the script (EVALSHA, then EVAL once)
        calls.clear()
        await throttle.check("password", keys)
        assert calls == ["EVALSHA"]
        calls.clear()
        await throttle.succeed("password", keys)
        assert len(calls) == 1 and calls[0] in ("EVALSHA", "EVAL")
        for _ in range(5):  # the success emptied the 5/minute window of this address and account
            await throttle.check("password", keys)
        calls.clear()
        with pytest.raises(TooManyAttempts) as refused:
            await throttle.check("password", keys)
        assert calls == ["EVALSHA"] and 55 <= refused.value.retry_after <= 60
    finally:
        client.execute_command = original
        await throttle.close()
