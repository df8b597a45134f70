"""``kratos serve --workers 2``: every scrape, whichever worker answers it, counts every worker's
requests (prometheus-client's multiprocess mode, set up by ``serve``)."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import base_config, write_config
from tests.e2e.processes import run_kratos, start_server


def _alive_count(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "kratos_http_requests_total" and labels.get("api") == "public" and labels.get("route") == "/health/alive":
                total += sample.value
    return total


def test_scrapes_sum_the_workers(tmp_path: Path) -> None:
    dsn = f"sqlite://{tmp_path}/kratos.sqlite?_fk=true"
    path = write_config(tmp_path, base_config(tmp_path, dsn=dsn))
    env = {"DSN": dsn, "KRATOS_COURIER_BROKER_URL": ""}
    migrated = run_kratos(["migrate", "sql", "-e", "--yes"], env)
    assert migrated.returncode == 0, migrated.stderr
    server = start_server("workers", path, env, tmp_path, "--workers", "2")
    try:
        for _ in range(40):  # a new connection each: the kernel spreads them over both workers
            assert httpx.get(f"{server.public}/health/alive", timeout=5).status_code == 200
        counts = {_alive_count(httpx.get(f"{server.admin}/metrics/prometheus", timeout=5).text) for _ in range(6)}
        assert counts == {40.0}
    finally:
        server.stop()
