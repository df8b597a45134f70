"""The ``email`` courier channel: one SMTP session per message, multipart/alternative mail.

Kratos's rules (kratos-behaviour.md section 8.3): ``smtp://`` upgrades with STARTTLS and refuses
to send without it unless ``disable_starttls=true``; ``smtps://`` is TLS from the first byte;
10 s timeout; HTML and plaintext bodies as ``multipart/alternative``. A line break in any header
value (recipient, subject, sender name) would let a message forge headers, so such a message is
refused before a connection is made.
"""

from __future__ import annotations

import asyncio
import socket
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

import aiosmtplib

from kratos_core.api import ConfigError, DeliveryError, Message, utcnow

from .settings import SmtpSettings, has_line_break, settings_from_config

if TYPE_CHECKING:  # pragma: no cover
    from kratos_core.api import Config

__all__ = ["SmtpChannel", "build_email", "DEFAULT_TIMEOUT"]

#: Kratos's SMTP timeout, in seconds.
DEFAULT_TIMEOUT = 10.0


class SmtpChannel:
    """Sends ``email`` messages through the server ``courier.smtp.connection_uri`` names.

    Args:
        timeout: Seconds for connecting and for each SMTP command (Kratos: 10).
    """

    id = "email"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.settings: SmtpSettings | None = None

    def configure(self, config: Config) -> None:
        """Parse ``courier.smtp`` (called once when the courier starts).

        Raises:
            ConfigError: ``connection_uri`` or a sender setting is invalid.
        """
        try:
            self.settings = settings_from_config(config)
        except ValueError as exc:
            raise ConfigError("courier.smtp", str(exc)) from exc

    async def send(self, message: Message) -> None:
        """Deliver one message over SMTP.

        Raises:
            DeliveryError: No server configured, a header value with a line break (permanent),
                or the server refused, timed out or could not be reached.
        """
        settings = self.settings
        if settings is None:
            raise DeliveryError("courier.smtp.connection_uri is not set: email cannot be sent")
        mail = build_email(message, settings)
        try:
            await self._deliver(mail, message.recipient, settings)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            raise DeliveryError(
                f"the SMTP server refused the recipient: {getattr(refused, 'message', exc)}",
                details={"smtp_code": getattr(refused, "code", None)},
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"the SMTP server answered {exc.code}: {exc.message}", details={"smtp_code": exc.code}) from exc
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            raise DeliveryError(f"the SMTP server did not answer within {self.timeout:g} s") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP delivery to {settings.host}:{settings.port} failed: {exc}") from exc

    async def _deliver(self, mail: EmailMessage, recipient: str, settings: SmtpSettings) -> None:
        client = aiosmtplib.SMTP(
            **await self._endpoint(settings),
            use_tls=settings.implicit_tls,
            start_tls=False,  # we decide below: STARTTLS is mandatory, not opportunistic
            validate_certs=settings.verify_certificates,
            client_cert=settings.client_cert_path,
            client_key=settings.client_key_path,
            local_hostname=settings.local_name,
            timeout=self.timeout,
        )
        async with client:
            if settings.starttls:
                await client.ehlo()  # the extensions are known only after EHLO
                if not client.supports_extension("starttls"):
                    raise DeliveryError(
                        "the SMTP server does not offer STARTTLS; refusing to send in plain text "
                        "(add disable_starttls=true to courier.smtp.connection_uri to allow it)"
                    )
                await client.starttls(server_hostname=settings.server_name or settings.host)
            if settings.username:
                await client.login(settings.username, settings.password or "")
            await client.send_message(mail, sender=settings.from_address, recipients=[recipient])

    async def _endpoint(self, settings: SmtpSettings) -> dict[str, Any]:
        if settings.server_name is None or not settings.implicit_tls:
            return {"hostname": settings.host, "port": settings.port}
        # Implicit TLS verifies the name it connects to; to check server_name instead we dial
        # the socket ourselves and hand aiosmtplib the name.
        sock = await asyncio.wait_for(_dial(settings.host, settings.port), self.timeout)
        return {"hostname": settings.server_name, "sock": sock}


async def _dial(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"cannot resolve {host}")


def build_email(message: Message, settings: SmtpSettings) -> EmailMessage:
    """The MIME mail for ``message``: plaintext and HTML as ``multipart/alternative``.

    Raises:
        DeliveryError: A header value holds a line break (permanent: retrying cannot help).
    """
    for label, value in (("recipient", message.recipient), ("subject", message.subject), ("from name", settings.from_name)):
        if has_line_break(value):
            raise DeliveryError(
                f"the {label} contains a line break; refusing to send (header injection)",
                permanent=True,
                details={"header": label},
            )
    mail = EmailMessage()
    try:
        mail["From"] = Address(display_name=settings.from_name or "", addr_spec=settings.from_address)
        mail["To"] = message.recipient
    except (ValueError, IndexError) as exc:
        raise DeliveryError(f"invalid address: {exc}", permanent=True) from exc
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2] or None)
    for name, value in settings.headers.items():
        mail[name] = value
    mail.set_content(message.body)
    if message.html_body:
        mail.add_alternative(message.html_body, subtype="html")
    return mail
