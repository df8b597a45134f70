"""Per-call cost of the hook facade (development aid; issue 9: hooks must cost ~nothing).

Usage: .venv/bin/python bench/hooks.py [--n 200000]

Prints nanoseconds per call of ``PluginHost.hooks`` for a hook without implementations, with
one sync and one async implementation, with a wrapper, and ``hooks.event`` without observers,
next to pluggy's own (non-awaiting) ``pm.hook.<name>()`` with one sync implementation.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Iterator

from kratos_core import hookimpl
from kratos_core.events import IdentityCreated
from kratos_core.plugins.manager import PluginHost

BUILTINS = ("kratos_core.builtin.profile", "kratos_core.builtin.actions", "kratos_core.courier.plugin")


class Sync:
    @hookimpl
    def kratos_login_before(self, flow: object) -> None:
        del flow


class Async:
    @hookimpl
    async def kratos_login_before(self, flow: object) -> None:
        del flow


class Wrapper:
    @hookimpl(wrapper=True)
    def kratos_login_before(self) -> Iterator[None]:
        return (yield)


async def per_call(fn, n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        await fn()
    return (time.perf_counter_ns() - start) / n


async def main(n: int) -> None:
    empty = PluginHost(autoload=False, blocked=BUILTINS).hooks
    sync = PluginHost(autoload=False, blocked=BUILTINS, plugins=[Sync()])
    coro = PluginHost(autoload=False, blocked=BUILTINS, plugins=[Async()]).hooks
    wrapped = PluginHost(autoload=False, blocked=BUILTINS, plugins=[Sync(), Wrapper()]).hooks
    payload = IdentityCreated(identity_id=uuid.uuid4(), source="admin")
    from kratos_core.plugins.hooks import _DONE

    rows = {
        "loop only (await a done awaitable)": lambda: _DONE,
        "no implementation": lambda: empty.login_before(flow=None, request=None),
        "one sync implementation": lambda: sync.hooks.login_before(flow=None, request=None),
        "one async implementation": lambda: coro.login_before(flow=None, request=None),
        "sync implementation + wrapper": lambda: wrapped.login_before(flow=None, request=None),
        "event, no observer": lambda: empty.event(payload=payload),
    }
    for label, fn in rows.items():
        print(f"{label:34} {await per_call(fn, n):8.0f} ns/call")
    start = time.perf_counter_ns()
    for _ in range(n):
        sync.pm.hook.kratos_login_before(flow=None, request=None)
    print(f"{'pluggy pm.hook (sync, for scale)':34} {(time.perf_counter_ns() - start) / n:8.0f} ns/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().n))
