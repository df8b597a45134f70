"""The ``code`` method object: one-time codes for verification, recovery, login and sign-up."""

from __future__ import annotations

from typing import Any

from kratos_core.flows import codes

from kratos_code.challenge import CodeChallenges
from kratos_code.config import CodeConfig
from kratos_code.passwordless import PasswordlessCode

__all__ = ["CodeMethod"]


class CodeMethod(CodeChallenges, PasswordlessCode):
    """The ``code`` method registered with the plugin host.

    It implements :class:`~kratos_core.methods.protocols.VerificationMethod` and
    :class:`~kratos_core.methods.protocols.RecoveryMethod` (used when a flow's ``use`` is
    ``code``, Kratos's default), and :class:`~kratos_core.methods.protocols.LoginMethod` and
    :class:`~kratos_core.methods.protocols.RegistrationMethod` (active only with
    ``selfservice.methods.code.passwordless_enabled``).

    Attributes:
        id: ``code``.
        credential_type: ``code`` (its identifiers come from the identity schema).
        config_model: :class:`CodeConfig`.
        config: The validated config (set by :meth:`configure`).
        passwordless: ``selfservice.methods.code.passwordless_enabled``.
    """

    id = "code"
    credential_type = "code"
    config_model = CodeConfig

    def __init__(self) -> None:
        self.config = CodeConfig()
        self.passwordless = False

    def configure(self, config: CodeConfig | None, app_config: Any) -> None:
        """Take the validated config and the passwordless switch (at start-up)."""
        self.config = config if config is not None else CodeConfig()
        section = app_config.selfservice.methods.get("code")
        self.passwordless = bool(section is not None and section.passwordless_enabled)

    async def _check(self, ctx: Any, kind: str, value: str) -> codes.OneTimeSecret:
        return await codes.check_code(
            ctx.app.db,
            keys=ctx.app.config.secrets_for("cookie"),
            flow_id=ctx.flow.id,
            kind=kind,
            value=value,
            max_submissions=self.config.max_submissions,
        )
