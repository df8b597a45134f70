"""The ``code`` method object: one-time codes for verification, recovery, login and sign-up."""

from __future__ import annotations

from typing import Any

from kratos_code.challenge import CodeChallenges
from kratos_code.config import CodeConfig
from kratos_code.passwordless import PasswordlessCode
from kratos_core.api import BadRequest, Credential, CredentialTraits, MethodBase, OneTimeSecret

__all__ = ["CodeMethod"]


class CodeMethod(CodeChallenges, PasswordlessCode, MethodBase):
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
        mfa: ``selfservice.methods.code.mfa_enabled``.

    Its declarations (:class:`~kratos_core.methods.MethodBase`): identifiers and addresses
    from ``ory.sh/kratos.credentials.code`` (``identifier``, ``via``), reserved by an implicit
    credential whose config lists the addresses; a first factor when passwordless is on and the
    identity has an identifier, a second factor when ``mfa_enabled`` is on and it has an address.
    """

    id = "code"
    credential_type = "code"
    config_model = CodeConfig

    aal = "aal1"
    credential_schema_keys = frozenset({"identifier", "via"})
    implicit_credential = True

    def __init__(self) -> None:
        self.config = CodeConfig()
        self.passwordless = False
        self.mfa = False

    def configure(self, config: CodeConfig | None, app_config: Any) -> None:
        """Take the validated config and the passwordless and MFA switches (at start-up)."""
        self.config = config if config is not None else CodeConfig()
        section = app_config.selfservice.methods.get("code")
        self.passwordless = bool(section is not None and section.passwordless_enabled)
        self.mfa = bool(section is not None and section.mfa_enabled)

    # -- declarations ----------------------------------------------------------------------

    def first_factor(self, credential: Credential) -> bool:
        """A sign-in code can be sent to one of the identifiers (passwordless only)."""
        return self.passwordless and bool(credential.identifiers)

    def second_factor(self, credential: Credential) -> bool:
        """A code can be sent to an address as a second factor (``mfa_enabled`` only)."""
        return self.mfa and bool(credential.config.get("addresses"))

    def credential_from_traits(self, config: dict[str, Any], traits: CredentialTraits) -> dict[str, Any]:
        """The addresses codes go to follow the traits."""
        addresses = [{"channel": via, "address": address} for via, address in traits.addresses]
        return {**config, "addresses": addresses}

    def present_credential(self, config: dict[str, Any]) -> dict[str, Any]:
        """Shown as stored: addresses only, no secret (as Kratos shows it)."""
        return config

    def remove_credential(self, credential: Credential, identifier: str | None) -> dict[str, Any] | None:
        """Refused: the credential follows the traits (change them instead), as in Kratos."""
        del credential, identifier
        raise BadRequest('Credentials of type "code" cannot be deleted.')

    async def _check(self, ctx: Any, kind: str, value: str) -> OneTimeSecret:
        return await ctx.services.secrets.check(
            flow_id=ctx.flow.id,
            kind=kind,
            value=value,
            max_submissions=self.config.max_submissions,
        )
