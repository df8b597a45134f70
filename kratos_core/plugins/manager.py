"""The plugin host: one pluggy manager per app, registries, and the typed hook facade.

Every hook is called through :attr:`PluginHost.hooks` (:class:`kratos_core.plugins.hooks.Hooks`,
one method per hookspec), which runs pluggy's order and wrappers and awaits each coroutine
before the next implementation. Never call ``pm.hook.<name>(...)``: pluggy does not await.
Implementations the caller cannot honour are refused while the host is built.
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
from .caller import UnhonourableHook, check_implementation
from .hooks import Hooks
from .registry import ChannelRegistrar, ConfigRegistrar, FlowActionRegistrar, MethodRegistrar, RouteRegistrar

__all__ = [
    "PluginHost",
    "PluginError",
    "ENTRY_POINT_GROUP",
    "BUILTIN_PLUGINS",
    "BLOCKED_PLUGINS_ENV",
    "PluginInfo",
    "blocked_plugins",
]

log = logging.getLogger("kratos.plugins")

ENTRY_POINT_GROUP = "kratos"

#: Built-in plugins: core features on the same hooks as external plugins (module paths).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "kratos_core.builtin.profile",
    "kratos_core.builtin.actions",
    "kratos_core.builtin.metrics",
    "kratos_core.courier.plugin",
)


#: The environment variable naming plugins not to load (comma separated entry-point names).
BLOCKED_PLUGINS_ENV = "KRATOS_BLOCKED_PLUGINS"


def blocked_plugins(env: Any = None, raw_config: Any = None) -> list[str]:
    """Plugin names blocked by ``KRATOS_BLOCKED_PLUGINS`` and the ``plugins.blocked`` config key.

    Args:
        env: The environment (``os.environ`` when None).
        raw_config: The merged config files, before validation (plugins are blocked before
            they are loaded, so before the config can be validated against them).

    Returns:
        The names, without duplicates, in the order given (environment first).
    """
    import os

    env = os.environ if env is None else env
    names = [n.strip() for n in str(env.get(BLOCKED_PLUGINS_ENV, "")).split(",") if n.strip()]
    # PLUGINS_BLOCKED is the config key's own environment variable (Kratos's rule): JSON or
    # comma separated, as for any list of strings.
    own = str(env.get("PLUGINS_BLOCKED", "")).strip()
    if own.startswith("["):
        import json

        try:
            names.extend(str(n).strip() for n in json.loads(own) if str(n).strip())
        except (ValueError, TypeError):
            pass  # the config loader reports the malformed value with its key path
    else:
        names.extend(n.strip() for n in own.split(",") if n.strip())
    section = raw_config.get("plugins") if isinstance(raw_config, dict) else None
    listed = section.get("blocked") if isinstance(section, dict) else None
    if isinstance(listed, (list, tuple)):
        names.extend(str(n).strip() for n in listed if str(n).strip())
    return list(dict.fromkeys(names))


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


class PluginError(Exception):
    """A plugin problem found at start-up (missing provider, bad plugin config, duplicates)."""


#: Hooks that run once, synchronously, while the host and apps are built.
SYNC_HOOKS = frozenset(
    {
        "kratos_add_hookspecs",
        "kratos_register_methods",
        "kratos_register_flow_actions",
        "kratos_register_courier_channels",
        "kratos_register_config",
        "kratos_register_routes",
        "kratos_register_commands",
    }
)


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, accepting async-generator wrappers (the host's caller runs them)."""

    def _verify_hook(self, hook: pluggy.HookCaller, hookimpl: pluggy.HookImpl) -> None:
        if (hookimpl.wrapper or hookimpl.hookwrapper) and inspect.isasyncgenfunction(hookimpl.function):
            # pluggy checks that a wrapper is a *generator* function; verify everything else
            # on a copy that is not a wrapper, and keep pluggy's "not both kinds" rule.
            if hookimpl.wrapper and hookimpl.hookwrapper:
                raise pluggy.PluginValidationError(
                    hookimpl.plugin, f"plugin {hookimpl.plugin_name!r}: wrapper=True and hookwrapper=True exclude each other"
                )
            opts: dict[str, Any] = {**hookimpl.opts, "wrapper": False, "hookwrapper": False}
            hookimpl = pluggy.HookImpl(hookimpl.plugin, hookimpl.plugin_name, hookimpl.function, opts)  # type: ignore[arg-type]
        super()._verify_hook(hook, hookimpl)


class PluginInfo(dict):
    """``{"name", "entry_point", "version", "hooks", "builtin", "blocked"}`` for ``kratos plugins``."""


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
        self.pm = _PluginManager(ENTRY_POINT_GROUP)
        #: The typed facade: one method per hookspec (``host.hooks.login_before(...)``).
        self.hooks = Hooks(self.pm)
        self.pm.add_hookspecs(hookspecs)
        blocked = set(blocked)
        self.blocked: frozenset[str] = frozenset(blocked)
        #: Blocked entry points that are installed: name -> distribution (for ``kratos plugins``).
        self.blocked_installed: dict[str, metadata.Distribution | None] = {}
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
        self._check_implementations(("kratos_add_hookspecs",))
        self.hooks.add_hookspecs(pm=self.pm)
        # Unknown kratos_* hook names in a plugin are a typo; fail at boot (STYLE.md habit 5).
        self.pm.check_pending()
        self._check_implementations([name for name in vars(self.pm.hook) if name.startswith("kratos_")])
        self.methods = MethodRegistrar()
        self.actions = FlowActionRegistrar()
        self.channels = ChannelRegistrar()
        self.config_sections = ConfigRegistrar()
        self.hooks.register_methods(register=self.methods)
        self.hooks.register_flow_actions(register=self.actions)
        self.hooks.register_courier_channels(register=self.channels)
        self.hooks.register_config(register=self.config_sections)
        #: Channel id -> its validated ``courier.channels[].config`` (channels with a model).
        self.channel_configs: dict[str, Any] = {}

    def _check_implementations(self, names: Iterable[str]) -> None:
        """Refuse implementations the caller cannot honour, naming the plugin (at start-up)."""
        for name in names:
            caller = getattr(self.pm.hook, name, None)
            if caller is None:
                continue
            firstresult = bool(caller.spec is not None and caller.spec.opts.get("firstresult"))
            for impl in caller.get_hookimpls():
                try:
                    check_implementation(name, impl, sync_only=name in SYNC_HOOKS, firstresult=firstresult)
                except UnhonourableHook as exc:
                    raise PluginError(str(exc)) from None

    def _load_entry_points(self) -> None:
        """Load installed plugins; a broken one stops the start with its name (no traceback)."""
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            if self.pm.is_blocked(ep.name):
                self.blocked_installed[ep.name] = dist
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            where = f" from {dist.metadata['name']} {dist.version}" if dist is not None else ""
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is a start-up error
                raise PluginError(f'the plugin "{ep.name}"{where} failed to load: {exc!r}') from exc
            self.pm.register(plugin, name=ep.name)
            if dist is not None:
                self._dists[ep.name] = dist

    # -- registration ------------------------------------------------------------------------

    def routes(self) -> RouteRegistrar:
        """Collect plugin routes (called while the HTTP apps are built)."""
        registrar = RouteRegistrar()
        self.hooks.register_routes(register=registrar)
        return registrar

    def register_commands(self, cli: click.Group) -> None:
        self.hooks.register_commands(cli=cli)

    def config_fragments(self) -> dict[str, type]:
        """Config sections owned by plugins: dotted path -> msgspec Struct type.

        * ``selfservice.methods.<id>.config``: a method's ``config_model``;
        * ``selfservice.flows.<kind>.after.<id>``: the per-method hooks of every installed
          method that Kratos's model does not name already (``after.pin.hooks``);
        * ``plugins.<name>.config``: sections declared through ``kratos_register_config``.
        """
        from ..config.model import MethodHooks

        out: dict[str, type] = {}
        for method in self.methods.items.values():
            model = getattr(method, "config_model", None)
            if model is not None:
                out[f"selfservice.methods.{method.id}.config"] = model
            for kind, after_type in _after_types().items():
                if method.id not in after_type.__struct_fields__:
                    out[f"selfservice.flows.{kind}.after.{method.id}"] = MethodHooks
        for name, model in self.config_sections.models.items():
            out[f"plugins.{name}.config"] = model
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
                msg += self._blocked_hint(name, package, "method")
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
        self._check_blocked(config)
        self._check_actions(config)
        self._check_method_hooks(config)
        self._check_channels(config)
        self._configure_sections(config)

    def _check_blocked(self, config: Any) -> None:
        """``plugins.blocked`` must have been applied when the plugins were loaded."""
        plugins = getattr(config, "plugins", None)
        late = [name for name in getattr(plugins, "blocked", ()) if name not in self.blocked]
        if late:
            raise PluginError(
                f"plugins.blocked names {', '.join(late)}, but the plugins were loaded before the config was read: "
                "build the server with kratos_core.app.build_app (or pass blocked= to PluginHost)"
            )

    def _blocked_hint(self, name: str, package: str | None = None, kind: str = "") -> str:
        """Why a component may be missing: a blocked plugin (said when any plugin is blocked)."""
        if not self.blocked:
            return ""
        candidates = {name, f"kratos-{name}".replace("_", "-")}
        if package:
            candidates |= {package, package.removeprefix("kratos-").replace("-", "_")}
        hits = []
        for blocked in sorted(self.blocked):
            dist = self.blocked_installed.get(blocked)
            dist_name = dist.metadata["name"] if dist is not None else None
            if blocked in candidates or dist_name in candidates or (package == "kratos-core" and blocked == _BUILTIN_BY_KIND.get(kind)):
                hits.append(blocked)
        if hits:
            return f' (the plugin "{hits[0]}" that provides it is blocked by {BLOCKED_PLUGINS_ENV} or plugins.blocked: unblock it)'
        return f" (blocked plugins: {', '.join(sorted(self.blocked))})"

    def _check_method_hooks(self, config: Any) -> None:
        """``after.<method>`` lists must name an installed, enabled method of that flow kind."""
        from ..actions.runner import PER_METHOD_KINDS, iter_hook_lists

        enabled = self.enabled_methods(config)
        protocols = _flow_protocols()
        seen: set[tuple[str, str]] = set()
        for hook in iter_hook_lists(config):
            if hook.method is None or (hook.kind, hook.method) in seen or hook.kind not in PER_METHOD_KINDS:
                continue
            seen.add((hook.kind, hook.method))
            path = f"selfservice.flows.{hook.kind}.after.{hook.method}"
            method = self.methods.get(hook.method)
            if method is None or hook.method not in enabled:
                # Kratos's own method keys are accepted without their method (the hooks never
                # run, as in Kratos); a key no method defines at all was refused by the loader.
                state = "installed" if method is None else "enabled"
                log.warning("%s lists hooks, but the %r method is not %s; they never run%s", path, hook.method, state, self._blocked_hint(hook.method, KNOWN_METHOD_PACKAGES.get(hook.method)))
                continue
            if not isinstance(method, protocols[hook.kind]):
                raise PluginError(f'{path} lists hooks, but the "{hook.method}" method takes no part in {hook.kind} flows')

    def _check_actions(self, config: Any) -> None:
        """Every ``hook:`` a flow's config names must be a registered action that can run in
        that stage, with valid config (converted once here and handed to the action later)."""
        from ..actions.runner import iter_hook_lists, pre_persist_stage

        for hook in iter_hook_lists(config):
            path, entry = hook.path, hook.entry
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
                raise PluginError(
                    f'{path} names the flow action "{name}", which no installed plugin provides: '
                    f"{hint}{self._blocked_hint(str(name), package, 'action')}"
                )
            stages = frozenset(getattr(action, "stages", ()))
            allowed = {hook.list_stage}
            pre = pre_persist_stage(hook.kind)
            if hook.list_stage.endswith(".after") and pre is not None:
                allowed.add(pre)
            if not stages & allowed:
                where = ", ".join(sorted(stages)) or "no stage"
                raise PluginError(
                    f'{path} names the flow action "{name}", which cannot run in {hook.list_stage}'
                    f"{' or ' + pre if pre in allowed else ''}: it runs in {where}"
                )
            self.actions.remember_config(entry, self._action_config(path, name, action, entry))

    @staticmethod
    def _action_config(path: str, name: Any, action: Any, entry: Any) -> Any:
        model = getattr(action, "config_model", None)
        if model is None:
            if entry.config:
                raise PluginError(f'{path}.config: the flow action "{name}" takes no config')
            return None
        try:
            return msgspec.convert(_thaw(entry.config or {}), model)
        except msgspec.ValidationError as exc:
            raise PluginError(f'{path}.config ("{name}"): invalid config: {exc}') from exc

    def _configure_sections(self, config: Any) -> None:
        """Hand every ``plugins.<name>.config`` callback its validated object."""
        for name, callback in self.config_sections.callbacks.items():
            if callback is not None:
                callback(config.fragment(f"plugins.{name}.config"))

    def _check_channels(self, config: Any) -> None:
        """Every channel in ``courier.channels`` must be provided by an installed plugin; a
        channel with a ``config_model`` gets its entry's ``config`` validated (defaults when
        it has no entry), kept in :attr:`channel_configs`."""
        entries: dict[str, tuple[int, Any]] = {}
        for index, channel in enumerate(getattr(config.courier, "channels", ()) or ()):
            cid = getattr(channel, "id", None)
            if cid is not None and self.channels.get(cid) is None:
                package = KNOWN_CHANNEL_PACKAGES.get(cid)
                hint = f'install the "{package}" package' if package else "install the plugin that provides it"
                raise PluginError(
                    f'courier.channels.{index} names the channel "{cid}", which no installed plugin provides: '
                    f"{hint}{self._blocked_hint(str(cid), package)}"
                )
            entries[cid] = (index, channel)
        for cid, channel_obj in self.channels.items.items():
            model = getattr(channel_obj, "config_model", None)
            index, entry = entries.get(cid, (None, None))
            raw = getattr(entry, "config", None)
            path = f"courier.channels.{index}.config" if index is not None else f'courier.channels (no entry with id "{cid}")'
            if model is None:
                if raw:
                    raise PluginError(f'{path}: the channel "{cid}" takes no config')
                continue
            try:
                self.channel_configs[cid] = msgspec.convert(_thaw(raw or {}), model)
            except msgspec.ValidationError as exc:
                raise PluginError(f'{path} (channel "{cid}"): invalid config: {exc}') from exc
        for cid, (index, entry) in entries.items():
            if getattr(entry, "request_config", None) is None and cid not in self.channel_configs:
                raise PluginError(f"courier.channels.{index}.request_config: a value is required but none was set")

    def enabled_methods(self, config: Any) -> dict[str, Any]:
        """Method objects that are installed and enabled, in registration order."""
        sections = config.selfservice.methods
        return {
            mid: m for mid, m in self.methods.items.items() if mid in sections and sections[mid].enabled
        }

    def has_impls(self, hook_name: str) -> bool:
        """Whether any plugin implements ``hook_name`` (introspection; calls go through ``hooks``)."""
        return self.hooks.has(hook_name)

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
            out.append(PluginInfo(name=display, entry_point=name, version=version, hooks=hooks, builtin=builtin, blocked=False))
        for name in sorted(self.blocked):
            dist = self.blocked_installed.get(name)
            if dist is None and name not in BUILTIN_PLUGINS and name not in self.blocked_installed:
                continue  # blocked, but nothing of that name is installed
            builtin = name in BUILTIN_PLUGINS
            version = dist.version if dist is not None else (_core_version() if builtin else "unknown")
            display = dist.metadata["name"] if dist is not None else name
            out.append(PluginInfo(name=display, entry_point=name, version=version, hooks=[], builtin=builtin, blocked=True))
        return sorted(out, key=lambda p: (not p["builtin"], p["name"]))


#: Which built-in plugin provides kratos-core's own components of each kind.
_BUILTIN_BY_KIND = {
    "method": "kratos_core.builtin.profile",
    "action": "kratos_core.builtin.actions",
    "channel": "kratos_core.courier.plugin",
}


def _after_types() -> dict[str, type]:
    from ..config.model import LoginAfter, RegistrationAfter, SettingsAfter

    return {"login": LoginAfter, "registration": RegistrationAfter, "settings": SettingsAfter}


def _flow_protocols() -> dict[str, type]:
    from ..methods.protocols import LoginMethod, RegistrationMethod, SettingsMethod

    return {"login": LoginMethod, "registration": RegistrationMethod, "settings": SettingsMethod}


def _thaw(value: Any) -> Any:
    from ..config.frozen import thaw

    return thaw(value)


def _core_version() -> str:
    try:
        return metadata.version("kratos-core")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        from .. import __version__

        return __version__
