"""The ``revoke_active_sessions`` action: signing in ends the identity's other sessions.

Kratos offers it after login, settings and recovery (kratos-behaviour.md section 7.3); the session
the flow just issued stays active.
"""

from __future__ import annotations

from typing import Any

from .runner import LOGIN_AFTER, RECOVERY_AFTER, SETTINGS_AFTER, ActionContext

__all__ = ["RevokeActiveSessionsAction"]


class RevokeActiveSessionsAction:
    """Revoke every other active session of the identity."""

    id = "revoke_active_sessions"
    config_model = None
    stages = frozenset({LOGIN_AFTER, SETTINGS_AFTER, RECOVERY_AFTER})

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        del config
        await ctx.app.sessions.revoke_others(ctx.session)
