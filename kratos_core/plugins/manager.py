"""The plugin host: one pluggy manager per app, registries, and the async-aware hook caller.

Every hook is called through :meth:`PluginHost.call` (fail closed: the first exception
propagates and stops the implementations after it) or :meth:`PluginHost.notify` (contained:
exceptions are logged with the plugin's name). Never call ``pm.hook.<name>(...)`` elsewhere:
pluggy does not await coroutines, and these two callers do, one implementation at a time.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

import click
import msgspec
import pluggy

from .. import hookspecs
from ..methods import KNOWN_METHOD_PACKAGES
from .registry import ChannelRegistrar, FlowActionRegistrar, MethodRegistrar, RouteRegistrar

__all__ = ["PluginHost", "PluginError", "ENTRY_POINT_GROUP", "BUILTIN_PLUGINS", "PluginInfo"]

log = logging.getLogger("kratos.plugins")

ENTRY_POINT_GROUP = "kratos"

#: Built-in plugins: core features on the same hooks as external plugins (module paths).
BUILTIN_PLUGINS: tuple[str, ...] = ("kratos_core.builtin.profile", "kratos_core.builtin.actions", "kratos_core.courier.plugin")


#: Packages that provide Kratos's flow actions and courier channels, for start-up hints.
KNOWN_ACTION_PACKAGES: dict[str, str] = {
    "web_hook": "kratos-webhook",
    "session": "kratos-core",
    "revoke_active_sessions": "kratos-core",
    "verification": "kratos-core",
    "show_verification_ui": "kratos-core",
    "require_verified_address": "kratos-core",
    "verify_new_address": "kratos-core",
    "notify_previous_addresses": "kratos-core",
}
KNOWN_CHANNEL_PACKAGES: dict[str, str] = {"email": "kratos-smtp", "sms": "kratos-sms"}


def _hook_entries(node: Any, path: str) -> Iterable[tuple[str, Any]]:
    """``(dotted path, entry)`` for every hook entry below a config node (Structs and tuples)."""
    if isinstance(node, (tuple, list)):
        for index, item in enumerate(node):
            if hasattr(item, "hook"):
                yield f"{path}.{index}", item
        return
    fields = getattr(node, "__struct_fields__", None)
    if fields is None:
        return
    for name in fields:
        yield from _hook_entries(getattr(node, name), f"{path}.{name}")


class PluginError(Exception):
    """A plugin problem found at start-up (missing provider, bad plugin config, duplicates)."""


class PluginInfo(dict):
    """``{"name", "version", "hooks", "builtin"}`` for ``kratos plugins``."""


class PluginHost:
    """The plugins of one application.

    Args:
        autoload: Load plugins from the ``kratos`` entry-point group (tests pass False).
        plugins: Extra plugin objects or modules to register, in order.
        blocked: Names of plugins (entry-point names or builtin module names) not to load.
    """

    def __init__(
        self,
        *,
        autoload: bool = True,
        plugins: Sequence[object] = (),
        blocked: Iterable[str] = (),
    ) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        blocked = set(blocked)
        self._builtin_names: set[str] = set()
        for modname in BUILTIN_PLUGINS:
            if modname in blocked:
                continue
            module = __import__(modname, fromlist=["_"])
            self.pm.register(module, name=modname)
            self._builtin_names.add(modname)
        for name in blocked:
            self.pm.set_blocked(name)
        self._dists: dict[str, metadata.Distribution] = {}
        if autoload:
            self._load_entry_points()
        for plugin in plugins:
            self.pm.register(plugin)
        self._call_sync("kratos_add_hookspecs", pm=self.pm)
        # Unknown kratos_* hook names in a plugin are a typo; fail at boot (STYLE.md habit 5).
        self.pm.check_pending()
        self.methods = MethodRegistrar()
        self.actions = FlowActionRegistrar()
        self.channels = ChannelRegistrar()
        self._register("kratos_register_methods", self.methods)
        self._register("kratos_register_flow_actions", self.actions)
        self._register("kratos_register_courier_channels", self.channels)

    def _load_entry_points(self) -> None:
        """Load installed plugins; a broken one stops the start with its name (no traceback)."""
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.get_plugin(ep.name) is not None or self.pm.is_blocked(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            where = f" from {dist.metadata['name']} {dist.version}" if dist is not None else ""
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is a start-up error
                raise PluginError(f'the plugin "{ep.name}"{where} failed to load: {exc!r}') from exc
            self.pm.register(plugin, name=ep.name)
            if dist is not None:
                self._dists[ep.name] = dist

    # -- registration ------------------------------------------------------------------------

    def _register(self, hook_name: str, registrar: Any) -> None:
        for impl in self._impls(hook_name):
            registrar.current_plugin = impl.plugin_name
            impl.function(register=registrar)

    def routes(self) -> RouteRegistrar:
        """Collect plugin routes (called while the HTTP apps are built)."""
        registrar = RouteRegistrar()
        self._register("kratos_register_routes", registrar)
        return registrar

    def register_commands(self, cli: click.Group) -> None:
        self._call_sync("kratos_register_commands", cli=cli)

    def config_fragments(self) -> dict[str, type]:
        """Config sections owned by plugins: dotted path -> msgspec Struct type."""
        out: dict[str, type] = {}
        for method in self.methods.items.values():
            model = getattr(method, "config_model", None)
            if model is not None:
                out[f"selfservice.methods.{method.id}.config"] = model
        return out

    def configure(self, config: Any, explicitly_enabled: Iterable[str] = ()) -> None:
        """Check config against what is installed and hand each method its validated config.

        Args:
            config: The loaded :class:`kratos_core.config.Config`.
            explicitly_enabled: Method ids the config files enable explicitly. A method enabled
                only by Kratos's defaults (password, code) without a provider logs a warning;
                one enabled explicitly fails with the package to install.

        Raises:
            PluginError: an enabled method has no installed provider.
        """
        explicit = set(explicitly_enabled)
        for name, section in config.selfservice.methods.items():
            if not section.enabled:
                continue
            method = self.methods.get(name)
            if method is None:
                package = KNOWN_METHOD_PACKAGES.get(name)
                hint = f'install the "{package}" package' if package else "install the plugin that provides it"
                msg = f'selfservice.methods.{name} is enabled but no installed plugin provides the "{name}" method: {hint}'
                if name in explicit or package is None:
                    raise PluginError(msg)
                log.warning("%s; the method stays off", msg)
                continue
            configure = getattr(method, "configure", None)
            if configure is not None:
                fragment = None
                if getattr(method, "config_model", None) is not None:
                    fragment = config.fragment(f"selfservice.methods.{name}.config")
                configure(fragment, config)
        self._check_actions(config)
        self._check_channels(config)

    def _check_actions(self, config: Any) -> None:
        """Every ``hook:`` a flow's config names must be a registered action with valid config."""
        for path, entry in _hook_entries(config.selfservice.flows, "selfservice.flows"):
            name = getattr(entry, "hook", None)
            action = self.actions.get(name)
            if action is None:
                package = KNOWN_ACTION_PACKAGES.get(name)
                if package == "kratos-core":
                    hint = "this version of kratos-core does not provide it yet"
                elif package:
                    hint = f'install the "{package}" package'
                else:
                    hint = "install the plugin that provides it"
                raise PluginError(f'{path} names the flow action "{name}", which no installed plugin provides: {hint}')
            model = getattr(action, "config_model", None)
            if model is not None:
                try:
                    msgspec.convert(dict(entry.config or {}), model)
                except msgspec.ValidationError as exc:
                    raise PluginError(f'{path} ("{name}"): invalid config: {exc}') from exc

    def _check_channels(self, config: Any) -> None:
        """Every channel in ``courier.channels`` must be provided by an installed plugin."""
        for index, channel in enumerate(getattr(config.courier, "channels", ()) or ()):
            cid = getattr(channel, "id", None)
            if cid is not None and self.channels.get(cid) is None:
                package = KNOWN_CHANNEL_PACKAGES.get(cid)
                hint = f'install the "{package}" package' if package else "install the plugin that provides it"
                raise PluginError(f'courier.channels.{index} names the channel "{cid}", which no installed plugin provides: {hint}')

    def enabled_methods(self, config: Any) -> dict[str, Any]:
        """Method objects that are installed and enabled, in registration order."""
        sections = config.selfservice.methods
        return {
            mid: m for mid, m in self.methods.items.items() if mid in sections and sections[mid].enabled
        }

    # -- calling hooks -----------------------------------------------------------------------

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        # pluggy calls the last registered implementation first (tryfirst/trylast respected);
        # keep that order so plugin authors get what pluggy's docs promise.
        return list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))

    @staticmethod
    def _kwargs(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {name: kwargs[name] for name in impl.argnames if name in kwargs}

    def _call_sync(self, hook_name: str, **kwargs: Any) -> list[Any]:
        return [impl.function(**self._kwargs(impl, kwargs)) for impl in self._impls(hook_name)]

    async def call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation in order, awaiting each; the first exception propagates."""
        results = []
        for impl in self._impls(hook_name):
            result = impl.function(**self._kwargs(impl, kwargs))
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                results.append(result)
        return results

    async def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation, containing and logging each one's exception."""
        for impl in self._impls(hook_name):
            try:
                result = impl.function(**self._kwargs(impl, kwargs))
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - observers must not break the server
                log.exception("plugin %r failed in %s", impl.plugin_name, hook_name)

    def has_impls(self, hook_name: str) -> bool:
        return bool(getattr(self.pm.hook, hook_name).get_hookimpls())

    # -- introspection -----------------------------------------------------------------------

    def describe(self) -> list[PluginInfo]:
        """Name, version and implemented hooks of every registered plugin."""
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            dist = self._dists.get(name)
            builtin = name in self._builtin_names
            if dist is not None:
                version = dist.version
                display = dist.metadata["name"]
            else:
                version = _core_version() if builtin else "unknown"
                display = name
            hooks = sorted(
                caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.name.startswith("kratos_")
            )
            out.append(PluginInfo(name=display, entry_point=name, version=version, hooks=hooks, builtin=builtin))
        return sorted(out, key=lambda p: (not p["builtin"], p["name"]))


def _core_version() -> str:
    try:
        return metadata.version("kratos-core")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        from .. import __version__

        return __version__
