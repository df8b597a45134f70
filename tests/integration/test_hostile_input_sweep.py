"""Property-based sweep (issue 15, item 4): generated bodies and parameters thrown at every
route of both ports, over real HTTP, on PostgreSQL (the stricter database: no NUL, typed
columns); whatever arrives, the answer is never a 5xx and always in a known shape."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kratos_code.plugin as code_plugin
import kratos_password.plugin as password_plugin
from tests.conftest import LiveServer, _merge, base_config, make_app
from tests.integration.test_exactly_once import SELFSERVICE

KINDS = ("login", "registration", "recovery", "verification")

# Plain generated text rarely holds what breaks servers: mix in the values that do.
nasty = st.sampled_from(
    ["\x00", "a\x00b", "jane@example.org\x00", "😀" * 20, "%00", "' OR 1=1 --", "../../etc/passwd", "-1", "0",
     "1e309", "99999999999999999999", "true", "null", " ", "\n\r", "jane@example.org", "ory_st_x"]
)
short_texts = st.one_of(st.text(max_size=40), nasty)
texts = st.one_of(
    st.text(max_size=40), nasty, st.text(max_size=10).map(lambda t: t + "\x00"), st.integers(4000, 70000).map(lambda n: "x" * n)
)
# A lone surrogate survives only JSON's \u escapes (not UTF-8 forms or query strings).
json_texts = texts | st.just("\ud800")
scalars = st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63) | st.floats(allow_nan=False) | json_texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_texts, children, max_size=4),
    max_leaves=16,
)
# Bodies shaped like the real ones, so generated values reach the methods and the stores.
shaped = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["password", "password", "code", "link", "profile"]) | st.sampled_from(["totp", "", "nope"]),
        "identifier": texts,
        "password": texts,
        "traits": json_values | st.fixed_dictionaries({"email": texts}),
    },
    optional={
        "email": texts,
        "code": texts,
        "token": texts,
        "csrf_token": texts,
        "schema_id": texts,
        "state": texts,
        "transient_payload": json_values,
        "credentials": json_values,
        "metadata_public": json_values,
        "identity_id": st.uuids().map(str) | texts,
        "expires_in": texts,
        "session_token": texts,
    },
)
bodies = st.one_of(
    shaped.map(lambda b: ("json", json.dumps(b).encode())),
    json_values.map(lambda b: ("json", json.dumps(b).encode())),
    st.dictionaries(texts, texts, max_size=6).map(
        lambda d: ("form", httpx.QueryParams(d).__str__().encode())
    ),
    st.binary(max_size=200).map(lambda b: ("json", b)),
)
params = st.dictionaries(
    st.sampled_from(["return_to", "refresh", "aal", "id", "page_size", "page_token", "credentials_identifier", "via", "x"]),
    short_texts,
    max_size=3,
)


def concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        return {"uuid": str(uuid.uuid4()), "path": "a/b", "int": "1"}.get(match.group(2) or "str", "x")

    return re.sub(r"\{(\w+)(?::(\w+))?\}", value, path)


def routes(app: Any, base: str) -> Iterator[tuple[str, str, str]]:
    for route in app.routes:
        for method in sorted(getattr(route, "methods", ())):
            if method not in ("HEAD", "OPTIONS"):
                yield method, base, concrete(route.path)


@pytest.fixture(scope="module")
def server(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, list[Any], dict[str, str]]]:
    import asyncio

    import asyncpg

    name = f"kratos_sweep_{uuid.uuid4().hex[:10]}"
    admin_dsn = postgres_server.replace("postgres://", "postgresql://", 1)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    tmp: Path = tmp_path_factory.mktemp("sweep")
    dsn = f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    cfg = base_config(tmp, dsn, selfservice=_merge(base_config(tmp)["selfservice"], SELFSERVICE))
    try:
        with LiveServer(make_app(tmp, cfg, plugins=[password_plugin, code_plugin])) as live:
            flows = {kind: httpx.get(f"{live.public_url}/self-service/{kind}/api").json()["id"] for kind in KINDS}
            table = [*routes(live.app.public, live.public_url), *routes(live.app.admin, live.admin_url)]
            yield live, table, flows
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.status_code, response.text[:500])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        # Kratos's error shape, or a self-service flow re-rendered with its messages.
        assert "error" in body or "ui" in body, body


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_generated_request_gets_a_5xx(server: tuple[LiveServer, list[Any], dict[str, str]], data: st.DataObject) -> None:
    live, table, flows = server
    submits = [r for r in table if r[0] == "POST" and r[2] in {f"/self-service/{k}" for k in flows}]
    # Half the requests go to a real flow's submit, where bodies reach methods and stores.
    method, base, path = data.draw(st.sampled_from(submits) | st.sampled_from(table), label="route")
    query = data.draw(params, label="params")
    kind = path.rsplit("/", 1)[-1]
    if kind in flows and path == f"/self-service/{kind}":
        query = {**query, "flow": flows[kind]}  # a real flow: bodies reach the methods
    encoding, content = data.draw(bodies, label="body")
    content_type = "application/json" if encoding == "json" else "application/x-www-form-urlencoded"
    headers = {"Content-Type": content_type, "Accept": data.draw(st.sampled_from(["application/json", "text/html"]))}
    response = httpx.request(method, base + path, params=query, content=content, headers=headers, timeout=30)
    check(response)
