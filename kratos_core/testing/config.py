"""The config test apps start from: the quickstart's shape on an in-memory database.

Everything a test needs and nothing it does not: one identity schema with an email trait (a
password, code and stub first factor identifier, verification and recovery address), fast hashing, and the
``password`` and ``code`` methods switched off so a plugin under test runs alone (Kratos enables
both by default; without their plugins the core would only warn).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["IDENTITY_SCHEMA", "PUBLIC_URL", "ADMIN_URL", "default_config", "merge"]

#: Base URL of the public API in test apps (nothing listens there: clients use ASGI transports).
PUBLIC_URL = "http://127.0.0.1:4433"
#: Base URL of the admin API in test apps.
ADMIN_URL = "http://127.0.0.1:4434"

#: The identity schema of test apps: ``traits.email`` (required) and ``traits.name.first/last``.
IDENTITY_SCHEMA: dict[str, Any] = {
    "$id": "https://schemas.example.org/kratos-core/testing/identity.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Person",
    "type": "object",
    "properties": {
        "traits": {
            "type": "object",
            "properties": {
                "email": {
                    "type": "string",
                    "format": "email",
                    "title": "E-Mail",
                    "minLength": 3,
                    "ory.sh/kratos": {
                        "credentials": {
                            "password": {"identifier": True},
                            "code": {"identifier": True, "via": "email"},
                            # Read only by the testing kit's stub first factor.
                            "stub_first_factor": {"identifier": True},
                        },
                        "verification": {"via": "email"},
                        "recovery": {"via": "email"},
                    },
                },
                "name": {
                    "type": "object",
                    "properties": {
                        "first": {"type": "string", "title": "First name"},
                        "last": {"type": "string", "title": "Last name"},
                    },
                },
            },
            "required": ["email"],
            "additionalProperties": False,
        }
    },
}


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into a copy of ``base`` (mappings merge, everything else replaces).

    Args:
        base: The config to start from; not changed.
        extra: Sections to add or override.

    Returns:
        A new dict.
    """
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config(directory: Path, **sections: Any) -> dict[str, Any]:
    """A complete test config; the identity schema is written into ``directory``.

    Args:
        directory: Where to write ``identity.schema.json`` (a test's ``tmp_path``).
        **sections: Top-level sections merged over the defaults, e.g.
            ``selfservice={"methods": {"totp": {"enabled": True}}}``.

    Returns:
        A config dict, ready for :class:`kratos_core.testing.AppFactory`.
    """
    schema_file = Path(directory) / "identity.schema.json"
    schema_file.write_text(json.dumps(IDENTITY_SCHEMA))
    config: dict[str, Any] = {
        "dsn": "memory",
        "serve": {"public": {"base_url": f"{PUBLIC_URL}/"}, "admin": {"base_url": f"{ADMIN_URL}/"}},
        "selfservice": {
            "default_browser_return_url": "http://127.0.0.1:4455/welcome",
            "allowed_return_urls": ["http://127.0.0.1:4455"],
            "flows": {
                "login": {"ui_url": "http://127.0.0.1:4455/login"},
                "registration": {"ui_url": "http://127.0.0.1:4455/registration"},
                "settings": {"ui_url": "http://127.0.0.1:4455/settings"},
                "recovery": {"ui_url": "http://127.0.0.1:4455/recovery"},
                "verification": {"ui_url": "http://127.0.0.1:4455/verification"},
                "error": {"ui_url": "http://127.0.0.1:4455/error"},
            },
            "methods": {"password": {"enabled": False}, "code": {"enabled": False}},
        },
        "identity": {
            "default_schema_id": "default",
            "schemas": [{"id": "default", "url": f"file://{schema_file}"}],
        },
        "secrets": {"cookie": ["a-test-secret-that-is-long-enough"]},
        # The cheapest hashing the password plugin accepts: tests hash many passwords.
        "hashers": {"algorithm": "argon2", "argon2": {"memory": "1MB", "iterations": 1, "parallelism": 1}},
        "log": {"level": "warning"},
    }
    return merge(config, sections)
