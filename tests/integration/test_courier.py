"""The courier: queueing in the caller's transaction, the in-process worker, retries, recovery,
hooks, templates and their overrides (with a recording channel; SMTP/HTTP have their plugins' tests)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

from kratos_core import hookimpl
from kratos_core.app import KratosApp
from kratos_core.config import ConfigError
from kratos_core.courier import Courier, CourierOptions, DeliveryError, courier_for, store
from kratos_core.courier.worker import backoff
from tests.conftest import base_config, make_app, write_config
from tests.courier_helpers import FAST, Recorder, dispatch_statuses, wait_for, wait_status

LOGIN = {"login_code": "123456"}


async def started(tmp_path: Path, plugins: list[object], dsn: str = "memory", dev: bool = True, **courier: Any) -> KratosApp:
    cfg = base_config(tmp_path, dsn=dsn)
    if courier:
        cfg["courier"] = courier
    app = make_app(tmp_path, cfg, plugins=plugins, dev=dev)
    await app.start(migrate=True)
    return app


@pytest.fixture
async def recorder_app(tmp_path: Path, any_dsn: str) -> AsyncIterator[tuple[KratosApp, Recorder, Courier]]:
    recorder = Recorder()
    app = await started(tmp_path, [recorder], dsn=any_dsn)
    courier = Courier(app, options=FAST)
    try:
        yield app, recorder, courier
    finally:
        await courier.stop()
        await app.stop()


@pytest.fixture
async def memory_app(tmp_path: Path) -> AsyncIterator[tuple[KratosApp, Recorder, Courier]]:
    """Like ``recorder_app`` on the in-memory database only (rendering does not vary by engine)."""
    recorder = Recorder()
    app = await started(tmp_path, [recorder])
    try:
        yield app, recorder, Courier(app, options=FAST)
    finally:
        await app.stop()


async def queue(courier: Courier, conn: Any = None, to: str = "jane@example.org", **kwargs: Any) -> uuid.UUID:
    kwargs.setdefault("template_type", "login_code_valid")
    kwargs.setdefault("template_data", LOGIN)
    return await courier.queue(conn if conn is not None else courier.app.db, recipient=to, **kwargs)


# -- queue -> deliver -> sent -----------------------------------------------------------------------


async def test_in_process_worker_delivers_and_records_one_success(recorder_app: Any) -> None:
    app, recorder, courier = recorder_app
    await courier.start_worker()
    message_id = await queue(courier)
    message = await wait_status(app.db, message_id, "sent")
    assert message.send_count == 1 and message.next_attempt_at is None
    assert await dispatch_statuses(app.db, message_id) == ["success"]
    (sent,) = recorder.sent
    assert sent.id == message_id and sent.recipient == "jane@example.org" and sent.channel == "email"
    assert sent.subject == "Use code 123456 to log in" and "123456" in sent.body and "<html" in sent.html_body


async def test_message_is_stored_rendered_and_queued(memory_app: Any) -> None:
    app, _, courier = memory_app
    message_id = await queue(courier, template_data={"login_code": "424242", "identity": {"id": "x", "credentials": {"password": {}}, "metadata_admin": {"a": 1}, "traits": {}}})
    message = await store.get_message(app.db, message_id)
    assert (message.status, message.type, message.send_count, message.template_type) == ("queued", "email", 0, "login_code_valid")
    assert message.subject == "Use code 424242 to log in"
    # Pitfall 17: credentials and admin metadata never reach templates or the stored data.
    assert message.template_data["identity"] == {"id": "x", "traits": {}}
    assert message.template_data["to"] == "jane@example.org"


async def test_transaction_that_rolls_back_never_sends(recorder_app: Any) -> None:
    app, recorder, courier = recorder_app
    await courier.start_worker()
    with pytest.raises(RuntimeError, match="flow failed"):
        async with app.db.transaction() as tx:
            message_id = await queue(courier, tx)
            raise RuntimeError("flow failed")
    await asyncio.sleep(0.3)  # two poll intervals of the worker would have found it
    assert await store.get_message(app.db, message_id) is None
    assert recorder.sent == [] and recorder.attempts == {}


async def test_message_is_handed_off_only_after_commit(recorder_app: Any) -> None:
    app, recorder, courier = recorder_app
    await courier.start_worker()
    async with app.db.transaction() as tx:
        message_id = await queue(courier, tx)
        await asyncio.sleep(0.2)
        assert recorder.attempts == {}  # nothing is sent while the transaction is open
    await wait_status(app.db, message_id, "sent")


async def test_dramatiq_stub_broker_delivers(tmp_path: Path) -> None:
    recorder = Recorder()
    app = await started(tmp_path, [recorder])
    courier = Courier(app, options=FAST, broker=StubBroker())
    try:
        await courier.start_worker()
        message_id = await queue(courier)
        await wait_status(app.db, message_id, "sent")
        assert await dispatch_statuses(app.db, message_id) == ["success"]
    finally:
        await courier.stop()
        await app.stop()


async def test_worker_picks_up_messages_queued_while_nobody_listened(recorder_app: Any) -> None:
    app, recorder, courier = recorder_app
    ids = [await queue(courier, to=f"user{i}@example.org") for i in range(3)]  # no worker yet
    assert {(await store.get_message(app.db, i)).status for i in ids} == {"queued"}
    await courier.start_worker()
    for message_id in ids:
        await wait_status(app.db, message_id, "sent")
    assert sorted(m.recipient for m in recorder.sent) == ["user0@example.org", "user1@example.org", "user2@example.org"]


# -- retries ----------------------------------------------------------------------------------------


async def test_failed_attempts_are_retried_then_abandoned(tmp_path: Path) -> None:
    recorder = Recorder(fail_times=-1)
    app = await started(tmp_path, [recorder], message_retries=2)
    courier = Courier(app, options=FAST)
    try:
        await courier.start_worker()
        message_id = await queue(courier)
        message = await wait_status(app.db, message_id, "abandoned")
        assert message.send_count == 3 and recorder.attempts[message_id] == 3
        dispatches = await store.list_dispatches(app.db, message_id)
        assert [d.status for d in dispatches] == ["failed"] * 3
        assert dispatches[0].error == {"message": "gateway unavailable", "status_code": 503}
        assert dispatches[0].created_at >= dispatches[1].created_at >= dispatches[2].created_at  # newest first
    finally:
        await courier.stop()
        await app.stop()


async def test_failed_attempt_waits_for_its_back_off(tmp_path: Path) -> None:
    recorder = Recorder(fail_times=1)
    app = await started(tmp_path, [recorder])
    slow = CourierOptions(retry_backoff=dt.timedelta(seconds=30))
    courier = Courier(app, options=slow)
    try:
        message_id = await queue(courier)
        (first,) = await courier.drain()
        assert first.status == "queued" and first.retry_in == 30
        message = await store.get_message(app.db, message_id)
        assert message.status == "queued" and message.next_attempt_at > message.updated_at + dt.timedelta(seconds=29)
        assert await courier.drain() == []  # not due yet: nothing is attempted
        (second,) = await courier.drain(include_retries=True)
        assert second.status == "sent"
        assert await dispatch_statuses(app.db, message_id) == ["success", "failed"]
    finally:
        await app.stop()


def test_back_off_doubles_up_to_the_cap() -> None:
    base, cap = dt.timedelta(seconds=1), dt.timedelta(seconds=10)
    assert [backoff(n, base, cap).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


async def test_permanent_failure_abandons_at_once(tmp_path: Path) -> None:
    class Refuses:
        id = "email"

        async def send(self, message: Any) -> None:
            raise DeliveryError("recipient is not an address", permanent=True)

    class Plugin:
        @hookimpl
        def kratos_register_courier_channels(self, register: Any) -> None:
            register(Refuses())

    app = await started(tmp_path, [Plugin()])
    try:
        courier = Courier(app, options=FAST)
        message_id = await queue(courier)
        (outcome,) = await courier.drain(include_retries=True)
        assert outcome.status == "abandoned"
        assert await dispatch_statuses(app.db, message_id) == ["failed"]
    finally:
        await app.stop()


async def test_channel_without_plugin_fails_with_the_package_to_install(memory_app: Any, tmp_path: Path) -> None:
    _, _, courier = memory_app
    message_id = await queue(courier, channel="pager", template_type="stub", template_data={"subject": "s", "body": "b"})
    await courier.drain()
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert 'no courier channel "pager" is installed' in dispatch.error["message"]


async def test_http_delivery_strategy_without_kratos_sms_fails_at_start(tmp_path: Path) -> None:
    app = await started(tmp_path, [Recorder()], delivery_strategy="http", http={"request_config": {"url": "http://x.example.org"}})
    try:
        with pytest.raises(ConfigError, match="kratos-sms"):
            Courier(app).validate()
    finally:
        await app.stop()


# -- crash recovery ---------------------------------------------------------------------------------


async def test_message_stuck_in_processing_is_recovered(recorder_app: Any) -> None:
    app, recorder, courier = recorder_app
    message_id = await queue(courier)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    # A worker claimed it an hour ago and died.
    await app.db.execute("UPDATE courier_messages SET status = 'processing', updated_at = $2 WHERE id = $1", message_id, long_ago)
    poller = courier.poller()
    outcomes = await poller.poll_once()
    assert [o.status for o in outcomes] == ["queued"]
    (dispatch,) = await store.list_dispatches(app.db, message_id)
    assert dispatch.status == "failed" and "worker stopped" in dispatch.error["message"]
    await courier.drain(include_retries=True)
    message = await store.get_message(app.db, message_id)
    assert (message.status, message.send_count) == ("sent", 2)
    assert len(recorder.sent) == 1


async def test_recent_processing_is_left_alone(recorder_app: Any) -> None:
    app, _, courier = recorder_app
    message_id = await queue(courier)
    await app.db.execute("UPDATE courier_messages SET status = 'processing' WHERE id = $1", message_id)
    assert await courier.poller().poll_once() == []
    assert (await store.get_message(app.db, message_id)).status == "processing"


# -- hooks ------------------------------------------------------------------------------------------


class Hooks:
    def __init__(self, veto: bool = False, broken_observer: bool = False) -> None:
        self.veto = veto
        self.broken_observer = broken_observer
        self.before: list[Any] = []
        self.after: list[tuple[Any, Any]] = []

    @hookimpl
    async def kratos_courier_before_send(self, message: Any) -> None:
        self.before.append(message)
        if self.veto:
            raise PermissionError("recipient is on the block list")

    @hookimpl
    def kratos_courier_after_send(self, message: Any, dispatch: Any) -> None:
        self.after.append((message, dispatch))
        if self.broken_observer:
            raise RuntimeError("metrics backend down")


async def test_before_send_veto_is_a_failed_attempt(tmp_path: Path) -> None:
    hooks, recorder = Hooks(veto=True), Recorder()
    app = await started(tmp_path, [recorder, hooks], message_retries=0)
    try:
        courier = Courier(app, options=FAST)
        message_id = await queue(courier)
        (outcome,) = await courier.drain()
        assert outcome.status == "abandoned" and recorder.attempts == {}
        (dispatch,) = await store.list_dispatches(app.db, message_id)
        assert "block list" in dispatch.error["message"] and dispatch.error["hook"] == "kratos_courier_before_send"
        assert hooks.after[0][1].status == "failed"
    finally:
        await app.stop()


async def test_after_send_sees_the_dispatch_and_is_contained(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hooks = Hooks(broken_observer=True)
    app = await started(tmp_path, [Recorder(), hooks])
    try:
        courier = Courier(app, options=FAST)
        message_id = await queue(courier)
        (outcome,) = await courier.drain()
        assert outcome.status == "sent"
        ((message, dispatch),) = hooks.after
        assert message.id == message_id and dispatch.status == "success" and dispatch.error is None
        assert hooks.before[0].id == message_id
        assert "failed in kratos_courier_after_send" in caplog.text
    finally:
        await app.stop()


# -- templates --------------------------------------------------------------------------------------


async def test_sms_ends_with_the_webotp_line(memory_app: Any) -> None:
    app, recorder, courier = memory_app
    data = {"login_code": "987654", "request_url": "https://auth.example.org/self-service/login/api"}
    message_id = await queue(courier, to="+15550100", channel="sms", template_data=data)
    message = await store.get_message(app.db, message_id)
    assert (message.type, message.subject, message.html_body) == ("sms", "", None)
    assert message.body.splitlines()[-1] == "@auth.example.org #987654"


@pytest.mark.parametrize(
    ("template_type", "data", "subject"),
    [
        ("recovery_valid", {"recovery_url": "https://x/r"}, "Recover access to your account"),
        ("recovery_invalid", {}, "Account access attempted"),
        ("recovery_code_valid", {"recovery_code": "111222"}, "Use code 111222 to recover access to your account"),
        ("recovery_code_invalid", {}, "Account access attempted"),
        ("verification_valid", {"verification_url": "https://x/v"}, "Please verify your email address"),
        ("verification_invalid", {}, "Someone tried to verify this email address"),
        ("verification_code_valid", {"verification_code": "333444"}, "Use code 333444 to verify your account"),
        ("verification_code_invalid", {}, "Someone tried to verify this email address"),
        ("login_code_valid", {"login_code": "555666"}, "Use code 555666 to log in"),
        ("registration_code_valid", {"registration_code": "777888"}, "Use code 777888 to complete your account registration"),
    ],
)
async def test_builtin_subjects(memory_app: Any, template_type: str, data: dict[str, Any], subject: str) -> None:
    app, _, courier = memory_app
    message = await store.get_message(app.db, await queue(courier, template_type=template_type, template_data=data))
    assert message.subject == subject
    for value in data.values():
        assert value in message.body and value in message.html_body


async def test_html_is_escaped_and_plaintext_is_not(memory_app: Any) -> None:
    app, _, courier = memory_app
    url = "https://x.example.org/v?flow=1&code=<b>"
    message = await store.get_message(app.db, await queue(courier, template_type="verification_valid", template_data={"verification_url": url}))
    assert url in message.body
    assert "flow=1&amp;code=&lt;b&gt;" in message.html_body and "<b>" not in message.html_body


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"template_type": "verifiable_address_changed"}, "no \"verifiable_address_changed\" template"),
        ({"template_type": "recovery_invalid", "channel": "sms"}, "for the sms channel"),
        ({"template_data": {}}, "needs login_code"),
    ],
)
async def test_queue_refuses_what_cannot_be_rendered(memory_app: Any, kwargs: dict[str, Any], error: str) -> None:
    _, _, courier = memory_app
    with pytest.raises(ValueError, match=error):
        await queue(courier, **kwargs)


def _override_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "courier-templates"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


async def test_override_path_with_gotmpl_names_holding_jinja2(tmp_path: Path) -> None:
    root = _override_dir(
        tmp_path,
        {
            "login_code/valid/email.subject.gotmpl": "Sign-in code: {{ login_code }}",
            "login_code/valid/email.body.gotmpl": "{% include 'partials/hello.html' %}<b>{{ LoginCode }}</b>",
            "login_code/valid/email.body.plaintext.gotmpl": "code={{ login_code }} for {{ identity.traits.name.first }}",
            "login_code/valid/sms.body.jinja2": "SMS {{ login_code }}",
            "partials/hello.html": "<p>Hi {{ to }}</p>",
        },
    )
    app = await started(tmp_path, [Recorder()], template_override_path=str(root))
    try:
        courier = Courier(app, options=FAST)
        email = await store.get_message(app.db, await queue(courier, to="<jo>@example.org"))
        assert email.subject == "Sign-in code: 123456"
        assert email.html_body == "<p>Hi &lt;jo&gt;@example.org</p><b>123456</b>"
        assert email.body == "code=123456 for "  # a missing trait renders empty, as in Go templates
        sms = await store.get_message(app.db, await queue(courier, to="+15550100", channel="sms"))
        assert sms.body == "SMS 123456"
        # Templates the directory does not override stay built in.
        other = await store.get_message(app.db, await queue(courier, template_type="recovery_invalid", template_data={}))
        assert other.subject == "Account access attempted"
    finally:
        await app.stop()


async def test_template_uris_override_the_override_path(tmp_path: Path) -> None:
    subject = "base64://" + base64.b64encode(b"Code {{ verification_code }}").decode()
    plaintext = tmp_path / "plain.txt"
    plaintext.write_text("Plain {{ verification_code }}")
    root = _override_dir(tmp_path, {"verification_code/valid/email.subject.gotmpl": "from the directory"})
    templates = {"verification_code": {"valid": {"email": {"subject": subject, "body": {"plaintext": f"file://{plaintext}"}}}}}
    app = await started(tmp_path, [Recorder()], template_override_path=str(root), templates=templates)
    try:
        courier = Courier(app, options=FAST)
        message_id = await queue(courier, template_type="verification_code_valid", template_data={"verification_code": "246810"})
        message = await store.get_message(app.db, message_id)
        assert (message.subject, message.body) == ("Code 246810", "Plain 246810")
        assert "246810" in message.html_body  # the built-in HTML body
    finally:
        await app.stop()


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"files": {"login_code/valid/email.subject.gotmpl": "Use code {{ .LoginCode }}"}}, "templates are Jinja2"),
        ({"files": {"recovery/valid/email.body.gotmpl": "{% if %}"}}, "recovery/valid/email.body.gotmpl"),
        ({"files": {"login_code/valid/sms.body.gotmpl": "{{ login_code | no_such_filter }}"}}, "no_such_filter"),
        ({"templates": {"login_code": {"valid": {"email": {"subject": "base64://e3sgbG9naW5fY29kZQ"}}}}}, "courier.templates.login_code.valid.email.subject"),
        ({"templates": {"login_code": {"invalid": {}}}}, "courier.templates"),
        ({"templates": {"recovery": {"valid": {"email": {"subject": "file:///nonexistent/x"}}}}}, "cannot read"),
    ],
)
async def test_broken_template_override_fails_at_start(tmp_path: Path, override: dict[str, Any], error: str) -> None:
    cfg = base_config(tmp_path)
    if "files" in override:
        cfg["courier"] = {"template_override_path": str(_override_dir(tmp_path, override["files"]))}
    else:
        cfg["courier"] = {"templates": override["templates"]}
    app = make_app(tmp_path, cfg, plugins=[Recorder()])
    with pytest.raises(ConfigError, match=error.replace(".", r"\.").replace("|", r"\|")):
        await app.start(migrate=True)
    assert not app.started


# -- the app's courier, and `kratos courier watch` ---------------------------------------------------


async def test_courier_for_reads_the_broker_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path)
    monkeypatch.setenv("KRATOS_COURIER_BROKER_URL", "redis://127.0.0.1:1/0")
    courier = courier_for(app)
    assert courier is courier_for(app) and courier.uses_broker
    monkeypatch.setenv("KRATOS_COURIER_BROKER_URL", "amqp://x")
    with pytest.raises(ConfigError, match="KRATOS_COURIER_BROKER_URL"):
        CourierOptions.from_env()


def test_kratos_courier_watch_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    dsn = f"sqlite://{tmp_path}/kratos.sqlite?_fk=true"
    cfg = base_config(tmp_path, dsn=dsn)
    cfg["courier"] = {"smtp": {"connection_uri": f"smtp://127.0.0.1:{smtp.port}/?disable_starttls=true"}, "worker": {"pull_wait": "100ms"}}
    path = write_config(tmp_path, cfg)

    async def seed() -> uuid.UUID:
        import kratos_smtp.plugin

        app = make_app(tmp_path, cfg, plugins=[kratos_smtp.plugin])
        await app.start(migrate=True)
        try:
            return await Courier(app).queue(app.db, recipient="cli@example.org", template_type="login_code_valid", template_data=LOGIN)
        finally:
            await app.stop()

    message_id = asyncio.run(seed())
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRATOS_COURIER_")}
    log = tmp_path / "watch.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "kratos_core", "courier", "watch", "-c", str(path)], env=env, stderr=stderr)
    try:
        delivered = asyncio.run(_wait_received(received))
        assert delivered, f"the watcher did not deliver the message: {log.read_text()[-2000:]}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            smtp.stop()
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert received[0].rcpt_tos == ["cli@example.org"]

    async def status() -> str:
        app = make_app(tmp_path, cfg)
        await app.start()
        try:
            return (await store.get_message(app.db, message_id)).status
        finally:
            await app.stop()

    assert asyncio.run(status()) == "sent"


async def _wait_received(received: list[Any]) -> bool:
    try:
        await wait_for(lambda: _true_if(received), timeout=60, what="the SMTP server to receive the mail")
    except AssertionError:
        return False
    return True


async def _true_if(items: list[Any]) -> bool:
    return bool(items)
