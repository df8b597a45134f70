"""The ``{{ cookiecutter.underscored }}`` action in each stage it declares, and where it may not be named."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from kratos_core.api import PluginError
from kratos_core.testing import STUB_FIRST_FACTOR, merge

from kratos_{{ cookiecutter.underscored }}.action import ALLOWED_DOMAINS_MESSAGE_ID
from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

import kratos_{{ cookiecutter.underscored }}.plugin as plugin

REFUSAL = {{ cookiecutter.class_name }}Config().message


async def identity(kratos_flows: Any, email: str) -> str:
    return (await kratos_flows.create_identity({"email": email})).json()["id"]


# -- before ------------------------------------------------------------------------------------


async def test_new_flows_name_the_allowed_domains(kratos_flows: Any) -> None:
    for kind in ("registration", "login"):
        flow = await kratos_flows.init(kind)
        (info,) = [m for m in flow["ui"]["messages"] if m["id"] == ALLOWED_DOMAINS_MESSAGE_ID]
        assert info["type"] == "info" and info["context"] == {"allowed_domains": ["example.org"]}


# -- pre-persist -------------------------------------------------------------------------------


async def test_an_allowed_domain_signs_up(kratos_flows: Any) -> None:
    registered = await kratos_flows.register({"email": "alice@Example.org"}, method=STUB_FIRST_FACTOR)
    assert registered.json()["session"]["active"] is True


async def test_another_domain_is_refused_on_the_email_field_and_nothing_is_stored(kratos_flows: Any, kratos_admin: Any) -> None:
    refused = await kratos_flows.register({"email": "mallory@example.net"}, method=STUB_FIRST_FACTOR, expect=400)
    (email,) = [n for n in refused.json()["ui"]["nodes"] if n["attributes"]["name"] == "traits.email"]
    assert [m["text"] for m in email["messages"]] == [REFUSAL]
    assert (await kratos_admin.get("/admin/identities")).json() == []


# -- after -------------------------------------------------------------------------------------


async def test_an_allowed_domain_signs_in(kratos_flows: Any) -> None:
    login = await kratos_flows.login_stub(await identity(kratos_flows, "alice@Example.org"))
    assert login.json()["session"]["active"] is True


async def test_another_domain_is_refused_and_gets_no_session(kratos_flows: Any, kratos_admin: Any) -> None:
    identity_id = await identity(kratos_flows, "mallory@example.net")
    refused = await kratos_flows.login_stub(identity_id, expect=400)
    texts = [m["text"] for m in refused.json()["ui"]["messages"] if m["id"] != ALLOWED_DOMAINS_MESSAGE_ID]
    assert texts == [REFUSAL]
    sessions = await kratos_admin.get(f"/admin/identities/{identity_id}/sessions", params={"active": "true"})
    assert sessions.status_code == 200 and sessions.json() == []  # the refused login got no session


# -- start-up checks ---------------------------------------------------------------------------


async def test_naming_it_in_a_stage_it_does_not_declare_stops_the_start(
    kratos_app_factory: Any, kratos_config: dict[str, Any], kratos_stub_first_factor: Any
) -> None:
    hooks = [{"hook": "{{ cookiecutter.underscored }}", "config": {"allowed_domains": ["example.org"]}}]
    config = merge(kratos_config, {"selfservice": {"flows": {"settings": {"before": {"hooks": hooks}}}}})
    with pytest.raises(PluginError, match=r"selfservice\.flows\.settings\.before\.hooks\.0 .*cannot run in settings\.before"):
        await kratos_app_factory(config, plugins=[kratos_stub_first_factor, plugin])


async def test_a_config_typo_stops_the_start(
    kratos_app_factory: Any, kratos_config: dict[str, Any], kratos_stub_first_factor: Any
) -> None:
    hooks = [{"hook": "{{ cookiecutter.underscored }}", "config": {"allowed_domain": ["example.org"]}}]
    config = merge(kratos_config, {"selfservice": {"flows": {"login": {"after": {"hooks": hooks}}}}})
    with pytest.raises(PluginError, match=r"login\.after\.hooks\.0\.config .*allowed_domain"):
        await kratos_app_factory(config, plugins=[kratos_stub_first_factor, plugin])


def test_config_defaults_and_unknown_keys() -> None:
    assert msgspec.convert({}, {{ cookiecutter.class_name }}Config).allowed_domains == ()
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"allowed_domain": ["example.org"]}, {{ cookiecutter.class_name }}Config)
