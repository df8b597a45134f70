"""The ``{{ cookiecutter.underscored }}`` action on the login flow: who gets in, who is refused."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config


async def identity(kratos_flows: Any, email: str) -> str:
    return (await kratos_flows.create_identity({"email": email})).json()["id"]


async def test_an_allowed_domain_signs_in(kratos_flows: Any) -> None:
    login = await kratos_flows.login_stub(await identity(kratos_flows, "alice@Example.org"))
    assert login.json()["session"]["active"] is True


async def test_another_domain_is_refused_and_gets_no_session(kratos_flows: Any, kratos_admin: Any) -> None:
    identity_id = await identity(kratos_flows, "mallory@example.net")
    refused = await kratos_flows.login_stub(identity_id, expect=400)
    texts = [m["text"] for m in refused.json()["ui"]["messages"]]
    assert texts == [{{ cookiecutter.class_name }}Config().message]
    sessions = await kratos_admin.get(f"/admin/identities/{identity_id}/sessions", params={"active": "true"})
    assert sessions.status_code == 200 and sessions.json() == []  # the refused login's session was revoked


def test_config_defaults_and_unknown_keys() -> None:
    assert msgspec.convert({}, {{ cookiecutter.class_name }}Config).allowed_domains == ()
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"allowed_domain": ["example.org"]}, {{ cookiecutter.class_name }}Config)
