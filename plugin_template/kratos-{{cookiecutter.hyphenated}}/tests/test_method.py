"""The ``{{ cookiecutter.underscored }}`` method through the HTTP APIs: import, step-up, refusals."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from kratos_core.api import ConfigError
from kratos_core.testing import {% if cookiecutter.method_factor == "second" %}FlowDriver, clients, {% endif %}merge

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

METHOD = "{{ cookiecutter.underscored }}"
PIN = "271828"
{% if cookiecutter.method_factor == "second" %}

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


async def test_the_admin_api_shows_the_pin_redacted(kratos_flows: Any, kratos_admin: Any) -> None:
    identity_id, _ = await signed_in(kratos_flows)
    shown = await kratos_admin.get(f"/admin/identities/{identity_id}", params={"include_credential": METHOD})
    assert shown.status_code == 200
    assert shown.json()["credentials"][METHOD]["config"] == {"hashed_pin": "[redacted]"}


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


async def test_a_pin_raises_the_identitys_available_aal(
    kratos_app_factory: Any, kratos_config: dict[str, Any], kratos_plugins: list[object]
) -> None:
    # Under highest_available an identity with a PIN must use it: its aal1 session is refused.
    config = merge(kratos_config, {"session": {"whoami": {"required_aal": "highest_available"}}})
    app = await kratos_app_factory(config, plugins=kratos_plugins)
    async with clients(app) as (public, admin):
        flows = FlowDriver(public, admin, None, app)
        _, token = await signed_in(flows)
        refused = await flows.whoami(token, expect=403)
        assert refused.json()["error"]["id"] == "session_aal2_required"
        await flows.login(method=METHOD, session_token=token, aal="aal2", pin=PIN)
        assert (await flows.whoami(token)).json()["authenticator_assurance_level"] == "aal2"
        # Without a PIN the same identity shape reaches only aal1, and aal1 is enough.
        plain = await flows.create_identity({"email": "plain@example.org"})
        login = await flows.login_stub(plain.json()["id"])
        await flows.whoami(login.json()["session_token"])


async def test_a_wrong_pin_is_shown_on_the_flow(kratos_flows: Any) -> None:
    _, token = await signed_in(kratos_flows)
    refused = await kratos_flows.login(method=METHOD, session_token=token, aal="aal2", pin="000000", expect=400)
    assert [m["id"] for m in refused.json()["ui"]["messages"]] == [4000006]


async def test_the_aal2_flow_offers_the_pin(kratos_flows: Any) -> None:
    _, token = await signed_in(kratos_flows)
    flow = await kratos_flows.init("login", session_token=token, aal="aal2")
    names = [node["attributes"]["name"] for node in flow["ui"]["nodes"]]
    assert "pin" in names
{% else %}

async def with_pin(kratos_flows: Any, email: str = "pin@example.org") -> str:
    """An identity with a PIN; returns its id."""
    created = await kratos_flows.create_identity({"email": email}, credentials={METHOD: {"config": {"pin": PIN}}})
    return created.json()["id"]


async def test_an_imported_pin_is_stored_hashed_under_the_schemas_identifier(kratos_flows: Any, kratos_app: Any) -> None:
    identity_id = await with_pin(kratos_flows, "Pin@Example.org")
    stored = await kratos_app.identities.get(uuid.UUID(identity_id))
    credential = stored.credentials[METHOD]
    assert credential.identifiers == ["pin@example.org"]
    assert credential.config["hashed_pin"].startswith("pbkdf2-sha256$1000$") and PIN not in credential.config["hashed_pin"]


async def test_the_admin_api_shows_the_pin_redacted(kratos_flows: Any, kratos_admin: Any) -> None:
    identity_id = await with_pin(kratos_flows)
    shown = await kratos_admin.get(f"/admin/identities/{identity_id}", params={"include_credential": METHOD})
    credential = shown.json()["credentials"][METHOD]
    assert credential["identifiers"] == ["pin@example.org"] and credential["config"] == {"hashed_pin": "[redacted]"}


async def test_a_short_pin_is_refused(kratos_flows: Any) -> None:
    response = await kratos_flows.create_identity(
        {"email": "short@example.org"}, credentials={METHOD: {"config": {"pin": "12"}}}, expect=400
    )
    assert "at least 6 digits" in response.json()["error"]["reason"]


async def test_identifier_and_pin_sign_in_at_aal1(kratos_flows: Any) -> None:
    await with_pin(kratos_flows)
    login = await kratos_flows.login("PIN@example.org", method=METHOD, pin=PIN)
    session = login.json()["session"]
    assert session["authenticator_assurance_level"] == "aal1"
    assert [m["method"] for m in session["authentication_methods"]] == [METHOD]


async def test_a_wrong_pin_or_unknown_identifier_is_shown_on_the_flow(kratos_flows: Any) -> None:
    await with_pin(kratos_flows)
    for identifier, pin in (("pin@example.org", "000000"), ("nobody@example.org", PIN)):
        refused = await kratos_flows.login(identifier, method=METHOD, pin=pin, expect=400)
        assert [m["id"] for m in refused.json()["ui"]["messages"]] == [4000006]


async def test_the_login_flow_offers_identifier_and_pin(kratos_flows: Any) -> None:
    flow = await kratos_flows.init("login")
    names = [node["attributes"]["name"] for node in flow["ui"]["nodes"]]
    assert "identifier" in names and "pin" in names
{% endif %}

def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"min_lenght": 6}, {{ cookiecutter.class_name }}Config)


async def test_a_bad_config_stops_the_server_at_start(kratos_app_factory: Any, kratos_config: dict[str, Any]) -> None:
    bad = merge(kratos_config, {"selfservice": {"methods": {METHOD: {"config": {"min_length": 2}}}}})
    with pytest.raises(ConfigError, match=METHOD):
        await kratos_app_factory(bad, plugins=[plugin])
