"""What a method object is: the protocol a credential or self-service method implements.

A plugin registers method objects through ``kratos_register_methods``. The core never knows a
concrete method; it calls the protocols below (more per-flow protocols arrive with the flows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..identity.model import Identity

__all__ = ["Method", "CredentialImporter", "KNOWN_METHOD_PACKAGES"]

#: The package that provides each of Kratos's methods, for "install X" hints at start-up.
KNOWN_METHOD_PACKAGES: dict[str, str] = {
    "password": "kratos-password",
    "code": "kratos-code",
    "link": "kratos-code",
    "totp": "kratos-totp",
    "lookup_secret": "kratos-lookup-secret",
    "webauthn": "kratos-webauthn",
    "passkey": "kratos-webauthn",
    "oidc": "kratos-oidc",
    "saml": "kratos-oidc",
    "profile": "kratos-core",
}


@runtime_checkable
class Method(Protocol):
    """A self-service method.

    Attributes:
        id: The method id used in config (``selfservice.methods.<id>``) and in submit bodies
            (``method``).
        credential_type: The credential type it owns on identities (``password``), or None
            for methods without credentials (``profile``).
        config_model: A msgspec Struct type validating ``selfservice.methods.<id>.config``
            (unknown keys forbidden), or None when the method takes no config.
    """

    id: str
    credential_type: str | None
    config_model: type | None

    def configure(self, config: Any, app_config: Config) -> None:
        """Receive the validated config object (an instance of ``config_model``) at start-up."""


@runtime_checkable
class CredentialImporter(Protocol):
    """A method that accepts credentials in admin identity create/update bodies."""

    async def import_credentials(self, identity: Identity, raw: dict[str, Any]) -> dict[str, Any]:
        """Turn the ``credentials.<type>`` object of an admin body into the stored config.

        Args:
            identity: The identity being written (traits already validated).
            raw: The body's ``credentials.<type>`` object, e.g. ``{"config": {"password": ...}}``.

        Returns:
            The credential ``config`` to store.

        Raises:
            kratos_core.errors.BadRequest: the credentials are malformed or not acceptable.
        """
