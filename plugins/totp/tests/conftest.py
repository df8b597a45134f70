"""Fixtures and helpers: apps with the totp method and the testing kit's stub first factor (no password plugin needed)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from kratos_core.testing import IDENTITY_SCHEMA, FlowDriver, StubFirstFactorPlugin, clients, default_config, merge

import kratos_totp.plugin as PLUGIN

CIPHER_KEY = "0123456789abcdef0123456789abcdef"


def schema_with_account_name(directory: Path) -> str:
    """The testing schema with ``traits.email`` flagged as the TOTP account name."""
    schema = copy.deepcopy(IDENTITY_SCHEMA)
    email = schema["properties"]["traits"]["properties"]["email"]
    email["ory.sh/kratos"]["credentials"]["totp"] = {"account_name": True}
    path = directory / "totp.schema.json"
    path.write_text(json.dumps(schema))
    return f"file://{path}"


def totp_config(directory: Path, **extra: Any) -> dict[str, Any]:
    config = default_config(
        directory,
        selfservice={"methods": {"totp": {"enabled": True, "config": {"issuer": "Example Corp"}}, "stub_first_factor": {"enabled": True}}},
        identity={"schemas": [{"id": "default", "url": schema_with_account_name(directory)}]},
        ciphers={"algorithm": "xchacha20-poly1305"},
    )
    config["secrets"]["cipher"] = [CIPHER_KEY]
    return merge(config, extra)


class Totp:
    """Clients, the flow driver and a few shortcuts for one app."""

    def __init__(self, app: Any, public: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
        self.app, self.public, self.admin = app, public, admin
        self.flows = FlowDriver(public, admin, None, app)
        self.cipher_key = CIPHER_KEY

    async def signed_in(self, email: str = "jane@example.org") -> tuple[str, str]:
        """A new identity signed in at aal1: (identity id, session token)."""
        identity = (await self.flows.create_identity({"email": email})).json()
        token = (await self.flows.login_stub(identity["id"])).json()["session_token"]
        return identity["id"], token

    async def settings(self, token: str, expect: int = 200) -> httpx.Response:
        response = await self.public.get("/self-service/settings/api", headers={"X-Session-Token": token})
        assert response.status_code == expect, response.text
        return response

    async def submit_settings(self, token: str, flow_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.public.post(
            "/self-service/settings", params={"flow": flow_id}, json=body, headers={"X-Session-Token": token}
        )

    async def set_up(self, token: str) -> pyotp.TOTP:
        """Set up TOTP in settings; the authenticator app made from the flow's secret."""
        flow = (await self.settings(token)).json()
        secret = next(n for n in flow["ui"]["nodes"] if n["attributes"].get("id") == "totp_secret_key")
        app = pyotp.TOTP(secret["attributes"]["text"]["text"])
        done = await self.submit_settings(token, flow["id"], {"method": "totp", "totp_code": app.now()})
        assert done.status_code == 200, done.text
        return app




@pytest.fixture
async def kt_app(kratos_app_factory: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """Build more apps: ``await kt_app(**extra_config)`` gives a :class:`Totp`."""
    async with AsyncExitStack() as stack:

        async def build(**extra: Any) -> Totp:
            app = await kratos_app_factory(totp_config(tmp_path, **extra), plugins=[PLUGIN, StubFirstFactorPlugin()])
            public, admin = await stack.enter_async_context(clients(app))
            return Totp(app, public, admin)

        yield build


@pytest.fixture
async def kt(kt_app: Any) -> Totp:
    """One app with the default test config."""
    return await kt_app()
