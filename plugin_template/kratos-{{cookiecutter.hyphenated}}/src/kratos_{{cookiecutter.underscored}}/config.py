"""The typed configuration of kratos-{{ cookiecutter.hyphenated }}: unknown keys are refused.

{% if cookiecutter.plugin_kind == "credential_method" -%}
It validates ``selfservice.methods.{{ cookiecutter.underscored }}.config``; the core loads it at
start-up (a bad value stops the server with the key's path) and hands the method the object.
{%- elif cookiecutter.plugin_kind == "courier_channel" -%}
It validates the ``config`` of the ``courier.channels`` entry with ``id: {{ cookiecutter.underscored }}``
(the defaults when there is none); the core checks it at start-up (a bad value stops the server
with the key's path; ``COURIER_CHANNELS_<n>_CONFIG`` sets it as JSON) and hands the channel the
object through ``configure``.
{%- elif cookiecutter.plugin_kind == "flow_action" -%}
It validates the ``config`` of each ``hook: {{ cookiecutter.underscored }}`` entry in a flow's
``hooks`` list when the server starts (a bad value stops it with the entry's key path); every
entry may configure the action differently, and the action gets the validated object.
{%- else -%}
It validates ``plugins.{{ cookiecutter.underscored }}.config`` (declared through
``kratos_register_config``): unknown keys stop the start with their path, and
``PLUGINS_{{ cookiecutter.underscored|upper }}_CONFIG_EVENTS`` style environment variables override
it. The core hands the validated object to :func:`configure` before the server serves; the hooks
read :data:`current`.
{%- endif %}
"""

from __future__ import annotations

{% if cookiecutter.plugin_kind in ("credential_method", "courier_channel") -%}
from typing import Annotated

{% endif -%}
import msgspec

__all__ = ["{{ cookiecutter.class_name }}Config"{% if cookiecutter.plugin_kind == "observer" %}, "current", "configure"{% endif %}]


class {{ cookiecutter.class_name }}Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
{%- if cookiecutter.plugin_kind == "credential_method" %}
    """``selfservice.methods.{{ cookiecutter.underscored }}.config``."""

    min_length: Annotated[int, msgspec.Meta(ge=4, le=64)] = 6
    """The fewest digits a PIN may have."""

    iterations: Annotated[int, msgspec.Meta(ge=1000)] = 200_000
    """PBKDF2-SHA256 rounds for new PIN hashes (stored hashes keep their own count)."""
{%- elif cookiecutter.plugin_kind == "courier_channel" %}
    """The ``{{ cookiecutter.underscored }}`` channel's settings."""

    outbox: str | None = None
    """A file to append each sent message to as a JSON line; None keeps them in memory only."""

    keep: Annotated[int, msgspec.Meta(ge=0)] = 1000
    """How many sent messages the in-memory outbox keeps (the oldest are dropped first)."""
{%- elif cookiecutter.plugin_kind == "flow_action" %}
    """The ``config`` of a ``hook: {{ cookiecutter.underscored }}`` entry."""

    allowed_domains: tuple[str, ...] = ()
    """Email domains that may sign in (compared case-insensitively); empty lets everyone in."""

    trait: str = "email"
    """The trait holding the address whose domain is checked."""

    message: str = "Signing in with this email domain is not allowed."
    """The text shown on the flow when a sign-in is refused."""
{%- else %}
    """The observer's settings."""

    events: tuple[str, ...] = ()
    """Event names to record (``identity.created`` ...); empty records every event."""

    identity_writes: bool = True
    """Also record every committed identity write (create, update, delete)."""
{%- endif %}
{%- if cookiecutter.plugin_kind == "observer" %}


#: The settings in force: the defaults until the server hands over its validated section.
current = {{ cookiecutter.class_name }}Config()


def configure(section: {{ cookiecutter.class_name }}Config) -> None:
    """Use ``section`` from now on (the core calls this once at start-up)."""
    global current
    current = section
{%- endif %}
