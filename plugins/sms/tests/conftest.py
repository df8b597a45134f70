"""A local HTTP gateway (http.server on a free port) and courier apps for the tests."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kratos_core.courier import Courier, CourierOptions
from kratos_core.testing import AppFactory, default_config, merge


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    """What the gateway answers (``status``, after ``delay`` seconds) and what it received."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self._answer()

        def do_PUT(self) -> None:  # noqa: N802
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if state.delay:
                time.sleep(state.delay)
            payload = b'{"ok": %s}' % (b"true" if state.status < 300 else b"false")
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up waiting (timeout tests)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


#: Fast retries for tests (Kratos's timing would make them slow).
FAST = CourierOptions(retry_backoff=dt.timedelta(milliseconds=20), max_backoff=dt.timedelta(milliseconds=100))


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[AppFactory]:
    apps = AppFactory(tmp_path)
    yield apps
    await apps.close()


@pytest.fixture
def sms_config(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``sms_config(request_config, **courier_section)``: a config with that ``sms`` channel."""

    def build(request_config: dict[str, Any] | None = None, **courier: Any) -> dict[str, Any]:
        section: dict[str, Any] = dict(courier)
        if request_config is not None:
            section["channels"] = [{"id": "sms", "type": "http", "request_config": request_config}]
        return merge(default_config(tmp_path), {"courier": section})

    return build


@pytest.fixture
def make_courier(factory: AppFactory) -> Callable[..., Awaitable[Courier]]:
    """``await make_courier(config, plugins)``: a started app's courier (fast retries), checked."""

    async def build(config: dict[str, Any], plugins: list[object]) -> Courier:
        app = await factory(config, plugins=plugins)
        courier = Courier(app, options=FAST)
        courier.validate()
        return courier

    return build
