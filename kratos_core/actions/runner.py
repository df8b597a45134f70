"""Running a flow's configured actions (the ``hooks:`` lists of ``kratos.yml``) in Kratos's order.

Config decides which actions run and in which order, never plugin order; on top of it the
runner applies Kratos's fixed rules (kratos-behaviour.md section 7.2):

1. a method's own list (``after.password.hooks``) replaces the flow's global ``after.hooks``;
   the global list is used only when the method's list is empty;
2. when verification is enabled, the ``verification`` action runs first on registration (it need
   not be configured);
3. the ``session`` action always runs last, wherever the list puts it.

An action is an object registered through ``kratos_register_flow_actions`` (see
:class:`FlowAction`). Its errors are not contained: they go through the flow's error handling
like any other (a validation error re-renders the flow, anything else aborts it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
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
    "LOGIN_AFTER",
    "REGISTRATION_AFTER",
    "SETTINGS_AFTER",
    "RECOVERY_AFTER",
    "HookEntry",
    "ActionEntry",
    "ActionContext",
    "FlowAction",
    "plan_actions",
    "run_actions",
]

log = logging.getLogger("kratos.actions")

#: Stage names: which ``after`` list of which flow an action runs in.
LOGIN_AFTER = "login.after"
REGISTRATION_AFTER = "registration.after"
SETTINGS_AFTER = "settings.after"
RECOVERY_AFTER = "recovery.after"

_SESSION = "session"
_VERIFICATION = "verification"


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
        stage: Where the chain runs (:data:`LOGIN_AFTER`, :data:`REGISTRATION_AFTER` ...).
        flow: The flow that completed.
        request: The HTTP request.
        identity: The identity that logged in or was created.
        session: The session issued for it (stored already).
        method: The method that completed the flow (``password`` ...).
        hand_out_session: Set by the ``session`` action: the client receives the session
            (cookie or token). Login always hands it out.
        continue_with: Items an action adds to the answer's ``continue_with``.
    """

    app: KratosApp
    stage: str
    flow: Flow
    request: Request
    identity: Identity
    session: Any
    method: str
    hand_out_session: bool = False
    continue_with: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class FlowAction(Protocol):
    """A named action that flows' ``hooks`` lists can name.

    Attributes:
        id: The name used in config (``hook: <id>``).
        config_model: A msgspec Struct type for the entry's ``config`` (unknown keys forbidden),
            or None when the action takes no config.
        stages: The stages it may run in (:data:`LOGIN_AFTER` ...); elsewhere it is skipped
            with a warning.
    """

    id: str
    config_model: type | None
    stages: frozenset[str]

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        """Run the action.

        Args:
            ctx: The flow, identity and session; set ``ctx.hand_out_session`` or append to
                ``ctx.continue_with`` to change the answer.
            config: The entry's ``config`` as an instance of ``config_model`` (or None).

        Raises:
            FlowValidationError: Messages to show on the flow.
            KratosError: Abort the flow with this error.
        """


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


async def run_actions(ctx: ActionContext, entries: Sequence[HookEntry], registry: Mapping[str, Any]) -> None:
    """Run ``entries`` one after the other; an exception stops the chain and propagates.

    Args:
        ctx: The shared context.
        entries: From :func:`plan_actions`.
        registry: Action id -> action object (the plugin host's registered actions).
    """
    for entry in entries:
        action = registry.get(entry.hook)
        if action is None:
            # Kratos logs and ignores hook names it does not know (section 7.1).
            log.warning("%s: no installed plugin provides the action %r; skipped", ctx.stage, entry.hook)
            continue
        if ctx.stage not in action.stages:
            log.warning("%s: the action %r does not apply here; skipped", ctx.stage, entry.hook)
            continue
        await action.execute(ctx, _config(action, entry))


def _config(action: Any, entry: HookEntry) -> Any:
    model = getattr(action, "config_model", None)
    if model is None:
        return None
    try:
        return msgspec.convert(dict(entry.config or {}), model)
    except msgspec.ValidationError as exc:
        raise InternalServerError(f'The config of the "{entry.hook}" hook is invalid: {exc}') from exc
