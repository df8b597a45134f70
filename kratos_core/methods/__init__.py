"""What a method object is: the protocol a credential or self-service method implements.

A plugin registers method objects through ``kratos_register_methods``. The core never knows a
concrete method: it calls the per-flow protocols (:mod:`kratos_core.methods.protocols`) and reads
the *declarations* below to decide what an identity's credentials are worth (session and
available AAL), which traits become identifiers of a credential type, whether a credential is
created just to reserve identifiers, and how a credential is shown on the admin API.

Every declaration has a default in :class:`MethodBase`, so a simple method subclasses it and
states only what differs. Methods that do not subclass it get the same defaults through
:func:`declared`, the one place the core reads declarations from.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..identity.model import Credential, Identity

__all__ = [
    "Method",
    "MethodBase",
    "CredentialImporter",
    "CredentialTraits",
    "REDACTED",
    "declared",
    "methods_by_credential_type",
    "KNOWN_METHOD_PACKAGES",
    "KRATOS_CREDENTIAL_TYPES",
]

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

#: Credential types Kratos's admin API accepts in ``include_credential`` (besides plugins' own).
KRATOS_CREDENTIAL_TYPES = frozenset({
    "password", "oidc", "totp", "lookup_secret", "webauthn", "code", "passkey", "profile", "saml",
    "deviceauthn", "identifier_first", "link_recovery", "code_recovery",
})

#: What :meth:`MethodBase.present_credential` shows instead of a config value.
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class CredentialTraits:
    """What the identity schema says about one credential type, for one identity's traits.

    Built from the ``ory.sh/kratos.credentials.<type>`` blocks of the schema, limited to the
    keys the method declares in :attr:`MethodBase.credential_schema_keys`.

    Attributes:
        identifiers: Normalised values of traits flagged ``identifier: true`` (unique per
            credential type across identities).
        addresses: Sorted, unique ``(via, address)`` pairs of those identifier traits, ``via``
            from the block or inferred from the format (``tel`` -> ``sms``, else ``email``);
            only when the method reads ``via``.
        values: Every other declared key flagged ``true`` (``account_name``, ``display_name``
            ...) to the trait values as entered, in schema order.
    """

    identifiers: list[str] = field(default_factory=list)
    addresses: list[tuple[str, str]] = field(default_factory=list)
    values: Mapping[str, list[str]] = field(default_factory=dict)


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

    The declarations (all optional; defaults and meaning in :class:`MethodBase`):
    ``aal``, ``multi_factor_aal2``, ``credential_schema_keys``, ``implicit_credential``,
    ``first_factor(credential)``, ``second_factor(credential)``,
    ``credential_from_traits(config, traits)``, ``present_credential(config)``,
    ``remove_credential(credential, identifier)``, ``import_is_costly(raw)``.
    """

    id: str
    credential_type: str | None
    config_model: type | None

    def configure(self, config: Any, app_config: Config) -> None:
        """Receive the validated config object (an instance of ``config_model``) at start-up."""


class MethodBase:
    """Defaults for every method declaration; subclass it and override what differs.

    The defaults describe a method whose credential counts for nothing (neither factor), reads
    no schema keys, is never created implicitly, and whose config the admin API shows with
    every value redacted.

    Attributes:
        aal: The assurance level a login completed with this method provides when its
            :class:`~kratos_core.methods.protocols.LoginResult` does not say otherwise
            (``aal1`` for first factors, ``aal2`` for second factors).
        multi_factor_aal2: Whether a completion recorded at ``aal2`` counts as *both*
            factors on its own (social sign-in whose provider vouched for MFA). Default False:
            an ``aal2`` completion is a second factor that needs a first one.
        credential_schema_keys: The keys of ``ory.sh/kratos.credentials.<credential_type>`` the
            method reads. ``identifier`` makes the flagged traits identifiers of this credential
            type (the identity manager keeps them in sync with the traits); ``via`` also turns
            them into addresses (:attr:`CredentialTraits.addresses`); any other key
            (``account_name``, ``display_name`` ...) is handed over as flagged trait values.
            Blocks for types no installed method reads are ignored.
        implicit_credential: Whether the identity manager creates an (empty) credential of
            this type as soon as the schema gives it identifiers, so the identifiers are
            reserved before any secret is set (Kratos does so for password and code).
    """

    id: str
    credential_type: str | None = None
    config_model: type | None = None

    aal: str = "aal1"
    multi_factor_aal2: bool = False
    credential_schema_keys: Collection[str] = frozenset()
    implicit_credential: bool = False

    def configure(self, config: Any, app_config: Any) -> None:
        """Receive the validated config object at start-up (default: ignore it)."""

    def first_factor(self, credential: Credential) -> bool:
        """Whether this identity's credential of the method's type can sign in on its own (aal1).

        Called with the method's current config in effect (after :meth:`configure`); a
        credential that only reserves identifiers is not usable. Default: False.
        """
        del credential
        return False

    def second_factor(self, credential: Credential) -> bool:
        """Whether this identity's credential can step a session up to aal2. Default: False.

        An identity holding a usable second factor of an enabled method has the available AAL
        ``aal2``: under ``required_aal: highest_available`` its aal1 sessions are refused.
        """
        del credential
        return False

    def credential_from_traits(self, config: dict[str, Any], traits: CredentialTraits) -> dict[str, Any]:
        """The credential config after the traits changed (identifiers are set by the core).

        Args:
            config: The stored config (empty for a credential created implicitly).
            traits: What the schema says for this credential type and these traits.

        Returns:
            The config to store; the default returns ``config`` unchanged.
        """
        del traits
        return config

    def present_credential(self, config: dict[str, Any]) -> dict[str, Any]:
        """The ``config`` shown by ``include_credential`` on the admin API.

        The default keeps the keys and replaces every value with :data:`REDACTED`, so an
        operator sees what is set without learning a secret. Override to show more (Kratos
        shows the password hash and the code addresses).
        """
        return {key: REDACTED for key in config}

    def remove_credential(self, credential: Credential, identifier: str | None) -> dict[str, Any] | None:
        """``DELETE /admin/identities/{id}/credentials/{type}``: what remains of the credential.

        Args:
            credential: The identity's credential (usable as a first or second factor).
            identifier: The ``identifier`` query parameter, if any.

        Returns:
            The config to keep (the credential stays, e.g. with its identifiers), or None to
            delete the whole credential (the default).

        Raises:
            kratos_core.errors.BadRequest: This credential cannot be deleted this way.
        """
        del credential, identifier
        return None

    def import_is_costly(self, raw: Mapping[str, Any]) -> bool:
        """Whether importing ``raw`` (the ``credentials.<type>`` object of an admin body) is
        expensive (a plaintext password to hash): batch creates limit such items. Default False."""
        del raw
        return False


_DEFAULTS = MethodBase()
_DECLARATIONS = (
    "aal",
    "multi_factor_aal2",
    "credential_schema_keys",
    "implicit_credential",
    "first_factor",
    "second_factor",
    "credential_from_traits",
    "present_credential",
    "remove_credential",
    "import_is_costly",
)


class _Declared:
    """A method's declarations, with :class:`MethodBase`'s defaults for what it leaves out."""

    __slots__ = ("method", *_DECLARATIONS)

    def __init__(self, method: Any) -> None:
        self.method = method
        for name in _DECLARATIONS:
            setattr(self, name, getattr(method, name, getattr(_DEFAULTS, name)))


def declared(method: Any) -> MethodBase:
    """The declarations of ``method`` (itself when it subclasses :class:`MethodBase`)."""
    if isinstance(method, MethodBase):
        return method
    return _Declared(method)  # type: ignore[return-value]


def methods_by_credential_type(methods: Iterable[Any]) -> dict[str, MethodBase]:
    """Map each credential type to the declarations of the method that owns it."""
    return {m.credential_type: declared(m) for m in methods if getattr(m, "credential_type", None)}


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
