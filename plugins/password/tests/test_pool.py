"""The hash pool: results, memory-bounded concurrency, dummy verification."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import argon2
import pytest
from kratos_password import pool as pool_module
from kratos_password.hashing import HasherSettings, PasswordTooLongError, verify_password
from kratos_password.pool import HashPool, MemoryBudget

ARGON2_1MIB = HasherSettings(argon2_memory_kib=1024, argon2_iterations=1, argon2_parallelism=1)
BCRYPT = HasherSettings(algorithm="bcrypt", bcrypt_cost=4, dev=True)


@pytest.fixture
def hash_pool() -> Iterator[HashPool]:
    pool = HashPool(max_workers=4)
    yield pool
    pool.shutdown()


class InFlight:
    """Wraps a function to record how many calls run at the same time."""

    def __init__(self, fn: Callable[..., object], delay: float = 0.05) -> None:
        self.fn, self.delay = fn, delay
        self.current = self.peak = self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *args: object) -> object:
        with self._lock:
            self.current += 1
            self.calls += 1
            self.peak = max(self.peak, self.current)
        try:
            time.sleep(self.delay)
            return self.fn(*args)
        finally:
            with self._lock:
                self.current -= 1


async def test_hash_and_verify(hash_pool: HashPool) -> None:
    encoded = await hash_pool.hash("pw", ARGON2_1MIB)
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await hash_pool.verify("pw", encoded) is True
    assert await hash_pool.verify("wrong", encoded) is False
    assert await hash_pool.verify("pw", "garbage") is False


async def test_hash_errors_propagate(hash_pool: HashPool) -> None:
    with pytest.raises(PasswordTooLongError):
        await hash_pool.hash("x" * 73, BCRYPT)
    assert hash_pool.memory.in_use == 0


async def test_tiny_budget_allows_one_argon2_hash_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = InFlight(pool_module.hash_password)
    monkeypatch.setattr(pool_module, "hash_password", probe)
    pool = HashPool(max_workers=4, memory_budget_bytes=1)
    try:
        results = await asyncio.gather(*(pool.hash(f"pw{i}", ARGON2_1MIB) for i in range(4)))
    finally:
        pool.shutdown()
    assert probe.calls == 4 and probe.peak == 1
    assert all(verify_password(f"pw{i}", r) for i, r in enumerate(results))


async def test_budget_of_two_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = InFlight(pool_module.hash_password)
    monkeypatch.setattr(pool_module, "hash_password", probe)
    pool = HashPool(max_workers=4, memory_budget_bytes=2 * 1024 * 1024)
    try:
        await asyncio.gather(*(pool.hash("pw", ARGON2_1MIB) for _ in range(6)))
    finally:
        pool.shutdown()
    assert probe.peak == 2
    assert pool.memory.in_use == 0


async def test_bcrypt_is_limited_only_by_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = InFlight(pool_module.hash_password)
    monkeypatch.setattr(pool_module, "hash_password", probe)
    pool = HashPool(max_workers=4, memory_budget_bytes=1)
    try:
        await asyncio.gather(*(pool.hash("pw", BCRYPT) for _ in range(4)))
    finally:
        pool.shutdown()
    assert probe.peak == 4


async def test_verification_uses_the_stored_hash_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    small = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("pw")
    large = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    probe = InFlight(pool_module.verify_password)
    monkeypatch.setattr(pool_module, "verify_password", probe)
    # Room for many 64 KiB hashes but only one 1 MiB hash at a time.
    pool = HashPool(max_workers=4, memory_budget_bytes=1536 * 1024)
    try:
        assert all(await asyncio.gather(*(pool.verify("pw", small) for _ in range(4))))
        assert probe.peak == 4
        probe.peak = 0
        assert all(await asyncio.gather(*(pool.verify("pw", large) for _ in range(3))))
        assert probe.peak == 1
    finally:
        pool.shutdown()


async def test_cancelled_request_keeps_memory_until_the_thread_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = InFlight(pool_module.hash_password, delay=0.2)
    monkeypatch.setattr(pool_module, "hash_password", probe)
    pool = HashPool(max_workers=2, memory_budget_bytes=1)
    try:
        first = asyncio.ensure_future(pool.hash("a", ARGON2_1MIB))
        await asyncio.sleep(0.05)
        first.cancel()
        await asyncio.sleep(0)
        assert pool.memory.in_use == ARGON2_1MIB.memory_bytes  # the thread is still running
        await pool.hash("b", ARGON2_1MIB)
        assert probe.peak == 1
        assert pool.memory.in_use == 0
    finally:
        pool.shutdown()


async def test_memory_budget_is_fifo_and_survives_cancellation() -> None:
    budget = MemoryBudget(10)
    await budget.acquire(6)
    order: list[str] = []

    async def take(name: str, amount: int) -> None:
        await budget.acquire(amount)
        order.append(name)

    big = asyncio.ensure_future(take("big", 8))
    cancelled = asyncio.ensure_future(take("cancelled", 1))
    small = asyncio.ensure_future(take("small", 2))
    await asyncio.sleep(0)
    assert order == []  # "small" would fit, but waits behind "big"
    cancelled.cancel()
    budget.release(6)
    await asyncio.gather(big, small, return_exceptions=True)
    assert order == ["big", "small"]
    assert budget.in_use == 10


async def test_oversized_request_runs_alone() -> None:
    budget = MemoryBudget(10)
    await budget.acquire(50)  # bigger than the budget: allowed because nothing else runs
    waiter = asyncio.ensure_future(budget.acquire(1))
    await asyncio.sleep(0)
    assert not waiter.done()
    budget.release(50)
    await waiter
    assert budget.in_use == 1


async def test_verify_dummy(hash_pool: HashPool) -> None:
    assert await hash_pool.verify_dummy("anything", ARGON2_1MIB) is False
    dummy = await hash_pool.dummy_hash(ARGON2_1MIB)
    assert dummy.startswith("$argon2id$v=19$m=1024,t=1,p=1$")  # configured algorithm and params
    assert await hash_pool.dummy_hash(ARGON2_1MIB) == dummy  # computed once
    await hash_pool.warm_up(BCRYPT)
    assert (await hash_pool.dummy_hash(BCRYPT)).startswith("$2b$04$")
    assert await hash_pool.verify_dummy("anything", BCRYPT) is False


async def test_verify_dummy_really_verifies(monkeypatch: pytest.MonkeyPatch, hash_pool: HashPool) -> None:
    await hash_pool.warm_up(ARGON2_1MIB)
    probe = InFlight(pool_module.verify_password, delay=0)
    monkeypatch.setattr(pool_module, "verify_password", probe)
    assert await hash_pool.verify_dummy("pw", ARGON2_1MIB) is False
    assert probe.calls == 1  # a real hash comparison, so the timing matches a real login


async def test_shutdown_rejects_new_work() -> None:
    pool = HashPool(max_workers=1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        await pool.hash("pw", BCRYPT)


async def test_hashes_are_counted_in_the_servers_hashing_metrics() -> None:
    """Each hash and verification passes the queue gauge and the wait histogram that
    /metrics/prometheus shows (kratos_hashing_queue_depth, kratos_hashing_wait_seconds)."""
    from prometheus_client.parser import text_string_to_metric_families

    from kratos_core.metrics import REGISTRY
    from prometheus_client import generate_latest

    def waits() -> float:
        text = generate_latest(REGISTRY).decode()
        for family in text_string_to_metric_families(text):
            if family.name == "kratos_hashing_wait_seconds":
                return next(s.value for s in family.samples if s.name.endswith("_count"))
        raise AssertionError("no hashing wait histogram")

    before = waits()
    hashes = HashPool(max_workers=1)
    try:
        encoded = await hashes.hash("a passphrase to count", ARGON2_1MIB)
        assert await hashes.verify("a passphrase to count", encoded)
    finally:
        hashes.shutdown()
    assert waits() == before + 2
