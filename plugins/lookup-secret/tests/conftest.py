"""Fixtures and helpers: apps with the lookup_secret method and the testing kit's stub first factor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from kratos_core.testing import FlowDriver, StubFirstFactorPlugin, clients, default_config, merge

import kratos_lookup_secret.plugin as PLUGIN


def lookup_config(directory: Path, **extra: Any) -> dict[str, Any]:
    config = default_config(
        directory,
        selfservice={"methods": {"lookup_secret": {"enabled": True}, "stub_first_factor": {"enabled": True}}},
    )
    return merge(config, extra)


class Lookup:
    """Clients, the flow driver and shortcuts for one app."""

    def __init__(self, app: Any, public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
        self.app, self.public, self.admin = app, public, admin
        self.flows = FlowDriver(public, admin, None, app)

    async def signed_in(self, email: str = "jane@example.org") -> tuple[str, str]:
        identity = (await self.flows.create_identity({"email": email})).json()
        token = (await self.flows.login_stub(identity["id"])).json()["session_token"]
        return identity["id"], token

    async def aal1(self, identity_id: str) -> str:
        return (await self.flows.login_stub(identity_id)).json()["session_token"]

    async def settings(self, token: str) -> dict[str, Any]:
        response = await self.public.get("/self-service/settings/api", headers={"X-Session-Token": token})
        assert response.status_code == 200, response.text
        return response.json()

    async def submit_settings(self, token: str, flow_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.public.post(
            "/self-service/settings", params={"flow": flow_id}, json=body, headers={"X-Session-Token": token}
        )

    async def set_up(self, token: str) -> list[str]:
        """Regenerate and confirm in one settings flow; the codes shown."""
        flow = await self.settings(token)
        shown = await self.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_regenerate": True})
        assert shown.status_code == 200, shown.text
        text = next(n for n in shown.json()["ui"]["nodes"] if n["attributes"].get("id") == "lookup_secret_codes")
        listed = [s["context"]["secret"] for s in text["attributes"]["text"]["context"]["secrets"]]
        done = await self.submit_settings(token, flow["id"], {"method": "lookup_secret", "lookup_secret_confirm": True})
        assert done.status_code == 200, done.text
        return listed

    async def use(self, token: str, code: str, expect: int | None = None) -> httpx.Response:
        flow = await self.flows.init("login", session_token=token, aal="aal2")
        return await self.flows.submit(
            "login", flow["id"], {"method": "lookup_secret", "lookup_secret": code}, session_token=token, expect=expect
        )




@pytest.fixture
async def kl_app(kratos_app_factory: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """Build more apps: ``await kl_app(**extra_config)`` gives a :class:`Lookup`."""
    async with AsyncExitStack() as stack:

        async def build(**extra: Any) -> Lookup:
            app = await kratos_app_factory(lookup_config(tmp_path, **extra), plugins=[PLUGIN, StubFirstFactorPlugin()])
            public, admin = await stack.enter_async_context(clients(app))
            return Lookup(app, public, admin)

        yield build


@pytest.fixture
async def kl(kl_app: Any) -> Lookup:
    """One app with the default test config."""
    return await kl_app()
