"""What the end-to-end courier tests run around ``kratos``: an SMTP inbox and an SMS gateway.

* :class:`Mailbox`: a real SMTP server (aiosmtpd) on a free port in a thread of the test process;
  every accepted mail is parsed into a :class:`Mail` that tests wait for by recipient.
* :class:`SmsGateway`: a local HTTP receiver (``http.server`` in a thread) standing in for an SMS
  provider; every POST body is kept as JSON.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port

#: Six digits standing alone (not inside a UUID or another word of a link).
_CODE = re.compile(r"(?<![\w-])(\d{6})(?![\w-])")
_URL = re.compile(r"https?://[^\s<>\"']+")


def one_code(text: str) -> str:
    """The one six-digit code in a mail's or SMS's text (fails when there is none or several)."""
    found = set(_CODE.findall(text))
    assert len(found) == 1, f"expected one six-digit code, found {found}: {text!r}"
    return found.pop()


class _Waitable:
    """A list that threads append to and tests wait on."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._cond = threading.Condition()

    def _add(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def matching(self, predicate: Callable[[Any], bool]) -> list[Any]:
        with self._cond:
            return [item for item in self._items if predicate(item)]

    def _wait(self, predicate: Callable[[Any], bool], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [item for item in self._items if predicate(item)]
                if found:
                    return found[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}; received: {self._items!r}")
                self._cond.wait(left)


# -- email --------------------------------------------------------------------------------------


@dataclass
class Mail:
    """One mail as the SMTP server accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def text(self) -> str:
        """The plaintext part (what a text-only mail client shows)."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, f"mail without a text part: {self.message}"
        return part.get_content()

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else part.get_content()

    def code(self) -> str:
        """The one six-digit code the text shows."""
        return one_code(self.text)

    def link(self, contains: str) -> str:
        """The one link in the text that contains ``contains``."""
        found = {url.rstrip(".,;)") for url in _URL.findall(self.text) if contains in url}
        assert len(found) == 1, f"expected one link with {contains!r}, found {found}: {self.text!r}"
        return found.pop()

    def __repr__(self) -> str:
        return f"Mail(to={self.rcpt_tos}, subject={self.subject!r})"


class _SmtpHandler:
    def __init__(self, inbox: Mailbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's naming
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox._add(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class Mailbox(_Waitable):
    """A plain SMTP server (no STARTTLS) on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self._controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)

    @property
    def connection_uri(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/?disable_starttls=true"

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Mail]:
        """Every mail received for ``address`` so far."""
        return self.matching(lambda m: address in m.rcpt_tos)

    def wait_for(self, address: str, subject: str | None = None, timeout: float = 20.0) -> Mail:
        """The newest mail to ``address`` (whose subject contains ``subject``), waiting for it."""

        def wanted(mail: Mail) -> bool:
            return address in mail.rcpt_tos and (subject is None or subject in mail.subject)

        return self._wait(wanted, timeout, f"a mail to {address}" + (f" about {subject!r}" if subject else ""))


# -- SMS ----------------------------------------------------------------------------------------


class SmsGateway(_Waitable):
    """An HTTP receiver that answers every POST with 200 and keeps its JSON body."""

    def __init__(self) -> None:
        super().__init__()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    gateway._add({"path": self.path, "content_type": self.headers.get("Content-Type"), **json.loads(body)})
                    status = 200
                except ValueError:
                    gateway._add({"path": self.path, "invalid": body})
                    status = 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/sms/send"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> SmsGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def to(self, number: str) -> list[dict[str, Any]]:
        return self.matching(lambda sms: sms.get("to") == number)

    def wait_for(self, number: str, timeout: float = 20.0) -> dict[str, Any]:
        return self._wait(lambda sms: sms.get("to") == number, timeout, f"an SMS to {number}")


# -- kratos processes -----------------------------------------------------------------------------
