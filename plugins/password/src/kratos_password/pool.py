"""Hashing off the event loop, with a bound on the memory that concurrent hashes use.

argon2-cffi, bcrypt and hashlib's PBKDF2/scrypt release the GIL, so a thread pool gives real
parallelism without blocking the loop. Argon2 and scrypt are memory-hard: 50 concurrent logins at
m = 128 MiB would need 6.4 GiB, so hashes wait for a share of a memory budget first (Kratos's
``hashers.argon2.dedicated_memory``, default 1 GB, serves the same purpose).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from kratos_core.api import hashing_queued
from kratos_password.formats import memory_cost
from kratos_password.hashing import HasherSettings, hash_password, verify_password

__all__ = ["DEFAULT_MEMORY_BUDGET_BYTES", "HashPool", "MemoryBudget"]

T = TypeVar("T")

#: Used when no budget is given; matches Kratos's ``hashers.argon2.dedicated_memory`` default.
DEFAULT_MEMORY_BUDGET_BYTES = 1024**3


class MemoryBudget:
    """A weighted, first-come-first-served async semaphore counting bytes.

    Like :class:`asyncio.Semaphore`, but each acquisition takes a number of bytes. A request
    larger than the whole budget still runs, alone, so a generous hash cannot deadlock. Waiters
    are served strictly in order so small requests cannot starve a large one.

    Args:
        budget: Bytes that may be in use at once.
    """

    def __init__(self, budget: int) -> None:
        if budget < 1:
            raise ValueError("the memory budget must be positive")
        self.budget = budget
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, amount: int) -> bool:
        return self.in_use == 0 or self.in_use + amount <= self.budget

    async def acquire(self, amount: int) -> None:
        """Wait until ``amount`` bytes fit, then take them."""
        if not self._waiters and self._fits(amount):
            self.in_use += amount
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((amount, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(amount)  # granted just before the cancellation arrived
            else:
                self._wake()  # a cancelled head of the queue may have blocked others
            raise

    def release(self, amount: int) -> None:
        """Give back ``amount`` bytes and admit waiters that now fit."""
        self.in_use -= amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            amount, waiter = self._waiters[0]
            if waiter.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self._fits(amount):
                return
            self._waiters.popleft()
            self.in_use += amount
            waiter.set_result(None)


def default_threads(env: dict[str, str] | None = None) -> int:
    """Hashing threads per process: ``KRATOS_HASH_THREADS``, else the cores this process may use
    divided among the server processes (``KRATOS_SERVE_WORKERS``, set by ``kratos serve
    --workers``), at least one."""
    env = os.environ if env is None else env
    explicit = env.get("KRATOS_HASH_THREADS", "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = env.get("KRATOS_SERVE_WORKERS", "").strip()
    processes = int(workers) if workers.isdigit() and int(workers) > 0 else 1
    return max(1, cores // processes)


class HashPool:
    """Runs hashing and verification in threads, within a memory budget.

    Args:
        max_workers: Threads; ``None`` means one per core. More threads than cores cannot compute
            more hashes (argon2 keeps a core busy), they only hold more memory in flight and
            thrash the caches; :class:`ThreadPoolExecutor`'s own default (cores + 4) did.
        memory_budget_bytes: Bytes that Argon2/scrypt hashes in flight may use together;
            ``None`` means :data:`DEFAULT_MEMORY_BUDGET_BYTES`. Each hash counts its own memory
            parameter (for verification: the stored hash's ``m``); bcrypt/PBKDF2 and the
            digest formats count as 0 and are limited only by ``max_workers``.
    """

    def __init__(self, max_workers: int | None = None, memory_budget_bytes: int | None = None) -> None:
        self.max_workers = max_workers or default_threads()
        self._executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="kratos-hash")
        self.memory = MemoryBudget(memory_budget_bytes or DEFAULT_MEMORY_BUDGET_BYTES)
        self._dummies: dict[HasherSettings, str] = {}

    async def _run(self, memory: int, fn: Callable[..., T], *args: object) -> T:
        if memory > 0:
            await self.memory.acquire(memory)
        started = hashing_queued()  # queue depth and wait on /metrics/prometheus

        def work() -> T:
            started()
            return fn(*args)

        try:
            future: Future[T] = self._executor.submit(work)
        except BaseException:
            started()
            if memory > 0:
                self.memory.release(memory)
            raise
        if memory > 0:
            # Release when the *thread* is done, not when the awaiting task is: a cancelled
            # request's hash keeps using its memory until the computation finishes.
            loop = asyncio.get_running_loop()
            future.add_done_callback(lambda _: _call_soon(loop, self.memory.release, memory))
        return await asyncio.wrap_future(future)

    async def hash(self, password: str, settings: HasherSettings) -> str:
        """:func:`kratos_password.hashing.hash_password` in a thread.

        Raises:
            PasswordTooLongError: As ``hash_password``.
        """
        return await self._run(settings.memory_bytes, hash_password, password, settings)

    async def verify(self, password: str, encoded: str) -> bool:
        """:func:`kratos_password.hashing.verify_password` in a thread; never raises."""
        return await self._run(memory_cost(encoded), verify_password, password, encoded)

    async def dummy_hash(self, settings: HasherSettings) -> str:
        """The dummy hash for ``settings`` (made on first use, then cached)."""
        encoded = self._dummies.get(settings)
        if encoded is None:
            encoded = await self.hash(secrets.token_urlsafe(32), settings)
            encoded = self._dummies.setdefault(settings, encoded)
        return encoded

    async def warm_up(self, settings: HasherSettings) -> None:
        """Create the dummy hash now (e.g. at startup) so the first unknown login is not slower."""
        await self.dummy_hash(settings)

    async def verify_dummy(self, password: str, settings: HasherSettings) -> bool:
        """Spend the time of a real verification, for a login with an unknown identifier.

        Kratos makes "no such identity" indistinguishable in time from "wrong password"
        (pitfall 3); verifying against a hash of the configured algorithm and parameters does
        that exactly. Always returns False.
        """
        await self.verify(password, await self.dummy_hash(settings))
        return False

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads; queued work that has not started is cancelled."""
        self._executor.shutdown(wait=wait, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[int], None], arg: int) -> None:
    try:
        loop.call_soon_threadsafe(fn, arg)
    except RuntimeError:  # the loop is closed: nobody is left waiting for memory
        pass
