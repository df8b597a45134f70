"""Flow actions: the named steps a flow's ``hooks`` lists run, and the runner that orders them.

The built-in ``session`` and ``revoke_active_sessions`` actions are registered by the built-in
plugin :mod:`kratos_core.builtin.actions` through ``kratos_register_flow_actions``, exactly as a
plugin's own actions are.
"""

from __future__ import annotations

from .revoke_active_sessions import RevokeActiveSessionsAction
from .runner import (
    LOGIN_AFTER,
    RECOVERY_AFTER,
    REGISTRATION_AFTER,
    SETTINGS_AFTER,
    ActionContext,
    ActionEntry,
    FlowAction,
    plan_actions,
    run_actions,
)
from .session import SessionAction

__all__ = [
    "LOGIN_AFTER",
    "REGISTRATION_AFTER",
    "SETTINGS_AFTER",
    "RECOVERY_AFTER",
    "ActionContext",
    "ActionEntry",
    "FlowAction",
    "plan_actions",
    "run_actions",
    "SessionAction",
    "RevokeActiveSessionsAction",
]
