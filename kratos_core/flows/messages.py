"""The one place flows hand messages (codes, links, notices) to the courier.

Recovery, verification and the code method queue messages through :func:`queue_message` only,
so when the courier's API moves, this module is the only one that changes. A message is written
in the caller's transaction: it exists exactly when the flow change that causes it does
(ARCHITECTURE.md section 6).

The template data follows kratos-behaviour.md section 8.2 (JSON field names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..persistence.db import Connection

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["queue_message", "channel_for", "expires_in_minutes"]


def channel_for(via: str) -> str:
    """The courier channel of an address kind: ``email`` for ``email``, ``sms`` otherwise."""
    return "email" if via == "email" else "sms"


def expires_in_minutes(lifespan_seconds: float) -> int:
    """Kratos's ``expires_in_minutes`` template field (whole minutes, rounded down)."""
    return int(lifespan_seconds // 60)


async def queue_message(
    app: KratosApp,
    conn: Connection,
    *,
    recipient: str,
    template_type: str,
    template_data: Mapping[str, Any],
    channel: str = "email",
) -> None:
    """Queue one templated message for delivery, inside ``conn``'s transaction.

    Args:
        app: The server (its courier renders and delivers).
        conn: The caller's open transaction.
        recipient: An email address or a phone number.
        template_type: ``verification_code_valid``, ``recovery_invalid`` ... (section 8.2).
        template_data: The template's fields (section 8.2), e.g. ``{"to", "verification_code"}``.
        channel: ``email`` or ``sms``.
    """
    from ..courier import courier_for

    await courier_for(app).queue(
        conn,
        recipient=recipient,
        template_type=template_type,
        template_data=dict(template_data),
        channel=channel,
    )
