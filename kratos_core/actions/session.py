"""The ``session`` action: a new registration is logged in (kratos-behaviour.md section 7.3).

Registration always stores a session for the new identity; only this action hands it to the
client (cookie for browsers, token for API flows). Without it the user is registered but not
logged in (pitfall 9). The runner always runs it last.
"""

from __future__ import annotations

from typing import Any

from .runner import REGISTRATION_AFTER, ActionContext

__all__ = ["SessionAction"]


class SessionAction:
    """Hand the registration's session to the client."""

    id = "session"
    config_model = None
    stages = frozenset({REGISTRATION_AFTER})

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        del config
        ctx.hand_out_session = True
        if ctx.flow.type == "api":
            # Native apps read the token from continue_with as well as from session_token.
            ctx.continue_with.append({"action": "set_ory_session_token", "ory_session_token": ctx.session.token})
