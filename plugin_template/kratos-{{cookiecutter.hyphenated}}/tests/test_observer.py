"""The observer's audit records for identity writes and events."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest

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
