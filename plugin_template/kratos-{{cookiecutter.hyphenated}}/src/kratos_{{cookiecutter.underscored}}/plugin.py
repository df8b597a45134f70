"""Hook implementations of kratos-{{ cookiecutter.hyphenated }} (the ``kratos`` entry point targets this module).

{% if cookiecutter.plugin_kind == "credential_method" -%}
Each plugin host calls :func:`kratos_register_methods` once, so every app gets its own method
object (two apps in one process never share configuration).
{%- elif cookiecutter.plugin_kind == "courier_channel" -%}
Each plugin host calls :func:`kratos_register_courier_channels` once, so every app gets its own
channel object and outbox.
{%- elif cookiecutter.plugin_kind == "flow_action" -%}
The action runs where a flow's ``hooks`` list names it (``hook: {{ cookiecutter.underscored }}``);
config decides the order, never plugin order.
{%- else -%}
Observers are contained: an exception here is logged with the plugin's name and never changes
what the user sees, so these hooks only write audit records.
{%- endif %}
"""

from __future__ import annotations

{% if cookiecutter.plugin_kind == "observer" -%}
import logging
{% endif -%}
from typing import Any

{% if cookiecutter.plugin_kind == "observer" -%}
import msgspec

{% endif -%}
from kratos_core.api import hookimpl
{%- if cookiecutter.plugin_kind == "observer" %}
from kratos_core.api import Event, LoginFailed
{%- endif %}

{% if cookiecutter.plugin_kind == "credential_method" -%}
from kratos_{{ cookiecutter.underscored }}.method import {{ cookiecutter.class_name }}Method

__all__ = ["kratos_register_methods"]


@hookimpl
def kratos_register_methods(register: Any) -> None:
    """Register the ``{{ cookiecutter.underscored }}`` method (live when ``selfservice.methods.{{ cookiecutter.underscored }}.enabled``)."""
    register({{ cookiecutter.class_name }}Method())
{%- elif cookiecutter.plugin_kind == "courier_channel" -%}
from kratos_{{ cookiecutter.underscored }}.channel import {{ cookiecutter.class_name }}Channel

__all__ = ["kratos_register_courier_channels"]


@hookimpl
def kratos_register_courier_channels(register: Any) -> None:
    """Register the ``{{ cookiecutter.underscored }}`` channel."""
    register({{ cookiecutter.class_name }}Channel())
{%- elif cookiecutter.plugin_kind == "flow_action" -%}
from kratos_{{ cookiecutter.underscored }}.action import {{ cookiecutter.class_name }}Action

__all__ = ["kratos_register_flow_actions"]


@hookimpl
def kratos_register_flow_actions(register: Any) -> None:
    """Register the ``{{ cookiecutter.underscored }}`` action."""
    register({{ cookiecutter.class_name }}Action())
{%- else -%}
from kratos_{{ cookiecutter.underscored }} import config

__all__ = ["kratos_register_config", "kratos_event", "kratos_identity_post_persist"]

log = logging.getLogger("kratos.{{ cookiecutter.underscored }}")


@hookimpl
def kratos_register_config(register: Any) -> None:
    """Declare ``plugins.{{ cookiecutter.underscored }}.config``; the core validates it and calls ``configure``."""
    register("{{ cookiecutter.underscored }}", config.{{ cookiecutter.class_name }}Config, configure=config.configure)


@hookimpl
def kratos_event(payload: Event) -> None:
    """Write one audit record per event of the catalogue (``kratos_core.events``).

    ``payload`` is a typed, frozen msgspec Struct (``IdentityCreated``, ``SessionIssued``,
    ``LoginFailed`` ...) whose ``name`` is the dotted event name; it never holds a secret, so
    all of its fields may be recorded. Refused logins are recorded as warnings.
    """
    if config.current.events and payload.name not in config.current.events:
        return
    record = msgspec.to_builtins(payload)
    del record["event"]  # the tag: the same as payload.name
    level = logging.WARNING if isinstance(payload, LoginFailed) else logging.INFO
    log.log(level, "event %s", payload.name, extra={"audit_event": payload.name, "audit_data": record})


@hookimpl
def kratos_identity_post_persist(identity: Any, operation: str, source: str) -> None:
    """Write one audit record per committed identity write; traits stay out of the log."""
    if not config.current.identity_writes:
        return
    log.info(
        "identity %s %s by %s",
        identity.id,
        operation,
        source,
        extra={"audit_event": f"identity.{operation}", "audit_data": {"identity_id": str(identity.id), "source": source}},
    )
{%- endif %}
