"""Secure defaults on both ports (issue 15, items 4 and 8), over real HTTP (uvicorn).

* every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
  and ``Cache-Control: ... no-store ...``: successes, redirects, errors, unknown routes;
* a body over the limit gets 413 in Kratos's error shape on every route of both ports, before
  it is read whole, whether its size is declared or it is streamed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kratos_core.http.app import MAX_BODY_BYTES
from tests.conftest import LiveServer

SIX_MB = b"{" + b" " * (6 * 1024 * 1024) + b"}"


def assert_secure(response: httpx.Response) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers
    assert response.headers.get("referrer-policy") == "no-referrer", response.headers
    assert "no-store" in response.headers.get("cache-control", ""), response.headers


def concrete(path: str) -> str:
    """A route's path with sample values for its parameters."""

    def value(match: re.Match[str]) -> str:
        kind = match.group(2) or "str"
        return {"uuid": str(uuid.uuid4()), "path": "a/b", "int": "1"}.get(kind, "x")

    return re.sub(r"\{(\w+)(?::(\w+))?\}", value, path)


def routes(app: Any) -> Iterator[tuple[str, str]]:
    for route in app.routes:
        for method in sorted(getattr(route, "methods", ())):
            if method not in ("HEAD", "OPTIONS"):
                yield method, concrete(route.path)


def test_every_answer_of_both_ports_carries_the_security_headers(live: LiveServer) -> None:
    public, admin = live.public_url, live.admin_url
    answers = [
        httpx.get(f"{public}/health/alive"),
        httpx.get(f"{admin}/version"),
        httpx.get(f"{public}/self-service/login/browser"),  # a redirect
        httpx.get(f"{public}/self-service/login/flows", params={"id": "nope"}),  # a Kratos error
        httpx.get(f"{public}/sessions/whoami"),  # 401
        httpx.get(f"{public}/no/such/route"),  # Litestar's 404
        httpx.delete(f"{public}/health/alive"),  # 405
        httpx.post(f"{admin}/admin/identities", content=b"{not json", headers={"Content-Type": "application/json"}),
        httpx.get(f"{admin}/admin/identities"),
    ]
    for response in answers:
        assert_secure(response)


@pytest.mark.parametrize("port", ["public", "admin"])
def test_a_six_megabyte_body_gets_413_on_every_route(live: LiveServer, port: str) -> None:
    app = live.app.public if port == "public" else live.app.admin
    base = live.public_url if port == "public" else live.admin_url
    checked = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        for method, path in routes(app):
            response = client.request(method, path, content=SIX_MB, headers={"Content-Type": "application/json"})
            assert response.status_code == 413, (method, path, response.status_code, response.text[:300])
            error = response.json()["error"]
            assert error["code"] == 413 and error["status"] == "Request Entity Too Large", error
            assert str(MAX_BODY_BYTES) in error["reason"]
            assert_secure(response)
            checked += 1
    assert checked > 10


def test_a_streamed_body_is_cut_off_at_the_limit(live: LiveServer) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(12):  # 12 MB if nobody stops us
            sent += 1
            yield b" " * (1024 * 1024)

    flow = httpx.get(f"{live.public_url}/self-service/login/api").json()
    for url in (f"{live.public_url}/self-service/login?flow={flow['id']}", f"{live.admin_url}/admin/identities"):
        response = httpx.post(url, content=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == 413
