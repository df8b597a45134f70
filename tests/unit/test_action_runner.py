"""The action runner: Kratos's fixed ordering rules, skipping, config, and the built-in actions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from kratos_core.actions import (
    LOGIN_AFTER,
    REGISTRATION_AFTER,
    ActionContext,
    ActionEntry,
    FlowAction,
    RevokeActiveSessionsAction,
    SessionAction,
    plan_actions,
    run_actions,
)
from kratos_core.errors import BadRequest, InternalServerError
from kratos_core.plugins.manager import PluginHost


@dataclass
class Hook:
    """A configured list item, as the config gives it."""

    hook: str
    config: dict[str, Any] | None = None


def names(entries: list[Any]) -> list[str]:
    return [e.hook for e in entries]


# -- plan_actions ------------------------------------------------------------------------------


def test_session_always_runs_last() -> None:
    planned = plan_actions([Hook("session"), Hook("web_hook"), Hook("show_verification_ui")], [])
    assert names(planned) == ["web_hook", "show_verification_ui", "session"]


def test_method_list_replaces_the_global_list() -> None:
    assert names(plan_actions([Hook("a")], [Hook("g1"), Hook("g2")])) == ["a"]


def test_global_list_applies_only_when_the_method_has_none() -> None:
    assert names(plan_actions([], [Hook("session"), Hook("g")])) == ["g", "session"]
    assert plan_actions([], []) == []


def test_implicit_actions_run_first_unless_configured() -> None:
    planned = plan_actions([Hook("session"), Hook("web_hook")], [], prepend=["verification"])
    assert names(planned) == ["verification", "web_hook", "session"]
    assert isinstance(planned[0], ActionEntry)
    configured = plan_actions([Hook("web_hook"), Hook("verification")], [], prepend=["verification"])
    assert names(configured) == ["web_hook", "verification"]


def test_order_is_otherwise_the_config_order() -> None:
    hooks = [Hook("c"), Hook("a"), Hook("session"), Hook("b")]
    assert names(plan_actions(hooks, [])) == ["c", "a", "b", "session"]


# -- run_actions -------------------------------------------------------------------------------


class Limits(msgspec.Struct, forbid_unknown_fields=True):
    max: int = 1


class Recorder:
    def __init__(self, id: str, stages: frozenset[str] = frozenset({LOGIN_AFTER}), model: type | None = None) -> None:
        self.id = id
        self.stages = stages
        self.config_model = model
        self.seen: list[Any] = []

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        self.seen.append(config)
        ctx.continue_with.append({"action": self.id})


class Failing(Recorder):
    async def execute(self, ctx: ActionContext, config: Any) -> None:
        raise BadRequest("no")


def context(stage: str = LOGIN_AFTER, flow_type: str = "api") -> ActionContext:
    return ActionContext(
        app=SimpleNamespace(),  # type: ignore[arg-type]
        stage=stage,
        flow=SimpleNamespace(type=flow_type),  # type: ignore[arg-type]
        request=SimpleNamespace(),  # type: ignore[arg-type]
        identity=SimpleNamespace(),  # type: ignore[arg-type]
        session=SimpleNamespace(token="ory_st_x", identity_id=1, id=2),
        method="password",
    )


def test_recorder_is_a_flow_action() -> None:
    assert isinstance(Recorder("x"), FlowAction)
    assert isinstance(SessionAction(), FlowAction) and isinstance(RevokeActiveSessionsAction(), FlowAction)


async def test_runs_in_order_with_validated_config() -> None:
    a, b = Recorder("a", model=Limits), Recorder("b")
    ctx = context()
    await run_actions(ctx, [Hook("a", {"max": 3}), Hook("b", {"ignored": True})], {"a": a, "b": b})
    assert a.seen == [Limits(max=3)] and b.seen == [None]
    assert ctx.continue_with == [{"action": "a"}, {"action": "b"}]


async def test_unknown_and_misplaced_actions_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    only_registration = Recorder("r", stages=frozenset({REGISTRATION_AFTER}))
    with caplog.at_level(logging.WARNING, logger="kratos.actions"):
        await run_actions(context(), [Hook("nope"), Hook("r")], {"r": only_registration})
    assert only_registration.seen == []
    assert "nope" in caplog.text and "does not apply" in caplog.text


async def test_invalid_config_is_a_misconfiguration() -> None:
    with pytest.raises(InternalServerError):
        await run_actions(context(), [Hook("a", {"unknown": 1})], {"a": Recorder("a", model=Limits)})


async def test_an_error_stops_the_chain() -> None:
    after = Recorder("after")
    with pytest.raises(BadRequest):
        await run_actions(context(), [Hook("fail"), Hook("after")], {"fail": Failing("fail"), "after": after})
    assert after.seen == []


# -- built-in actions --------------------------------------------------------------------------


async def test_session_action_hands_out_the_session() -> None:
    api = context(REGISTRATION_AFTER, "api")
    await SessionAction().execute(api, None)
    assert api.hand_out_session is True
    assert api.continue_with == [{"action": "set_ory_session_token", "ory_session_token": "ory_st_x"}]
    browser = context(REGISTRATION_AFTER, "browser")
    await SessionAction().execute(browser, None)
    assert browser.hand_out_session is True and browser.continue_with == []


async def test_revoke_active_sessions_keeps_the_current_one() -> None:
    revoked: list[Any] = []

    async def revoke_others(session: Any) -> int:
        revoked.append(session)
        return 3

    ctx = context()
    ctx.app = SimpleNamespace(sessions=SimpleNamespace(revoke_others=revoke_others))  # type: ignore[assignment]
    await RevokeActiveSessionsAction().execute(ctx, None)
    assert revoked == [ctx.session]


def test_builtin_actions_are_registered_through_the_plugin_hook() -> None:
    host = PluginHost(autoload=False)
    assert set(host.actions.items) >= {"session", "revoke_active_sessions"}
    info = {p["name"]: p for p in host.describe()}
    assert info["kratos_core.builtin.actions"]["hooks"] == ["kratos_register_flow_actions"]
    blocked = PluginHost(autoload=False, blocked=["kratos_core.builtin.actions"])
    assert "session" not in blocked.actions.items


# -- pre-persist split -------------------------------------------------------------------------


def test_after_entries_of_pre_persist_actions_run_before_persisting() -> None:
    from kratos_core.actions.runner import REGISTRATION_PRE_PERSIST, split_pre_persist

    class Chooser(Recorder):
        def runs_before_persist(self, config: Any) -> bool:
            return bool(config and config.max > 1)

    registry = {
        "pre": Recorder("pre", stages=frozenset({REGISTRATION_PRE_PERSIST})),
        "post": Recorder("post", stages=frozenset({REGISTRATION_AFTER})),
        "both": Recorder("both", stages=frozenset({REGISTRATION_PRE_PERSIST, REGISTRATION_AFTER})),
        "choose": Chooser("choose", stages=frozenset({REGISTRATION_PRE_PERSIST, REGISTRATION_AFTER}), model=Limits),
    }
    entries = plan_actions([Hook("session"), Hook("post"), Hook("pre"), Hook("both"), Hook("choose", {"max": 2}), Hook("choose")], [])
    pre, post = split_pre_persist(entries, registry, "registration")
    assert names(pre) == ["pre", "choose"]
    assert names(post) == ["post", "both", "choose", "session"]
    # Login has no pre-persist stage: everything runs after.
    assert split_pre_persist(entries, registry, "login") == ([], entries)
