"""The package as kratos-core sees it: entry point, hooks, registration."""

from __future__ import annotations

from importlib import metadata

from kratos_core.testing import PluginHost

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
from kratos_{{ cookiecutter.underscored }} import COMPONENT_ID


def test_the_entry_point_names_the_plugin_module() -> None:
    points = {ep.name: ep.value for ep in metadata.entry_points(group="kratos")}
    assert points["{{ cookiecutter.underscored }}"] == "kratos_{{ cookiecutter.underscored }}.plugin"


def test_installed_plugins_are_loaded_with_their_distribution_name() -> None:
    names = {info["name"] for info in PluginHost(autoload=True).describe()}
    assert "kratos-{{ cookiecutter.hyphenated }}" in names


def test_the_plugin_module_holds_only_hook_implementations() -> None:
    # Unknown kratos_* names would fail at start-up (check_pending); this keeps plugin.py lean.
    public = [name for name in plugin.__all__ if not name.startswith("_")]
    assert public and all(name.startswith("kratos_") for name in public)
    PluginHost(autoload=False, plugins=[plugin])


def test_the_component_is_registered() -> None:
    host = PluginHost(autoload=False, plugins=[plugin])
{%- if cookiecutter.plugin_kind == "credential_method" %}
    assert host.methods.get(COMPONENT_ID) is not None
{%- elif cookiecutter.plugin_kind == "courier_channel" %}
    assert host.channels.get(COMPONENT_ID) is not None
{%- elif cookiecutter.plugin_kind == "flow_action" %}
    assert host.actions.get(COMPONENT_ID) is not None
{%- else %}
    assert host.has_impls("kratos_event") and host.has_impls("kratos_identity_post_persist")
    assert COMPONENT_ID == "{{ cookiecutter.underscored }}"
{%- endif %}
