"""Benchmarks of the hot paths, each as a ratio to a baseline measured in the same run.

Usage (from the repository root, with the dev virtualenv; bench/README.md has the details):

    .venv/bin/python bench/run.py [--dsn postgres://postgres@127.0.0.1:5432/kratos_bench]
                                  [--workers N] [--duration 8] [--reps 3]

It starts ``kratos serve`` as in production (``--workers`` = cores, PostgreSQL) twice on one
database, once as configured by default (with the session cache, on by default on PostgreSQL)
and once with ``feature_flags.cacheable_sessions: false`` (every whoami one SQL statement), and
a bare Litestar endpoint on the same server stack, warms all of them up, then measures, in
interleaved repetitions:

(a) whoami requests/s divided by the bare endpoint's, and server CPU microseconds per whoami
    divided by per bare request (wrk, 16 connections, rotating session tokens) -- for both
    configurations (``*_uncached`` for the second);
(b) password logins/s (native flow: init + submit, driven by wrk with a Lua state machine, one
    flow per connection, 4 x cores connections) divided by raw argon2id verifications/s with the
    same parameters on as many threads as cores;
(c) registrations/s (native flow, likewise) divided by raw argon2id hashes/s; for (b) and (c)
    flows and baseline alternate in slices of about 2 s;
(d) whoami p50 latency at 1 connection and p99 at 16 (with the bare endpoint's p99 for context).

Medians of the repetitions are printed as a table and written to ``bench/results.json`` with
the machine's description.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
ARGON2 = {"memory_kib": 19 * 1024, "iterations": 2, "parallelism": 1}
TARGETS = {
    "a_rps_ratio": (">=", 0.5),
    "a_cpu_ratio": ("<=", 2.5),
    "b_login_ratio": (">=", 0.85),
    "c_registration_ratio": (">=", 0.8),
    "d_p50_c1_ms": ("<", 1.0),
    "d_p99_c16_ms": ("<", 10.0),
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_file(tmp: Path, dsn: str, pub: int, adm: int, *, session_cache: bool | None = None, name: str = "kratos.yml") -> Path:
    import yaml

    schema = tmp / "identity.schema.json"
    shutil.copy(ROOT / "config" / "identity.schema.json", schema)
    cfg = {
        "dsn": dsn,
        "serve": {
            "public": {"base_url": f"http://127.0.0.1:{pub}/", "host": "127.0.0.1", "port": pub},
            "admin": {"base_url": f"http://127.0.0.1:{adm}/", "host": "127.0.0.1", "port": adm},
        },
        "selfservice": {
            "default_browser_return_url": "http://127.0.0.1:4455/",
            "methods": {
                "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}},
                "code": {"enabled": False},
            },
            "flows": {
                "login": {"ui_url": "http://127.0.0.1:4455/login"},
                "registration": {
                    "ui_url": "http://127.0.0.1:4455/registration",
                    "style": "unified",
                    "after": {"password": {"hooks": [{"hook": "session"}]}},
                },
            },
        },
        "identity": {"default_schema_id": "default", "schemas": [{"id": "default", "url": f"file://{schema}"}]},
        "secrets": {"cookie": [secrets.token_urlsafe(32)]},
        "hashers": {
            "algorithm": "argon2",
            "argon2": {"memory": "19MB", "iterations": ARGON2["iterations"], "parallelism": ARGON2["parallelism"]},
        },
        "log": {"level": "warning"},
        # Throttling stays on, so its cost is in the figures; but every request comes from one
        # load generator at 127.0.0.1, so the per-address ladders (made for one client, not a
        # benchmark) are raised out of the way. Per-account ladders keep their defaults: each
        # user's logins succeed, which clears them.
        "security": {
            "rate_limits": {
                "password": {"address": ["100000000/minute"]},
                "flow_creation": {"address": ["100000000/minute"]},
            }
        },
    }
    if session_cache is not None:
        cfg["feature_flags"] = {"cacheable_sessions": session_cache}
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg))
    return path


async def reset_database(dsn: str) -> None:
    import asyncpg

    base, name = dsn.rsplit("/", 1)
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1) + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for p in list(pids):
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        pids += [int(c) for c in children]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def wrk(url: str, *, connections: int, duration: int, script: Path | None = None, tokens: Path | None = None) -> dict[str, float]:
    threads = min(connections, os.cpu_count() or 2)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(script), url, "--", str(tokens)]
    else:
        cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {q: _ms(re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)) for q in ("50", "99")}
    return {"rps": rps, "requests": total, "p50_ms": lat["50"], "p99_ms": lat["99"]}


def _ms(match: re.Match[str] | None) -> float:
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


WRK_SCRIPT = """
tokens = {}
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
request = function()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", "/sessions/whoami", {["X-Session-Token"] = t})
end
"""


# Native (API) flows driven by wrk: each connection alternates init (GET .../api) and submit
# (POST ...?flow=<id> with the id parsed from the init answer). One connection per wrk thread,
# so the per-thread Lua state is one flow's state machine. Counts completed operations (submits
# answered 200) and failures; any non-200 fails the run.
WRK_FLOW_SCRIPT = """
local kind, password, prefix
local emails = {}
local state, flow, counter = "init", nil, 0
ops, failed = 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  kind, password = args[1], args[2]
  if kind == "login" then
    for line in io.lines(args[3]) do emails[#emails + 1] = line end
  else
    prefix = args[3]
  end
  math.randomseed(tid * 7919)
end

function request()
  if state == "init" then
    return wrk.format("GET", "/self-service/" .. kind .. "/api", {["Accept"] = "application/json"})
  end
  local body
  if kind == "login" then
    body = '{"method":"password","identifier":"' .. emails[math.random(#emails)] .. '","password":"' .. password .. '"}'
  else
    counter = counter + 1
    body = '{"method":"password","password":"' .. password .. '","traits":{"email":"' .. prefix .. "-" .. tid .. "-" .. counter .. '@example.org"}}'
  end
  return wrk.format("POST", "/self-service/" .. kind .. "?flow=" .. flow,
    {["Content-Type"] = "application/json", ["Accept"] = "application/json"}, body)
end

function response(status, headers, body)
  if state == "init" then
    flow = string.match(body, '^{"id":"([0-9a-f-]+)"')
    if status ~= 200 or flow == nil then failed = failed + 1; return end
    state = "submit"
  else
    if status == 200 then ops = ops + 1 else failed = failed + 1 end
    state = "init"
  end
end

function done(summary, latency, requests)
  local n, f = 0, 0
  for _, t in ipairs(threads) do n = n + t:get("ops"); f = f + t:get("failed") end
  io.write(string.format("FLOW_OPS %d FAILED %d SECONDS %.6f\\n", n, f, summary.duration / 1e6))
end
"""


def wrk_flows(public: str, script: Path, kind: str, password: str, arg: str, *, connections: int, duration: int) -> float:
    """Completed native flows (init + submit) per second, ``connections`` at a time."""
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(script), public, "--", kind, password, arg]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"FLOW_OPS (\d+) FAILED (\d+) SECONDS ([\d.]+)", out)
    if m is None or int(m.group(2)) or "Non-2xx" in out:
        raise SystemExit(f"wrk {kind} flows failed:\n{out}")
    return int(m.group(1)) / float(m.group(3))


async def register(client: httpx.AsyncClient, email: str, password: str) -> str:
    flow = (await client.get("/self-service/registration/api")).json()
    r = await client.post(
        f"/self-service/registration?flow={flow['id']}",
        json={"method": "password", "password": password, "traits": {"email": email}},
    )
    if r.status_code != 200:
        raise SystemExit(f"registration failed: {r.status_code} {r.text[:300]}")
    return r.json()["session_token"]


def raw_argon2(duration: float, threads: int, verify: bool) -> float:
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=ARGON2["iterations"], memory_cost=ARGON2["memory_kib"], parallelism=ARGON2["parallelism"])
    encoded = hasher.hash("correct horse battery staple")
    deadline = time.monotonic() + duration

    def loop() -> int:
        n = 0
        while True:
            if verify:
                hasher.verify(encoded, "correct horse battery staple")
            else:
                hasher.hash("correct horse battery staple")
            if time.monotonic() > deadline:
                return n  # finished too late: not counted, as wrk does not count its last flows
            n += 1

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    return total / (deadline - start)


def sliced(flows: Any, raw: Any, duration: int) -> tuple[float, float]:
    """Mean rates of ``flows(seconds, slice)`` and ``raw(seconds)`` run alternately in slices of
    about 2 s (``duration`` in all for each side), so that both sides see the same machine.

    Both count only what completed within the slice (wrk stops with a hash or two in flight;
    :func:`raw_argon2` likewise drops those that end after its deadline). After each flow slice
    the server gets a moment to finish what those flows left queued, so that it does not slow
    the baseline down.
    """
    slices = max(1, duration // 2)
    part = max(2, round(duration / slices))
    flow_rates, raw_rates = [], []
    for i in range(slices):
        flow_rates.append(flows(part, i))
        time.sleep(0.5)
        raw_rates.append(raw(part))
    return statistics.fmean(flow_rates), statistics.fmean(raw_rates)


def start_kratos(cfg: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [PY, "-m", "kratos_core", "serve", "-c", str(cfg), "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    try:
        pg = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],
                            capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pg = "unknown"
    return {"cpus": os.cpu_count(), "cpu_model": model, "postgres": pg, "python": sys.version.split()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgres://postgres@127.0.0.1:5432/kratos_bench")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--users", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="kratos-bench-"))
    pub, adm, bare_port = free_port(), free_port(), free_port()
    upub, uadm = free_port(), free_port()
    asyncio.run(reset_database(args.dsn))
    cfg = config_file(tmp, args.dsn, pub, adm)
    # The same server without the session cache (feature_flags.cacheable_sessions: false), on the
    # same database: whoami is measured on both, everything else on the default configuration.
    uncached_cfg = config_file(tmp, args.dsn, upub, uadm, session_cache=False, name="kratos-uncached.yml")
    subprocess.run([PY, "-m", "kratos_core", "migrate", "sql", args.dsn, "--yes"], check=True, cwd=ROOT, capture_output=True)
    server = start_kratos(cfg, args.workers)
    uncached = start_kratos(uncached_cfg, args.workers)
    bare = subprocess.Popen(
        [PY, "-m", "uvicorn", "bench.baseline_app:app", "--host", "127.0.0.1", "--port", str(bare_port),
         "--workers", str(args.workers), "--no-access-log", "--lifespan", "off", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    public = f"http://127.0.0.1:{pub}"
    uncached_public = f"http://127.0.0.1:{upub}"
    try:
        wait_ready(f"{public}/health/ready", server)
        wait_ready(f"{uncached_public}/health/ready", uncached)
        wait_ready(f"http://127.0.0.1:{bare_port}/bare", bare)
        results = run_all(
            args, tmp, public, uncached_public, f"http://127.0.0.1:{bare_port}/bare", server.pid, uncached.pid, bare.pid
        )
    finally:
        for proc in (server, uncached, bare):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    report(results, args)


def measure_whoami(url: str, pid: int, script: Path, tokens: Path, duration: int) -> dict[str, float]:
    pids = process_tree(pid)
    c0 = cpu_seconds(pids)
    who = wrk(f"{url}/sessions/whoami", connections=16, duration=duration, script=script, tokens=tokens)
    c1 = cpu_seconds(pids)
    return {**who, "cpu_us": (c1 - c0) * 1e6 / who["requests"]}


def run_all(
    args: argparse.Namespace, tmp: Path, public: str, uncached_public: str, bare_url: str,
    server_pid: int, uncached_pid: int, bare_pid: int,
) -> dict[str, Any]:
    password = "bench-" + secrets.token_urlsafe(12)
    emails = [f"bench-{i}-{uuid.uuid4().hex[:6]}@example.org" for i in range(args.users)]

    async def setup() -> list[str]:
        async with httpx.AsyncClient(base_url=public, timeout=60) as client:
            sem = asyncio.Semaphore(8)

            async def one(email: str) -> str:
                async with sem:
                    return await register(client, email, password)

            return await asyncio.gather(*(one(e) for e in emails))

    tokens_file = tmp / "tokens.txt"
    tokens_file.write_text("\n".join(asyncio.run(setup())) + "\n")
    script = tmp / "whoami.lua"
    script.write_text(WRK_SCRIPT)
    flow_script = tmp / "flows.lua"
    flow_script.write_text(WRK_FLOW_SCRIPT)
    emails_file = tmp / "emails.txt"
    emails_file.write_text("\n".join(emails) + "\n")
    threads = os.cpu_count() or 2
    c1_seconds = max(3, args.duration // 2)
    # Warm-up, not measured: every server reaches its steady state first (database connections
    # opened and their statements prepared, session cache filled, the first-request costs of
    # each worker paid). Cold starts otherwise land in the first repetition's p99.
    warm = max(2, args.duration // 4)
    for url in (public, uncached_public):
        wrk(f"{url}/sessions/whoami", connections=16, duration=warm, script=script, tokens=tokens_file)
    wrk(bare_url, connections=16, duration=warm)
    wrk_flows(public, flow_script, "login", password, str(emails_file), connections=4 * threads, duration=warm)
    reps: list[dict[str, float]] = []
    for rep in range(args.reps):
        row: dict[str, float] = {}
        # wrk needs a URL for the script's host; the path comes from the script.
        who = measure_whoami(public, server_pid, script, tokens_file, args.duration)
        bare_pids = process_tree(bare_pid)
        b0 = cpu_seconds(bare_pids)
        bare = wrk(bare_url, connections=16, duration=args.duration)
        b1 = cpu_seconds(bare_pids)
        cwho = measure_whoami(uncached_public, uncached_pid, script, tokens_file, args.duration)
        row["whoami_rps"], row["bare_rps"] = who["rps"], bare["rps"]
        row["whoami_cpu_us"] = who["cpu_us"]
        row["bare_cpu_us"] = (b1 - b0) * 1e6 / bare["requests"]
        row["a_rps_ratio"] = who["rps"] / bare["rps"]
        row["a_cpu_ratio"] = row["whoami_cpu_us"] / row["bare_cpu_us"]
        row["d_p99_c16_ms"] = who["p99_ms"]
        row["bare_p99_c16_ms"] = bare["p99_ms"]
        row["d_p50_c1_ms"] = wrk(f"{public}/sessions/whoami", connections=1, duration=c1_seconds, script=script, tokens=tokens_file)["p50_ms"]
        row["uncached_whoami_rps"], row["uncached_whoami_cpu_us"] = cwho["rps"], cwho["cpu_us"]
        row["a_rps_ratio_uncached"] = cwho["rps"] / bare["rps"]
        row["a_cpu_ratio_uncached"] = cwho["cpu_us"] / row["bare_cpu_us"]
        row["d_p99_c16_ms_uncached"] = cwho["p99_ms"]
        row["d_p50_c1_ms_uncached"] = wrk(
            f"{uncached_public}/sessions/whoami", connections=1, duration=c1_seconds, script=script, tokens=tokens_file
        )["p50_ms"]

        # Flows and their raw-argon2 baselines alternate in slices, so that a change of the
        # machine's speed (other tenants) within a repetition hits both sides more alike.
        tag = f"r{rep}-{uuid.uuid4().hex[:6]}"
        row["logins_per_s"], row["raw_verify_per_s"] = sliced(
            lambda d, i: wrk_flows(public, flow_script, "login", password, str(emails_file), connections=4 * threads, duration=d),
            lambda d: raw_argon2(d, threads, verify=True),
            args.duration,
        )
        row["b_login_ratio"] = row["logins_per_s"] / row["raw_verify_per_s"]
        row["registrations_per_s"], row["raw_hash_per_s"] = sliced(
            lambda d, i, tag=tag: wrk_flows(public, flow_script, "registration", password, f"{tag}-{i}", connections=4 * threads, duration=d),
            lambda d: raw_argon2(d, threads, verify=False),
            args.duration,
        )
        row["c_registration_ratio"] = row["registrations_per_s"] / row["raw_hash_per_s"]
        reps.append(row)
        print(f"repetition {rep + 1}: " + ", ".join(f"{k}={v:.3g}" for k, v in row.items()), file=sys.stderr)
    return {k: statistics.median(r[k] for r in reps) for k in reps[0]}


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    lines = ["| measure | median | target | met |", "|---|---|---|---|"]
    for key, value in results.items():
        target = TARGETS.get(key.removesuffix("_uncached"))
        if target:
            op, bound = target
            met = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]
            lines.append(f"| {key} | {value:.3f} | {op} {bound} | {'yes' if met else 'NO'} |")
        else:
            lines.append(f"| {key} | {value:.1f} | | |")
    print("\n".join(lines))
    meta = {"workers": args.workers, "duration_s": args.duration, "reps": args.reps, **machine(),
            "load_average_after": os.getloadavg()}
    (ROOT / "bench" / "results.json").write_text(json.dumps({"meta": meta, "medians": results}, indent=2))


if __name__ == "__main__":
    main()
