"""The typed hook facade: one method per hookspec, the one place each hook is called.

``app.plugins.hooks.login_before(flow=flow, request=request)`` calls ``kratos_login_before``
through :func:`kratos_core.plugins.caller.acall` (pluggy's order and wrappers, each coroutine
awaited before the next implementation). As in tox 4, the core never names a hook by a string:
grep for ``hooks.login_before(`` to find the call site. A meta-test keeps one method here per
hookspec, with the spec's parameters.

Two policies, as the hookspecs document per stage:

* fail closed (:meth:`Hooks._closed`): the first exception propagates (``before``,
  ``pre_persist``, ``after`` hooks that may refuse);
* contained (:meth:`Hooks._contained`): an exception is logged with the plugin's name and the
  others still run (``post_persist``, observers, shutdown).

A hook with no implementation costs one list copy. With the ``kratos.plugins.hooks`` logger at
DEBUG (``log.level: debug`` or ``trace``) every call is logged with the hook's name, the
plugins called and the outcome, never argument values.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

import msgspec
import pluggy

from .. import hookspecs
from .caller import HookTrace, acall, call_sync

if TYPE_CHECKING:  # pragma: no cover
    import click
    from litestar import Request

    from ..config import Config
    from ..courier.model import Dispatch, Message
    from ..events import Event
    from ..flows.model import Flow
    from ..identity.model import Identity, VerifiableAddress
    from ..session.model import Session
    from .registry import ChannelRegistrar, ConfigRegistrar, FlowActionRegistrar, MethodRegistrar, RouteRegistrar

__all__ = ["Hooks", "PluginHook", "trace_log"]

_CORE_HOOKS = frozenset(hookspecs.__all__)

#: The hook-call trace; DEBUG turns it on.
trace_log = logging.getLogger("kratos.plugins.hooks")


class Hooks:
    """Call the hooks of one plugin manager (``PluginHost.hooks``)."""

    __slots__ = ("_relay",)

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._relay = pm.hook

    # -- the two policies ------------------------------------------------------------------

    def _closed(self, name: str, kwargs: dict[str, Any]) -> Awaitable[Any]:
        impls = getattr(self._relay, name).get_hookimpls()
        if not impls:
            # The common case (nobody plugged in): no coroutine at all, only the list copy.
            if trace_log.isEnabledFor(logging.DEBUG):
                trace_log.debug("hook %s: no implementations", name)
            return _DONE
        if not trace_log.isEnabledFor(logging.DEBUG):
            return acall(name, impls, kwargs)
        return _traced(name, impls, kwargs, contain=False)

    def _contained(self, name: str, kwargs: dict[str, Any]) -> Awaitable[Any]:
        impls = getattr(self._relay, name).get_hookimpls()
        if not impls:
            if trace_log.isEnabledFor(logging.DEBUG):
                trace_log.debug("hook %s: no implementations", name)
            return _DONE
        if not trace_log.isEnabledFor(logging.DEBUG):
            return acall(name, impls, kwargs, contain=True)
        return _traced(name, impls, kwargs, contain=True)

    def _sync(self, name: str, kwargs: dict[str, Any], before_each: Callable[[Any], None] | None = None) -> None:
        impls = getattr(self._relay, name).get_hookimpls()
        trace = HookTrace() if trace_log.isEnabledFor(logging.DEBUG) else None
        call_sync(name, impls, kwargs, before_each=before_each, trace=trace)
        if trace is not None:
            trace_log.debug("hook %s: %s -> ok", name, ", ".join(trace.steps) or "no implementations")

    def has(self, hook_name: str) -> bool:
        """Whether any plugin implements ``hook_name`` (introspection, not a call)."""
        return bool(getattr(self._relay, hook_name).get_hookimpls())

    def plugin_hook(self, hook_name: str) -> PluginHook:
        """The caller of a hook a plugin added with ``kratos_add_hookspecs`` (e.g. OIDC providers).

        Core hooks have a typed method each; this is for a plugin's own hooks, which get the same
        order, wrappers, awaiting, policies and trace. Keep the returned object (one call site).

        Raises:
            ValueError: ``hook_name`` is a core hook or no plugin added it.
        """
        if hook_name in _CORE_HOOKS:
            raise ValueError(f"{hook_name} is a core hook: call it through Hooks.{hook_name.removeprefix('kratos_')}")
        if getattr(self._relay, hook_name, None) is None:
            raise ValueError(f"no plugin added the hook {hook_name}")
        return PluginHook(self, hook_name)

    # -- start-up: what exists ---------------------------------------------------------------

    def add_hookspecs(self, *, pm: pluggy.PluginManager) -> None:
        """:func:`kratos_core.hookspecs.kratos_add_hookspecs`."""
        self._sync("kratos_add_hookspecs", {"pm": pm})

    def register_methods(self, *, register: MethodRegistrar) -> None:
        """:func:`kratos_core.hookspecs.kratos_register_methods`."""
        self._sync("kratos_register_methods", {"register": register}, _owner(register))

    def register_flow_actions(self, *, register: FlowActionRegistrar) -> None:
        """:func:`kratos_core.hookspecs.kratos_register_flow_actions`."""
        self._sync("kratos_register_flow_actions", {"register": register}, _owner(register))

    def register_courier_channels(self, *, register: ChannelRegistrar) -> None:
        """:func:`kratos_core.hookspecs.kratos_register_courier_channels`."""
        self._sync("kratos_register_courier_channels", {"register": register}, _owner(register))

    def register_config(self, *, register: ConfigRegistrar) -> None:
        """:func:`kratos_core.hookspecs.kratos_register_config`."""
        self._sync("kratos_register_config", {"register": register}, _owner(register))

    def register_routes(self, *, register: RouteRegistrar) -> None:
        """:func:`kratos_core.hookspecs.kratos_register_routes`."""
        self._sync("kratos_register_routes", {"register": register}, _owner(register))

    def register_commands(self, *, cli: click.Group) -> None:
        """:func:`kratos_core.hookspecs.kratos_register_commands`."""
        self._sync("kratos_register_commands", {"cli": cli})

    # -- lifecycle ---------------------------------------------------------------------------

    def startup(self, *, config: Config) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_startup` (fail closed: stops the start)."""
        return self._closed("kratos_startup", {"config": config})

    def login_before(self, *, flow: Flow, request: Request[Any, Any, Any]) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_login_before` (fail closed)."""
        return self._closed("kratos_login_before", {"flow": flow, "request": request})

    def login_after(self, *, flow: Flow, identity: Identity, session: Session) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_login_after` (fail closed)."""
        return self._closed("kratos_login_after", {"flow": flow, "identity": identity, "session": session})

    def registration_before(self, *, flow: Flow, request: Request[Any, Any, Any]) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_registration_before` (fail closed)."""
        return self._closed("kratos_registration_before", {"flow": flow, "request": request})

    def registration_pre_persist(self, *, flow: Flow, identity: Identity) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_registration_pre_persist` (fail closed)."""
        return self._closed("kratos_registration_pre_persist", {"flow": flow, "identity": identity})

    def registration_post_persist(self, *, flow: Flow, identity: Identity, session: Session) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_registration_post_persist` (contained)."""
        return self._contained("kratos_registration_post_persist", {"flow": flow, "identity": identity, "session": session})

    def settings_before(self, *, flow: Flow, request: Request[Any, Any, Any], identity: Identity, session: Session) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_settings_before` (fail closed)."""
        kwargs = {"flow": flow, "request": request, "identity": identity, "session": session}
        return self._closed("kratos_settings_before", kwargs)

    def settings_pre_persist(self, *, flow: Flow, identity: Identity, session: Session, method: str) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_settings_pre_persist` (fail closed)."""
        kwargs = {"flow": flow, "identity": identity, "session": session, "method": method}
        return self._closed("kratos_settings_pre_persist", kwargs)

    def settings_post_persist(self, *, flow: Flow, identity: Identity, session: Session, method: str) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_settings_post_persist` (contained)."""
        kwargs = {"flow": flow, "identity": identity, "session": session, "method": method}
        return self._contained("kratos_settings_post_persist", kwargs)

    def recovery_before(self, *, flow: Flow, request: Request[Any, Any, Any]) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_recovery_before` (fail closed)."""
        return self._closed("kratos_recovery_before", {"flow": flow, "request": request})

    def recovery_after(self, *, flow: Flow, identity: Identity, session: Session) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_recovery_after` (fail closed for the session)."""
        return self._closed("kratos_recovery_after", {"flow": flow, "identity": identity, "session": session})

    def verification_before(self, *, flow: Flow, request: Request[Any, Any, Any]) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_verification_before` (fail closed)."""
        return self._closed("kratos_verification_before", {"flow": flow, "request": request})

    def verification_after(self, *, flow: Flow, identity: Identity, address: VerifiableAddress) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_verification_after` (errors to the flow's handler)."""
        return self._closed("kratos_verification_after", {"flow": flow, "identity": identity, "address": address})

    def courier_before_send(self, *, message: Message) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_courier_before_send` (fail closed: vetoes the attempt)."""
        return self._closed("kratos_courier_before_send", {"message": message})

    def courier_after_send(self, *, message: Message, dispatch: Dispatch) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_courier_after_send` (contained)."""
        return self._contained("kratos_courier_after_send", {"message": message, "dispatch": dispatch})

    def identity_pre_persist(self, *, identity: Identity, operation: str, source: str) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_identity_pre_persist` (fail closed)."""
        return self._closed("kratos_identity_pre_persist", {"identity": identity, "operation": operation, "source": source})

    def identity_post_persist(self, *, identity: Identity, operation: str, source: str) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_identity_post_persist` (contained)."""
        kwargs = {"identity": identity, "operation": operation, "source": source}
        return self._contained("kratos_identity_post_persist", kwargs)

    def event(self, *, payload: Event) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_event` (contained): ``event`` and ``data`` are
        derived from the typed ``payload``, and only when someone observes."""
        if not self._relay.kratos_event.get_hookimpls():
            return _DONE
        data = msgspec.to_builtins(payload)
        data.pop("event", None)
        return self._contained("kratos_event", {"event": payload.name, "data": data, "payload": payload})

    def shutdown(self, *, config: Config) -> Awaitable[None]:
        """:func:`kratos_core.hookspecs.kratos_shutdown` (contained)."""
        return self._contained("kratos_shutdown", {"config": config})


class _Done:
    """An awaitable that is already finished (``await _DONE`` is None): what a hook without
    implementations returns, so calling it creates no coroutine."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return iter(())  # type: ignore[return-value]  # an exhausted iterator: faster than a generator


_DONE: Awaitable[Any] = _Done()


async def _traced(name: str, impls: list[pluggy.HookImpl], kwargs: dict[str, Any], *, contain: bool) -> list[Any]:
    """Run the hook and log one line: the plugins called and the outcome, never the arguments."""
    trace = HookTrace()
    try:
        results = await acall(name, impls, kwargs, contain=contain, trace=trace)
    except BaseException as exc:
        trace_log.debug("hook %s: %s -> refused (%s)", name, ", ".join(trace.steps), type(exc).__name__)
        raise
    outcome = "done (failures contained)" if contain else "ok"
    trace_log.debug("hook %s: %s -> %s", name, ", ".join(trace.steps), outcome)
    return results


class PluginHook:
    """Calls one hook a plugin added (see :meth:`Hooks.plugin_hook`)."""

    __slots__ = ("_hooks", "name")

    def __init__(self, hooks: Hooks, name: str) -> None:
        self._hooks = hooks
        self.name = name

    async def call(self, **kwargs: Any) -> list[Any]:
        """Fail closed: every implementation in order, awaited; the first exception propagates.

        Returns:
            The implementations' non-None results, in call order.
        """
        return (await self._hooks._closed(self.name, kwargs)) or []

    async def notify(self, **kwargs: Any) -> None:
        """Contained: every implementation runs; exceptions are logged with the plugin's name."""
        await self._hooks._contained(self.name, kwargs)


def _owner(registrar: Any) -> Callable[[pluggy.HookImpl], None]:
    """Tell a registrar which plugin registers next (for duplicate-id messages)."""

    def before_each(impl: pluggy.HookImpl) -> None:
        registrar.current_plugin = impl.plugin_name

    return before_each
