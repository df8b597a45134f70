"""What the ``kratos_app`` fixture (from kratos-core's pytest plugin) is built from in these tests."""

from __future__ import annotations

{% if cookiecutter.plugin_kind == "credential_method" and cookiecutter.method_factor == "first" -%}
import base64
import copy
import json
{% endif -%}
from typing import Any

import pytest
{%- if cookiecutter.plugin_kind in ("credential_method", "flow_action") %}
from kratos_core.testing import merge
{%- endif %}
{%- if cookiecutter.plugin_kind == "credential_method" and cookiecutter.method_factor == "first" %}
from kratos_core.testing import IDENTITY_SCHEMA
{%- endif %}

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
{% if cookiecutter.plugin_kind == "credential_method" and cookiecutter.method_factor == "second" %}

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
{%- elif cookiecutter.plugin_kind == "credential_method" %}

@pytest.fixture
def kratos_plugins() -> list[object]:
    return [plugin]


def pin_schema() -> dict[str, Any]:
    """The testing kit's schema, with ``traits.email`` flagged as this method's identifier."""
    schema = copy.deepcopy(IDENTITY_SCHEMA)
    email = schema["properties"]["traits"]["properties"]["email"]
    email["ory.sh/kratos"]["credentials"]["{{ cookiecutter.underscored }}"] = {"identifier": True}
    return schema


@pytest.fixture
def kratos_config(kratos_config: dict[str, Any]) -> dict[str, Any]:
    encoded = base64.b64encode(json.dumps(pin_schema()).encode()).decode()
    methods = {
        # Few PBKDF2 rounds keep the tests fast; the default is production strength.
        "{{ cookiecutter.underscored }}": {"enabled": True, "config": {"min_length": 6, "iterations": 1000}},
    }
    identity = {"default_schema_id": "default", "schemas": [{"id": "default", "url": f"base64://{encoded}"}]}
    return merge(kratos_config, {"selfservice": {"methods": methods}, "identity": identity})
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
