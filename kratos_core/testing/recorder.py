"""Recording which hooks fire: a plugin implementing every hookspec, for tests and meta-tests.

:class:`HookRecorder` implements each hook of :mod:`kratos_core.hookspecs` (generated from the
specs, so a new hook is recorded without touching this module) and keeps every call with its
arguments: register it in an app's plugins and assert on ``recorder.names()``. It is
``tryfirst``, so a call is recorded even when a later implementation vetoes it.

:class:`HookCoverage` counts calls by name across a whole test session: the pytest plugin
registers a probe of it into every plugin host (``--kratos-record-hooks``) to find hookspecs no
test exercises.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .. import hookimpl, hookspecs
from ..plugins import manager
from ..plugins.manager import PluginHost

__all__ = [
    "HookCall",
    "HookRecorder",
    "HookCoverage",
    "REGISTRATION_HOOKS",
    "hookspec_names",
    "record_every_host",
]

#: Hooks that say what exists (called while hosts and apps are built), not lifecycle stages.
REGISTRATION_HOOKS = frozenset(
    {
        "kratos_add_hookspecs",
        "kratos_register_methods",
        "kratos_register_flow_actions",
        "kratos_register_courier_channels",
        "kratos_register_config",
        "kratos_register_routes",
        "kratos_register_commands",
        "kratos_register_hashers",
    }
)


def hookspec_names(module: ModuleType = hookspecs) -> list[str]:
    """The hookspecs a module declares, in source (lifecycle) order."""
    specs = [
        fn
        for fn in vars(module).values()
        if inspect.isfunction(fn) and getattr(fn, "kratos_spec", None) is not None
    ]
    return [fn.__name__ for fn in sorted(specs, key=lambda fn: fn.__code__.co_firstlineno)]


@dataclass(frozen=True, slots=True)
class HookCall:
    """One recorded call: the hook's name and the arguments the core passed."""

    name: str
    kwargs: dict[str, Any]

    @property
    def label(self) -> str:
        """The name, with the event for ``kratos_event`` (``kratos_event:identity.created``)."""
        if self.name == "kratos_event":
            return f"kratos_event:{self.kwargs.get('event')}"
        return self.name


def _implementation(name: str, argnames: list[str]) -> Callable[..., None]:
    # pluggy reads an implementation's argument names from its code object, so the recording
    # function is compiled with the spec's exact parameters (no *args/**kwargs).
    params = ", ".join(["self", *argnames])
    values = ", ".join(f"{a!r}: {a}" for a in argnames)
    namespace: dict[str, Any] = {}
    exec(f"def {name}({params}):\n    self._record({name!r}, {{{values}}})\n", namespace)  # noqa: S102
    function = namespace[name]
    function.__doc__ = f"Record a call of ``{name}``."
    return hookimpl(tryfirst=True)(function)


def _recording_class(base: type, module: ModuleType) -> type:
    methods = {}
    for name in hookspec_names(module):
        spec = getattr(module, name)
        argnames = list(inspect.signature(spec).parameters)
        methods[name] = _implementation(name, argnames)
    return type(base.__name__, (base,), {**methods, "__doc__": base.__doc__, "__module__": base.__module__})


class _HookRecorder:
    """A plugin recording every hook call with its arguments, in order.

    Attributes:
        calls: The recorded calls, oldest first.
    """

    def __init__(self) -> None:
        self.calls: list[HookCall] = []

    def _record(self, name: str, kwargs: dict[str, Any]) -> None:
        self.calls.append(HookCall(name, kwargs))

    def names(self) -> list[str]:
        """Hook names in call order (with repeats)."""
        return [c.name for c in self.calls]

    def lifecycle(self) -> list[str]:
        """Labels of lifecycle calls in order: registration hooks left out, events named."""
        return [c.label for c in self.calls if c.name not in REGISTRATION_HOOKS]

    def of(self, name: str) -> list[dict[str, Any]]:
        """The arguments of each call of ``name``."""
        return [c.kwargs for c in self.calls if c.name == name]

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.calls.clear()


class _HookProbe(_HookRecorder):
    """The recorder one plugin host gets from a :class:`HookCoverage`: reports there, keeps nothing."""

    def __init__(self, coverage: HookCoverage, host: PluginHost) -> None:
        super().__init__()
        self.coverage = coverage
        self.host = host

    def _record(self, name: str, kwargs: dict[str, Any]) -> None:
        del kwargs
        impls = getattr(self.host.pm.hook, name).get_hookimpls()
        builtin = set(manager.BUILTIN_PLUGINS)
        others = [i for i in impls if i.plugin is not self and i.plugin_name not in builtin]
        self.coverage.note(name, implemented=bool(others))


HookRecorder = _recording_class(_HookRecorder, hookspecs)
_HookProbeClass = _recording_class(_HookProbe, hookspecs)


class HookCoverage:
    """Which hooks fired during a test session, and which fired into a plugin implementing them.

    A hook counts as *exercised* when the core called it on a plugin host where a plugin other
    than the built-ins implements it: some test plugged into it and saw it fire.

    Attributes:
        fired: Calls per hook name.
        implemented: Calls per hook name that reached a non-built-in implementation.
    """

    def __init__(self) -> None:
        self.fired: Counter[str] = Counter()
        self.implemented: Counter[str] = Counter()

    def probe(self, host: PluginHost) -> Any:
        """A recorder plugin to register into ``host``; it reports here."""
        return _HookProbeClass(self, host)

    def note(self, name: str, *, implemented: bool) -> None:
        """Count one call of ``name``."""
        self.fired[name] += 1
        if implemented:
            self.implemented[name] += 1

    def unexercised(self, module: ModuleType = hookspecs) -> list[str]:
        """Hookspecs of ``module`` never called into a non-built-in implementation."""
        return [name for name in hookspec_names(module) if not self.implemented[name]]

    def to_dict(self) -> dict[str, dict[str, int]]:
        """``{"fired": {...}, "implemented": {...}}`` (for the JSON report)."""
        return {"fired": dict(self.fired), "implemented": dict(self.implemented)}


@contextmanager
def record_every_host(coverage: HookCoverage) -> Iterator[None]:
    """Register a probe of ``coverage`` into every :class:`PluginHost` built inside the block.

    Only the pytest plugin uses this, for a whole session: the probe is appended to the host's
    explicit plugins, so nothing else about the host changes.
    """
    original = PluginHost.__init__

    def init(self: PluginHost, *args: Any, **kwargs: Any) -> None:
        kwargs["plugins"] = [*kwargs.get("plugins", ()), coverage.probe(self)]
        original(self, *args, **kwargs)

    PluginHost.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        PluginHost.__init__ = original  # type: ignore[method-assign]
