"""The built-in ``profile`` method: editing traits in settings, the first step of registration.

It owns no credential and takes no config; its flow behaviour arrives with the settings flow.
"""

from __future__ import annotations

from typing import Any

from .. import hookimpl


class ProfileMethod:
    """The ``profile`` method descriptor."""

    id = "profile"
    credential_type = None
    config_model = None

    def configure(self, config: Any, app_config: Any) -> None:
        del config, app_config


@hookimpl
def kratos_register_methods(register: Any) -> None:
    register(ProfileMethod())
