"""Kratos's ``kratos.yml`` as typed, validated, frozen settings.

Load with :func:`load_config`; read values as attributes named like Kratos's keys
(``config.selfservice.flows.login.lifespan`` is a ``timedelta``). Plugins declare the sections
they own as msgspec Structs (``fragments=``) and read them back with ``config.fragment(path)``.

Example:
    >>> config = load_config(["config/kratos.yml"], dev=True)  # doctest: +SKIP
    >>> config.serve.public.base_url  # doctest: +SKIP
    'http://127.0.0.1:4433/'
"""

from __future__ import annotations

from kratos_core.config.durations import format_duration, parse_bytes, parse_duration
from kratos_core.config.errors import ConfigError
from kratos_core.config.frozen import FrozenDict, thaw
from kratos_core.config.loader import load_config, read_config_file
from kratos_core.config.model import (
    METHOD_DEFAULT_ENABLED,
    AdminServe,
    Argon2,
    Bcrypt,
    BeforeHooks,
    ByteSize,
    Channel,
    Config,
    Cookies,
    Cors,
    Courier,
    Flows,
    Hashers,
    HookConfig,
    Identity,
    LoginAfter,
    LoginFlow,
    MethodConfig,
    MethodHooks,
    PublicServe,
    RecoveryAfter,
    RecoveryFlow,
    RegistrationAfter,
    RegistrationFlow,
    SchemaRef,
    Secrets,
    Selfservice,
    Serve,
    Session,
    SessionCookie,
    SettingsAfter,
    SettingsFlow,
    Smtp,
    VerificationAfter,
    VerificationFlow,
)

__all__ = [
    "load_config",
    "read_config_file",
    "ConfigError",
    "parse_duration",
    "format_duration",
    "parse_bytes",
    "FrozenDict",
    "thaw",
    "ByteSize",
    "METHOD_DEFAULT_ENABLED",
    "Config",
    "Serve",
    "PublicServe",
    "AdminServe",
    "Cors",
    "Selfservice",
    "Flows",
    "LoginFlow",
    "RegistrationFlow",
    "SettingsFlow",
    "RecoveryFlow",
    "VerificationFlow",
    "LoginAfter",
    "RegistrationAfter",
    "SettingsAfter",
    "RecoveryAfter",
    "VerificationAfter",
    "BeforeHooks",
    "MethodHooks",
    "HookConfig",
    "MethodConfig",
    "Session",
    "SessionCookie",
    "Cookies",
    "Secrets",
    "Hashers",
    "Argon2",
    "Bcrypt",
    "Identity",
    "SchemaRef",
    "Courier",
    "Smtp",
    "Channel",
]
