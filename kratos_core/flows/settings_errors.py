"""The errors only the settings flow answers with (kratos-behaviour.md sections 1.7 and 3.4).

They live apart from :mod:`kratos_core.flows.settings` so that the method protocols can raise
:func:`session_refresh_required` without importing the flow engine.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from ..errors import Forbidden, KratosError, Unauthorized

__all__ = [
    "SESSION_REFRESH_REQUIRED_ID",
    "IDENTITY_MISMATCH_ID",
    "session_refresh_required",
    "identity_mismatch",
    "settings_session_inactive",
    "session_missing",
    "redirects_browser",
]

SESSION_REFRESH_REQUIRED_ID = "session_refresh_required"
IDENTITY_MISMATCH_ID = "security_identity_mismatch"


def _public(public_base_url: str) -> str:
    return public_base_url.rstrip("/")


def session_refresh_required(public_base_url: str, flow_id: uuid.UUID) -> Forbidden:
    """403: the change needs a privileged session; the browser must log in again first.

    ``redirect_browser_to`` is a refresh login that returns to the flow's submit URL, as Kratos
    sends it (top level of the body, next to ``error``).
    """
    public = _public(public_base_url)
    back = f"{public}/self-service/settings?flow={flow_id}"
    target = f"{public}/self-service/login/browser?{urlencode({'refresh': 'true', 'return_to': back})}"
    return Forbidden(
        "The login session is too old and thus not allowed to update these fields. Please re-authenticate.",
        id=SESSION_REFRESH_REQUIRED_ID,
        extra={"redirect_browser_to": target},
    )


def identity_mismatch() -> Forbidden:
    """403: the flow belongs to another identity than the request's session."""
    return Forbidden(
        "The request was made for another identity and has been blocked for security reasons.",
        id=IDENTITY_MISMATCH_ID,
    )


def settings_session_inactive() -> Unauthorized:
    """401 ``session_inactive`` for a settings init without a session."""
    return Unauthorized(
        "This endpoint can only be accessed with a valid session. Please log in and try again.",
        id="session_inactive",
        message="request does not have a valid authentication session",
    )


def session_missing() -> Unauthorized:
    """401 without an error id: fetch or submit without a session (Kratos's route guard)."""
    return Unauthorized("A valid Ory Session Cookie or Ory Session Token is missing.")


def redirects_browser(error: Exception) -> str | None:
    """Where a browser is sent instead of seeing ``error`` (refresh login, aal2 login), or None.

    Both errors carry the URL as top-level ``redirect_browser_to``; HTML callers get a 303 to it
    and everyone else the JSON error (section 1.7).
    """
    if not isinstance(error, KratosError) or error.status_code != 403:
        return None
    target = error.extra.get("redirect_browser_to")
    return target if isinstance(target, str) else None
