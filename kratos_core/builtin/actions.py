"""The built-in flow actions (``session``, ``revoke_active_sessions``, ``verification``,
``show_verification_ui``, ``require_verified_address``), as a plugin.

They use the same hook as third-party actions (``kratos_register_flow_actions``); blocking this
plugin removes them.
"""

from __future__ import annotations

from typing import Any

from .. import hookimpl
from ..actions import RevokeActiveSessionsAction, SessionAction
from ..actions.verification import RequireVerifiedAddressAction, ShowVerificationUIAction, VerificationAction

__all__ = ["kratos_register_flow_actions"]


@hookimpl
def kratos_register_flow_actions(register: Any) -> None:
    """Register the built-in actions."""
    register(SessionAction())
    register(RevokeActiveSessionsAction())
    register(VerificationAction())
    register(ShowVerificationUIAction())
    register(RequireVerifiedAddressAction())
