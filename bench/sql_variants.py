"""Compare spellings of the one-statement whoami lookup on PostgreSQL (development aid).

Usage: .venv/bin/python bench/sql_variants.py [--dsn postgres://postgres@127.0.0.1:5432/kratos_bench] [-n 3000]

Needs a database with sessions (e.g. the one ``bench/run.py`` leaves behind). For each variant it
runs the statement ``n`` times sequentially on one asyncpg connection (uvloop) with rotating
token digests and prints wall time, this process's CPU and the PostgreSQL backend's CPU per call.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import asyncpg
import uvloop

CLK_TCK = os.sysconf("SC_CLK_TCK")

SESSION = (
    "s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.issued_at, s.authenticated_at, "
    "s.expires_at, s.created_at, s.updated_at, i.state AS identity_state, "
    "i.schema_id AS i_schema_id, i.state_changed_at AS i_state_changed_at, i.traits AS i_traits, "
    "i.metadata_public AS i_metadata_public, i.metadata_admin AS i_metadata_admin, "
    "i.external_id AS i_external_id, i.organization_id AS i_organization_id, "
    "i.available_aal AS i_available_aal, i.created_at AS i_created_at, i.updated_at AS i_updated_at"
)
FROM = "FROM sessions s JOIN identities i ON i.id = s.identity_id WHERE s.token_digest = $1"


def records() -> str:
    return (
        f"SELECT {SESSION}, "
        "(SELECT array_agg((a.id, a.value, a.via, a.verified, a.status, a.verified_at, a.created_at, a.updated_at) "
        " ORDER BY a.created_at, a.value) FROM identity_verifiable_addresses a WHERE a.identity_id = i.id) AS i_verifiable, "
        "(SELECT array_agg((a.id, a.value, a.via, a.created_at, a.updated_at) ORDER BY a.created_at, a.value) "
        " FROM identity_recovery_addresses a WHERE a.identity_id = i.id) AS i_recovery, "
        "(SELECT array_agg((d.id, d.ip_address, d.user_agent, d.location, d.created_at) ORDER BY d.created_at, d.id) "
        " FROM session_devices d WHERE d.session_id = s.id) AS devices, "
        "(SELECT array_agg((c.id, c.type, c.config::text, c.version, c.created_at, c.updated_at, "
        "  ARRAY(SELECT ci.identifier FROM identity_credential_identifiers ci WHERE ci.credential_id = c.id "
        "        ORDER BY ci.created_at, ci.identifier))) "
        " FROM identity_credentials c WHERE c.identity_id = i.id) AS i_credentials "
        f"{FROM}"
    )


def records_lateral_ids() -> str:
    # identifiers aggregated per identity once, not per credential
    return (
        f"SELECT {SESSION}, "
        "(SELECT array_agg((a.id, a.value, a.via, a.verified, a.status, a.verified_at, a.created_at, a.updated_at) "
        " ORDER BY a.created_at, a.value) FROM identity_verifiable_addresses a WHERE a.identity_id = i.id) AS i_verifiable, "
        "(SELECT array_agg((a.id, a.value, a.via, a.created_at, a.updated_at) ORDER BY a.created_at, a.value) "
        " FROM identity_recovery_addresses a WHERE a.identity_id = i.id) AS i_recovery, "
        "(SELECT array_agg((d.id, d.ip_address, d.user_agent, d.location, d.created_at) ORDER BY d.created_at, d.id) "
        " FROM session_devices d WHERE d.session_id = s.id) AS devices, "
        "(SELECT array_agg((c.id, c.type, c.config::text, c.version, c.created_at, c.updated_at)) "
        " FROM identity_credentials c WHERE c.identity_id = i.id) AS i_credentials, "
        "(SELECT array_agg((ci.credential_id, ci.identifier) ORDER BY ci.created_at, ci.identifier) "
        " FROM identity_credential_identifiers ci WHERE ci.identity_id = i.id) AS i_identifiers "
        f"{FROM}"
    )


def union_rows() -> str:
    # one statement, several row kinds, folded in Python
    sid = "(SELECT s.id FROM sessions s WHERE s.token_digest = $1)"
    iid = "(SELECT s.identity_id FROM sessions s WHERE s.token_digest = $1)"
    return (
        "SELECT 0 AS k, s.id, s.identity_id AS owner, s.aal AS t1, NULL::text AS t2, NULL::text AS t3, NULL::text AS t4, "
        "s.issued_at AS ts1, s.created_at AS ts2, s.updated_at AS ts3, NULL::jsonb AS j FROM sessions s WHERE s.token_digest = $1 "
        f"UNION ALL SELECT 1, a.id, a.identity_id, a.value, a.via, a.status, NULL, a.verified_at, a.created_at, a.updated_at, NULL "
        f"FROM identity_verifiable_addresses a WHERE a.identity_id = {iid} "
        f"UNION ALL SELECT 2, a.id, a.identity_id, a.value, a.via, NULL, NULL, NULL, a.created_at, a.updated_at, NULL "
        f"FROM identity_recovery_addresses a WHERE a.identity_id = {iid} "
        f"UNION ALL SELECT 3, d.id, d.session_id, d.ip_address, d.user_agent, d.location, NULL, NULL, d.created_at, NULL, NULL "
        f"FROM session_devices d WHERE d.session_id = {sid} "
        f"UNION ALL SELECT 4, c.id, c.identity_id, c.type, NULL, NULL, NULL, NULL, c.created_at, c.updated_at, c.config "
        f"FROM identity_credentials c WHERE c.identity_id = {iid}"
    )


def array_records(credentials: bool = True) -> str:
    # ARRAY(subquery) instead of an aggregate: no Aggregate node, ORDER BY in the subquery
    out = (
        f"SELECT {SESSION}, "
        "ARRAY(SELECT (a.id, a.value, a.via, a.verified, a.status, a.verified_at, a.created_at, a.updated_at) "
        " FROM identity_verifiable_addresses a WHERE a.identity_id = i.id ORDER BY a.created_at, a.value) AS i_verifiable, "
        "ARRAY(SELECT (a.id, a.value, a.via, a.created_at, a.updated_at) "
        " FROM identity_recovery_addresses a WHERE a.identity_id = i.id ORDER BY a.created_at, a.value) AS i_recovery, "
        "ARRAY(SELECT (d.id, d.ip_address, d.user_agent, d.location, d.created_at) "
        " FROM session_devices d WHERE d.session_id = s.id ORDER BY d.created_at, d.id) AS devices"
    )
    if credentials:
        out += (
            ", ARRAY(SELECT (c.id, c.type, c.config::text, c.version, c.created_at, c.updated_at, "
            "  ARRAY(SELECT ci.identifier FROM identity_credential_identifiers ci WHERE ci.credential_id = c.id "
            "        ORDER BY ci.created_at, ci.identifier)) "
            " FROM identity_credentials c WHERE c.identity_id = i.id) AS i_credentials"
        )
    return out + f" {FROM}"


def session_only() -> str:
    return f"SELECT {SESSION} {FROM}"


def current() -> str:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kratos_core.session import store

    return store._POSTGRES_JSON and store._statements(store._POSTGRES_JSON)["by_token"]


def jsonb() -> str:
    return current().replace("json_agg", "jsonb_agg").replace("json_build_object", "jsonb_build_object").replace(
        "'[]'::json", "'[]'::jsonb"
    )


VARIANTS = {
    "json_agg (in use)": current,
    "jsonb_agg": jsonb,
    "array_agg records": records,
    "array_agg records, identifiers per identity": records_lateral_ids,
    "union all rows": union_rows,
    "ARRAY(subquery) records": array_records,
    "ARRAY(subquery) records, no credentials": lambda: array_records(False),
    "json_agg, no credentials": lambda: current().split(", (SELECT COALESCE(json_agg(json_build_object('id', c.id")[0] + " " + FROM,
    "session+identity row only (floor)": session_only,
}


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def main(dsn: str, n: int, rounds: int) -> None:
    conn = await asyncpg.connect(dsn.replace("postgres://", "postgresql://", 1))
    for typename in ("jsonb", "json"):
        import msgspec

        await conn.set_type_codec(typename, encoder=lambda v: msgspec.json.encode(v).decode(), decoder=msgspec.json.decode, schema="pg_catalog")
    if os.environ.get("GENERIC"):
        await conn.execute("SET plan_cache_mode = force_generic_plan")
    digests = [r[0] for r in await conn.fetch("SELECT token_digest FROM sessions")]
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    print(f"{len(digests)} sessions; n={n}")
    print(f"{'variant':48} {'wall us':>8} {'client us':>9} {'backend us':>10}")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    for _round in range(rounds):
        for name, make in VARIANTS.items():
            sql = make()
            stmt = await conn.prepare(sql)
            for d in digests[:50]:
                await stmt.fetch(d)
            picks = [random.choice(digests) for _ in range(n)]
            b0, c0, w0 = backend_cpu(pid), time.process_time(), time.perf_counter()
            for d in picks:
                await stmt.fetch(d)
            w1, c1, b1 = time.perf_counter(), time.process_time(), backend_cpu(pid)
            results[name].append(((w1 - w0) / n * 1e6, (c1 - c0) / n * 1e6, (b1 - b0) / n * 1e6))
    import statistics

    for name, rows in results.items():
        med = [statistics.median(r[k] for r in rows) for k in range(3)]
        print(f"{name:48} {med[0]:8.0f} {med[1]:9.0f} {med[2]:10.0f}")
    await conn.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", default="postgres://postgres@127.0.0.1:5432/kratos_bench")
    p.add_argument("-n", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    uvloop.run(main(a.dsn, a.n, a.rounds))
