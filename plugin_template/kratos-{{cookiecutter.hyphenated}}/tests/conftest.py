"""What the ``kratos_app`` fixture (from kratos-core's pytest plugin) is built from in these tests."""

from __future__ import annotations

from typing import Any

import pytest
{%- if cookiecutter.plugin_kind in ("credential_method", "flow_action") %}
from kratos_core.testing import merge
{%- endif %}

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
{% if cookiecutter.plugin_kind == "credential_method" %}

@pytest.fixture
def kratos_plugins(kratos_stub_first_factor: Any) -> list[object]:
    # The stub first factor signs users in at aal1, so the PIN can be tested as the second.
    return [kratos_stub_first_factor, plugin]


@pytest.fixture
def kratos_config(kratos_config: dict[str, Any]) -> dict[str, Any]:
    methods = {
        "stub_first_factor": {"enabled": True},
        # Few PBKDF2 rounds keep the tests fast; the default is production strength.
        "{{ cookiecutter.underscored }}": {"enabled": True, "config": {"min_length": 6, "iterations": 1000}},
    }
    return merge(kratos_config, {"selfservice": {"methods": methods}})
{%- elif cookiecutter.plugin_kind == "flow_action" %}

@pytest.fixture
def kratos_plugins(kratos_stub_first_factor: Any) -> list[object]:
    # The stub first factor stands in for a real sign-in and sign-up method.
    return [kratos_stub_first_factor, plugin]


@pytest.fixture
def kratos_config(kratos_config: dict[str, Any]) -> dict[str, Any]:
    # The action in every stage it declares: before (login and registration), registration's
    # pre-persist (named in registration.after) and login.after.
    hooks = [{"hook": "{{ cookiecutter.underscored }}", "config": {"allowed_domains": ["example.org"]}}]
    flows = {
        "login": {"before": {"hooks": hooks}, "after": {"hooks": hooks}},
        "registration": {"style": "unified", "before": {"hooks": hooks}, "after": {"hooks": [*hooks, {"hook": "session"}]}},
    }
    return merge(kratos_config, {"selfservice": {"methods": {"stub_first_factor": {"enabled": True}}, "flows": flows}})
{%- else %}

@pytest.fixture
def kratos_plugins() -> list[object]:
    return [plugin]
{%- endif %}
