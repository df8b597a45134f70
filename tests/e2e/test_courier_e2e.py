"""Issue #4 end to end: codes and links by real mail and SMS, recovery into settings, two deployments.

``kratos`` runs as the user runs it, in subprocesses, in two modes (a module-scoped stack per
mode):

* ``in-process``: ``kratos serve --dev --watch-courier`` on an embedded SQLite file, nothing else;
* ``redis``: PostgreSQL (migrated with ``kratos migrate sql -e --yes``), ``kratos serve`` without
  a worker and a separate ``kratos courier watch``, handing messages over through Dramatiq on
  Redis. The worker polls the database only every ``courier.worker.pull_wait`` (10 minutes here,
  and its poller leaves messages younger than 10 s to the broker), so a mail that arrives within
  the tests' timeouts came through Redis.

Each mode runs three servers that differ in ``selfservice.flows.*.use`` and
``notify_unknown_recipients`` (``code``, ``link``, ``notify``). Mail goes to an aiosmtpd server
and SMS to an HTTP receiver, both in this process; codes and links are read from what arrived.
Every answer goes through the official SDK (``ory_kratos_client``): native flows are driven by
``FrontendApi``/``IdentityApi``/``CourierApi``, browser flows by httpx with the bodies parsed by
the SDK's models, so a field the SDK refuses fails here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import ory_kratos_client
import pytest
from ory_kratos_client.api.courier_api import CourierApi
from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.api.identity_api import IdentityApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.continue_with_set_ory_session_token import ContinueWithSetOrySessionToken
from ory_kratos_client.models.continue_with_settings_ui import ContinueWithSettingsUi
from ory_kratos_client.models.continue_with_verification_ui import ContinueWithVerificationUi
from ory_kratos_client.models.create_identity_body import CreateIdentityBody
from ory_kratos_client.models.identity import Identity
from ory_kratos_client.models.identity_with_credentials import IdentityWithCredentials
from ory_kratos_client.models.identity_with_credentials_password import IdentityWithCredentialsPassword
from ory_kratos_client.models.identity_with_credentials_password_config import IdentityWithCredentialsPasswordConfig
from ory_kratos_client.models.login_flow import LoginFlow
from ory_kratos_client.models.message import Message
from ory_kratos_client.models.recovery_flow import RecoveryFlow
from ory_kratos_client.models.session import Session
from ory_kratos_client.models.settings_flow import SettingsFlow
from ory_kratos_client.models.successful_native_registration import SuccessfulNativeRegistration
from ory_kratos_client.models.update_login_flow_body import UpdateLoginFlowBody
from ory_kratos_client.models.update_login_flow_with_password_method import UpdateLoginFlowWithPasswordMethod
from ory_kratos_client.models.update_recovery_flow_body import UpdateRecoveryFlowBody
from ory_kratos_client.models.update_recovery_flow_with_code_method import UpdateRecoveryFlowWithCodeMethod
from ory_kratos_client.models.update_registration_flow_body import UpdateRegistrationFlowBody
from ory_kratos_client.models.update_registration_flow_with_password_method import (
    UpdateRegistrationFlowWithPasswordMethod,
)
from ory_kratos_client.models.update_settings_flow_body import UpdateSettingsFlowBody
from ory_kratos_client.models.update_settings_flow_with_password_method import UpdateSettingsFlowWithPasswordMethod
from ory_kratos_client.models.update_verification_flow_body import UpdateVerificationFlowBody
from ory_kratos_client.models.update_verification_flow_with_code_method import UpdateVerificationFlowWithCodeMethod
from ory_kratos_client.models.verification_flow import VerificationFlow

from tests.conftest import base_config, require_or_skip, write_config
from tests.courier_helpers import REDIS_URL, redis_available
from tests.e2e.mailbox import Mailbox, SmsGateway, one_code
from tests.e2e.processes import KratosProcess, run_kratos, start_courier_worker, start_server

UI = "http://127.0.0.1:4455"
WELCOME = f"{UI}/welcome"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a quite different passphrase 1984"
FROM = "accounts@example.org"

#: Subjects of the built-in templates (kratos-behaviour.md section 8.2).
VERIFY_CODE_SUBJECT = "to verify your account"
RECOVERY_CODE_SUBJECT = "to recover access to your account"
RECOVERY_LINK_SUBJECT = "Recover access to your account"
VERIFY_LINK_SUBJECT = "Please verify your email address"
UNKNOWN_RECOVERY_SUBJECT = "Account access attempted"
UNKNOWN_VERIFICATION_SUBJECT = "Someone tried to verify this email address"

IDENTITY_SCHEMA: dict[str, Any] = {
    "$id": "https://schemas.example.org/e2e/courier.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Person",
    "type": "object",
    "properties": {
        "traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "title": "E-Mail",
                    "ory.sh/kratos": {
                        "credentials": {"password": {"identifier": True}},
                        "verification": {"via": "email"},
                        "recovery": {"via": "email"},
                    },
                },
                "phone": {
                    "type": "string",
                    "format": "tel",
                    "title": "Phone number",
                    "ory.sh/kratos": {
                        "credentials": {"password": {"identifier": True}},
                        "verification": {"via": "sms"},
                    },
                },
            },
            "anyOf": [{"required": ["email"]}, {"required": ["phone"]}],
            "additionalProperties": False,
        }
    },
}

#: The SMS gateway's request: a Jsonnet function of the courier's ``ctx`` (plugins/sms).
SMS_BODY = """function(ctx) {
  to: ctx.recipient,
  text: ctx.body,
  template: ctx.template_type,
  kind: ctx.message_type,
}"""

MODES = [
    pytest.param("in-process", id="in-process"),
    pytest.param("redis", id="redis", marks=[pytest.mark.redis, pytest.mark.postgres]),
]


# -- the stack --------------------------------------------------------------------------------


@dataclass
class Server:
    """One ``kratos serve`` and the SDK clients for it."""

    process: KratosProcess

    def __post_init__(self) -> None:
        public = ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=self.process.public))
        admin = ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=self.process.admin))
        self.frontend = FrontendApi(public)
        self.identities = IdentityApi(admin)
        self.courier = CourierApi(admin)

    @property
    def public(self) -> str:
        return self.process.public

    def browser(self) -> httpx.Client:
        """A cookie-keeping browser of this server's public API (no automatic redirects)."""
        return httpx.Client(base_url=self.public, follow_redirects=False, timeout=10)


@dataclass
class Stack:
    mode: str
    mailbox: Mailbox
    sms: SmsGateway
    servers: dict[str, Server] = field(default_factory=dict)
    #: The Redis keys' prefix of the broker (redis mode only).
    namespace: str | None = None

    @property
    def code(self) -> Server:
        """``use: code`` for verification and recovery; unknown recipients get nothing."""
        return self.servers["code"]

    @property
    def link(self) -> Server:
        """``use: link`` for verification and recovery."""
        return self.servers["link"]

    @property
    def notify(self) -> Server:
        """``use: code`` with ``notify_unknown_recipients: true``."""
        return self.servers["notify"]

    def email(self, label: str) -> str:
        return f"{label}-{self.mode}-{uuid.uuid4().hex[:8]}@example.org"


def stack_config(tmp: Path, dsn: str, mailbox: Mailbox, sms: SmsGateway, *, use: str, notify: bool, redis: bool) -> Path:
    schema = tmp / "courier-e2e.schema.json"
    schema.write_text(json.dumps(IDENTITY_SCHEMA))
    flows = {
        "registration": {
            "ui_url": f"{UI}/registration",
            "after": {"password": {"hooks": [{"hook": "session"}, {"hook": "show_verification_ui"}]}},
        },
        "verification": {
            "enabled": True,
            "use": use,
            "ui_url": f"{UI}/verification",
            "notify_unknown_recipients": notify,
        },
        "recovery": {"enabled": True, "use": use, "ui_url": f"{UI}/recovery", "notify_unknown_recipients": notify},
        "settings": {"ui_url": f"{UI}/settings"},
    }
    courier: dict[str, Any] = {
        "smtp": {"connection_uri": mailbox.connection_uri, "from_address": FROM, "from_name": "Example Accounts"},
        "channels": [
            {
                "id": "sms",
                "type": "http",
                "request_config": {
                    "url": sms.url,
                    "method": "POST",
                    "body": "base64://" + base64.b64encode(SMS_BODY.encode()).decode(),
                },
            }
        ],
    }
    cfg = base_config(
        tmp,
        dsn=dsn,
        selfservice={
            "default_browser_return_url": WELCOME,
            "methods": {
                "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}},
                "code": {"enabled": True},
                "link": {"enabled": True},
            },
            "flows": flows,
        },
        courier=courier,
        feature_flags={"use_continue_with_transitions": True},
    )
    cfg["identity"]["schemas"] = [{"id": "default", "url": f"file://{schema}"}]
    if redis:
        # Only the broker can deliver promptly: the worker's poller waits ten minutes.
        cfg["courier"]["worker"] = {"pull_wait": "10m"}
        # Without --dev cookies are Secure, which a browser keeps away from http://127.0.0.1.
        cfg["cookies"] = {"secure": False}
    return write_config(tmp, cfg)


SERVERS = {"code": ("code", False), "link": ("link", False), "notify": ("code", True)}


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    inbox = Mailbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="module")
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module", params=MODES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox, sms_gateway: SmsGateway
) -> Iterator[Stack]:
    mode: str = request.param
    tmp = tmp_path_factory.mktemp(f"courier-e2e-{mode}")
    stack = Stack(mode, mailbox, sms_gateway)
    processes: list[KratosProcess] = []
    try:
        if mode == "in-process":
            # Nothing else running: each server delivers its own mail from its own SQLite file.
            env = {"KRATOS_COURIER_BROKER_URL": "", "KRATOS_COURIER_BROKER_NAMESPACE": ""}
            for name, (use, notify) in SERVERS.items():
                dsn = f"sqlite://{tmp}/{name}.sqlite?_fk=true"
                cfg = stack_config(tmp, dsn, mailbox, sms_gateway, use=use, notify=notify, redis=False)
                processes.append(start_server(name, cfg, {**env, "DSN": dsn}, tmp, "--dev", "--watch-courier"))
            yield _with_servers(stack, processes)
            return
        postgres = request.getfixturevalue("postgres_server")
        require_or_skip(redis_available())
        with _database(postgres) as dsn, _redis_namespace() as namespace:
            stack.namespace = namespace
            env = {"DSN": dsn, "KRATOS_COURIER_BROKER_URL": REDIS_URL, "KRATOS_COURIER_BROKER_NAMESPACE": namespace}
            migrated = run_kratos(["migrate", "sql", "-e", "--yes"], env)
            assert migrated.returncode == 0, migrated.stderr
            configs = {
                name: stack_config(tmp, dsn, mailbox, sms_gateway, use=use, notify=notify, redis=True)
                for name, (use, notify) in SERVERS.items()
            }
            # Three servers on one database, and one worker that delivers for all of them.
            processes.append(start_courier_worker("courier", configs["code"], env, tmp))
            for name, cfg in configs.items():
                processes.append(start_server(name, cfg, env, tmp))
            try:
                yield _with_servers(stack, processes)
            finally:
                _stop_all(processes)  # before the database and the namespace go away
    finally:
        _stop_all(processes)


def _with_servers(stack: Stack, processes: list[KratosProcess]) -> Stack:
    stack.servers = {p.name: Server(p) for p in processes if p.public}
    return stack


def _stop_all(processes: list[KratosProcess]) -> None:
    """SIGTERM each process (last started first); each must exit cleanly."""
    errors = []
    while processes:
        try:
            processes.pop().stop()
        except AssertionError as exc:
            errors.append(str(exc))
    assert not errors, "\n".join(errors)


@contextlib.contextmanager
def _database(server_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one stack (as ``postgres_dsn`` makes one), dropped afterwards."""
    import asyncpg

    admin_dsn = server_dsn.replace("postgres://", "postgresql://", 1)
    name = f"kratos_e2e_{uuid.uuid4().hex[:12]}"

    def run(sql: str) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(admin_dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(go())

    run(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _redis_namespace() -> Iterator[str]:
    """A broker namespace of its own for this module run; its keys are deleted afterwards."""
    import redis

    namespace = f"kratos-e2e-{uuid.uuid4().hex[:12]}"
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{namespace}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


# -- SDK helpers --------------------------------------------------------------------------------


def register(server: Server, traits: dict[str, Any], password: str = PASSWORD) -> SuccessfulNativeRegistration:
    flow = server.frontend.create_native_registration_flow()
    body = UpdateRegistrationFlowBody(
        UpdateRegistrationFlowWithPasswordMethod(method="password", password=password, traits=traits)
    )
    return server.frontend.update_registration_flow(flow.id, body)


def create_identity(server: Server, email: str) -> Identity:
    """An identity with a password, made by an administrator (its address is unverified)."""
    password = IdentityWithCredentialsPassword(config=IdentityWithCredentialsPasswordConfig(password=PASSWORD))
    body = CreateIdentityBody(
        schema_id="default", traits={"email": email}, credentials=IdentityWithCredentials(password=password)
    )
    return server.identities.create_identity(create_identity_body=body)


def login(server: Server, identifier: str, password: str) -> str:
    flow = server.frontend.create_native_login_flow()
    body = UpdateLoginFlowBody(UpdateLoginFlowWithPasswordMethod(method="password", identifier=identifier, password=password))
    return server.frontend.update_login_flow(flow.id, body).session_token


def assert_login_refused(server: Server, identifier: str, password: str) -> None:
    """The old password: 400 with the flow carrying 4000006 (invalid credentials)."""
    with pytest.raises(ApiException) as refused:
        login(server, identifier, password)
    assert refused.value.status == 400, refused.value.body
    flow = LoginFlow.from_json(refused.value.body)
    assert [m.id for m in flow.ui.messages] == [4000006]


def verification_code(code: str) -> UpdateVerificationFlowBody:
    return UpdateVerificationFlowBody(UpdateVerificationFlowWithCodeMethod(method="code", code=code))


def recovery_body(**fields: Any) -> UpdateRecoveryFlowBody:
    return UpdateRecoveryFlowBody(UpdateRecoveryFlowWithCodeMethod(method="code", **fields))


def continue_with(items: Any, kind: type) -> Any:
    found = [item.actual_instance for item in items or [] if isinstance(item.actual_instance, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {items}"
    return found[0]


def node_value(nodes: Any, name: str) -> Any:
    for node in nodes:
        attrs = node.attributes.actual_instance
        if getattr(attrs, "name", None) == name:
            return attrs.value
    raise AssertionError(f"no node {name!r}")


def address(identity: Identity, value: str) -> Any:
    found = [a for a in identity.verifiable_addresses or [] if a.value == value]
    assert len(found) == 1, identity.verifiable_addresses
    return found[0]


def assert_verified(server: Server, identity_id: str, value: str, via: str) -> None:
    verified = address(server.identities.get_identity(identity_id), value)
    assert (verified.verified, verified.status, verified.via) == (True, "completed", via)
    assert verified.verified_at is not None


def sent_messages(server: Server, recipient: str) -> list[Message]:
    """What the courier API lists for ``recipient`` (parsed by the SDK)."""
    return server.courier.list_courier_messages(recipient=recipient)


def wait_sent(server: Server, recipient: str, template_type: str, timeout: float = 10.0) -> Message:
    """The courier marks a message ``sent`` right after the channel accepted it: wait for that."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in sent_messages(server, recipient) if m.template_type == template_type]
        if found and found[0].status == "sent":
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no sent {template_type} message for {recipient}: {found}")
        time.sleep(0.1)


def change_password_natively(server: Server, token: str, settings_id: str) -> None:
    settings = server.frontend.get_settings_flow(settings_id, x_session_token=token)
    assert isinstance(settings, SettingsFlow) and settings.state == "show_form"
    assert [m.id for m in settings.ui.messages] == [1060001]  # change your password within ... minutes
    body = UpdateSettingsFlowBody(UpdateSettingsFlowWithPasswordMethod(method="password", password=NEW_PASSWORD))
    done = server.frontend.update_settings_flow(settings_id, body, x_session_token=token)
    assert done.state == "success" and [m.id for m in done.ui.messages] == [1050001]


# -- verification -------------------------------------------------------------------------------


def test_registration_mails_a_verification_code_that_verifies_the_address(stack: Stack) -> None:
    server, email = stack.code, stack.email("verify-code")
    registered = register(server, {"email": email})
    token = continue_with(registered.continue_with, ContinueWithSetOrySessionToken).ory_session_token
    shown = continue_with(registered.continue_with, ContinueWithVerificationUi)
    assert shown.flow.verifiable_address == email
    assert address(registered.identity, email).verified is False

    mail = stack.mailbox.wait_for(email, VERIFY_CODE_SUBJECT)
    code = mail.code()
    assert mail.rcpt_tos == [email] and mail.to == email and FROM in str(mail.message["From"])
    assert code in mail.subject and mail.html is not None and code in mail.html
    assert wait_sent(server, email, "verification_code_valid").send_count == 1

    flow = server.frontend.get_verification_flow(shown.flow.id)
    assert isinstance(flow, VerificationFlow) and flow.state == "sent_email"
    wrong = server.frontend.update_verification_flow(flow.id, verification_code("000000" if code != "000000" else "111111"))
    assert wrong.state == "sent_email" and [m.id for m in wrong.ui.messages] == [4070006]
    done = server.frontend.update_verification_flow(flow.id, verification_code(code))
    assert done.state == "passed_challenge" and [m.id for m in done.ui.messages] == [1080002]
    assert done.ui.nodes[0].attributes.actual_instance.href == WELCOME

    assert_verified(server, registered.identity.id, email, "email")
    session = server.frontend.to_session(x_session_token=token)
    assert address(session.identity, email).verified is True
    assert len(stack.mailbox.to(email)) == 1


def test_registration_mails_a_verification_link_that_verifies_the_address(stack: Stack) -> None:
    server, email = stack.link, stack.email("verify-link")
    registered = register(server, {"email": email})
    shown = continue_with(registered.continue_with, ContinueWithVerificationUi)

    mail = stack.mailbox.wait_for(email, VERIFY_LINK_SUBJECT)
    link = mail.link("/self-service/verification?")
    assert link.startswith(f"{server.public}/self-service/verification?")
    assert parse_qs(urlsplit(link).query)["flow"] == [shown.flow.id]
    assert address(server.identities.get_identity(registered.identity.id), email).verified is False

    # The user clicks the link in their mail client: a browser that never saw the flow.
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        clicked = browser.get(link)
    # As in Kratos, the verification UI shows the result, with a link on to the return URL.
    assert clicked.status_code == 303, clicked.text
    assert clicked.headers["location"] == f"{UI}/verification?flow={shown.flow.id}"

    assert_verified(server, registered.identity.id, email, "email")
    flow = server.frontend.get_verification_flow(shown.flow.id)
    assert flow.state == "passed_challenge" and [m.id for m in flow.ui.messages] == [1080002]
    assert flow.ui.nodes[0].attributes.actual_instance.href == WELCOME
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        again = browser.get(link)  # used up: a new flow with 4070001 (the link is invalid or was used)
    assert again.status_code == 303 and again.headers["location"].startswith(f"{UI}/verification?flow=")
    replacement = again.headers["location"].split("flow=", 1)[1]
    assert [m.id for m in server.frontend.get_verification_flow(replacement).ui.messages] == [4070001]


def test_registration_texts_a_code_that_verifies_the_phone(stack: Stack) -> None:
    server = stack.code
    phone = f"+49151{secrets.randbelow(10**8):08d}"
    registered = register(server, {"phone": phone})
    shown = continue_with(registered.continue_with, ContinueWithVerificationUi)
    assert shown.flow.verifiable_address == phone
    assert address(registered.identity, phone).via == "sms"

    sms = stack.sms.wait_for(phone)
    assert sms["template"] == "verification_code_valid" and sms["kind"] == "sms"
    assert sms["content_type"].startswith("application/json")
    code = one_code(sms["text"])
    assert sms["text"].rstrip().endswith(f"@127.0.0.1 #{code}")  # the WebOTP line

    done = server.frontend.update_verification_flow(shown.flow.id, verification_code(code))
    assert done.state == "passed_challenge" and [m.id for m in done.ui.messages] == [1080005]
    assert_verified(server, registered.identity.id, phone, "sms")
    message = wait_sent(server, phone, "verification_code_valid")
    assert (message.type, message.channel) == ("phone", "sms")
    assert login(server, phone, PASSWORD)
    assert stack.mailbox.matching(lambda m: phone in m.text) == []


def test_the_verification_form_texts_a_code_to_a_phone(stack: Stack) -> None:
    """A phone number entered in the verification form gets an SMS whose code verifies it."""
    server = stack.code
    phone = f"+49152{secrets.randbelow(10**8):08d}"
    identity = server.identities.create_identity(
        create_identity_body=CreateIdentityBody(schema_id="default", traits={"phone": phone})
    )
    flow = server.frontend.create_native_verification_flow()
    sent = server.frontend.update_verification_flow(
        flow.id, UpdateVerificationFlowBody(UpdateVerificationFlowWithCodeMethod(method="code", email=phone))
    )
    assert sent.state == "sent_email" and [m.id for m in sent.ui.messages] == [1080004]

    code = one_code(stack.sms.wait_for(phone)["text"])
    done = server.frontend.update_verification_flow(flow.id, verification_code(code))
    assert done.state == "passed_challenge" and [m.id for m in done.ui.messages] == [1080005]
    assert_verified(server, identity.id, phone, "sms")


# -- recovery -----------------------------------------------------------------------------------


def test_recovery_code_by_mail_signs_in_and_the_new_password_replaces_the_old(stack: Stack) -> None:
    server, email = stack.code, stack.email("recover-code")
    identity = create_identity(server, email)

    flow = server.frontend.create_native_recovery_flow()
    sent = server.frontend.update_recovery_flow(flow.id, recovery_body(email=email))
    assert sent.state == "sent_email" and [m.id for m in sent.ui.messages] == [1060003]

    mail = stack.mailbox.wait_for(email, RECOVERY_CODE_SUBJECT)
    code = mail.code()
    assert mail.rcpt_tos == [email] and code in mail.subject
    recovered = server.frontend.update_recovery_flow(flow.id, recovery_body(code=code))
    assert isinstance(recovered, RecoveryFlow) and recovered.state == "passed_challenge"
    token = continue_with(recovered.continue_with, ContinueWithSetOrySessionToken).ory_session_token
    settings = continue_with(recovered.continue_with, ContinueWithSettingsUi)
    assert settings.flow.url == f"{UI}/settings?flow={settings.flow.id}"

    session = server.frontend.to_session(x_session_token=token)
    assert session.identity.id == identity.id
    assert [m.method for m in session.authentication_methods] == ["code_recovery"]
    assert_verified(server, identity.id, email, "email")  # the code proved the address

    change_password_natively(server, token, settings.flow.id)
    assert login(server, email, NEW_PASSWORD)
    assert_login_refused(server, email, PASSWORD)
    assert len(stack.mailbox.to(email)) == 1


def test_recovery_link_opened_in_the_browser_leads_to_settings(stack: Stack) -> None:
    server, email = stack.link, stack.email("recover-link")
    identity = create_identity(server, email)
    json_headers = {"Accept": "application/json"}

    with server.browser() as browser:
        started = browser.get("/self-service/recovery/browser", headers=json_headers)
        assert started.status_code == 200, started.text
        flow = RecoveryFlow.from_dict(started.json())
        assert flow.type == "browser" and flow.state == "choose_method"
        csrf = node_value(flow.ui.nodes, "csrf_token")
        submitted = browser.post(
            f"/self-service/recovery?flow={flow.id}",
            json={"method": "link", "email": email, "csrf_token": csrf},
            headers=json_headers,
        )
        assert submitted.status_code == 200, submitted.text
        sent = RecoveryFlow.from_dict(submitted.json())
        assert sent.state == "sent_email" and [m.id for m in sent.ui.messages] == [1060002]

        mail = stack.mailbox.wait_for(email, RECOVERY_LINK_SUBJECT)
        link = mail.link("/self-service/recovery?")
        assert link.startswith(f"{server.public}/self-service/recovery?flow={flow.id}&token=")

        # The user opens the link in the browser: signed in, sent on to the settings UI.
        opened = browser.get(link)
        assert opened.status_code == 303, opened.text
        location = opened.headers["location"]
        assert location.startswith(f"{UI}/settings?flow=")
        settings_id = parse_qs(urlsplit(location).query)["flow"][0]

        session = Session.from_dict(browser.get("/sessions/whoami", headers=json_headers).json())
        assert session.identity.id == identity.id
        assert [m.method for m in session.authentication_methods] == ["link_recovery"]
        assert RecoveryFlow.from_dict(browser.get(f"/self-service/recovery/flows?id={flow.id}").json()).state == (
            "passed_challenge"
        )

        # The settings UI reads its flow and posts the new password with the anti-CSRF token.
        fetched = browser.get(f"/self-service/settings/flows?id={settings_id}", headers=json_headers)
        assert fetched.status_code == 200, fetched.text
        settings = SettingsFlow.from_dict(fetched.json())
        assert settings.type == "browser" and [m.id for m in settings.ui.messages] == [1060001]
        changed = browser.post(
            f"/self-service/settings?flow={settings_id}",
            json={"method": "password", "password": NEW_PASSWORD, "csrf_token": node_value(settings.ui.nodes, "csrf_token")},
            headers=json_headers,
        )
        assert changed.status_code == 200, changed.text
        done = SettingsFlow.from_dict(changed.json())
        assert done.state == "success" and [m.id for m in done.ui.messages] == [1050001]

    with server.browser() as other:  # a link works once
        reused = other.get(link)
        assert reused.status_code == 303 and reused.headers["location"].startswith(f"{UI}/recovery?flow=")
        replacement = reused.headers["location"].split("flow=", 1)[1]
        shown = RecoveryFlow.from_dict(other.get(f"/self-service/recovery/flows?id={replacement}").json())
        assert shown.state == "choose_method" and [m.id for m in shown.ui.messages] == [4060004]

    assert_verified(server, identity.id, email, "email")
    assert login(server, email, NEW_PASSWORD)
    assert_login_refused(server, email, PASSWORD)


def _recovery_answer(server: Server, email: str) -> tuple[dict[str, Any], RecoveryFlow]:
    """Start a native recovery flow and submit ``email``: the answer, normalised, and the flow."""
    flow = server.frontend.create_native_recovery_flow()
    answered = server.frontend.update_recovery_flow_with_http_info(flow.id, recovery_body(email=email))
    raw = answered.raw_data.decode()
    parsed = RecoveryFlow.from_json(raw)  # the SDK accepts it
    normal = json.loads(raw.replace(flow.id, "<flow>").replace(email, "<address>"))
    for key in ("issued_at", "expires_at"):
        normal.pop(key)
    return {"status": answered.status_code, "flow": normal}, parsed


def _assert_answers_alike(server: Server, known: str, unknown: str) -> None:
    (unknown_answer, unknown_flow), (known_answer, known_flow) = (
        _recovery_answer(server, unknown),
        _recovery_answer(server, known),
    )
    assert unknown_answer == known_answer
    assert known_answer["status"] == 200 and known_flow.state == unknown_flow.state == "sent_email"
    assert [m.id for m in unknown_flow.ui.messages] == [1060003]
    assert node_value(unknown_flow.ui.nodes, "email") == unknown


def test_recovery_of_an_unknown_address_answers_alike_and_sends_nothing(stack: Stack) -> None:
    server = stack.code
    known, unknown = stack.email("known"), stack.email("unknown")
    create_identity(server, known)
    _assert_answers_alike(server, known, unknown)

    stack.mailbox.wait_for(known, RECOVERY_CODE_SUBJECT)
    assert sent_messages(server, unknown) == []  # nothing was even queued
    assert stack.mailbox.to(unknown) == []


def test_unknown_recipients_are_told_when_configured(stack: Stack) -> None:
    server = stack.notify
    known, unknown = stack.email("known"), stack.email("stranger")
    create_identity(server, known)
    _assert_answers_alike(server, known, unknown)

    notice = stack.mailbox.wait_for(unknown, UNKNOWN_RECOVERY_SUBJECT)
    assert notice.rcpt_tos == [unknown]
    assert not any(ch.isdigit() for ch in notice.text.replace(unknown, "")), "a stranger must get no code"
    assert wait_sent(server, unknown, "recovery_code_invalid").status == "sent"
    assert stack.mailbox.wait_for(known, RECOVERY_CODE_SUBJECT).code()
    assert [m.subject for m in stack.mailbox.to(unknown)] == [UNKNOWN_RECOVERY_SUBJECT]

    # The verification form too: the same answer as for a known address, and a notice by mail.
    flow = server.frontend.create_native_verification_flow()
    sent = server.frontend.update_verification_flow(
        flow.id, UpdateVerificationFlowBody(UpdateVerificationFlowWithCodeMethod(method="code", email=unknown))
    )
    assert sent.state == "sent_email" and [m.id for m in sent.ui.messages] == [1080003]
    assert stack.mailbox.wait_for(unknown, UNKNOWN_VERIFICATION_SUBJECT).rcpt_tos == [unknown]


# -- the deployment -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", [p for p in MODES if p.values == ("redis",)], indirect=True)
def test_redis_mode_hands_messages_over_through_the_broker(stack: Stack) -> None:
    """Redis mode: the server hands the message to Redis; ``courier watch`` delivers it at once.
    (The in-process mode has no broker: each server delivers its own messages.)"""
    assert stack.namespace is not None
    import redis

    email = stack.email("broker")
    create_identity(stack.code, email)
    flow = stack.code.frontend.create_native_recovery_flow()
    stack.code.frontend.update_recovery_flow(flow.id, recovery_body(email=email))
    started = time.monotonic()
    stack.mailbox.wait_for(email, RECOVERY_CODE_SUBJECT)
    # Far sooner than the worker's poller (10 minutes, and it leaves new messages to the broker).
    assert time.monotonic() - started < 10

    client = redis.Redis.from_url(REDIS_URL)
    try:
        # Dramatiq registers every process that talks to the broker: at least the server that
        # handed the message over and the worker that fetched it used this namespace.
        talked = client.zcard(f"{stack.namespace}:__heartbeats__")
        waiting = client.llen(f"{stack.namespace}:kratos_courier")
    finally:
        client.close()
    assert talked >= 2 and waiting == 0
