"""Hook implementations of kratos-lookup-secret (the ``kratos`` entry point targets this module)."""

from __future__ import annotations

from typing import Any

from kratos_core.api import hookimpl
from kratos_lookup_secret.method import LookupSecretMethod

__all__ = ["kratos_register_methods"]


@hookimpl
def kratos_register_methods(register: Any) -> None:
    """Register the ``lookup_secret`` method (enabled by ``selfservice.methods.lookup_secret.enabled``)."""
    register(LookupSecretMethod())
