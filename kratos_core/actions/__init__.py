"""Flow actions: the named steps a flow's ``hooks`` lists run, and the runner that orders them.

The built-in ``session`` and ``revoke_active_sessions`` actions are registered by the built-in
plugin :mod:`kratos_core.builtin.actions` through ``kratos_register_flow_actions``, exactly as a
plugin's own actions are.
"""

from __future__ import annotations

from .revoke_active_sessions import RevokeActiveSessionsAction
from .runner import (
    ALL_STAGES,
    LOGIN_AFTER,
    LOGIN_BEFORE,
    RECOVERY_AFTER,
    RECOVERY_BEFORE,
    REGISTRATION_AFTER,
    REGISTRATION_BEFORE,
    REGISTRATION_PRE_PERSIST,
    SETTINGS_AFTER,
    SETTINGS_BEFORE,
    SETTINGS_PRE_PERSIST,
    VERIFICATION_AFTER,
    VERIFICATION_BEFORE,
    ActionContext,
    ActionEntry,
    FlowAction,
    plan_actions,
    run_actions,
)
from .session import SessionAction

__all__ = [
    "ALL_STAGES",
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
    "ActionContext",
    "ActionEntry",
    "FlowAction",
    "plan_actions",
    "run_actions",
    "SessionAction",
    "RevokeActiveSessionsAction",
]
