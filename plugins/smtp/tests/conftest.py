"""A real SMTP server (aiosmtpd) on a free port, TLS material, and courier apps for the tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kratos_core.courier import Courier, CourierOptions
from kratos_core.testing import AppFactory, default_config, merge


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Handler:
    """Records what the server accepted; can refuse recipients or stall."""

    refuse_rcpt: bool = False
    stall_seconds: float = 0.0
    received: list[Any] = field(default_factory=list)
    helo: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        self.helo.append(hostname)
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.refuse_rcpt:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        self.received.append(envelope)
        self.tls.append(session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None)
        return "250 Message accepted for delivery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer" and auth_data.password == b"p@ss word"
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """An aiosmtpd server in a thread; ``start()``/``stop()`` may be called again (same port)."""

    def __init__(self, port: int | None = None, **server_kwargs: Any) -> None:
        self.port = port or free_port()
        self.handler = Handler()
        self._kwargs = server_kwargs
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        kwargs = dict(self._kwargs)
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, tls_files))
    return context


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server without STARTTLS."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def auth_smtp_server() -> Iterator[SmtpServer]:
    """A server that requires a login (over plain text, for the test only)."""
    server = SmtpServer(authenticator=_authenticator, auth_required=True, auth_require_tls=False).start()
    yield server
    server.stop()


@pytest.fixture
def starttls_server(server_tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    server = SmtpServer(tls_context=server_tls, require_starttls=True).start()
    yield server
    server.stop()


@pytest.fixture
def smtps_server(server_tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    server = SmtpServer(ssl_context=server_tls).start()
    yield server
    server.stop()


#: Fast retries for tests: Kratos's timing (seconds) would make them slow.
FAST = CourierOptions(retry_backoff=dt.timedelta(milliseconds=20), max_backoff=dt.timedelta(milliseconds=100))


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[AppFactory]:
    apps = AppFactory(tmp_path)
    yield apps
    await apps.close()


@pytest.fixture
def new_server() -> Iterator[Callable[..., SmtpServer]]:
    """Build (not start) servers: ``new_server(port=None, **aiosmtpd_kwargs)``; stopped after."""
    made: list[SmtpServer] = []

    def build(port: int | None = None, **kwargs: Any) -> SmtpServer:
        made.append(SmtpServer(port, **kwargs))
        return made[-1]

    yield build
    for server in made:
        server.stop()


@pytest.fixture
def courier_config(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``courier_config(connection_uri, **courier_section)``: a test config using that server."""

    def build(connection_uri: str, **courier: Any) -> dict[str, Any]:
        smtp = {"connection_uri": connection_uri, **courier.pop("smtp", {})}
        return merge(default_config(tmp_path), {"courier": {"smtp": smtp, **courier}})

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
