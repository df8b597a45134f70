"""Hook implementations of kratos-totp (the ``kratos`` entry point targets this module)."""

from __future__ import annotations

from typing import Any

from kratos_core.api import hookimpl
from kratos_totp.method import TotpMethod

__all__ = ["kratos_register_methods"]


@hookimpl
def kratos_register_methods(register: Any) -> None:
    """Register the ``totp`` method (enabled by ``selfservice.methods.totp.enabled``)."""
    register(TotpMethod())
