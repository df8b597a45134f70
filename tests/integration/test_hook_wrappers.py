"""Wrapper hook implementations run in a real server (issue 9: "a wrapper hookimpl runs").

A new-style ``async`` wrapper times every login around the other ``kratos_login_after``
implementations and sees their veto; an old-style ``hookwrapper`` turns a registration into a
refusal after the pre-persist implementations ran, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.flows.errors import FlowValidationError
from kratos_core.testing import FlowDriver, merge
from kratos_core.ui import messages

PASSWORD = "wrapped in hooks 1234"


class LoginTimer:
    """An async new-style wrapper around ``kratos_login_after``."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    async def kratos_login_after(self, identity: Any) -> AsyncIterator[None]:
        self.seen.append(f"start {identity.traits['email']}")
        try:
            yield
        except FlowValidationError:
            self.seen.append("refused")
            raise
        self.seen.append("accepted")


class NightGuard:
    @hookimpl
    async def kratos_login_after(self, identity: Any) -> None:
        if identity.traits["email"].startswith("night"):
            raise FlowValidationError.on_flow(messages.validation_generic("not at night"))


class ClosedRegistration:
    """An old-style wrapper that forces a refusal once the other implementations accepted."""

    def __init__(self) -> None:
        self.outcomes: list[Any] = []

    @hookimpl(hookwrapper=True)
    def kratos_registration_pre_persist(self, identity: Any) -> Iterator[None]:
        outcome = yield
        self.outcomes.append(outcome.exception)
        if identity.traits["email"].endswith("@closed.example.org"):
            outcome.force_exception(FlowValidationError.on_flow(messages.validation_generic("registration is closed")))


@pytest.fixture
def wrappers() -> tuple[LoginTimer, ClosedRegistration]:
    return LoginTimer(), ClosedRegistration()


@pytest.fixture
def kratos_plugins(wrappers: tuple[LoginTimer, ClosedRegistration]) -> list[object]:
    return [password_plugin, NightGuard(), *wrappers]


@pytest.fixture
def kratos_config(kratos_config: dict[str, Any]) -> dict[str, Any]:
    methods = {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}}
    return merge(kratos_config, {"selfservice": {"methods": methods}})


async def test_an_async_wrapper_runs_around_login_after_and_sees_the_veto(
    kratos_flows: FlowDriver, wrappers: tuple[LoginTimer, ClosedRegistration]
) -> None:
    timer, _ = wrappers
    await kratos_flows.create_identity({"email": "day@example.org"}, credentials={"password": {"config": {"password": PASSWORD}}})
    await kratos_flows.create_identity({"email": "night@example.org"}, credentials={"password": {"config": {"password": PASSWORD}}})
    await kratos_flows.login("day@example.org", password=PASSWORD)
    refused = await kratos_flows.login("night@example.org", password=PASSWORD, expect=400)
    assert "not at night" in refused.text
    assert timer.seen == ["start day@example.org", "accepted", "start night@example.org", "refused"]


async def test_an_old_style_wrapper_forces_a_refusal_and_nothing_is_stored(
    kratos_flows: FlowDriver, kratos_admin: Any, wrappers: tuple[LoginTimer, ClosedRegistration]
) -> None:
    _, closed = wrappers
    refused = await kratos_flows.register({"email": "jane@closed.example.org"}, password=PASSWORD, expect=400)
    assert "registration is closed" in refused.text
    await kratos_flows.register({"email": "jane@open.example.org"}, password=PASSWORD)
    assert closed.outcomes == [None, None]
    listed = (await kratos_admin.get("/admin/identities")).json()
    assert [i["traits"]["email"] for i in listed] == ["jane@open.example.org"]
