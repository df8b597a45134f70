"""kratos-smtp against a real SMTP server (aiosmtpd on a free port)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import kratos_smtp.plugin
import pytest
from kratos_smtp import SmtpChannel, parse_connection_uri

from kratos_core import hookimpl
from kratos_core.config import ConfigError
from kratos_core.courier import Courier, store

SmtpServer = Any  # the conftest's server object (started aiosmtpd controller)


PLAIN = "?disable_starttls=true"


async def queue_login_code(courier: Courier, to: str = "jane@example.org", code: str = "123456") -> Any:
    return await courier.queue(courier.app.db, recipient=to, template_type="login_code_valid", template_data={"login_code": code})


async def state(courier: Courier, message_id: Any) -> tuple[str, int, list[str]]:
    message = await store.get_message(courier.app.db, message_id)
    dispatches = await store.list_dispatches(courier.app.db, message_id)
    return message.status, message.send_count, [d.status for d in dispatches]


def parsed(server: SmtpServer, index: int = 0) -> email.message.EmailMessage:
    return email.message_from_bytes(server.handler.received[index].content, policy=email.policy.default)


class _ShortTimeout:
    """The smtp plugin with a short timeout (Kratos's 10 s would make the test slow)."""

    @hookimpl
    def kratos_register_courier_channels(self, register: Any) -> None:
        register(SmtpChannel(timeout=0.5))


# -- delivery -------------------------------------------------------------------------------------


async def test_delivers_multipart_alternative_mail(make_courier: Any, courier_config: Any, smtp_server: SmtpServer) -> None:
    cfg = courier_config(
        f"smtp://127.0.0.1:{smtp_server.port}/{PLAIN}",
        smtp={"from_address": "accounts@example.org", "from_name": "Example Accounts", "headers": {"X-Kratos": "yes"}, "local_name": "mx.example.org"},
    )
    courier = await make_courier(cfg, [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    (outcome,) = await courier.drain()
    assert outcome.status == "sent"
    assert await state(courier, message_id) == ("sent", 1, ["success"])
    envelope = smtp_server.handler.received[0]
    assert envelope.mail_from == "accounts@example.org" and envelope.rcpt_tos == ["jane@example.org"]
    assert smtp_server.handler.helo == ["mx.example.org"]
    mail = parsed(smtp_server)
    assert mail["Subject"] == "Use code 123456 to log in"
    assert mail["From"] == "Example Accounts <accounts@example.org>" and mail["To"] == "jane@example.org"
    assert mail["X-Kratos"] == "yes" and mail["Message-ID"] and mail["Date"]
    assert mail.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in mail.iter_parts()}
    assert "123456" in parts["text/plain"] and "<html" not in parts["text/plain"]
    assert "123456" in parts["text/html"] and "<html" in parts["text/html"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_login_with_user_and_password_from_the_uri(make_courier: Any, courier_config: Any, auth_smtp_server: SmtpServer) -> None:
    uri = f"smtp://mailer:p%40ss%20word@127.0.0.1:{auth_smtp_server.port}/{PLAIN}"
    courier = await make_courier(courier_config(uri), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    assert await state(courier, message_id) == ("sent", 1, ["success"])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_wrong_password_is_a_failed_attempt(make_courier: Any, courier_config: Any, auth_smtp_server: SmtpServer) -> None:
    uri = f"smtp://mailer:wrong@127.0.0.1:{auth_smtp_server.port}/{PLAIN}"
    courier = await make_courier(courier_config(uri), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    dispatches = await store.list_dispatches(courier.app.db, message_id)
    assert dispatches[0].status == "failed" and dispatches[0].error["smtp_code"] == 535
    assert "wrong" not in str(dispatches[0].error)  # the password never reaches the record


# -- failures, retries --------------------------------------------------------------------------


async def test_refused_recipient_is_retried_then_abandoned(make_courier: Any, courier_config: Any, smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse_rcpt = True
    cfg = courier_config(f"smtp://127.0.0.1:{smtp_server.port}/{PLAIN}", message_retries=2)
    courier = await make_courier(cfg, [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    outcomes = await courier.drain(include_retries=True)
    assert [o.status for o in outcomes] == ["queued", "queued", "abandoned"]
    assert await state(courier, message_id) == ("abandoned", 3, ["failed"] * 3)
    (latest, *_) = await store.list_dispatches(courier.app.db, message_id)
    assert latest.error["smtp_code"] == 550 and "refused the recipient" in latest.error["message"]
    assert smtp_server.handler.received == []


async def test_server_down_keeps_the_message_until_it_is_back(make_courier: Any, courier_config: Any, new_server: Any) -> None:
    server = new_server()  # not started yet: its port refuses connections
    cfg = courier_config(f"smtp://127.0.0.1:{server.port}/{PLAIN}")
    courier = await make_courier(cfg, [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    status, count, dispatches = await state(courier, message_id)
    assert (status, count, dispatches) == ("queued", 1, ["failed"])
    server.start()
    await courier.drain(include_retries=True)
    assert await state(courier, message_id) == ("sent", 2, ["success", "failed"])
    assert "123456" in parsed(server)["Subject"]


async def test_slow_server_times_out(make_courier: Any, courier_config: Any, smtp_server: SmtpServer) -> None:
    smtp_server.handler.stall_seconds = 3
    cfg = courier_config(f"smtp://127.0.0.1:{smtp_server.port}/{PLAIN}")
    courier = await make_courier(cfg, [_ShortTimeout()])
    message_id = await queue_login_code(courier)
    await courier.drain()
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert dispatch.status == "failed" and "did not answer within 0.5 s" in dispatch.error["message"]
    assert (await store.get_message(courier.app.db, message_id)).status == "queued"


# -- TLS ------------------------------------------------------------------------------------------


async def test_starttls_is_required_by_default(make_courier: Any, courier_config: Any, smtp_server: SmtpServer) -> None:
    courier = await make_courier(courier_config(f"smtp://127.0.0.1:{smtp_server.port}/"), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert "does not offer STARTTLS" in dispatch.error["message"]
    assert smtp_server.handler.received == []


async def test_starttls_upgrades_the_connection(make_courier: Any, courier_config: Any, starttls_server: SmtpServer) -> None:
    uri = f"smtp://127.0.0.1:{starttls_server.port}/?skip_ssl_verify=true"
    courier = await make_courier(courier_config(uri), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    assert await state(courier, message_id) == ("sent", 1, ["success"])
    assert starttls_server.handler.tls == [True]


async def test_starttls_verifies_the_certificate(make_courier: Any, courier_config: Any, starttls_server: SmtpServer) -> None:
    courier = await make_courier(courier_config(f"smtp://127.0.0.1:{starttls_server.port}/"), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert dispatch.status == "failed" and "certificate" in dispatch.error["message"].lower()
    assert starttls_server.handler.received == []


async def test_disable_starttls_talks_plain_smtp_to_a_starttls_server(make_courier: Any, courier_config: Any, server_tls: Any, new_server: Any) -> None:
    server = new_server(tls_context=server_tls).start()  # offers STARTTLS without requiring it
    courier = await make_courier(courier_config(f"smtp://127.0.0.1:{server.port}/{PLAIN}"), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    assert await state(courier, message_id) == ("sent", 1, ["success"])
    assert server.handler.tls == [False]


async def test_smtps_uses_implicit_tls(make_courier: Any, courier_config: Any, smtps_server: SmtpServer) -> None:
    uri = f"smtps://127.0.0.1:{smtps_server.port}/?skip_ssl_verify=true"
    courier = await make_courier(courier_config(uri), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    assert await state(courier, message_id) == ("sent", 1, ["success"])
    assert smtps_server.handler.tls == [True]


@pytest.mark.parametrize(("server_name", "sent"), [("localhost", True), ("mail.example.org", False)])
async def test_smtps_verifies_the_certificate_against_server_name(
    make_courier: Any, courier_config: Any, smtps_server: SmtpServer, tls_files: Any, monkeypatch: pytest.MonkeyPatch, server_name: str, sent: bool
) -> None:
    # Trust the test certificate the way an operator trusts a private CA; it names "localhost",
    # and we dial 127.0.0.1, so only server_name makes verification pass.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    cfg = courier_config(f"smtps://127.0.0.1:{smtps_server.port}/?server_name={server_name}")
    courier = await make_courier(cfg, [kratos_smtp.plugin])
    message_id = await queue_login_code(courier)
    await courier.drain()
    status, _, _ = await state(courier, message_id)
    assert status == ("sent" if sent else "queued")
    assert len(smtps_server.handler.received) == int(sent)


# -- header injection -----------------------------------------------------------------------------


async def test_line_break_in_subject_is_refused_not_sent(make_courier: Any, courier_config: Any, smtp_server: SmtpServer) -> None:
    courier = await make_courier(courier_config(f"smtp://127.0.0.1:{smtp_server.port}/{PLAIN}"), [kratos_smtp.plugin])
    message_id = await courier.queue(
        courier.app.db,
        recipient="jane@example.org",
        template_type="stub",
        template_data={"subject": "Hello\r\nBcc: victim@example.org", "body": "hi"},
    )
    (outcome,) = await courier.drain(include_retries=True)
    assert outcome.status == "abandoned"  # permanent: retrying cannot help
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert dispatch.status == "failed" and "header injection" in dispatch.error["message"]
    assert smtp_server.handler.received == []


async def test_line_break_in_recipient_is_refused(make_courier: Any, courier_config: Any, smtp_server: SmtpServer) -> None:
    courier = await make_courier(courier_config(f"smtp://127.0.0.1:{smtp_server.port}/{PLAIN}"), [kratos_smtp.plugin])
    message_id = await queue_login_code(courier, to="jane@example.org\nBcc: victim@example.org")
    await courier.drain(include_retries=True)
    status, count, _ = await state(courier, message_id)
    assert (status, count) == ("abandoned", 1)
    assert smtp_server.handler.received == []


async def test_line_break_in_from_name_fails_at_start(factory: Any, courier_config: Any) -> None:
    cfg = courier_config("smtp://127.0.0.1:25/", smtp={"from_name": "Evil\r\nBcc: x@example.org"})
    app = await factory(cfg, plugins=[kratos_smtp.plugin])
    with pytest.raises(ConfigError, match="from_name must not contain line breaks"):
        Courier(app).validate()


# -- settings -------------------------------------------------------------------------------------


def test_connection_uri_options() -> None:
    plain = parse_connection_uri("smtp://u%40x:p%3Aw@mail.example.org:2525/?disable_starttls=true&skip_ssl_verify=true")
    assert (plain.host, plain.port, plain.username, plain.password) == ("mail.example.org", 2525, "u@x", "p:w")
    assert (plain.implicit_tls, plain.starttls, plain.verify_certificates) == (False, False, False)
    assert parse_connection_uri("smtp://mail.example.org/").port == 25
    secure = parse_connection_uri("smtps://mail.example.org/?server_name=smtp.example.org")
    assert (secure.port, secure.implicit_tls, secure.starttls, secure.server_name) == (465, True, False, "smtp.example.org")
    assert parse_connection_uri("smtp://m.example.org/?legacy_ssl=true").implicit_tls


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("smtp://m.example.org/?disable_startls=true", 'unknown option "disable_startls"'),
        ("smtp://m.example.org/?skip_ssl_verify=maybe", "must be true or false"),
        ("http://m.example.org/", "scheme"),
        ("smtp:///", "no host"),
    ],
)
def test_bad_connection_uri(uri: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_connection_uri(uri)


async def test_bad_connection_uri_fails_at_start_without_the_password(factory: Any, courier_config: Any) -> None:
    app = await factory(courier_config("smtp://u:secret@m.example.org/?starttls=off"), plugins=[kratos_smtp.plugin])
    with pytest.raises(ConfigError) as err:
        Courier(app).validate()
    assert "courier.smtp" in str(err.value) and "secret" not in str(err.value)


async def test_without_connection_uri_attempts_fail_clearly(factory: Any, tmp_path: Path) -> None:
    from kratos_core.testing import default_config

    app = await factory(default_config(tmp_path), plugins=[kratos_smtp.plugin])
    courier = Courier(app)
    message_id = await queue_login_code(courier)
    await courier.drain()
    (dispatch,) = await store.list_dispatches(app.db, message_id)
    assert "connection_uri is not set" in dispatch.error["message"]
