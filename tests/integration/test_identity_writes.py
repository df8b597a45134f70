"""One identity write path: every write fires kratos_identity_pre_persist and post_persist exactly
once, and its identity event once, whatever the source (issue 9, item 4).

Sources: the admin API (create, update, patch, delete), registration, settings, a password
re-hashed at login, an address proven by a login code (plugins/code), verification and recovery.
"""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest

import kratos_code.plugin as code_plugin
import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.errors import Forbidden
from kratos_core.testing import FlowDriver, HookRecorder, StubCourier, clients, merge

PASSWORD = "one write path 2024"


@pytest.fixture
def kratos_plugins(kratos_hook_recorder: HookRecorder, kratos_courier: StubCourier) -> list[object]:
    return [password_plugin, code_plugin, kratos_courier, kratos_hook_recorder]


@pytest.fixture
def kratos_config(kratos_config: dict[str, Any]) -> dict[str, Any]:
    selfservice = {
        "methods": {
            "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}},
            "code": {"enabled": True, "passwordless_enabled": True},
        },
        "flows": {
            "registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}},
            "recovery": {"enabled": True, "use": "code"},
            "verification": {"enabled": True, "use": "code"},
        },
    }
    return merge(kratos_config, {"selfservice": selfservice})


def writes(recorder: HookRecorder) -> list[tuple[str, str, str]]:
    """``(hook, operation, source)`` of every identity hook call, and identity events."""
    out = []
    for call in recorder.calls:
        if call.name in ("kratos_identity_pre_persist", "kratos_identity_post_persist"):
            out.append((call.name.rsplit("_", 2)[-2], call.kwargs["operation"], call.kwargs["source"]))
        elif call.name == "kratos_event" and call.kwargs["event"].startswith("identity."):
            out.append(("event", call.kwargs["event"], call.kwargs["data"]["source"]))
    recorder.clear()
    return out


def once(operation: str, source: str, event: str) -> list[tuple[str, str, str]]:
    return [("pre", operation, source), ("post", operation, source), ("event", event, source)]


async def test_every_source_writes_through_the_one_path_once(
    kratos_flows: FlowDriver, kratos_admin: Any, kratos_hook_recorder: HookRecorder, kratos_courier: StubCourier
) -> None:
    recorder = kratos_hook_recorder
    recorder.clear()
    old_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    created = await kratos_flows.create_identity(
        {"email": "admin@example.org"}, credentials={"password": {"config": {"hashed_password": old_hash}}}
    )
    identity_id = created.json()["id"]
    assert writes(recorder) == once("create", "admin", "identity.created")

    # A bcrypt hash is upgraded to the configured hasher after a successful login.
    token = (await kratos_flows.login("admin@example.org", password=PASSWORD)).json()["session_token"]
    assert writes(recorder) == once("update", "login", "identity.updated")

    body = {"schema_id": "default", "traits": {"email": "admin@example.org", "name": {"first": "Ada"}}, "state": "active"}
    assert (await kratos_admin.put(f"/admin/identities/{identity_id}", json=body)).status_code == 200
    assert writes(recorder) == once("update", "admin", "identity.updated")
    patch = [{"op": "replace", "path": "/metadata_public", "value": {"tier": "gold"}}]
    assert (await kratos_admin.patch(f"/admin/identities/{identity_id}", json=patch)).status_code == 200
    assert writes(recorder) == once("update", "admin", "identity.updated")

    flow = await kratos_flows.init("settings", session_token=token)
    await kratos_flows.submit("settings", flow["id"], {"method": "password", "password": PASSWORD + "!"}, session_token=token)
    assert writes(recorder) == once("update", "settings", "identity.updated")

    await kratos_flows.verify("admin@example.org")
    assert writes(recorder) == once("update", "verification", "identity.updated")

    await kratos_flows.register({"email": "self@example.org"}, password=PASSWORD)
    assert writes(recorder) == once("create", "registration", "identity.created")

    # A login code proves the address it was sent to (plugins/code): an identity write too.
    flow = await kratos_flows.init("login")
    await kratos_flows.submit("login", flow["id"], {"method": "code", "identifier": "self@example.org"}, expect=400)
    await kratos_flows.deliver()
    code = kratos_courier.email.last_code("self@example.org")
    await kratos_flows.submit("login", flow["id"], {"method": "code", "identifier": "self@example.org", "code": code})
    assert writes(recorder) == once("update", "login", "identity.updated")

    recovery = await kratos_flows.init("recovery")
    await kratos_flows.submit("recovery", recovery["id"], {"method": "code", "email": "admin@example.org"})
    await kratos_flows.deliver()
    code = kratos_courier.email.last_code("admin@example.org")
    await kratos_flows.submit("recovery", recovery["id"], {"method": "code", "code": code}, expect=422)
    # The address was verified already: recovery writes no identity then.
    assert writes(recorder) == []

    assert (await kratos_admin.delete(f"/admin/identities/{identity_id}")).status_code == 204
    assert writes(recorder) == once("delete", "admin", "identity.deleted")


async def test_recovery_of_an_unverified_address_verifies_it_once(
    kratos_flows: FlowDriver, kratos_hook_recorder: HookRecorder, kratos_courier: StubCourier
) -> None:
    await kratos_flows.create_identity({"email": "lost@example.org"})
    recovery = await kratos_flows.init("recovery")
    await kratos_flows.submit("recovery", recovery["id"], {"method": "code", "email": "lost@example.org"})
    await kratos_flows.deliver()
    code = kratos_courier.email.last_code("lost@example.org")
    kratos_hook_recorder.clear()
    await kratos_flows.submit("recovery", recovery["id"], {"method": "code", "code": code}, expect=422)
    [updated] = [c.kwargs for c in kratos_hook_recorder.calls if c.name == "kratos_event" and c.kwargs["event"] == "identity.updated"]
    assert updated["data"]["change"] == "address_verified"
    assert writes(kratos_hook_recorder) == once("update", "recovery", "identity.updated")


class KeepForever:
    @hookimpl
    def kratos_identity_pre_persist(self, operation: str) -> None:
        if operation == "delete":
            raise Forbidden("Identities are kept for audits.")


async def test_a_pre_persist_veto_keeps_a_deleted_identity(kratos_app_factory: Any) -> None:
    app = await kratos_app_factory(None, plugins=[KeepForever()])
    async with clients(app) as (_, admin):
        created = await admin.post("/admin/identities", json={"schema_id": "default", "traits": {"email": "kept@example.org"}})
        identity_id = created.json()["id"]
        refused = await admin.delete(f"/admin/identities/{identity_id}")
        assert refused.status_code == 403 and refused.json()["error"]["reason"] == "Identities are kept for audits."
        assert (await admin.get(f"/admin/identities/{identity_id}")).status_code == 200
