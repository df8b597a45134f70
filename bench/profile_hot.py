"""In-process costs of the hot paths (development aid; not part of the benchmark's figures).

Usage: .venv/bin/python bench/profile_hot.py [--dsn postgres://postgres@127.0.0.1:5432/kratos_prof]
                                           [--n 3000] [--profile whoami|login|register] [--sqlite]

Builds the app in this process on uvloop, registers a few users through the ASGI app, then calls
the ASGI app directly (no HTTP client in the way) and prints CPU and wall microseconds per request
for whoami, GET /version, a password login (init + submit) and a registration; ``--profile``
prints a cProfile of one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import config_file, reset_database  # noqa: E402

from kratos_core.app import build_app  # noqa: E402


async def call(app, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[int, bytes]:
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        + [(b"host", b"127.0.0.1:4433")] + ([(b"content-type", b"application/json")] if body else []),
        "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 4433), "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def register(app, email: str, password: str) -> str:
    _, raw = await call(app, "GET", "/self-service/registration/api")
    flow = msgspec.json.decode(raw)
    body = msgspec.json.encode({"method": "password", "password": password, "traits": {"email": email}})
    status, raw = await call(app, "POST", f"/self-service/registration?flow={flow['id']}", body=body)
    assert status == 200, raw[:300]
    return msgspec.json.decode(raw)["session_token"]


async def login(app, email: str, password: str) -> None:
    _, raw = await call(app, "GET", "/self-service/login/api")
    flow = msgspec.json.decode(raw)
    body = msgspec.json.encode({"method": "password", "identifier": email, "password": password})
    status, raw = await call(app, "POST", f"/self-service/login?flow={flow['id']}", body=body)
    assert status == 200, raw[:300]


async def measure(name: str, n: int, op) -> None:
    for i in range(min(50, n)):
        await op(i)
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        await op(i)
    c1, w1 = time.process_time(), time.perf_counter()
    print(f"{name:28} cpu {((c1 - c0) / n) * 1e6:9.0f} us   wall {((w1 - w0) / n) * 1e6:9.0f} us")


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kratos-prof-"))
    if args.sqlite:
        dsn = f"sqlite://{tmp}/db.sqlite"
    else:
        dsn = args.dsn
        await reset_database(dsn)
    cfg = config_file(tmp, dsn, 4433, 4434, session_cache=False if args.no_cache else None)
    app = build_app([str(cfg)], dev=False)
    await app.start(migrate=True)
    if args.fake_hash:
        # Overhead only: hashing and verification cost nothing (all logins use the right password).
        from kratos_password.pool import HashPool

        fixed = await HashPool().hash("x", app.plugins.methods.get("password").hasher)

        async def fake_hash(self, password, settings):
            return fixed

        async def fake_verify(self, password, encoded):
            return True

        HashPool.hash, HashPool.verify = fake_hash, fake_verify
    pub = app.public
    password = "prof-Very-Secret-123"
    emails = [f"prof-{i}@example.org" for i in range(8)]
    tokens = [await register(pub, e, password) for e in emails]

    async def whoami(i: int) -> None:
        status, raw = await call(pub, "GET", "/sessions/whoami", {"X-Session-Token": tokens[i % len(tokens)]})
        assert status == 200, (status, raw[-300:])

    async def version(i: int) -> None:
        await call(app.admin, "GET", "/version")

    counter = iter(range(10**9))
    ops = {
        "whoami": (whoami, args.n),
        "version": (version, args.n),
        "login": (lambda i: login(pub, emails[i % len(emails)], password), max(20, args.n // (10 if args.fake_hash else 100))),
        "register": (lambda i: register(pub, f"r{next(counter)}@example.org", password), max(20, args.n // (10 if args.fake_hash else 100))),
    }
    if args.statements:
        seen: list[str] = []
        db = app.db
        for meth in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            orig = getattr(db, meth)

            def wrap(orig=orig, meth=meth):
                async def counted(sql, *a):
                    seen.append(f"{meth}: {' '.join(sql.split())[:110]}")
                    return await orig(sql, *a)

                return counted

            setattr(db, meth, wrap())
        orig_tx = db.transaction

        def tx():
            seen.append("transaction")
            return orig_tx()

        db.transaction = tx
        for name in ("whoami", "login", "register"):
            seen.clear()
            await ops[name][0](0)
            print(f"-- {name}: {len(seen)} statements/transactions")
            print("\n".join("   " + x for x in seen))
        return
    for name, (op, n) in ops.items():
        await measure(name, n, op)
    if args.profile:
        op, n = ops[args.profile]
        prof = cProfile.Profile()
        prof.enable()
        for i in range(n):
            await op(i)
        prof.disable()
        pstats.Stats(prof).sort_stats(args.sort).print_stats(45)
    await app.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", default="postgres://postgres@127.0.0.1:5432/kratos_prof")
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--profile")
    p.add_argument("--sort", default="tottime")
    p.add_argument("--sqlite", action="store_true")
    p.add_argument("--no-cache", action="store_true", help="feature_flags.cacheable_sessions: false")
    p.add_argument("--fake-hash", action="store_true", help="no argon2: measure the overhead of logins/registrations")
    p.add_argument("--statements", action="store_true", help="list the statements of one of each and exit")
    a = p.parse_args()
    uvloop.run(main(a))
