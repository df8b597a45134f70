"""A second factor baked from ``plugin_template`` counts for AAL with no core change (issue 9).

The template's PIN method is baked with cookiecutter's Python API, imported from the baked
``src/`` and served next to the password plugin. Its declarations alone (``aal``,
``second_factor``) make an identity with a PIN reach aal2, so under
``session.whoami.required_aal: highest_available`` a password session is asked to step up, and
the PIN steps the same session (same id, same token) up to aal2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kratos_password.plugin as password_plugin
import pytest
from cookiecutter.main import cookiecutter

from kratos_core.testing import AppFactory, FlowDriver, clients, default_config, merge

TEMPLATE = Path(__file__).resolve().parents[2] / "plugin_template"
EMAIL = "second@example.org"
PASSWORD = "a-long-and-unusual-passphrase-417"
PIN = "271828"


@pytest.fixture(scope="module")
def pin_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """``kratos_pin.plugin`` from a fresh bake (second factor), imported from its ``src/``."""
    out = tmp_path_factory.mktemp("bake")
    context = {"plugin_name": "pin", "plugin_kind": "credential_method", "method_factor": "second"}
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(out)))
    src = str(project / "src")
    sys.path.insert(0, src)
    try:
        yield importlib.import_module("kratos_pin.plugin")
    finally:
        sys.path.remove(src)
        for name in [n for n in sys.modules if n == "kratos_pin" or n.startswith("kratos_pin.")]:
            del sys.modules[name]


@pytest.fixture
async def flows(tmp_path: Path, pin_plugin: ModuleType) -> AsyncIterator[FlowDriver]:
    config = merge(
        default_config(tmp_path),
        {
            "selfservice": {
                "methods": {
                    "password": {"enabled": True},
                    "pin": {"enabled": True, "config": {"iterations": 1000}},
                }
            },
            "session": {"whoami": {"required_aal": "highest_available"}},
        },
    )
    factory = AppFactory(tmp_path)
    app = await factory(config, plugins=[password_plugin, pin_plugin])
    try:
        async with clients(app) as (public, admin):
            yield FlowDriver(public, admin, None, app)
    finally:
        await factory.close()


async def password_session(flows: FlowDriver, credentials: dict[str, Any]) -> dict[str, Any]:
    await flows.create_identity({"email": EMAIL}, credentials=credentials)
    return (await flows.login(EMAIL, method="password", password=PASSWORD)).json()


async def test_a_template_pin_steps_the_same_session_up_to_aal2(flows: FlowDriver) -> None:
    login = await password_session(flows, {"password": {"config": {"password": PASSWORD}}, "pin": {"config": {"pin": PIN}}})
    token, session_id = login["session_token"], login["session"]["id"]
    assert login["session"]["authenticator_assurance_level"] == "aal1"

    refused = await flows.whoami(token, expect=403)
    error = refused.json()
    assert error["error"]["id"] == "session_aal2_required"
    assert error["redirect_browser_to"] == "http://127.0.0.1:4433/self-service/login/browser?aal=aal2"

    flow = await flows.init("login", session_token=token, aal="aal2")
    offered = {(n["attributes"]["name"], n["attributes"].get("value")) for n in flow["ui"]["nodes"]}
    assert ("pin", None) in offered and ("method", "pin") in offered
    stepped = await flows.submit("login", flow["id"], {"method": "pin", "pin": PIN}, session_token=token)
    assert stepped.json()["session"]["id"] == session_id
    assert stepped.json().get("session_token") in (None, token)

    whoami = (await flows.whoami(token)).json()
    assert whoami["id"] == session_id
    assert whoami["authenticator_assurance_level"] == "aal2"
    assert [m["method"] for m in whoami["authentication_methods"]] == ["password", "pin"]
    assert [m["aal"] for m in whoami["authentication_methods"]] == ["aal1", "aal2"]


async def test_a_wrong_pin_leaves_the_session_at_aal1(flows: FlowDriver) -> None:
    login = await password_session(flows, {"password": {"config": {"password": PASSWORD}}, "pin": {"config": {"pin": PIN}}})
    token = login["session_token"]
    refused = await flows.login(method="pin", session_token=token, aal="aal2", pin="000000", expect=400)
    assert [m["id"] for m in refused.json()["ui"]["messages"]] == [4000006]
    await flows.whoami(token, expect=403)


async def test_without_a_pin_a_password_session_is_enough(flows: FlowDriver) -> None:
    login = await password_session(flows, {"password": {"config": {"password": PASSWORD}}})
    whoami = (await flows.whoami(login["session_token"])).json()
    assert whoami["authenticator_assurance_level"] == "aal1"


async def test_the_admin_api_shows_the_pin_through_its_declaration(flows: FlowDriver) -> None:
    created = await flows.create_identity(
        {"email": EMAIL}, credentials={"password": {"config": {"password": PASSWORD}}, "pin": {"config": {"pin": PIN}}}
    )
    identity_id = created.json()["id"]
    shown = await flows.admin.get(f"/admin/identities/{identity_id}", params=[("include_credential", "pin"), ("include_credential", "password")])
    assert shown.status_code == 200
    credentials = shown.json()["credentials"]
    # The template keeps the redacting default; password shows its hash, as Kratos does.
    assert credentials["pin"]["config"] == {"hashed_pin": "[redacted]"}
    assert credentials["password"]["config"]["hashed_password"].startswith("$argon2id$")
    unknown = await flows.admin.get(f"/admin/identities/{identity_id}", params={"include_credential": "nonsense"})
    assert unknown.status_code == 400
