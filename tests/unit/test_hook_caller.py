"""The hook caller: pluggy's order and wrappers, async implementations awaited one at a time,
the two error policies, start-up refusals and the debug trace (issue 9, items 3 and 7)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pluggy
import pytest

from kratos_core import hookimpl, hookspec
from kratos_core.errors import BadRequest
from kratos_core.events import IdentityCreated
from kratos_core.plugins.manager import PluginError, PluginHost


BUILTINS = ("kratos_core.builtin.profile", "kratos_core.builtin.actions", "kratos_core.courier.plugin")


def host(*plugins: object) -> PluginHost:
    """A host with only ``plugins`` (the built-ins blocked, so their hooks stay out)."""
    return PluginHost(autoload=False, plugins=list(plugins), blocked=BUILTINS)


async def test_order_is_pluggys_and_each_coroutine_is_awaited_before_the_next() -> None:
    seen: list[str] = []

    class Last:
        @hookimpl(trylast=True)
        async def kratos_startup(self) -> None:
            seen.append("last")

    class Plain:
        @hookimpl
        async def kratos_startup(self) -> None:
            seen.append("plain:start")
            # A coroutine that suspends: the next implementation must still wait for it.
            import asyncio

            await asyncio.sleep(0.01)
            seen.append("plain:end")

    class First:
        @hookimpl(tryfirst=True)
        def kratos_startup(self) -> None:
            seen.append("first")

    class Later:
        @hookimpl
        def kratos_startup(self) -> None:
            seen.append("later")

    await host(Last(), First(), Plain(), Later()).hooks.startup(config=None)  # type: ignore[arg-type]
    # pluggy: tryfirst, then plain ones last-registered first, then trylast.
    assert seen == ["first", "later", "plain:start", "plain:end", "last"]


async def test_new_style_wrappers_run_around_and_see_the_veto() -> None:
    seen: list[Any] = []

    class SyncWrapper:
        @hookimpl(wrapper=True)
        def kratos_identity_pre_persist(self, operation: str) -> Iterator[None]:
            seen.append(f"sync before {operation}")
            try:
                result = yield
            except BadRequest as exc:
                seen.append(f"sync saw {exc.reason}")
                raise
            seen.append(("sync after", result))
            return result

    class AsyncWrapper:
        @hookimpl(wrapper=True)
        async def kratos_identity_pre_persist(self) -> AsyncIterator[None]:
            seen.append("async before")
            try:
                yield
            except BadRequest:
                seen.append("async saw veto")
                raise

    class Veto:
        @hookimpl
        async def kratos_identity_pre_persist(self, identity: Any) -> None:
            if identity == "refuse":
                raise BadRequest("no")
            seen.append("veto passed")

    class After:
        @hookimpl(trylast=True)
        def kratos_identity_pre_persist(self) -> None:
            seen.append("after")

    h = host(After(), Veto(), AsyncWrapper(), SyncWrapper())
    await h.hooks.identity_pre_persist(identity="ok", operation="create", source="admin")  # type: ignore[arg-type]
    assert seen == ["sync before create", "async before", "veto passed", "after", ("sync after", [])]
    seen.clear()
    with pytest.raises(BadRequest):
        await h.hooks.identity_pre_persist(identity="refuse", operation="update", source="admin")  # type: ignore[arg-type]
    # The veto stopped "after"; both wrappers saw it, innermost first.
    assert seen == ["sync before update", "async before", "async saw veto", "sync saw no"]


async def test_a_wrapper_may_swallow_a_veto_as_in_pluggy() -> None:
    class Forgiving:
        @hookimpl(wrapper=True)
        def kratos_login_before(self) -> Iterator[None]:
            try:
                yield
            except BadRequest:
                return []

    class Veto:
        @hookimpl
        async def kratos_login_before(self) -> None:
            raise BadRequest("no")

    await host(Veto(), Forgiving()).hooks.login_before(flow=None, request=None)  # type: ignore[arg-type]


async def test_old_style_hookwrappers_get_the_outcome_and_may_force_an_exception() -> None:
    outcomes: list[Any] = []

    class Old:
        @hookimpl(hookwrapper=True)
        def kratos_courier_before_send(self) -> Iterator[None]:
            outcome = yield
            outcomes.append(outcome.exception)
            outcome.force_exception(BadRequest("forced by the wrapper"))

    class AsyncOld:
        @hookimpl(hookwrapper=True)
        async def kratos_courier_before_send(self, message: Any) -> AsyncIterator[None]:
            outcome = yield
            outcomes.append(("async", message, outcome.get_result()))

    class Impl:
        @hookimpl
        async def kratos_courier_before_send(self) -> str:
            return "checked"

    h = host(Impl(), AsyncOld(), Old())
    with pytest.raises(BadRequest, match="forced by the wrapper"):
        await h.hooks.courier_before_send(message="m")  # type: ignore[arg-type]
    assert outcomes == [("async", "m", ["checked"]), None]


async def test_contained_hooks_log_each_failure_with_the_plugin_name(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class BrokenWrapper:
        @hookimpl(wrapper=True)
        async def kratos_identity_post_persist(self) -> AsyncIterator[None]:
            yield
            raise RuntimeError("wrapper teardown broke")

    class Broken:
        @hookimpl
        async def kratos_identity_post_persist(self) -> None:
            raise ValueError("boom")

    class Fine:
        @hookimpl(trylast=True)
        def kratos_identity_post_persist(self, source: str) -> None:
            seen.append(source)

    h = host()
    h.pm.register(Fine(), name="fine")
    h.pm.register(Broken(), name="broken")
    h.pm.register(BrokenWrapper(), name="broken-wrapper")
    with caplog.at_level(logging.ERROR, logger="kratos.plugins"):
        await h.hooks.identity_post_persist(identity=None, operation="create", source="admin")  # type: ignore[arg-type]
    assert seen == ["admin"]
    assert "plugin 'broken' failed in kratos_identity_post_persist" in caplog.text
    assert "plugin 'broken-wrapper' failed in kratos_identity_post_persist" in caplog.text


async def test_a_hook_without_implementations_returns_at_once() -> None:
    h = host()
    await h.hooks.login_after(flow=None, identity=None, session=None)  # type: ignore[arg-type]
    await h.hooks.event(payload=IdentityCreated(identity_id=uuid.uuid4(), source="admin"))


# -- refused at start-up, with the plugin's name ---------------------------------------------


class AsyncRegistration:
    @hookimpl
    async def kratos_register_methods(self, register: Any) -> None:
        del register


class WrapperOnRegistration:
    @hookimpl(wrapper=True)
    def kratos_register_flow_actions(self, register: Any) -> Iterator[None]:
        return (yield)


class UnmarkedGenerator:
    @hookimpl
    def kratos_login_before(self, flow: Any) -> Iterator[None]:
        yield


class UnmarkedAsyncGenerator:
    @hookimpl
    async def kratos_event(self, event: str) -> AsyncIterator[None]:
        yield


class Specs:
    @hookspec(firstresult=True)
    def kratos_pick_provider(self, name: str) -> Any:
        """A plugin's own firstresult hook."""


class AddsFirstResult:
    @hookimpl
    def kratos_add_hookspecs(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookspecs(Specs)


class AsyncFirstResult:
    @hookimpl
    async def kratos_pick_provider(self, name: str) -> str:
        return name


@pytest.mark.parametrize(
    ("plugins", "expected"),
    [
        ([AsyncRegistration()], "kratos_register_methods as a wrapper or coroutine"),
        ([WrapperOnRegistration()], "kratos_register_flow_actions as a wrapper or coroutine"),
        ([UnmarkedGenerator()], "mark it @hookimpl(wrapper=True)"),
        ([UnmarkedAsyncGenerator()], "mark it @hookimpl(wrapper=True)"),
        ([AddsFirstResult(), AsyncFirstResult()], "the hook is firstresult"),
    ],
    ids=["async-registration", "wrapper-on-registration", "generator", "async-generator", "async-firstresult"],
)
def test_implementations_the_host_cannot_honour_fail_at_start(plugins: list[object], expected: str) -> None:
    with pytest.raises(PluginError, match=re.escape(expected)):
        host(*plugins)


def test_the_refusal_names_the_plugin() -> None:
    h = PluginHost(autoload=False)
    with pytest.raises(PluginError, match="plugin 'kratos-pin' implements kratos_login_before"):
        h.pm.register(UnmarkedGenerator(), name="kratos-pin")
        h._check_implementations(["kratos_login_before"])


def test_a_wrapper_that_is_not_a_generator_fails_at_start() -> None:
    class NotAGenerator:
        @hookimpl(wrapper=True)
        def kratos_login_before(self) -> None:
            pass

    with pytest.raises(pluggy.PluginValidationError, match="not a generator function"):
        host(NotAGenerator())


# -- the debug trace -------------------------------------------------------------------------


async def test_debug_logging_traces_each_call_without_argument_values(caplog: pytest.LogCaptureFixture) -> None:
    class Refuses:
        @hookimpl
        async def kratos_login_after(self, identity: Any) -> None:
            raise BadRequest("no")

    h = host()
    h.pm.register(Refuses(), name="refuser")
    secret = "hunter2-super-secret"
    with caplog.at_level(logging.DEBUG, logger="kratos.plugins.hooks"):
        await h.hooks.startup(config=secret)  # type: ignore[arg-type]
        with pytest.raises(BadRequest):
            await h.hooks.login_after(flow=secret, identity=secret, session=secret)  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.name == "kratos.plugins.hooks"]
    assert "hook kratos_startup: no implementations" in lines
    assert "hook kratos_login_after: refuser=raised BadRequest -> refused (BadRequest)" in lines
    assert secret not in caplog.text


async def test_no_trace_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kratos.plugins.hooks"):
        await host().hooks.startup(config=None)  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.name == "kratos.plugins.hooks"]


# -- hooks a plugin adds ---------------------------------------------------------------------


class ProviderSpecs:
    @hookspec
    def kratos_acme_providers(self, register: Any) -> None:
        """A plugin's own hook."""


class AddsProviders:
    @hookimpl
    def kratos_add_hookspecs(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookspecs(ProviderSpecs)


class Provider:
    @hookimpl
    async def kratos_acme_providers(self, register: Any) -> str:
        register("github")
        return "ok"


async def test_a_plugins_own_hook_is_called_through_the_same_caller() -> None:
    h = host(AddsProviders(), Provider())
    found: list[str] = []
    providers = h.hooks.plugin_hook("kratos_acme_providers")
    assert await providers.call(register=found.append) == ["ok"]
    assert found == ["github"]
    with pytest.raises(ValueError, match="core hook"):
        h.hooks.plugin_hook("kratos_login_before")
    with pytest.raises(ValueError, match="no plugin added"):
        h.hooks.plugin_hook("kratos_unknown")


async def test_arguments_with_defaults_are_passed_by_keyword_as_in_pluggy() -> None:
    got: list[object] = []

    class WithDefault:
        @hookimpl
        def kratos_settings_post_persist(self, identity: Any, method: str = "unknown") -> None:
            got.append((identity, method))

    await host(WithDefault()).hooks.settings_post_persist(flow=None, identity="i", session=None, method="password")  # type: ignore[arg-type]
    assert got == [("i", "password")]
