"""Hook implementations of kratos-smtp (the ``kratos`` entry point targets this module)."""

from __future__ import annotations

from typing import Any

from kratos_core.api import hookimpl
from kratos_smtp.channel import SmtpChannel

__all__ = ["kratos_register_courier_channels"]


@hookimpl
def kratos_register_courier_channels(register: Any) -> None:
    """Register the ``email`` channel (one per app: each plugin host calls this once)."""
    register(SmtpChannel())
