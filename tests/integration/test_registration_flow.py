"""Registration flows through HTTP with the password plugin: steps, answers, policy, atomicity."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.app import KratosApp
from kratos_core.errors import BadRequest, Forbidden
from kratos_core.flows.errors import FlowValidationError
from kratos_core.ui import messages
from tests.conftest import _merge, base_config, make_app

PASSWORD = "correct horse battery staple"
SESSION_HOOK = {"flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}}}
NO_BREACH_CHECK = {"methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}}}


def config(tmp_path: Path, *, session_hook: bool = True, dsn: str = "memory", **selfservice: Any) -> dict[str, Any]:
    sections = _merge(NO_BREACH_CHECK, SESSION_HOOK) if session_hook else dict(NO_BREACH_CHECK)
    return base_config(tmp_path, dsn, selfservice=_merge(sections, selfservice))


class Clients:
    def __init__(self, app: KratosApp) -> None:
        self.app = app
        self.public = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433")

    async def flow(self, **params: str) -> dict[str, Any]:
        response = await self.public.get("/self-service/registration/api", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def submit(self, flow_id: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.public.post("/self-service/registration", params={"flow": flow_id}, json=body, **kwargs)

    async def register(self, email: str, password: str = PASSWORD, **traits: Any) -> httpx.Response:
        flow = await self.flow()
        body = {"method": "password", "password": password, "traits": {"email": email, **traits}}
        return await self.submit(flow["id"], body)

    async def count(self, table: str) -> int:
        return int(await self.app.db.fetchval(f"SELECT count(*) FROM {table}"))


async def started(tmp_path: Path, cfg: dict[str, Any], plugins: list[object] = ()) -> Clients:
    app = make_app(tmp_path, cfg, plugins=[password_plugin, *plugins])
    await app.start(migrate=True)
    return Clients(app)


@pytest.fixture
async def kc(tmp_path: Path) -> AsyncIterator[Clients]:
    clients = await started(tmp_path, config(tmp_path))
    yield clients
    await clients.public.aclose()
    await clients.app.stop()


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    """Build extra apps with their own config; all are stopped at the end."""
    made: list[Clients] = []

    async def build(cfg: dict[str, Any], plugins: list[object] = ()) -> Clients:
        clients = await started(tmp_path, cfg, plugins)
        made.append(clients)
        return clients

    yield build
    for clients in made:
        await clients.public.aclose()
        await clients.app.stop()


def message_ids(flow: dict[str, Any]) -> list[int]:
    return [m["id"] for m in flow["ui"].get("messages", [])]


def nodes(flow: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(n["attributes"]["name"], n["attributes"]["type"], n["attributes"].get("value")) for n in flow["ui"]["nodes"]]


def node(flow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in flow["ui"]["nodes"] if n["attributes"].get("name") == name)


# -- the two steps -----------------------------------------------------------------------------


async def test_profile_first_is_the_default(kc: Clients) -> None:
    flow = await kc.flow()
    assert flow["state"] == "choose_method" and flow["organization_id"] is None
    assert "created_at" not in flow and "refresh" not in flow and "messages" not in flow["ui"]
    assert nodes(flow) == [
        ("traits.email", "email", None),
        ("traits.name.first", "text", None),
        ("traits.name.last", "text", None),
        ("method", "submit", "profile"),
    ]
    assert node(flow, "method")["group"] == "profile" and node(flow, "method")["meta"]["label"]["id"] == 1040001


async def test_two_step_registration_with_back_button(kc: Clients) -> None:
    flow = await kc.flow()
    traits = {"email": "two@example.org", "name": {"first": "Two"}}
    step = await kc.submit(flow["id"], {"method": "profile", "traits": traits})
    assert step.status_code == 400, step.text
    second = step.json()
    assert message_ids(second) == [1040009] and second["state"] == "choose_method"
    assert ("traits.email", "hidden", "two@example.org") in nodes(second)
    assert ("password", "password", None) in nodes(second)
    assert ("method", "submit", "password") in nodes(second)
    assert ("screen", "submit", "previous") in nodes(second)
    assert node(second, "screen")["meta"]["label"]["id"] == 1040008

    back = await kc.submit(flow["id"], {"screen": "previous", "traits": traits})
    assert back.status_code == 400
    assert ("traits.email", "email", "two@example.org") in nodes(back.json())
    assert ("traits.name.first", "text", "Two") in nodes(back.json())
    assert "messages" not in back.json()["ui"]

    await kc.submit(flow["id"], {"screen": "credential-selection", "traits": traits})
    done = await kc.submit(flow["id"], {"method": "password", "password": PASSWORD, "traits": traits})
    assert done.status_code == 200, done.text
    body = done.json()
    assert set(body) == {"session_token", "session", "identity", "continue_with"}
    assert body["continue_with"] == [{"action": "set_ory_session_token", "ory_session_token": body["session_token"]}]
    assert body["identity"]["traits"] == traits and "credentials" not in body["identity"]
    assert body["session"]["identity"]["id"] == body["identity"]["id"]
    whoami = await kc.public.get("/sessions/whoami", headers={"X-Session-Token": body["session_token"]})
    assert whoami.status_code == 200


async def test_invalid_traits_on_the_profile_step(kc: Clients) -> None:
    flow = await kc.flow()
    response = await kc.submit(flow["id"], {"method": "profile", "traits": {"email": "not-an-email"}})
    assert response.status_code == 400
    email = node(response.json(), "traits.email")
    assert email["messages"][0]["id"] == 4000040 and email["attributes"]["value"] == "not-an-email"
    assert email["attributes"]["type"] == "email"  # still the first step


async def test_unified_style(make: Any, tmp_path: Path) -> None:
    kc = await make(config(tmp_path, flows={"registration": {"style": "unified"}}))
    flow = await kc.flow()
    assert [n[0] for n in nodes(flow)] == ["traits.email", "traits.name.first", "traits.name.last", "password", "method"]
    response = await kc.submit(flow["id"], {"method": "password", "password": PASSWORD, "traits": {"email": "u@example.org"}})
    assert response.status_code == 200


async def test_without_session_hook_the_user_is_not_logged_in(make: Any, tmp_path: Path) -> None:
    kc = await make(config(tmp_path, session_hook=False))
    response = await kc.register("plain@example.org")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"identity", "continue_with"} and body["continue_with"] is None
    # Kratos stores a session anyway; nobody holds its token.
    assert await kc.count("sessions") == 1


# -- validation --------------------------------------------------------------------------------


async def test_schema_violations_leave_nothing_behind(kc: Clients) -> None:
    missing = await kc.register("")
    assert missing.status_code == 400
    flow = await kc.flow()
    no_traits = await kc.submit(flow["id"], {"method": "password", "password": PASSWORD})
    assert no_traits.status_code == 400
    assert node(no_traits.json(), "traits.email")["messages"][0]["id"] == 4000002
    extra = await kc.register("x@example.org", nickname="x")
    assert extra.status_code == 400
    wrong_type = await kc.submit(flow["id"], {"method": "password", "password": PASSWORD, "traits": "x"})
    assert wrong_type.status_code == 400
    assert await kc.count("identities") == 0 and await kc.count("sessions") == 0


async def test_duplicate_identifier_is_4000007_not_409(kc: Clients) -> None:
    assert (await kc.register("dup@example.org")).status_code == 200
    again = await kc.register("DUP@example.org")
    assert again.status_code == 400 and message_ids(again.json()) == [4000007]
    assert await kc.count("identities") == 1 and await kc.count("sessions") == 1


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, ("password", 4000002)), (7, ("password", 4000032)), (1024, None), (1025, ("password", 4000033))],
)
async def test_password_lengths(kc: Clients, length: int, expected: tuple[str, int] | None) -> None:
    password = ("abcdefghij" * 103)[:length]
    response = await kc.register(f"len{length}@example.org", password)
    if expected is None:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400
    name, message_id = expected
    assert node(response.json(), name)["messages"][0]["id"] == message_id


async def test_password_similar_to_identifier(make: Any, tmp_path: Path) -> None:
    policy = {"methods": {"password": {"config": {"identifier_similarity_check_enabled": True}}}}
    kc = await make(config(tmp_path, **policy))
    response = await kc.register("similar@example.org", "similar@example.org1")
    assert response.status_code == 400 and node(response.json(), "password")["messages"][0]["id"] == 4000031


class _RangeHandler(BaseHTTPRequestHandler):
    breached: set[str] = set()
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        prefix = self.path.rsplit("/", 1)[-1]
        lines = [f"{h[5:]}:3" for h in self.breached if h.startswith(prefix)] + ["0000000000000000000000000000000000A:0"]
        body = "\r\n".join(lines).encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def pwned() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    _RangeHandler.breached = {hashlib.sha1(b"password123456").hexdigest().upper()}
    _RangeHandler.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_breached_password_with_the_configured_host(make: Any, tmp_path: Path, pwned: str) -> None:
    policy = {"methods": {"password": {"config": {"haveibeenpwned_enabled": True, "haveibeenpwned_host": pwned}}}}
    kc = await make(config(tmp_path, **policy))
    breached = await kc.register("b@example.org", "password123456")
    message = node(breached.json(), "password")["messages"][0]
    assert breached.status_code == 400 and message["id"] == 4000034 and message["context"] == {"breaches": 3}
    assert (await kc.register("b@example.org", PASSWORD)).status_code == 200


@pytest.mark.parametrize(("ignore", "status"), [(True, 200), (False, 502)])
async def test_breach_api_failures(make: Any, tmp_path: Path, pwned: str, ignore: bool, status: int) -> None:
    _RangeHandler.status = 500
    policy = {"haveibeenpwned_enabled": True, "haveibeenpwned_host": pwned, "ignore_network_errors": ignore}
    kc = await make(config(tmp_path, methods={"password": {"config": policy}}))
    response = await kc.register("n@example.org")
    assert response.status_code == status
    assert await kc.count("identities") == (1 if ignore else 0)


# -- flow rules --------------------------------------------------------------------------------


async def test_registration_disabled(make: Any, tmp_path: Path) -> None:
    kc = await make(config(tmp_path, flows={"registration": {"enabled": False}}))
    response = await kc.public.get("/self-service/registration/api")
    assert response.status_code == 400 and response.json()["error"]["id"] == "self_service_flow_disabled"


async def test_registration_with_a_session(kc: Clients) -> None:
    token = (await kc.register("in@example.org")).json()["session_token"]
    init = await kc.public.get("/self-service/registration/api", headers={"X-Session-Token": token})
    assert init.status_code == 400 and init.json()["error"]["id"] == "session_already_available"
    flow = await kc.flow()
    body = {"method": "password", "password": PASSWORD, "traits": {"email": "other@example.org"}}
    submit = await kc.submit(flow["id"], body, headers={"X-Session-Token": token})
    assert submit.status_code == 400 and message_ids(submit.json()) == [4000001]


async def test_completed_flow_is_refused(kc: Clients) -> None:
    flow = await kc.flow()
    body = {"method": "password", "password": PASSWORD, "traits": {"email": "once@example.org"}}
    assert (await kc.submit(flow["id"], body)).status_code == 200
    replay = await kc.submit(flow["id"], {**body, "traits": {"email": "twice@example.org"}})
    assert replay.status_code == 400 and message_ids(replay.json()) == [4040002]
    assert await kc.count("identities") == 1


async def test_unknown_method_is_4010003(kc: Clients) -> None:
    flow = await kc.flow()
    response = await kc.submit(flow["id"], {"method": "carrier-pigeon", "traits": {"email": "p@example.org"}})
    assert response.status_code == 400 and message_ids(response.json()) == [4010003]


async def test_expired_registration_flow(make: Any, tmp_path: Path) -> None:
    kc = await make(config(tmp_path, flows={"registration": {"lifespan": "1ms"}}))
    flow = await kc.flow()
    await asyncio.sleep(0.01)  # past the 1 ms lifespan on any machine
    response = await kc.submit(flow["id"], {"method": "password", "password": PASSWORD, "traits": {"email": "late@example.org"}})
    assert response.status_code == 410 and response.json()["error"]["id"] == "self_service_flow_expired"
    new_id = uuid.UUID(response.json()["use_flow_id"])
    stored = await kc.app.db.fetchrow("SELECT ui FROM selfservice_flows WHERE id = $1", new_id)
    assert [m["id"] for m in stored["ui"]["messages"]] == [4040001]
    assert await kc.count("identities") == 0


# -- one transaction, hooks ----------------------------------------------------------------------


class Veto:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def kratos_registration_pre_persist(self, flow: Any, identity: Any) -> None:
        self.seen.append(identity.traits["email"])
        if identity.traits["email"].startswith("blocked"):
            raise BadRequest("This address is blocked.")

    @hookimpl
    def kratos_registration_post_persist(self, flow: Any, identity: Any, session: Any) -> None:
        raise RuntimeError("an observer bug must not undo a registration")


async def test_pre_persist_fails_closed_and_post_persist_is_contained(make: Any, tmp_path: Path) -> None:
    veto = Veto()
    kc = await make(config(tmp_path), plugins=[veto])
    blocked = await kc.register("blocked@example.org")
    assert blocked.status_code == 400 and blocked.json()["ui"]["messages"][0]["text"] == "This address is blocked."
    assert await kc.count("identities") == 0
    assert (await kc.register("fine@example.org")).status_code == 200
    assert veto.seen == ["blocked@example.org", "fine@example.org"]


class BeforeHook:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    @hookimpl
    def kratos_registration_before(self, flow: Any, request: Any) -> None:
        assert flow.kind == "registration" and request.url.path.startswith("/self-service/registration/")
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [(None, 200), (FlowValidationError.on_flow(messages.validation_generic("closed today")), 400), (Forbidden("No."), 403)],
    ids=["passes", "messages", "aborts"],
)
async def test_registration_before_hook(make: Any, tmp_path: Path, error: Exception | None, status: int) -> None:
    kc = await make(config(tmp_path), plugins=[BeforeHook(error)])
    response = await kc.public.get("/self-service/registration/api")
    assert response.status_code == status
    stored = await kc.count("selfservice_flows")
    assert stored == (0 if status == 403 else 1)
    if status == 400:
        assert message_ids(response.json()) == [4000001]


async def test_identity_and_session_are_written_atomically(kc: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_issue(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the session store failed")

    monkeypatch.setattr(kc.app.sessions, "issue", broken_issue)
    response = await kc.register("atomic@example.org")
    assert response.status_code == 500
    for table in ("identities", "identity_credentials", "identity_credential_identifiers", "identity_verifiable_addresses", "sessions"):
        assert await kc.count(table) == 0, table


async def test_registration_works_on_every_database(make: Any, tmp_path: Path, any_dsn: str) -> None:
    kc = await make(config(tmp_path, dsn=any_dsn))
    assert (await kc.register("db@example.org")).status_code == 200
    assert (await kc.register("db@example.org")).status_code == 400
    assert await kc.count("identities") == 1


async def test_selectable_identity_schema(make: Any, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    default = cfg["identity"]["schemas"][0]
    cfg["identity"]["schemas"] = [default, {**default, "id": "customer", "selfservice_selectable": True}]
    kc = await make(cfg)
    flow = await kc.flow(identity_schema="customer")
    assert flow["identity_schema"] == "customer"
    body = {"method": "password", "password": PASSWORD, "traits": {"email": "c@example.org"}}
    done = await kc.submit(flow["id"], body)
    assert done.status_code == 200 and done.json()["identity"]["schema_id"] == "customer"
    refused = await kc.public.get("/self-service/registration/api", params={"identity_schema": "default"})
    assert refused.status_code == 400


async def test_form_values_follow_the_schema_types(make: Any, tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "traits": {
                "type": "object",
                "properties": {
                    "email": {"type": "string", "format": "email", "ory.sh/kratos": {"credentials": {"password": {"identifier": True}}}},
                    "newsletter": {"type": "boolean"},
                    "age": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["email"],
            }
        },
    }
    path = tmp_path / "typed.schema.json"
    path.write_text(json.dumps(schema))
    cfg = config(tmp_path, flows={"registration": {"style": "unified"}})
    cfg["identity"]["schemas"] = [{"id": "default", "url": f"file://{path}"}]
    kc = await make(cfg)
    flow = await kc.flow()
    form = "method=password&password=correct+horse+battery&traits.email=t%40example.org&traits.newsletter=true&traits.age=42&traits.tags=a&traits.tags=b"
    response = await kc.public.post(
        "/self-service/registration",
        params={"flow": flow["id"]},
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["identity"]["traits"] == {"email": "t@example.org", "newsletter": True, "age": 42, "tags": ["a", "b"]}
