"""The ``{{ cookiecutter.underscored }}`` method through the HTTP APIs: import, step-up, refusals."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from kratos_core.config import ConfigError
from kratos_core.testing import merge

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

METHOD = "{{ cookiecutter.underscored }}"
PIN = "271828"


async def signed_in(kratos_flows: Any, email: str = "pin@example.org") -> tuple[str, str]:
    """An identity with a PIN and its aal1 session token."""
    created = await kratos_flows.create_identity({"email": email}, credentials={METHOD: {"config": {"pin": PIN}}})
    identity_id = created.json()["id"]
    login = await kratos_flows.login_stub(identity_id)
    return identity_id, login.json()["session_token"]


async def test_an_imported_pin_is_stored_hashed(kratos_flows: Any, kratos_app: Any) -> None:
    identity_id, _ = await signed_in(kratos_flows)
    stored = await kratos_app.identities.get(uuid.UUID(identity_id))
    config = stored.credentials[METHOD].config
    assert config["hashed_pin"].startswith("pbkdf2-sha256$1000$") and PIN not in config["hashed_pin"]


async def test_a_short_pin_is_refused(kratos_flows: Any) -> None:
    response = await kratos_flows.create_identity(
        {"email": "short@example.org"}, credentials={METHOD: {"config": {"pin": "12"}}}, expect=400
    )
    assert "at least 6 digits" in response.json()["error"]["reason"]


async def test_the_pin_steps_a_session_up_to_aal2(kratos_flows: Any) -> None:
    _, token = await signed_in(kratos_flows)
    stepped = await kratos_flows.login(method=METHOD, session_token=token, aal="aal2", pin=PIN)
    assert stepped.json()["session"]["authenticator_assurance_level"] == "aal2"
    methods = [m["method"] for m in stepped.json()["session"]["authentication_methods"]]
    assert methods == ["stub_first_factor", METHOD]


async def test_a_wrong_pin_is_shown_on_the_flow(kratos_flows: Any) -> None:
    _, token = await signed_in(kratos_flows)
    refused = await kratos_flows.login(method=METHOD, session_token=token, aal="aal2", pin="000000", expect=400)
    assert [m["id"] for m in refused.json()["ui"]["messages"]] == [4000006]


async def test_the_aal2_flow_offers_the_pin(kratos_flows: Any) -> None:
    _, token = await signed_in(kratos_flows)
    flow = await kratos_flows.init("login", session_token=token, aal="aal2")
    names = [node["attributes"]["name"] for node in flow["ui"]["nodes"]]
    assert "pin" in names


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"min_lenght": 6}, {{ cookiecutter.class_name }}Config)


async def test_a_bad_config_stops_the_server_at_start(kratos_app_factory: Any, kratos_config: dict[str, Any]) -> None:
    bad = merge(kratos_config, {"selfservice": {"methods": {METHOD: {"config": {"min_length": 2}}}}})
    with pytest.raises(ConfigError, match=METHOD):
        await kratos_app_factory(bad, plugins=[plugin])
