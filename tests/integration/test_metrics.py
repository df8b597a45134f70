"""Prometheus metrics on the admin port (issue 15, item 6): the exposition parses, and it moves.

The exposition is read with ``prometheus_client.parser`` (what a Prometheus scrape sees); the
counters are compared before and after a login, a refused login, a throttled attempt and a
whoami. Values are per process and shared by every app of the test process, so the tests look
at differences only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import kratos_password.plugin as password_plugin
from kratos_core.app import KratosApp
from kratos_core.testing import AppFactory, FlowDriver, clients, default_config, merge

PASSWORD = "a measured password 42"
EMAIL = "measured@example.org"

CONFIG = {
    "selfservice": {
        "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
        "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
    },
    "security": {"rate_limits": {"password": {"identifier": ["3/hour"]}}},
}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(admin: httpx.AsyncClient, path: str = "/admin/metrics/prometheus") -> Samples:
    r = await admin.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[tuple[KratosApp, FlowDriver, httpx.AsyncClient]]:
    factory = AppFactory(tmp_path)
    try:
        app = await factory(merge(default_config(tmp_path), CONFIG), plugins=[password_plugin])
        async with clients(app) as (public, admin):
            yield app, FlowDriver(public, admin, None, app), admin
    finally:
        await factory.close()


async def test_both_paths_parse_and_name_every_family(kit: tuple[KratosApp, FlowDriver, httpx.AsyncClient]) -> None:
    _, _, admin = kit
    for path in ("/admin/metrics/prometheus", "/metrics/prometheus"):
        r = await admin.get(path)
        families = {f.name for f in text_string_to_metric_families(r.text)}
        for name in (
            "kratos_http_requests",
            "kratos_http_request_duration_seconds",
            "kratos_flow_outcomes",
            "kratos_hashing_queue_depth",
            "kratos_hashing_wait_seconds",
            "kratos_courier_queue_depth",
            "kratos_courier_failures",
            "kratos_session_cache",
            "kratos_rate_limit_refusals",
        ):
            assert name in families, (path, name)


async def test_counters_move_after_a_login(kit: tuple[KratosApp, FlowDriver, httpx.AsyncClient]) -> None:
    _, driver, admin = kit
    await driver.register({"email": EMAIL}, password=PASSWORD)
    before = await scrape(admin)
    token = (await driver.login(EMAIL, password=PASSWORD)).json()["session_token"]
    await driver.login(EMAIL, password="wrong", expect=400)
    assert (await driver.public.get("/sessions/whoami", headers={"X-Session-Token": token})).status_code == 200
    after = await scrape(admin, "/metrics/prometheus")

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Per route template, not per raw path (the flow id is not a label).
    assert moved("kratos_http_requests_total", api="public", method="POST", route="/self-service/login", status="200") == 1
    assert moved("kratos_http_requests_total", api="public", method="POST", route="/self-service/login", status="400") == 1
    assert moved("kratos_http_requests_total", api="public", method="GET", route="/sessions/whoami", status="200") == 1
    assert moved("kratos_http_request_duration_seconds_count", api="public", method="POST", route="/self-service/login") == 2
    assert moved("kratos_flow_outcomes_total", flow="login", method="password", outcome="success") == 1
    assert moved("kratos_flow_outcomes_total", flow="login", method="password", outcome="failure") == 1
    assert not any("flow=" in str(labels) for (_, labels) in after)  # no raw query strings in labels


async def test_throttle_refusals_are_counted(kit: tuple[KratosApp, FlowDriver, httpx.AsyncClient]) -> None:
    _, driver, admin = kit
    before = value(await scrape(admin), "kratos_rate_limit_refusals_total", kind="password")
    statuses = [(await driver.login(EMAIL, password="wrong", expect=None)).status_code for _ in range(5)]
    assert statuses.count(429) == 2
    assert value(await scrape(admin), "kratos_rate_limit_refusals_total", kind="password") - before == 2


def test_hashing_api_records_queue_depth_and_wait() -> None:
    from kratos_core import metrics

    depth = metrics.HASHING_QUEUE._value.get()
    waits = metrics.HASHING_WAIT._sum.get()
    started = metrics.hashing_queued()
    assert metrics.HASHING_QUEUE._value.get() == depth + 1
    started()
    started()  # idempotent
    assert metrics.HASHING_QUEUE._value.get() == depth
    assert metrics.HASHING_WAIT._sum.get() >= waits
