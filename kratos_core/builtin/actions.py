"""The built-in flow actions ``session`` and ``revoke_active_sessions``, as a plugin.

They use the same hook as third-party actions (``kratos_register_flow_actions``); blocking this
plugin removes them.
"""

from __future__ import annotations

from typing import Any

from .. import hookimpl
from ..actions import RevokeActiveSessionsAction, SessionAction

__all__ = ["kratos_register_flow_actions"]


@hookimpl
def kratos_register_flow_actions(register: Any) -> None:
    """Register ``session`` and ``revoke_active_sessions``."""
    register(SessionAction())
    register(RevokeActiveSessionsAction())
