"""Continuing flows from a plugin route: what an OIDC callback or a magic-link landing needs.

A test plugin registers ``GET /magic/callback`` on the public API. It loads the flow named by the
query, and finishes it through the injected services (``services.flows``): a login for an
existing identity, or (no identity given) a conversion to a registration flow that stores a new
identity from the query's traits. Every answer must be the one a flow submit gives.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Request, Response, get

from kratos_core.api import FlowValidationError, LoginResult, RegistrationResult, InjectedServices, hookimpl
from kratos_core.testing import clients, default_config, merge


@get("/magic/callback")
async def magic_callback(request: Request[Any, Any, Any], services: InjectedServices) -> Response[Any]:
    query = request.query_params
    flow = await services.flows.get(uuid.UUID(query["flow"]), query.get("kind", "login"))
    if flow is None:
        return Response({"error": "no flow"}, status_code=404)
    if query.get("identity"):
        identity = await services.identity(uuid.UUID(query["identity"]))
        assert identity is not None
        return await services.flows.finish_login(request, flow, LoginResult(identity=identity, method="magic"))
    if flow.kind == "login":
        flow = await services.flows.convert(request, flow, "registration")
    try:
        identity = await services.flows.new_identity(flow, {"email": query.get("email", "")})
    except FlowValidationError as error:
        return await services.flows.show(request, flow, error)
    return await services.flows.finish_registration(request, flow, RegistrationResult(identity=identity, method="magic"))


class MagicPlugin:
    @hookimpl
    def kratos_register_routes(self, register: Any) -> None:
        register(magic_callback, api="public")


def _config(tmp_path: Any) -> dict[str, Any]:
    # Registrations hand out their session, as the quickstart configures it.
    return merge(
        default_config(tmp_path),
        {"selfservice": {"flows": {"registration": {"after": {"hooks": [{"hook": "session"}]}}}}},
    )


async def _identity(admin: httpx.AsyncClient, email: str) -> str:
    created = await admin.post("/admin/identities", json={"schema_id": "default", "traits": {"email": email}})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_a_plugin_route_finishes_an_api_login_flow_once(kratos_app_factory: Any, tmp_path: Any) -> None:
    app = await kratos_app_factory(_config(tmp_path), plugins=[MagicPlugin()])
    async with clients(app) as (public, admin):
        identity_id = await _identity(admin, "magic@example.org")
        flow = (await public.get("/self-service/login/api")).json()
        done = await public.get("/magic/callback", params={"flow": flow["id"], "identity": identity_id})
        assert done.status_code == 200, done.text
        token = done.json()["session_token"]
        assert done.json()["session"]["identity"]["id"] == identity_id
        whoami = await public.get("/sessions/whoami", headers={"X-Session-Token": token})
        assert whoami.status_code == 200
        assert [m["method"] for m in whoami.json()["authentication_methods"]] == ["magic"]

        again = await public.get("/magic/callback", params={"flow": flow["id"], "identity": identity_id})
        assert again.status_code == 400
        assert [m["id"] for m in again.json()["ui"]["messages"]] == [4010007]


async def test_a_plugin_route_finishes_a_browser_login_with_cookie_and_redirect(kratos_app_factory: Any, tmp_path: Any) -> None:
    app = await kratos_app_factory(_config(tmp_path), plugins=[MagicPlugin()])
    async with clients(app) as (public, admin):
        identity_id = await _identity(admin, "browser@example.org")
        init = await public.get("/self-service/login/browser", params={"return_to": "http://127.0.0.1:4455/after"})
        assert init.status_code == 303
        flow_id = init.headers["location"].split("flow=")[1]
        done = await public.get("/magic/callback", params={"flow": flow_id, "identity": identity_id})
        assert done.status_code == 303
        assert done.headers["location"] == "http://127.0.0.1:4455/after"
        whoami = await public.get("/sessions/whoami")  # the client kept the session cookie
        assert whoami.status_code == 200
        assert whoami.json()["identity"]["id"] == identity_id


async def test_a_login_flow_becomes_a_registration_that_stores_the_identity(kratos_app_factory: Any, tmp_path: Any) -> None:
    app = await kratos_app_factory(_config(tmp_path), plugins=[MagicPlugin()])
    async with clients(app) as (public, admin):
        flow = (await public.get("/self-service/login/api")).json()
        done = await public.get("/magic/callback", params={"flow": flow["id"], "email": "new@example.org"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["identity"]["traits"] == {"email": "new@example.org"}
        assert body["session_token"]
        # Stored: no installed method reads the schema's identifiers here, so look it up by id.
        listed = await admin.get("/admin/identities")
        assert [(i["id"], i["traits"]) for i in listed.json()] == [(body["identity"]["id"], {"email": "new@example.org"})]


async def test_invalid_traits_are_shown_on_the_registration_flow_and_nothing_is_stored(
    kratos_app_factory: Any, tmp_path: Any
) -> None:
    app = await kratos_app_factory(_config(tmp_path), plugins=[MagicPlugin()])
    async with clients(app) as (public, admin):
        flow = (await public.get("/self-service/registration/api")).json()
        shown = await public.get(
            "/magic/callback", params={"flow": flow["id"], "kind": "registration", "email": "not-an-email"}
        )
        assert shown.status_code == 400
        email_node = next(n for n in shown.json()["ui"]["nodes"] if n["attributes"]["name"] == "traits.email")
        assert [m["id"] for m in email_node["messages"]] == [4000040]  # not a valid email address
        assert (await admin.get("/admin/identities")).json() == []
