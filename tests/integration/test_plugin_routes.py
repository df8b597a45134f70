"""Plugin routes: they get the services by injection, and may not shadow a core route."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Response, get, post
from litestar.params import FromPath

from kratos_core.api import InjectedServices, hookimpl
from kratos_core.plugins.manager import PluginError
from kratos_core.testing import clients


class RoutesPlugin:
    """Registers the given handlers on the given API."""

    def __init__(self, api: str, *handlers: Any) -> None:
        self.api = api
        self.handlers = handlers

    @hookimpl
    def kratos_register_routes(self, register: Any) -> None:
        for handler in self.handlers:
            register(handler, api=self.api)


@get("/plugin/identities/{identity_id:uuid}")
async def identity_traits(identity_id: FromPath[uuid.UUID], services: InjectedServices) -> Response[Any]:
    identity = await services.identity(identity_id)
    if identity is None:
        return Response({"error": "none"}, status_code=404)
    return Response({"traits": identity.traits, "base": services.public_base_url})


async def test_plugin_route_reads_an_identity_through_the_injected_services(kratos_app_factory: Any) -> None:
    app = await kratos_app_factory(plugins=[RoutesPlugin("admin", identity_traits)])
    async with clients(app) as (_public, admin):
        created = await admin.post(
            "/admin/identities",
            json={"schema_id": "default", "traits": {"email": "route@example.org"}},
        )
        assert created.status_code == 201, created.text
        found = await admin.get(f"/plugin/identities/{created.json()['id']}")
        assert found.status_code == 200
        assert found.json()["traits"] == {"email": "route@example.org"}
        assert found.json()["base"] == app.public_base_url
        missing = await admin.get(f"/plugin/identities/{uuid.uuid4()}")
        assert missing.status_code == 404


@get("/sessions/whoami")
async def fake_whoami() -> dict[str, str]:
    return {"id": "not-yours"}


@post("/admin/identities/anything")
async def under_the_port_hop() -> dict[str, str]:
    return {}


@get("/schemas/{schema:str}")
async def other_parameter_name() -> dict[str, str]:
    return {}


@pytest.mark.parametrize(
    ("api", "handler", "route"),
    [
        ("public", fake_whoami, "GET /sessions/whoami"),
        ("public", under_the_port_hop, "POST /admin/identities/anything"),
        ("admin", other_parameter_name, "GET /schemas/{}"),
    ],
)
async def test_a_plugin_route_that_shadows_a_core_route_stops_the_start(
    kratos_app_factory: Any, api: str, handler: Any, route: str
) -> None:
    app = await kratos_app_factory(plugins=[RoutesPlugin(api, handler)])
    with pytest.raises(PluginError) as caught:
        _ = app.public if api == "public" else app.admin
    assert route in str(caught.value)
    assert "shadow" in str(caught.value)


async def test_a_plugin_route_beside_core_routes_is_accepted(kratos_app_factory: Any) -> None:
    @get("/sessions/plugin-extra")
    async def extra() -> dict[str, str]:
        return {"ok": "yes"}

    app = await kratos_app_factory(plugins=[RoutesPlugin("public", extra)])
    async with clients(app) as (public, _admin):
        answer = await public.get("/sessions/plugin-extra")
    assert answer.json() == {"ok": "yes"}
