"""Testing kit for kratos_core plugins: apps with explicit plugins, clients, stubs, drivers.

The pytest fixtures (``kratos_app``, ``kratos_public``, ``kratos_flows`` ...) come from
:mod:`kratos_core.testing.pytest_plugin`, which pytest loads on its own once ``kratos-core`` is
installed. The classes below are what those fixtures are made of, for tests that need more
control (several apps, a recorder in a specific place).
"""

from __future__ import annotations

from ..plugins.manager import PluginHost
from .apps import AppFactory, clients
from .config import ADMIN_URL, IDENTITY_SCHEMA, PUBLIC_URL, default_config, merge
from .courier import StubChannel, StubCourier
from .first_factor import STUB_FIRST_FACTOR, StubFirstFactor, StubFirstFactorPlugin
from .flows import FlowDriver, FlowUnavailable, UnexpectedStatus
from .races import read_together
from .recorder import REGISTRATION_HOOKS, HookCall, HookCoverage, HookRecorder, hookspec_names

__all__ = [
    "ADMIN_URL",
    "IDENTITY_SCHEMA",
    "PUBLIC_URL",
    "REGISTRATION_HOOKS",
    "STUB_FIRST_FACTOR",
    "AppFactory",
    "FlowDriver",
    "FlowUnavailable",
    "HookCall",
    "HookCoverage",
    "HookRecorder",
    "PluginHost",
    "StubChannel",
    "StubCourier",
    "StubFirstFactor",
    "StubFirstFactorPlugin",
    "UnexpectedStatus",
    "clients",
    "default_config",
    "hookspec_names",
    "merge",
    "read_together",
]
