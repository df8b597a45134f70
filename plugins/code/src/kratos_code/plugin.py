"""Hook implementations of kratos-code (the ``kratos`` entry point targets this module).

One pair of method objects per application: each plugin host calls
:func:`kratos_register_methods` once, so two apps in one process never share settings.
"""

from __future__ import annotations

from typing import Any

from kratos_code.link import LinkMethod
from kratos_code.method import CodeMethod
from kratos_core.api import hookimpl

__all__ = ["kratos_register_methods"]


@hookimpl
def kratos_register_methods(register: Any) -> None:
    """Register ``code`` and ``link`` (enabled by ``selfservice.methods.<id>.enabled``)."""
    register(CodeMethod())
    register(LinkMethod())
