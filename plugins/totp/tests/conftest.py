"""The ``kt`` fixture: an app with the totp method and the testing kit's stub first factor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kratos_core.testing import StubFirstFactorPlugin, clients
from totp_helpers import Totp, totp_config

import kratos_totp.plugin as totp_plugin


@pytest.fixture
async def kt(kratos_app_factory: Any, tmp_path: Path) -> AsyncIterator[Totp]:
    app = await kratos_app_factory(totp_config(tmp_path), plugins=[totp_plugin, StubFirstFactorPlugin()])
    async with clients(app) as (public, admin):
        yield Totp(app, public, admin)
