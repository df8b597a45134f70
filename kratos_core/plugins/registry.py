"""Typed registrars handed to the ``kratos_register_*`` hooks, and what they collect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = [
    "DuplicateRegistration",
    "Registrar",
    "MethodRegistrar",
    "FlowActionRegistrar",
    "ChannelRegistrar",
    "RouteRegistrar",
    "ConfigRegistrar",
]

T = TypeVar("T")


class DuplicateRegistration(Exception):
    """Two plugins registered the same id: fail at start-up, never rename silently."""


class Registrar(Generic[T]):
    """Collects objects by their ``id``; remembers which plugin registered each."""

    kind = "object"

    def __init__(self) -> None:
        self.items: dict[str, T] = {}
        self.owners: dict[str, str] = {}
        self.current_plugin = "?"

    def __call__(self, item: T) -> None:
        item_id = getattr(item, "id", None)
        if not isinstance(item_id, str) or not item_id:
            raise TypeError(f"{self.kind} registered by plugin {self.current_plugin!r} has no string id")
        if item_id in self.items:
            raise DuplicateRegistration(
                f'{self.kind} "{item_id}" is registered by both plugin {self.owners[item_id]!r} '
                f"and plugin {self.current_plugin!r}; uninstall or block one of them"
            )
        self.items[item_id] = item
        self.owners[item_id] = self.current_plugin

    def get(self, item_id: str) -> T | None:
        return self.items.get(item_id)


class MethodRegistrar(Registrar[Any]):
    """Handed to ``kratos_register_methods``: call it with each method object."""

    kind = "method"


class FlowActionRegistrar(Registrar[Any]):
    """Handed to ``kratos_register_flow_actions``: call it with each flow action."""

    kind = "flow action"

    def __init__(self) -> None:
        super().__init__()
        # id(entry) -> (entry, validated config): filled at start by PluginHost.configure.
        self._configs: dict[int, tuple[Any, Any]] = {}

    def remember_config(self, entry: Any, value: Any) -> None:
        """Keep the start-up conversion of a configured entry's ``config``."""
        self._configs[id(entry)] = (entry, value)

    def config_for(self, action: Any, entry: Any) -> Any:
        """The validated ``config`` of ``entry`` (converted at start; else converted now)."""
        hit = self._configs.get(id(entry))
        if hit is not None and hit[0] is entry:
            return hit[1]
        from ..actions.runner import entry_config

        return entry_config(action, entry)


class ChannelRegistrar(Registrar[Any]):
    """Handed to ``kratos_register_courier_channels``: call it with each channel."""

    kind = "courier channel"


class ConfigRegistrar:
    """Collects plugin-wide config sections: ``plugins.<name>.config`` (observers and the like).

    A plugin calls ``register("audit_trail", Model, configure=callback)``; use the plugin's
    entry-point name. The section is validated when the config is loaded (unknown keys
    forbidden, environment overrides such as ``PLUGINS_AUDIT_TRAIL_CONFIG_EVENTS`` included)
    and ``callback`` receives the validated object before the server serves.
    """

    def __init__(self) -> None:
        self.models: dict[str, type] = {}
        self.callbacks: dict[str, Callable[[Any], None] | None] = {}
        self.owners: dict[str, str] = {}
        self.current_plugin = "?"

    def __call__(self, name: str, model: type, *, configure: Callable[[Any], None] | None = None) -> None:
        if not isinstance(name, str) or not name or not name.replace("_", "a").replace("-", "a").isalnum():
            raise TypeError(
                f"plugin {self.current_plugin!r} declared a config section with the name {name!r}: "
                "use letters, digits, '_' or '-' (the plugin's entry-point name)"
            )
        if name in self.models or name == "blocked":
            owner = self.owners.get(name, "kratos-core")
            raise DuplicateRegistration(
                f'config section "plugins.{name}" is declared by both plugin {owner!r} and plugin {self.current_plugin!r}'
            )
        self.models[name] = model
        self.callbacks[name] = configure
        self.owners[name] = self.current_plugin


class RouteRegistrar:
    """Collects Litestar handlers per API (``public`` or ``admin``), and who registered each.

    A handler may take a ``services`` parameter: the app injects its
    :class:`kratos_core.services.Services`. A path that a core route already answers stops the
    start (checked when the HTTP apps are built).
    """

    def __init__(self) -> None:
        self.public: list[Any] = []
        self.admin: list[Any] = []
        self.owners: dict[int, str] = {}
        self.current_plugin = "?"

    def __call__(self, handler: Any, api: str = "public") -> None:
        if api not in ("public", "admin"):
            raise ValueError(f'api must be "public" or "admin", got {api!r}')
        (self.public if api == "public" else self.admin).append(handler)
        self.owners[id(handler)] = self.current_plugin

    def owner(self, handler: Any) -> str:
        return self.owners.get(id(handler), "?")


RegisterCallback = Callable[[Any], None]
