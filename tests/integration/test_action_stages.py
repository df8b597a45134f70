"""Flow actions in every stage: before, pre-persist and after, what a veto shows and what it stores.

The actions here are plain objects registered by a test plugin, exactly as a third-party plugin
registers its own; sign-in and sign-up go through the testing kit's stub first factor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from kratos_core import hookimpl
from kratos_core.actions.runner import (
    LOGIN_AFTER,
    LOGIN_BEFORE,
    RECOVERY_BEFORE,
    REGISTRATION_AFTER,
    REGISTRATION_BEFORE,
    REGISTRATION_PRE_PERSIST,
    SETTINGS_AFTER,
    SETTINGS_BEFORE,
    SETTINGS_PRE_PERSIST,
    VERIFICATION_BEFORE,
    ActionContext,
)
from kratos_core.flows.errors import FlowValidationError
from kratos_core.testing import STUB_FIRST_FACTOR, AppFactory, FlowDriver, StubFirstFactorPlugin, clients, default_config, merge
from kratos_core.ui import messages

BEFORE_STAGES = frozenset({LOGIN_BEFORE, REGISTRATION_BEFORE, SETTINGS_BEFORE, RECOVERY_BEFORE, VERIFICATION_BEFORE})


class Gate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Test config: which domain to refuse, what to stamp, and whether to refuse on the flow."""

    refuse_domain: str = ""
    on_flow: bool = False
    stamp: str = ""
    break_traits: bool = False


class Recording:
    """A before/pre-persist/after action that records where it ran and can veto or change."""

    id = "gate"
    config_model = Gate

    def __init__(self, stages: frozenset[str]) -> None:
        self.stages = stages
        self.ran: list[tuple[str, str | None]] = []

    async def execute(self, ctx: ActionContext, config: Gate) -> None:
        self.ran.append((ctx.stage, ctx.flow.type))
        if ctx.stage.endswith(".before") and config.refuse_domain:
            raise FlowValidationError.on_flow(messages.validation_generic("closed for maintenance"))
        if ctx.stage.endswith(".pre_persist"):
            assert ctx.identity is not None
            email = str(ctx.identity.traits.get("email", ""))
            if config.refuse_domain and email.endswith("@" + config.refuse_domain):
                if config.on_flow:
                    raise FlowValidationError.on_flow(messages.validation_generic("refused"))
                raise FlowValidationError.on_pointer("#/traits/email", messages.validation_generic("domain not allowed"))
            if config.stamp:
                ctx.identity.metadata_public = {"stamp": config.stamp}
                ctx.identity.traits = {**ctx.identity.traits, "name": {"first": config.stamp}}
            if config.break_traits:
                ctx.identity.traits = {**ctx.identity.traits, "email": 42}
        if ctx.stage.endswith(".after"):
            ctx.continue_with.append({"action": "gate_ran", "stage": ctx.stage})


class GatePlugin:
    def __init__(self, action: Recording) -> None:
        self.action = action

    @hookimpl
    def kratos_register_flow_actions(self, register: Any) -> None:
        register(self.action)


def hook(**config: Any) -> list[dict[str, Any]]:
    return [{"hook": "gate", "config": config}]


def app_config(tmp_path: Any, flows: dict[str, Any]) -> dict[str, Any]:
    selfservice = {
        "methods": {STUB_FIRST_FACTOR: {"enabled": True}, "profile": {"enabled": True}},
        "flows": {"registration": {"style": "unified"}, **flows},
    }
    return merge(default_config(tmp_path), {"selfservice": selfservice})


@pytest.fixture
async def factory(tmp_path: Any) -> AsyncIterator[AppFactory]:
    made = AppFactory(tmp_path)
    yield made
    await made.close()


async def driver(factory: AppFactory, tmp_path: Any, flows: dict[str, Any], action: Recording) -> AsyncIterator[FlowDriver]:
    app = await factory(app_config(tmp_path, flows), plugins=[StubFirstFactorPlugin(), GatePlugin(action)])
    async with clients(app) as (public, admin):
        yield FlowDriver(public, admin, None, app)


# -- before ------------------------------------------------------------------------------------


async def test_before_actions_run_when_every_kind_of_flow_is_created(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(BEFORE_STAGES)
    before = {"before": {"hooks": hook()}}
    flows = {
        "login": before,
        "registration": {"style": "unified", **before},
        "settings": before,
        "recovery": {"enabled": True, **before},
        "verification": {"enabled": True, **before},
    }
    async for flow in driver(factory, tmp_path, flows, action):
        identity = (await flow.create_identity({"email": "ada@example.org"})).json()
        token = (await flow.login_stub(identity["id"])).json()["session_token"]
        for kind in ("registration", "recovery", "verification"):
            await flow.init(kind)
        await flow.init("login", aal="aal1")
        await flow.init("settings", session_token=token)
    ran = [stage for stage, _ in action.ran]
    # The stub login's own flow ran login.before first.
    assert ran == [LOGIN_BEFORE, REGISTRATION_BEFORE, RECOVERY_BEFORE, VERIFICATION_BEFORE, LOGIN_BEFORE, SETTINGS_BEFORE]


async def test_a_before_veto_shows_its_message_on_the_flow(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(BEFORE_STAGES)
    flows = {"registration": {"style": "unified", "before": {"hooks": hook(refuse_domain="x")}}}
    async for flow in driver(factory, tmp_path, flows, action):
        api = await flow.public.get("/self-service/registration/api")
        assert api.status_code == 400
        assert [m["text"] for m in api.json()["ui"]["messages"]] == ["closed for maintenance"]
        browser = await flow.public.get("/self-service/registration/browser", headers={"Accept": "text/html"})
        assert browser.status_code == 303
        flow_id = browser.headers["location"].split("flow=")[1]
        shown = await flow.public.get("/self-service/registration/flows", params={"id": flow_id})
        assert [m["text"] for m in shown.json()["ui"]["messages"]] == ["closed for maintenance"]


# -- pre-persist -------------------------------------------------------------------------------


async def identities(flow: FlowDriver) -> list[dict[str, Any]]:
    return (await flow.admin.get("/admin/identities")).json()


async def test_a_pre_persist_veto_puts_the_message_on_the_node_and_stores_nothing(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(frozenset({REGISTRATION_PRE_PERSIST}))
    flows = {"registration": {"style": "unified", "after": {"hooks": [*hook(refuse_domain="evil.test"), {"hook": "session"}]}}}
    async for flow in driver(factory, tmp_path, flows, action):
        refused = await flow.register({"email": "eve@evil.test"}, method=STUB_FIRST_FACTOR, expect=400)
        node = next(n for n in refused.json()["ui"]["nodes"] if n["attributes"]["name"] == "traits.email")
        assert [m["text"] for m in node["messages"]] == ["domain not allowed"]
        assert await identities(flow) == []
        accepted = await flow.register({"email": "ada@example.org"}, method=STUB_FIRST_FACTOR)
        assert accepted.json()["session"]["active"] is True
    assert [stage for stage, _ in action.ran] == [REGISTRATION_PRE_PERSIST, REGISTRATION_PRE_PERSIST]


async def test_a_browser_registration_veto_goes_back_to_the_ui_with_the_message(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(frozenset({REGISTRATION_PRE_PERSIST}))
    flows = {"registration": {"style": "unified", "after": {"hooks": hook(refuse_domain="evil.test", on_flow=True)}}}
    async for flow in driver(factory, tmp_path, flows, action):
        init = await flow.public.get("/self-service/registration/browser", headers={"Accept": "application/json"})
        body = init.json()
        csrf = next(n["attributes"]["value"] for n in body["ui"]["nodes"] if n["attributes"]["name"] == "csrf_token")
        form = {"csrf_token": csrf, "method": STUB_FIRST_FACTOR, "traits.email": "eve@evil.test"}
        posted = await flow.public.post(
            "/self-service/registration", params={"flow": body["id"]}, data=form, headers={"Accept": "text/html"}
        )
        assert posted.status_code == 303 and posted.headers["location"].endswith(f"flow={body['id']}")
        shown = await flow.public.get("/self-service/registration/flows", params={"id": body["id"]})
        assert [m["text"] for m in shown.json()["ui"]["messages"]] == ["refused"]
        assert await identities(flow) == []


async def test_pre_persist_changes_are_validated_and_stored(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(frozenset({REGISTRATION_PRE_PERSIST}))
    flows = {"registration": {"style": "unified", "after": {"hooks": hook(stamp="Stamped")}}}
    async for flow in driver(factory, tmp_path, flows, action):
        await flow.register({"email": "ada@example.org"}, method=STUB_FIRST_FACTOR)
        (stored,) = await identities(flow)
        assert stored["metadata_public"] == {"stamp": "Stamped"}
        assert stored["traits"]["name"] == {"first": "Stamped"}


async def test_pre_persist_changes_that_break_the_schema_are_refused(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(frozenset({REGISTRATION_PRE_PERSIST}))
    flows = {"registration": {"style": "unified", "after": {"hooks": hook(break_traits=True)}}}
    async for flow in driver(factory, tmp_path, flows, action):
        refused = await flow.register({"email": "ada@example.org"}, method=STUB_FIRST_FACTOR, expect=400)
        node = next(n for n in refused.json()["ui"]["nodes"] if n["attributes"]["name"] == "traits.email")
        assert node["messages"] and node["messages"][0]["type"] == "error"
        assert await identities(flow) == []


async def test_a_settings_veto_leaves_the_old_traits(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(frozenset({SETTINGS_PRE_PERSIST, SETTINGS_AFTER}))
    action.runs_before_persist = lambda config: bool(config.refuse_domain)  # type: ignore[attr-defined]
    flows = {"settings": {"after": {"hooks": [*hook(refuse_domain="evil.test"), *hook()]}}}
    async for flow in driver(factory, tmp_path, flows, action):
        identity = (await flow.create_identity({"email": "ada@example.org"})).json()
        token = (await flow.login_stub(identity["id"])).json()["session_token"]
        settings = await flow.init("settings", session_token=token)
        body = {"method": "profile", "traits": {"email": "ada@evil.test"}}
        refused = await flow.submit("settings", settings["id"], body, session_token=token, expect=400)
        node = next(n for n in refused.json()["ui"]["nodes"] if n["attributes"]["name"] == "traits.email")
        assert [m["text"] for m in node["messages"]] == ["domain not allowed"]
        stored = (await flow.admin.get(f"/admin/identities/{identity['id']}")).json()
        assert stored["traits"] == {"email": "ada@example.org"}
        body = {"method": "profile", "traits": {"email": "ada@example.net"}}
        saved = await flow.submit("settings", settings["id"], body, session_token=token)
        assert {"action": "gate_ran", "stage": SETTINGS_AFTER} in saved.json()["continue_with"]
    # The refusing entry ran before persisting (twice), the other one after the save only.
    assert [stage for stage, _ in action.ran] == [SETTINGS_PRE_PERSIST, SETTINGS_PRE_PERSIST, SETTINGS_AFTER]


# -- after, per method -------------------------------------------------------------------------


async def test_per_method_hooks_of_a_plugin_method_run_and_replace_the_global_list(factory: AppFactory, tmp_path: Any) -> None:
    action = Recording(frozenset({LOGIN_AFTER, REGISTRATION_AFTER}))
    flows = {
        "login": {"after": {"hooks": [{"hook": "revoke_active_sessions"}], STUB_FIRST_FACTOR: {"hooks": hook()}}},
        "registration": {"style": "unified", "after": {STUB_FIRST_FACTOR: {"hooks": [*hook(), {"hook": "session"}]}}},
    }
    async for flow in driver(factory, tmp_path, flows, action):
        registered = await flow.register({"email": "ada@example.org"}, method=STUB_FIRST_FACTOR)
        assert {"action": "gate_ran", "stage": REGISTRATION_AFTER} in registered.json()["continue_with"]
        first = registered.json()["session_token"]
        login = await flow.login_stub(registered.json()["identity"]["id"])
        assert login.json()["continue_with"] == [{"action": "gate_ran", "stage": LOGIN_AFTER}]
        # The method's list replaced the global one: the first session was not revoked.
        await flow.whoami(first)
