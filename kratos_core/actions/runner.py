"""Running a flow's configured actions (the ``hooks:`` lists of ``kratos.yml``) in Kratos's order.

Config decides which actions run and in which order, never plugin order; on top of it the
runner applies Kratos's fixed rules (kratos-behaviour.md section 7.2):

1. a method's own list (``after.password.hooks``) replaces the flow's global ``after.hooks``;
   the global list is used only when the method's list is empty;
2. when verification is enabled, the ``verification`` action runs first on registration and
   settings (it need not be configured);
3. the ``session`` action always runs last, wherever the list puts it.

The stages (see the stage table in the plugin guide):

=============================  =====================================================================
stage                          when it runs
=============================  =====================================================================
``<kind>.before``              a new flow (or the replacement of an expired one) is built, before it
                               is stored; ``selfservice.flows.<kind>.before.hooks``
``registration.pre_persist``   a registration passed its method, before the identity is stored;
``settings.pre_persist``       a settings change passed its method, before it is stored. Entries of
                               the ``after`` lists whose action asks for it (see :class:`FlowAction`)
``<kind>.after``               the flow completed and everything is stored; ``after.hooks`` or
                               ``after.<method>.hooks``
=============================  =====================================================================

An action is an object registered through ``kratos_register_flow_actions`` (see
:class:`FlowAction`). Which stages it can run in is checked when the server starts
(:func:`check_hook_lists`); its errors are not contained: they go through the flow's error
handling like any other (a validation error re-renders the flow, anything else aborts it). In the
``before`` and ``pre_persist`` stages nothing is stored when an action refuses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from ..errors import InternalServerError

if TYPE_CHECKING:  # pragma: no cover
    from litestar import Request

    from ..app import KratosApp
    from ..flows.model import Flow
    from ..identity.model import Identity

__all__ = [
    "LOGIN_BEFORE",
    "LOGIN_AFTER",
    "REGISTRATION_BEFORE",
    "REGISTRATION_PRE_PERSIST",
    "REGISTRATION_AFTER",
    "SETTINGS_BEFORE",
    "SETTINGS_PRE_PERSIST",
    "SETTINGS_AFTER",
    "RECOVERY_BEFORE",
    "RECOVERY_AFTER",
    "VERIFICATION_BEFORE",
    "VERIFICATION_AFTER",
    "FLOW_KINDS",
    "ALL_STAGES",
    "PER_METHOD_KINDS",
    "before_stage",
    "after_stage",
    "pre_persist_stage",
    "HookEntry",
    "ActionEntry",
    "ActionContext",
    "FlowAction",
    "ConfiguredHook",
    "plan_actions",
    "split_pre_persist",
    "runs_before_persist",
    "run_actions",
    "run_before",
    "run_pre_persist",
    "iter_hook_lists",
    "after_hooks",
    "entry_config",
]

log = logging.getLogger("kratos.actions")

#: Stage names: which list of which flow an action runs in.
LOGIN_BEFORE = "login.before"
LOGIN_AFTER = "login.after"
REGISTRATION_BEFORE = "registration.before"
REGISTRATION_PRE_PERSIST = "registration.pre_persist"
REGISTRATION_AFTER = "registration.after"
SETTINGS_BEFORE = "settings.before"
SETTINGS_PRE_PERSIST = "settings.pre_persist"
SETTINGS_AFTER = "settings.after"
RECOVERY_BEFORE = "recovery.before"
RECOVERY_AFTER = "recovery.after"
VERIFICATION_BEFORE = "verification.before"
VERIFICATION_AFTER = "verification.after"

#: The flow kinds that have action lists.
FLOW_KINDS: tuple[str, ...] = ("login", "registration", "settings", "recovery", "verification")
#: The kinds whose ``after`` section has per-method lists (recovery and verification: global only).
PER_METHOD_KINDS: tuple[str, ...] = ("login", "registration", "settings")
ALL_STAGES = frozenset(
    {
        LOGIN_BEFORE,
        LOGIN_AFTER,
        REGISTRATION_BEFORE,
        REGISTRATION_PRE_PERSIST,
        REGISTRATION_AFTER,
        SETTINGS_BEFORE,
        SETTINGS_PRE_PERSIST,
        SETTINGS_AFTER,
        RECOVERY_BEFORE,
        RECOVERY_AFTER,
        VERIFICATION_BEFORE,
        VERIFICATION_AFTER,
    }
)
_PRE_PERSIST = {"registration": REGISTRATION_PRE_PERSIST, "settings": SETTINGS_PRE_PERSIST}

_SESSION = "session"
_VERIFICATION = "verification"


def before_stage(kind: str) -> str:
    """``<kind>.before``."""
    return f"{kind}.before"


def after_stage(kind: str) -> str:
    """``<kind>.after``."""
    return f"{kind}.after"


def pre_persist_stage(kind: str) -> str | None:
    """``<kind>.pre_persist`` for registration and settings, None for the other kinds."""
    return _PRE_PERSIST.get(kind)


class HookEntry(Protocol):
    """One configured list item: ``{hook: <action id>, config: {...}}``."""

    hook: str
    config: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ActionEntry:
    """A list item the runner adds itself (the implicit ``verification`` action)."""

    hook: str
    config: Mapping[str, Any] | None = None


@dataclass(kw_only=True)
class ActionContext:
    """What an action sees, and the decisions it hands back to the engine.

    Attributes:
        app: The server.
        stage: Where the chain runs (:data:`LOGIN_BEFORE`, :data:`REGISTRATION_PRE_PERSIST` ...).
        flow: The flow: a new, not yet stored one in ``before``; the submitted one otherwise.
        request: The HTTP request.
        identity: ``before``: the signed-in identity for settings, else None. ``pre_persist``:
            the identity about to be stored; change its traits, metadata ... in place (it is
            validated against its schema again before it is stored). ``after``: the identity
            that logged in, was created, changed, recovered or verified.
        session: The session (None in ``before`` except settings, and in ``pre_persist`` of a
            registration; verification flows may have none).
        method: The method that completed the flow (``password`` ...); empty in ``before``.
        hand_out_session: Set by the ``session`` action: the client receives the session
            (cookie or token). Login always hands it out.
        continue_with: Items an action adds to the answer's ``continue_with`` (``after``).
    """

    app: KratosApp
    stage: str
    flow: Flow
    request: Request
    identity: Identity | None = None
    session: Any = None
    method: str = ""
    hand_out_session: bool = False
    continue_with: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class FlowAction(Protocol):
    """A named action that flows' ``hooks`` lists can name.

    Attributes:
        id: The name used in config (``hook: <id>``).
        config_model: A msgspec Struct type for the entry's ``config`` (unknown keys forbidden),
            or None when the action takes no config (then any ``config`` is refused at start).
        stages: The stages it can run in (:data:`LOGIN_BEFORE`, :data:`REGISTRATION_AFTER`,
            :data:`REGISTRATION_PRE_PERSIST` ...). Naming it anywhere else stops the start with
            the key path.

    An entry of ``registration.after`` / ``settings.after`` runs *before the identity is stored*
    (the ``pre_persist`` stage) when its action declares that stage and not the ``after`` one.
    An action that declares both may define ``runs_before_persist(config) -> bool`` to choose
    per entry (as Kratos's ``web_hook`` does with ``response.parse``); without it such an entry
    runs after persisting.
    """

    id: str
    config_model: type | None
    stages: frozenset[str]

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        """Run the action.

        Args:
            ctx: The flow, identity and session; set ``ctx.hand_out_session`` or append to
                ``ctx.continue_with`` to change the answer; in ``pre_persist`` change
                ``ctx.identity``.
            config: The entry's ``config`` as an instance of ``config_model`` (or None),
                validated when the server started.

        Raises:
            FlowValidationError: Refuse with messages on nodes (``FlowValidationError([Issue(
                pointer="#/traits/email", message=...)])`` shows it on ``traits.email``) or on the
                flow. In ``before`` and ``pre_persist`` nothing is stored.
            FlowRedirect: Send the browser elsewhere.
            KratosError: Abort the flow with this error.
        """


@dataclass(frozen=True, slots=True)
class ConfiguredHook:
    """One hook entry found in the config, with where it is (for start-up checks).

    Attributes:
        path: The dotted key path of the entry (``selfservice.flows.login.after.hooks.0``).
        kind: The flow kind.
        list_stage: ``<kind>.before`` or ``<kind>.after`` (which list it is in).
        method: The method of a per-method list, else None.
        entry: The entry.
    """

    path: str
    kind: str
    list_stage: str
    method: str | None
    entry: Any


def plan_actions(
    method_hooks: Sequence[HookEntry],
    global_hooks: Sequence[HookEntry],
    *,
    prepend: Iterable[str] = (),
) -> list[HookEntry]:
    """The actions to run, in order, for one completed flow.

    Args:
        method_hooks: ``after.<method>.hooks``.
        global_hooks: ``after.hooks``; used only when ``method_hooks`` is empty.
        prepend: Actions that run first without being configured (``verification`` when
            verification is enabled); skipped when the list names them already.

    Returns:
        The entries, with every ``session`` entry moved to the end (stable otherwise).
    """
    chosen: list[HookEntry] = list(method_hooks) if method_hooks else list(global_hooks)
    named = {entry.hook for entry in chosen}
    implicit: list[HookEntry] = [ActionEntry(hook) for hook in prepend if hook not in named]
    ordered = implicit + chosen
    return [e for e in ordered if e.hook != _SESSION] + [e for e in ordered if e.hook == _SESSION]


def runs_before_persist(action: Any, config: Any, kind: str) -> bool:
    """Whether an ``after`` entry of ``kind`` runs in the ``pre_persist`` stage."""
    pre = pre_persist_stage(kind)
    if action is None or pre is None or pre not in action.stages:
        return False
    if after_stage(kind) not in action.stages:
        return True
    chooser = getattr(action, "runs_before_persist", None)
    return bool(chooser(config)) if chooser is not None else False


def split_pre_persist(
    entries: Sequence[HookEntry], registry: Any, kind: str
) -> tuple[list[HookEntry], list[HookEntry]]:
    """Split planned ``after`` entries into (``pre_persist`` entries, ``after`` entries).

    Both keep the planned order (so ``session`` stays last among the ``after`` ones).
    """
    if pre_persist_stage(kind) is None:
        return [], list(entries)
    convert = getattr(registry, "config_for", None) or entry_config
    pre: list[HookEntry] = []
    post: list[HookEntry] = []
    for entry in entries:
        action = registry.get(entry.hook)
        config = convert(action, entry) if action is not None else None
        (pre if runs_before_persist(action, config, kind) else post).append(entry)
    return pre, post


def after_hooks(config: Any, kind: str, method: str) -> tuple[Any, ...]:
    """``after.<method>.hooks`` of ``kind``: a core key, or a plugin method's section."""
    after = getattr(config.selfservice.flows, kind).after
    own = after.for_method(method).hooks
    if own:
        return tuple(own)
    fragments = getattr(config, "fragments", None) or {}
    section = fragments.get(f"selfservice.flows.{kind}.after.{method}")
    return tuple(section.hooks) if section is not None else ()


async def run_actions(ctx: ActionContext, entries: Sequence[HookEntry], registry: Any) -> None:
    """Run ``entries`` one after the other; an exception stops the chain and propagates.

    Args:
        ctx: The shared context.
        entries: From :func:`plan_actions` (or a ``before`` list).
        registry: The plugin host's ``FlowActionRegistrar`` (or any action id -> action
            mapping).
    """
    convert = getattr(registry, "config_for", None) or entry_config
    for entry in entries:
        action = registry.get(entry.hook)
        if action is None:
            # Only the start-up check can let this through when the registry was changed
            # afterwards (tests); Kratos logs and ignores hook names it does not know.
            log.warning("%s: no installed plugin provides the action %r; skipped", ctx.stage, entry.hook)
            continue
        if ctx.stage not in action.stages:
            # The start-up check refuses this; only hand-built contexts get here.
            log.warning("%s: the action %r does not apply here; skipped", ctx.stage, entry.hook)
            continue
        await action.execute(ctx, convert(action, entry))


def entry_config(action: Any, entry: HookEntry) -> Any:
    """The entry's ``config`` as the action's ``config_model`` (None without a model).

    The plugin host converts every configured entry when the server starts and hands the
    runner that object (``FlowActionRegistrar.config_for``); this converts entries it has not
    seen (the implicit ``verification`` entry, hand-built lists in tests).
    """
    model = getattr(action, "config_model", None)
    if model is None:
        return None
    try:
        return msgspec.convert(dict(entry.config or {}), model)
    except msgspec.ValidationError as exc:
        raise InternalServerError(f'The config of the "{entry.hook}" hook is invalid: {exc}') from exc


def iter_hook_lists(config: Any) -> Iterator[ConfiguredHook]:
    """Every hook entry of every flow's ``before`` and ``after`` lists, with its key path.

    Per-method lists of plugin methods (config fragments) are included.
    """
    flows = config.selfservice.flows
    fragments = getattr(config, "fragments", None) or {}
    for kind in FLOW_KINDS:
        section = getattr(flows, kind, None)
        if section is None:
            continue  # a partial config (unit tests build namespaces)
        base = f"selfservice.flows.{kind}"
        for index, entry in enumerate(section.before.hooks):
            yield ConfiguredHook(f"{base}.before.hooks.{index}", kind, before_stage(kind), None, entry)
        after = section.after
        for index, entry in enumerate(after.hooks):
            yield ConfiguredHook(f"{base}.after.hooks.{index}", kind, after_stage(kind), None, entry)
        for name in after.__struct_fields__:
            value = getattr(after, name)
            if hasattr(value, "hooks") and name not in ("hooks",):
                for index, entry in enumerate(value.hooks):
                    yield ConfiguredHook(f"{base}.after.{name}.hooks.{index}", kind, after_stage(kind), name, entry)
        prefix = f"{base}.after."
        for path, value in fragments.items():
            if path.startswith(prefix) and "." not in path[len(prefix):]:
                method = path[len(prefix):]
                for index, entry in enumerate(value.hooks):
                    yield ConfiguredHook(f"{path}.hooks.{index}", kind, after_stage(kind), method, entry)


async def run_before(
    app: Any, kind: str, flow: Any, request: Any, *, identity: Any = None, session: Any = None
) -> None:
    """Run ``selfservice.flows.<kind>.before.hooks`` on a new flow (before it is stored).

    Raises:
        FlowValidationError: An action refused; the caller shows the messages on the flow.
        KratosError: An action aborted the flow (nothing is stored).
    """
    entries = getattr(app.config.selfservice.flows, kind).before.hooks
    if not entries:
        return
    ctx = ActionContext(
        app=app, stage=before_stage(kind), flow=flow, request=request, identity=identity, session=session
    )
    await run_actions(ctx, entries, app.plugins.actions)


async def run_pre_persist(
    app: Any, kind: str, entries: Sequence[HookEntry], flow: Any, request: Any, identity: Any, *, session: Any, method: str
) -> bool:
    """Run the ``pre_persist`` entries of a registration or settings flow on ``identity``.

    Returns:
        Whether any action ran (then the caller validates the identity again).
    """
    stage = pre_persist_stage(kind)
    if not entries or stage is None:
        return False
    ctx = ActionContext(
        app=app, stage=stage, flow=flow, request=request, identity=identity, session=session, method=method
    )
    await run_actions(ctx, entries, app.plugins.actions)
    return True
