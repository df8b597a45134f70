"""Hook implementations of kratos-password (the ``kratos`` entry point targets this module).

One method object per application: each plugin host calls :func:`kratos_register_methods` once,
so two apps in one process (tests) never share hashing threads or policy settings.
"""

from __future__ import annotations

from typing import Any

from kratos_core.api import hookimpl
from kratos_password.method import PasswordMethod

__all__ = ["kratos_register_methods"]


@hookimpl
def kratos_register_methods(register: Any) -> None:
    """Register the ``password`` method (enabled by ``selfservice.methods.password.enabled``)."""
    register(PasswordMethod())
