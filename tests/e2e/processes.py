"""``kratos`` commands as a user runs them, as subprocesses of the end-to-end tests.

:class:`KratosProcess` is ``kratos serve`` or ``kratos courier watch`` running, its output in a
log file (a pipe nobody reads could fill up and block the server), stopped with SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
KRATOS = [sys.executable, "-m", "kratos_core"]


@dataclass
class KratosProcess:
    """A running ``kratos`` command; ``public``/``admin`` are set for servers."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    public: str = ""
    admin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM, wait; returns the output. Raises when the process did not exit cleanly."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.name} did not stop on SIGTERM: {self.output()[-4000:]}") from None
        out = self.output()
        assert self.proc.returncode == 0, f"{self.name} exited with {self.proc.returncode}: {out[-4000:]}"
        return out


def run_kratos(
    args: list[str], env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a ``kratos`` command to its end (``migrate sql`` ...), ``input`` on its stdin."""
    return subprocess.run(
        [*KRATOS, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, input=input, timeout=120, cwd=REPO
    )


def _spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> KratosProcess:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*KRATOS, *args], env={**os.environ, **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    return KratosProcess(name, proc, log)


def start_server(name: str, config: Path, env: dict[str, str], log_dir: Path, *flags: str) -> KratosProcess:
    """``kratos serve -c config [flags]`` on free ports; returns once ``/health/ready`` answers."""
    pub, adm = free_port(), free_port()
    env = {
        **env,
        "SERVE_PUBLIC_PORT": str(pub),
        "SERVE_ADMIN_PORT": str(adm),
        "SERVE_PUBLIC_BASE_URL": f"http://127.0.0.1:{pub}/",
        "SERVE_ADMIN_BASE_URL": f"http://127.0.0.1:{adm}/",
    }
    server = _spawn(name, ["serve", "-c", str(config), *flags], env, log_dir)
    server.public, server.admin = f"http://127.0.0.1:{pub}", f"http://127.0.0.1:{adm}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"{name} exited early: {server.output()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.admin}/health/ready", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.proc.kill()
    raise AssertionError(f"{name} did not become ready: {server.output()[-4000:]}")


def start_courier_worker(name: str, config: Path, env: dict[str, str], log_dir: Path) -> KratosProcess:
    """``kratos courier watch -c config``; returns once it logged that its worker started."""
    worker = _spawn(name, ["courier", "watch", "-c", str(config)], {**env, "LOG_LEVEL": "info"}, log_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise AssertionError(f"{name} exited early: {worker.output()[-4000:]}")
        if "courier worker started" in worker.output():
            return worker
        time.sleep(0.1)
    worker.proc.kill()
    raise AssertionError(f"{name} did not start its worker: {worker.output()[-4000:]}")
