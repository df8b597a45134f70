"""Small helpers both methods share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kratos_core.flows.errors import FlowValidationError
from kratos_core.flows.messages import channel_for, expires_in_minutes
from kratos_core.ui import messages

__all__ = ["text_field", "required", "phone_allowed", "minutes", "channel_for"]


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
