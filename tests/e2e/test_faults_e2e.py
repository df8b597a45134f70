"""SIGTERM under load and a restart, on ``kratos serve`` processes with PostgreSQL (issue 15).

Every request that reached the server before it stopped either completes or answers 503 in
Kratos's shape (none is dropped or answers 500); the process exits cleanly; sessions issued
before the restart are accepted after it; registrations that answered 200 are stored whole.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx

from tests.conftest import base_config, write_config
from tests.e2e.processes import run_kratos, start_server
from tests.integration.test_faults import _assert_503_shape

PASSWORD = "correct horse battery staple"


def _config(tmp: Path, dsn: str) -> Path:
    cfg = base_config(
        tmp,
        dsn=dsn,
        selfservice={
            "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
            "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
        },
    )
    cfg["cookies"] = {"secure": False}
    return write_config(tmp, cfg)


def _register(public: str, email: str) -> httpx.Response:
    # A connection per request (Connection: close): a keep-alive connection the server closes
    # between two requests is a client retry matter, not an in-flight request.
    headers = {"Connection": "close"}
    flow = httpx.get(f"{public}/self-service/registration/api", headers=headers, timeout=30)
    if flow.status_code != 200:
        return flow
    return httpx.post(
        f"{public}/self-service/registration",
        params={"flow": flow.json()["id"]},
        json={"method": "password", "password": PASSWORD, "traits": {"email": email}},
        headers=headers,
        timeout=30,
    )


def test_sigterm_under_load_completes_or_503s_and_sessions_survive_restart(tmp_path: Path, postgres_dsn: str) -> None:
    env = {"DSN": postgres_dsn}
    migrated = run_kratos(["migrate", "sql", "-e", "--yes"], env)
    assert migrated.returncode == 0, migrated.stderr
    config = _config(tmp_path, postgres_dsn)
    server = start_server("faults-serve", config, env, tmp_path)
    try:
        first = _register(server.public, "before@example.org")
        assert first.status_code == 200, first.text
        token = first.json()["session_token"]

        answers: list[tuple[str, int | str, httpx.Response | None]] = []
        registered: list[str] = []
        stop = threading.Event()

        def load(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                email = f"load-{n}-{i}-{uuid.uuid4().hex[:6]}@example.org"
                try:
                    if i % 3 == 0:
                        r = _register(server.public, email)
                        if r.status_code == 200:
                            registered.append(email)
                    else:
                        r = httpx.get(
                            f"{server.public}/sessions/whoami",
                            headers={"X-Session-Token": token, "Connection": "close"},
                            timeout=30,
                        )
                    answers.append(("answer", r.status_code, r))
                except httpx.ConnectError:
                    answers.append(("refused", "refused", None))  # never reached the server
                    time.sleep(0.02)
                except httpx.HTTPError as exc:  # reached it and was dropped: the failure we test
                    answers.append(("dropped", type(exc).__name__, None))

        threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        server.stop()  # SIGTERM while requests run; raises unless the process exits with 0
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(30)

        dropped = [a for a in answers if a[0] == "dropped"]
        assert not dropped, dropped
        served = [a for a in answers if a[0] == "answer"]
        assert len(served) > 10
        for _, status, response in served:
            assert status != 500
            if status == 503:
                assert response is not None
                _assert_503_shape(response)

        # Restart: the session issued before is still accepted; what answered 200 is stored.
        server = start_server("faults-serve-2", config, env, tmp_path)
        who = httpx.get(f"{server.public}/sessions/whoami", headers={"X-Session-Token": token}, timeout=30)
        assert who.status_code == 200, who.text
        admin = httpx.Client(base_url=server.admin, timeout=30)
        for email in registered[:20]:
            found = admin.get("/admin/identities", params={"credentials_identifier": email}).json()
            assert len(found) == 1, email
    finally:
        server.stop()
