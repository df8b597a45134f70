"""Small helpers both methods share."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from kratos_core.api import FlowValidationError, StateKey, TooManyAttempts, channel_for, expires_in_minutes, messages

__all__ = [
    "text_field",
    "required",
    "phone_allowed",
    "minutes",
    "channel_for",
    "count_send",
    "may_send",
    "remember_subject",
    "count_guess",
    "guess_succeeded",
]

log = logging.getLogger("kratos.code")

#: internal_context key: whose codes a flow holds (an identity id or the address), so that
#: guesses count per account across every flow (issue 15).
_SUBJECT = StateKey("code", "subject", str)


def text_field(value: Any) -> str:
    """A submitted text value, trimmed; numbers count too (JSON clients send codes as numbers)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (str, int)):
        return str(value).strip()
    return ""


def required(name: str) -> FlowValidationError:
    """4000002 "Property {name} is missing." on the node ``name``."""
    return FlowValidationError.on_field(name, messages.missing_property(name))


def phone_allowed(app_config: Any) -> bool:
    """Whether verification may take phone numbers: an ``sms`` courier channel is configured."""
    return any(getattr(c, "id", None) == "sms" for c in app_config.courier.channels or ())


def minutes(lifespan: timedelta) -> int:
    """``expires_in_minutes`` for templates."""
    return expires_in_minutes(lifespan.total_seconds())


async def count_send(ctx: Any, recipient: str) -> None:
    """Count a code or link about to be sent to ``recipient`` (``code_sending``; 429 past it).

    Called before the address is looked up, so known and unknown addresses are refused alike.
    """
    throttle = ctx.services.throttle
    await throttle.check("code_sending", throttle.keys(ctx.request, recipient))


async def may_send(ctx: Any, recipient: str) -> bool:
    """Count a send the server causes itself (after registration or a settings change).

    Past ``code_sending`` the message is skipped, not refused: the identity is stored already,
    and an attacker who changes their address to someone else's again and again must not mail
    them without end. The user can ask for a new code through a verification flow.
    """
    try:
        await count_send(ctx, recipient)
    except TooManyAttempts:
        log.info("skipped a verification message: too many sent to that address")
        return False
    return True


def remember_subject(flow: Any, subject: Any) -> None:
    """Note whose codes ``flow`` holds (the identity id, or the address for unknown ones)."""
    flow.set_state(_SUBJECT, str(subject))


async def count_guess(ctx: Any) -> Any:
    """Count one code guess on ``ctx.flow`` for its subject (``code``; 429 past it).

    Returns:
        The keys to hand :func:`guess_succeeded` when the code was right.
    """
    flow = ctx.flow
    subject = flow.get_state(_SUBJECT) or f"flow:{flow.id}"
    throttle = ctx.services.throttle
    keys = throttle.keys(ctx.request, subject)
    await throttle.check("code", keys)
    return keys


async def guess_succeeded(ctx: Any, keys: Any) -> None:
    """The code was right: the subject's counted guesses are forgotten."""
    await ctx.services.throttle.succeed("code", keys)
