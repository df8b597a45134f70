"""CPU of this process per login's throttle calls on Redis (issue 15), in process.

Usage: .venv/bin/python bench/throttle_cost.py [--redis redis://127.0.0.1:6379/0 | memory://] [--n 2000]

A password login makes three calls: ``check("flow_creation")`` when its flow is created,
``check("password")`` before the verification and ``succeed("password")`` after it. This runs
those three against Redis with the default ladders (per-address ones raised as in ``run.py``), ``--n`` times, and prints the CPU
microseconds of this process (redis-py and our code; the Redis server's own CPU is not in it)
and the wall time per login, plus the Redis commands sent per login.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kratos_core.config.model import RateLimits  # noqa: E402
from kratos_core.security import Throttle  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    # As bench/run.py: the per-address ladders raised (one load generator), the rest default.
    raised = {"address": ["100000000/minute"]}
    config = msgspec.convert(
        {"storage_url": args.redis, "key_prefix": f"bench-{uuid.uuid4().hex[:8]}", "password": raised, "flow_creation": raised},
        RateLimits,
    )
    throttle = Throttle(config)
    bridge = getattr(throttle.storage, "bridge", None)  # None on memory://
    client = bridge.storage if bridge is not None else SimpleNamespace(execute_command=None)
    commands: list[str] = []
    original = client.execute_command

    async def counting(*a: Any, **kw: Any) -> Any:
        commands.append(str(a[0]))
        return await original(*a, **kw)

    if bridge is not None:
        client.execute_command = counting
    request = SimpleNamespace(client=SimpleNamespace(host="203.0.113.1", port=1), headers={})
    users = [f"user-{i}@example.org" for i in range(16)]

    async def one_login(i: int) -> None:
        await throttle.check("flow_creation", throttle.keys(request))
        keys = throttle.keys(request, users[i % len(users)])
        await throttle.check("password", keys)
        await throttle.succeed("password", keys)

    for i in range(50):
        await one_login(i)
    commands.clear()
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(args.n):
        await one_login(i)
    c1, w1 = time.process_time(), time.perf_counter()
    print(f"per login: {(c1 - c0) / args.n * 1e6:.0f} us CPU, {(w1 - w0) / args.n * 1e6:.0f} us wall, {len(commands) / args.n:.1f} Redis commands")
    client.execute_command = original
    await throttle.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--n", type=int, default=2000)
    uvloop.run(main(p.parse_args()))
