"""Hook implementations of kratos-sms (the ``kratos`` entry point targets this module)."""

from __future__ import annotations

from typing import Any

from kratos_core.api import hookimpl
from kratos_sms.channel import HttpChannel

__all__ = ["kratos_register_courier_channels"]


@hookimpl
def kratos_register_courier_channels(register: Any) -> None:
    """Register ``sms`` (``courier.channels``) and ``http`` (``courier.delivery_strategy: http``)."""
    register(HttpChannel("sms"))
    register(HttpChannel("http"))
