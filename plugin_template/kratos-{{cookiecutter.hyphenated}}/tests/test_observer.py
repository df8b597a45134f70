"""The observer's audit records for identity writes and events."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
from kratos_core.api import ConfigError
from kratos_core.testing import FlowDriver, clients, merge

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

LOGGER = "kratos.{{ cookiecutter.underscored }}"


def audit(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, Any]]]:
    return [(r.audit_event, r.audit_data) for r in caplog.records if r.name == LOGGER]


async def test_creating_and_deleting_an_identity_is_audited(kratos_flows: Any, kratos_admin: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    created = await kratos_flows.create_identity({"email": "audit@example.org"})
    identity_id = created.json()["id"]
    assert (await kratos_admin.delete(f"/admin/identities/{identity_id}")).status_code == 204
    assert audit(caplog) == [
        ("identity.create", {"identity_id": identity_id, "source": "admin"}),
        ("identity.created", {"identity_id": identity_id, "source": "admin"}),
        ("identity.delete", {"identity_id": identity_id, "source": "admin"}),
        ("identity.deleted", {"identity_id": identity_id, "source": "admin"}),
    ]


async def test_traits_never_reach_the_log(kratos_flows: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await kratos_flows.create_identity({"email": "secret-address@example.org"})
    assert "secret-address" not in caplog.text


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"event": ["x"]}, {{ cookiecutter.class_name }}Config)


async def test_the_config_section_chooses_what_is_recorded(
    kratos_app_factory: Any, kratos_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    section = {"plugins": {"{{ cookiecutter.underscored }}": {"config": {"events": ["identity.deleted"], "identity_writes": False}}}}
    app = await kratos_app_factory(merge(kratos_config, section), plugins=[plugin])
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with clients(app) as (public, admin):
        created = await FlowDriver(public, admin, None, app).create_identity({"email": "audit@example.org"})
        assert (await admin.delete(f"/admin/identities/{created.json()['id']}")).status_code == 204
    assert [event for event, _ in audit(caplog)] == ["identity.deleted"]


async def test_a_typo_in_the_config_section_stops_the_start(kratos_app_factory: Any, kratos_config: dict[str, Any]) -> None:
    section = {"plugins": {"{{ cookiecutter.underscored }}": {"config": {"event": ["identity.deleted"]}}}}
    with pytest.raises(ConfigError, match=r"plugins\.{{ cookiecutter.underscored }}\.config\.event"):
        await kratos_app_factory(merge(kratos_config, section), plugins=[plugin])
