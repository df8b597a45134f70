"""What throttling and the audit observer cost whoami and a login (issue 15), in process.

Usage: .venv/bin/python bench/observers.py [--dsn postgres://postgres@127.0.0.1:5432/kratos_obs]
                                         [--redis redis://127.0.0.1:6379/0] [--rounds 5]

Two apps on one PostgreSQL database, in this process, called through their ASGI apps (no HTTP
client in the way, as ``profile_hot.py``): "off" with ``security.rate_limits.enabled: false``
and ``security.audit.enabled: false``; "on" with throttling counted in Redis (the multi-process
setup, where each check is a network round trip) and the audit log on. Rounds alternate between
the two; each prints the CPU microseconds of this process per whoami and per login (init +
submit), the login measured with argon2 replaced by a constant (the overhead alone) and, once,
with real argon2 (the denominator of the percentage). Medians are printed at the end.

The metrics middleware is on in both (it cannot be switched off); its own cost per request is
measured separately at the end (the two ASGI hooks called directly).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import uvloop
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from profile_hot import call, login, register  # noqa: E402
from run import config_file, reset_database  # noqa: E402

from kratos_core.app import build_app  # noqa: E402


def variant(tmp: Path, dsn: str, name: str, security: dict) -> Path:
    path = config_file(tmp, dsn, 4433, 4434, name=f"{name}.yml")
    cfg = yaml.safe_load(path.read_text())
    cfg["security"] = {**cfg["security"], **security, "rate_limits": {**cfg["security"]["rate_limits"], **security.get("rate_limits", {})}}
    path.write_text(yaml.safe_dump(cfg))
    return path


async def cpu_per_call(n: int, op) -> float:
    c0 = time.process_time()
    for i in range(n):
        await op(i)
    return (time.process_time() - c0) / n * 1e6


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kratos-obs-"))
    await reset_database(args.dsn)
    prefix = f"kratos-bench-{uuid.uuid4().hex[:8]}"
    paths = {
        "off": variant(tmp, args.dsn, "off", {"rate_limits": {"enabled": False}, "audit": {"enabled": False}}),
        "on": variant(tmp, args.dsn, "on", {"rate_limits": {"storage_url": args.redis, "key_prefix": prefix}}),
    }
    if args.split:
        paths["throttle"] = variant(tmp, args.dsn, "throttle", {"rate_limits": {"storage_url": args.redis, "key_prefix": prefix}, "audit": {"enabled": False}})
        paths["audit"] = variant(tmp, args.dsn, "audit", {"rate_limits": {"enabled": False}})
    apps = {}
    for name, path in paths.items():
        apps[name] = build_app([str(path)], dev=False)
        await apps[name].start(migrate=True)
    password = "obs-Very-Secret-123"
    emails = [f"obs-{i}@example.org" for i in range(8)]
    tokens = [await register(apps["off"].public, e, password) for e in emails]

    from kratos_password.pool import HashPool

    real = HashPool.hash, HashPool.verify
    fixed = await HashPool().hash("x", apps["off"].plugins.methods.get("password").hasher)

    async def fake_hash(self, password, settings):
        return fixed

    async def fake_verify(self, password, encoded):
        return True

    def ops(app):
        async def whoami(i: int) -> None:
            status, _ = await call(app.public, "GET", "/sessions/whoami", {"X-Session-Token": tokens[i % len(tokens)]})
            assert status == 200

        async def log_in(i: int) -> None:
            await login(app.public, emails[i % len(emails)], password)

        return whoami, log_in

    # The denominator: a real login's CPU (argon2 included), on the "off" app.
    _, real_login = ops(apps["off"])
    for i in range(3):
        await real_login(i)
    real_cpu = await cpu_per_call(args.real_logins, real_login)
    print(f"real login (argon2): {real_cpu:.0f} us CPU")

    HashPool.hash, HashPool.verify = fake_hash, fake_verify
    results: dict[str, dict[str, list[float]]] = {n: {"whoami": [], "login": []} for n in apps}
    for app in apps.values():  # warm-up
        whoami, log_in = ops(app)
        for i in range(200):
            await whoami(i)
        for i in range(30):
            await log_in(i)
    for r in range(args.rounds):
        for name in (list(apps) if r % 2 == 0 else list(reversed(apps))):
            whoami, log_in = ops(apps[name])
            results[name]["whoami"].append(await cpu_per_call(args.whoamis, whoami))
            results[name]["login"].append(await cpu_per_call(args.logins, log_in))
        print(f"round {r + 1}: " + "  ".join(f"{n}: whoami {results[n]['whoami'][-1]:.0f} us, login {results[n]['login'][-1]:.0f} us" for n in apps))
    HashPool.hash, HashPool.verify = real

    med = {n: {k: statistics.median(v) for k, v in results[n].items()} for n in apps}
    login_extra = med["on"]["login"] - med["off"]["login"]
    print(f"whoami: off {med['off']['whoami']:.0f} us, on {med['on']['whoami']:.0f} us (difference {med['on']['whoami'] - med['off']['whoami']:+.0f} us)")
    for name in apps:
        if name not in ("off", "on"):
            print(f"{name} alone: login {med[name]['login'] - med['off']['login']:+.0f} us, whoami {med[name]['whoami'] - med['off']['whoami']:+.0f} us")
    print(f"login overhead: off {med['off']['login']:.0f} us, on {med['on']['login']:.0f} us (difference {login_extra:+.0f} us = {login_extra / real_cpu * 100:.2f}% of a real login)")

    # The metrics middleware's own cost per request (both ASGI hooks, no app behind them).
    from kratos_core.web.observability import observe_requests, record_response

    async def nothing(scope, receive, send):
        return None

    wrapped = observe_requests(nothing)
    state_app = apps["off"].public
    scope = {"type": "http", "method": "GET", "path_template": "/sessions/whoami", "app": state_app}
    start, body = {"type": "http.response.start", "status": 200}, {"type": "http.response.body", "body": b"", "more_body": False}
    n = 20000
    c0 = time.process_time()
    for _ in range(n):
        await wrapped(scope, None, None)
        await record_response(start, scope)
        await record_response(body, scope)
    print(f"metrics per request: {(time.process_time() - c0) / n * 1e6:.1f} us CPU")
    for app in apps.values():
        await app.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", default="postgres://postgres@127.0.0.1:5432/kratos_obs")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--whoamis", type=int, default=2000)
    p.add_argument("--logins", type=int, default=200)
    p.add_argument("--real-logins", type=int, default=20)
    p.add_argument("--split", action="store_true", help="also throttling alone and the audit log alone")
    asyncio.set_event_loop_policy(None)
    uvloop.run(main(p.parse_args()))
