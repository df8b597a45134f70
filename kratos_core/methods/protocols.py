"""What a login or registration method implements, and the small objects it is handed.

A method object (registered through ``kratos_register_methods``) takes part in a flow kind by
implementing that kind's protocol, as Kratos's strategies do:

* :class:`LoginMethod`: add nodes to a new login flow; check a submit whose ``method`` is yours.
* :class:`RegistrationMethod`: add nodes to a new registration flow; turn a submit whose
  ``method`` is yours into a new identity with your credential.
* :class:`VerificationMethod` and :class:`RecoveryMethod`: add nodes to a new flow; send a code
  or link to an address; check what comes back and hand the engine a proof (an
  :class:`AddressProof` or :class:`RecoveryProof`) that it turns into a verified address or a
  recovery session.

The engine owns everything else: expiry, CSRF, the identity lookup and persistence, sessions,
hooks and every response. A method steers the flow only through its return value and the
flow-error family (:mod:`kratos_core.flows.errors`): raise ``FlowValidationError`` for messages
the user can act on (wrong password, policy violations), any other ``KratosError`` to abort.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlencode

from ..identity.model import Identity, RecoveryAddress, VerifiableAddress, utcnow
from ..identity.normalize import normalize_identifier
from ..identity.validation import TraitsValidationError
from ..persistence import identities as identity_store
from ..ui.text import TextMessage

if TYPE_CHECKING:  # pragma: no cover
    from litestar import Request

    from ..app import KratosApp
    from ..config import Config
    from ..flows.model import Flow
    from ..identity.schema import IdentitySchema
    from ..services import Services

__all__ = [
    "RegistrationStep",
    "ShowFlow",
    "SHOW_FLOW",
    "LoginResult",
    "RegistrationResult",
    "LoginContext",
    "RegistrationContext",
    "LoginMethod",
    "RegistrationMethod",
    "AddressProof",
    "RecoveryProof",
    "AdminRecovery",
    "RestartFlow",
    "VerificationContext",
    "RecoveryContext",
    "VerificationMethod",
    "RecoveryMethod",
]

#: Which form a registration flow shows: ``unified`` (one form with traits and every method),
#: ``profile`` (two-step, first screen: traits only) or ``credentials`` (two-step, second screen:
#: traits hidden, credential methods shown).
RegistrationStep = Literal["unified", "profile", "credentials"]


class ShowFlow:
    """Returned by a method that changed the flow and wants it shown again (an intermediate step
    such as the credential selection of two-step registration, or "code sent").

    The client gets the flow with HTTP 400 (JSON, API) or a 303 back to the UI (browsers), like
    any step that is not the final success (pitfall 1).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "SHOW_FLOW"


#: The one :class:`ShowFlow` instance.
SHOW_FLOW = ShowFlow()


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful login submit.

    Attributes:
        identity: The identity that proved itself (loaded through :meth:`LoginContext.find_identity`).
        method: The credential type recorded in the session's ``authentication_methods``.
        aal: The assurance level this method provides (``aal1`` for first factors).
    """

    identity: Identity
    method: str
    aal: str = "aal1"


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """A registration submit that produced a complete identity for the engine to store.

    Attributes:
        identity: From :meth:`RegistrationContext.new_identity`, with the method's credential
            config filled in.
        method: The credential type recorded in the session's ``authentication_methods``.
    """

    identity: Identity
    method: str


class _FlowContext:
    """What every method call gets: the app, the flow, the request and the identity schema."""

    def __init__(self, app: KratosApp, flow: Flow, request: Request, schema: IdentitySchema) -> None:
        self.app = app
        self.flow = flow
        self.request = request
        self.schema = schema

    @property
    def config(self) -> Config:
        """The server configuration."""
        return self.app.config

    @property
    def services(self) -> Services:
        """Identities, sessions, one-time secrets, the outbox and transactions (the plugin API)."""
        return self.app.services

    @property
    def is_browser(self) -> bool:
        """Whether the flow is a browser flow (some methods, e.g. WebAuthn, only work there)."""
        return self.flow.type == "browser"


class LoginContext(_FlowContext):
    """A login flow being built or submitted.

    Attributes:
        app: The server (config, identities, database).
        flow: The flow; add nodes to ``flow.ui`` when populating.
        request: The HTTP request.
        schema: The flow's identity schema.
        session: The request's current session for ``refresh`` and ``aal2`` flows, else None.
        identity: The identity of that session, else None.
    """

    def __init__(
        self,
        app: KratosApp,
        flow: Flow,
        request: Request,
        schema: IdentitySchema,
        *,
        session: Any = None,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(app, flow, request, schema)
        self.session = session
        self.identity = identity

    @property
    def requested_aal(self) -> str:
        return str(self.flow.data.get("requested_aal", "aal1"))

    @property
    def refresh(self) -> bool:
        return bool(self.flow.data.get("refresh"))

    async def find_identity(self, identifier: str, credential_type: str) -> Identity | None:
        """The identity whose ``credential_type`` credential has this identifier, or None.

        The identifier is normalised as stored (trim, NFKC, full-width folding, lower case,
        E.164); as Kratos does for rows written before normalisation, the raw value is tried too
        (kratos-behaviour.md section 5.2).
        """
        if not isinstance(identifier, str) or not identifier.strip():
            return None
        db = self.app.db
        candidates = dict.fromkeys([normalize_identifier(identifier), identifier])
        for candidate in candidates:
            found = await identity_store.find_identity_by_identifier(db, candidate, credential_type)
            if found is not None:
                return found
        return None

    async def save_identity(self, identity: Identity) -> None:
        """Store a changed credential (e.g. a password re-hashed after a successful login)."""
        await self.app.identities.save(identity, source="login")


class RegistrationContext(_FlowContext):
    """A registration flow being built or submitted.

    Attributes:
        app: The server.
        flow: The flow; add nodes to ``flow.ui`` when populating.
        request: The HTTP request.
        schema: The identity schema new identities get.
        step: Which form is being built (see :data:`RegistrationStep`).
    """

    def __init__(
        self,
        app: KratosApp,
        flow: Flow,
        request: Request,
        schema: IdentitySchema,
        *,
        step: RegistrationStep,
        render: Callable[[RegistrationStep, Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        super().__init__(app, flow, request, schema)
        self.step = step
        self._render = render

    async def new_identity(self, traits: Any) -> Identity:
        """A new, not yet stored identity with validated traits and derived identifiers.

        Identifiers, verifiable and recovery addresses come from the schema's ``ory.sh/kratos``
        extension; a ``password`` (and ``code``) credential holding the identifiers exists
        already, its ``config`` is for the method to fill.

        Raises:
            FlowValidationError: The traits break the schema (messages on the trait nodes).
        """
        return await self.services.flows.new_identity(self.flow, traits, schema=self.schema)

    async def show_step(self, step: RegistrationStep, traits: Mapping[str, Any]) -> None:
        """Rebuild the flow's form for ``step`` with ``traits`` filled in (two-step registration)."""
        await self._render(step, traits)


@runtime_checkable
class LoginMethod(Protocol):
    """A method users can sign in with (password, code, oidc, webauthn ...).

    Attributes:
        id: The method id; a submit is handed to the method whose id equals the body's ``method``.
    """

    id: str

    def populate_login(self, ctx: LoginContext) -> None:
        """Add this method's nodes to a new login flow (``ctx.flow.ui``); may be async.

        Called for every enabled method when a flow is created, in Kratos's strategy order.
        For ``refresh`` flows ``ctx.identity`` is set: add nodes only if it has your credential.
        Use ``ui.upsert`` for the shared ``identifier`` node and ``ui.append`` for submit
        buttons (several methods add a ``method`` node).
        """

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult | ShowFlow:
        """Check a submit whose ``method`` is this method's id.

        Args:
            ctx: The flow and its request.
            body: The decoded body (JSON or form, dotted keys nested).

        Returns:
            A :class:`LoginResult` when the user proved their identity; :data:`SHOW_FLOW` after
            an intermediate step (code sent) that changed ``ctx.flow``.

        Raises:
            FlowValidationError: Wrong credentials and other problems the user can fix; use
                the same message (4000006) for unknown identifiers and wrong secrets.
        """


@runtime_checkable
class RegistrationMethod(Protocol):
    """A method users can sign up with (password, code, oidc, passkey ...).

    Attributes:
        id: The method id; a submit is handed to the method whose id equals the body's ``method``.
    """

    id: str

    def populate_registration(self, ctx: RegistrationContext) -> None:
        """Add this method's nodes to the registration form for ``ctx.step``; may be async.

        Credential methods add their nodes for ``unified`` and ``credentials`` and usually
        nothing for ``profile`` (social sign-in buttons are the exception). The engine adds the
        ``csrf_token`` and trait nodes.
        """

    async def register(self, ctx: RegistrationContext, body: Mapping[str, Any]) -> RegistrationResult | ShowFlow:
        """Handle a submit whose ``method`` is this method's id.

        Call :meth:`RegistrationContext.new_identity` with ``body["traits"]``, check and store
        your secret in ``identity.credentials[<type>].config`` and return the identity; the
        engine stores it, its credentials and addresses and the session in one transaction.

        Returns:
            A :class:`RegistrationResult`, or :data:`SHOW_FLOW` after an intermediate step.

        Raises:
            FlowValidationError: Missing or unacceptable input (messages on the nodes).
        """


# ---------------------------------------------------------------------------------------------
# Verification and recovery (kratos-behaviour.md sections 1.8, 1.9, 6.2 and 6.3)


@dataclass(frozen=True, slots=True)
class AddressProof:
    """A verification submit proved that the user controls an address.

    The engine then, in one transaction, uses up ``secret`` and marks the address verified;
    a secret another request used first turns into a replacement flow.

    Attributes:
        identity_id: The identity owning the address.
        via: ``email`` or ``sms``.
        value: The address as stored.
        secret: The code or link token that proved it, not yet used
            (:class:`kratos_core.persistence.codes.OneTimeSecret`).
    """

    identity_id: uuid.UUID
    via: str
    value: str
    secret: Any


@dataclass(frozen=True, slots=True)
class RecoveryProof:
    """A recovery submit proved that the user may take over an identity.

    Attributes:
        identity_id: The identity being recovered.
        secret: The code or link token that proved it, not yet used.
        method: The session's authentication method: ``code_recovery`` or ``link_recovery``.
        address: ``(via, value)`` of the recovery address the secret was sent to; its
            verifiable twin is marked verified. None for secrets an administrator created,
            which prove nothing about an address.
    """

    identity_id: uuid.UUID
    secret: Any
    method: str
    address: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AdminRecovery:
    """What ``POST /admin/recovery/code`` or ``/link`` hands to the administrator.

    Attributes:
        link: The recovery link (the recovery UI with the flow for codes; the submit URL with
            ``token`` for links).
        expires_at: When the code or link stops working.
        code: The recovery code (code method only).
    """

    link: str
    expires_at: Any
    code: str | None = None


class RestartFlow(Exception):
    """The flow cannot go on; the engine replaces it with a new flow showing ``message``.

    Raise it from a verification or recovery method for what Kratos answers with a fresh flow:
    an invalid or used link (4060004 / 4070001), a flow in a failure state. The engine also
    restarts on its own for a replayed finished flow and for codes used up or guessed too
    often (kratos-behaviour.md section 3.3).

    Args:
        message: The message the new flow carries.
    """

    def __init__(self, message: TextMessage) -> None:
        super().__init__(message.text)
        self.message = message


class _ChallengeContext(_FlowContext):
    """What verification and recovery methods share: links, secrets keys, messages."""

    kind = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """``secrets.cookie``: the first one digests new codes, all of them check codes."""
        return self.app.config.secrets_for("cookie")

    @property
    def notify_unknown_recipients(self) -> bool:
        """Whether unknown addresses get an "invalid" message (``<flow>.notify_unknown_recipients``)."""
        return bool(getattr(self.app.config.selfservice.flows, self.kind).notify_unknown_recipients)

    def link(self, **query: str) -> str:
        """The flow's submit URL with ``query`` (``code=`` or ``token=``), as sent in messages."""
        base = f"{self.app.public_base_url.rstrip('/')}/self-service/{self.kind}"
        return f"{base}?{urlencode({'flow': str(self.flow.id), **query})}"

    def template_data(self, to: str, **fields: Any) -> dict[str, Any]:
        """The template fields every message of this flow has, plus ``fields`` (section 8.2)."""
        flow = self.flow
        return {"to": to, "request_url": flow.request_url, "transient_payload": flow.transient_payload or {}, **fields}

    def identity_data(self, identity: Identity) -> dict[str, Any]:
        """The identity as templates see it (never credentials or admin metadata)."""
        from ..identity.model import identity_public_dict

        return identity_public_dict(identity, self.app.public_base_url)

    async def queue_message(
        self,
        conn: Any,
        *,
        recipient: str,
        template_type: str,
        template_data: Mapping[str, Any],
        channel: str = "email",
    ) -> None:
        """Queue a message in the caller's transaction (``services.outbox``)."""
        await self.services.outbox.queue(
            conn,
            recipient=recipient,
            template_type=template_type,
            template_data=template_data,
            channel=channel,
        )

    async def _owner(self, kind: str, via: str, value: str) -> Identity | None:
        candidates = dict.fromkeys([normalize_identifier(value), value.strip()])
        for candidate in candidates:
            owner = await identity_store.address_owner(self.app.db, kind, via, candidate)
            if owner is not None:
                return await identity_store.get_identity(self.app.db, owner)
        return None


class VerificationContext(_ChallengeContext):
    """A verification flow being built or submitted.

    Attributes:
        app: The server.
        flow: The flow; change ``flow.ui`` and ``flow.state`` when sending.
        request: The HTTP request.
        schema: The default identity schema.
    """

    kind = "verification"

    async def find_address(self, value: str) -> tuple[Identity, VerifiableAddress] | None:
        """The identity and verifiable address ``value`` names (an ``@`` means email, else SMS)."""
        if not isinstance(value, str) or not value.strip():
            return None
        via = "email" if "@" in value else "sms"
        identity = await self._owner("verifiable", via, value)
        if identity is None:
            return None
        wanted = {normalize_identifier(value), value.strip()}
        address = next((a for a in identity.verifiable_addresses if a.via == via and a.value in wanted), None)
        return (identity, address) if address is not None else None

    async def mark_sent(self, conn: Any, identity: Identity, address: VerifiableAddress) -> None:
        """A code or link went out: a ``pending`` address becomes ``sent`` (Kratos does so).

        Delivery bookkeeping in the sending transaction, not a change of the identity: no
        identity hooks or events (Kratos runs none either).
        """
        from ..services import _conn

        await identity_store.mark_address_sent(_conn(conn), identity.id, address.via, address.value)


class RecoveryContext(_ChallengeContext):
    """A recovery flow being built or submitted (also for administrator-issued codes and links).

    Attributes:
        app: The server.
        flow: The flow; change ``flow.ui`` and ``flow.state`` when sending.
        request: The HTTP request.
        schema: The default identity schema.
    """

    kind = "recovery"

    async def find_address(self, value: str) -> tuple[Identity, RecoveryAddress] | None:
        """The active identity and the recovery email address ``value`` names, else None.

        Recovery (v1) only knows email addresses; a disabled identity is treated as unknown so
        the answer does not reveal it.
        """
        if not isinstance(value, str) or not value.strip():
            return None
        identity = await self._owner("recovery", "email", value)
        if identity is None or not identity.active:
            return None
        wanted = {normalize_identifier(value), value.strip()}
        address = next((a for a in identity.recovery_addresses if a.via == "email" and a.value in wanted), None)
        return (identity, address) if address is not None else None


@runtime_checkable
class VerificationMethod(Protocol):
    """A method that proves control of an address (``code``, ``link``).

    Only the method named by ``selfservice.flows.verification.use`` takes part in verification
    flows (as in Kratos); it must also be enabled.

    Attributes:
        id: The method id (``code`` or ``link``), also the submit body's ``method``.
    """

    id: str

    def populate_verification(self, ctx: VerificationContext) -> None:
        """Add the address form to a new verification flow (state ``choose_method``); may be async."""

    async def verify(self, ctx: VerificationContext, body: Mapping[str, Any]) -> AddressProof | ShowFlow:
        """Handle a submit (or a link's GET) on a flow that is not finished yet.

        Args:
            ctx: The flow and its request.
            body: The decoded body (query parameters for a GET).

        Returns:
            :data:`SHOW_FLOW` after sending a code or link (state ``sent_email``; unknown
            addresses get exactly the same answer) or after a wrong code (a message on the
            flow); an :class:`AddressProof` when the code or token matched.

        Raises:
            FlowValidationError: Missing input (e.g. no ``email``): the flow is shown with 400.
            RestartFlow: The flow must be replaced (invalid link ...).
            CodeAlreadyUsed, TooManySubmissions: From :mod:`kratos_core.persistence.codes`; the
                engine replaces the flow and shows the reason.
        """

    async def send_verification(self, ctx: VerificationContext, identity: Identity, address: VerifiableAddress) -> None:
        """Send a code or link for a known address on ``ctx.flow`` and render the "sent" form.

        Used by the ``verification`` action, which creates the flow (stored already) for an
        address right after registration or login. The method writes in its own transaction;
        the engine stores the flow afterwards.
        """


@runtime_checkable
class RecoveryMethod(Protocol):
    """A method that lets a user regain access through a recovery address (``code``, ``link``).

    Only the method named by ``selfservice.flows.recovery.use`` takes part in recovery flows;
    it must also be enabled.

    Attributes:
        id: The method id, also the submit body's ``method``.
        secret_lifespan: How long its codes or links work (``selfservice.methods.<id>.config.lifespan``);
            the default of the admin API's ``expires_in``.
    """

    id: str
    secret_lifespan: Any

    def populate_recovery(self, ctx: RecoveryContext) -> None:
        """Add the address form to a new recovery flow (state ``choose_method``); may be async."""

    async def recover(self, ctx: RecoveryContext, body: Mapping[str, Any]) -> RecoveryProof | ShowFlow:
        """Handle a submit (or a link's GET) on a flow that is not finished yet.

        Returns:
            :data:`SHOW_FLOW` after sending (state ``sent_email``; unknown addresses get the same
            answer and nothing, or an "invalid" notice, is sent) or after a wrong code; a
            :class:`RecoveryProof` when the code or token matched.

        Raises:
            FlowValidationError, RestartFlow, CodeAlreadyUsed, TooManySubmissions: As for
                :meth:`VerificationMethod.verify`.
        """

    async def issue_admin_recovery(
        self, ctx: RecoveryContext, conn: Any, identity: Identity, lifespan: Any
    ) -> AdminRecovery:
        """Create a code or link for ``identity`` on the stored flow ``ctx.flow`` (admin API).

        Write the secret through ``conn`` (the engine's transaction, which stores the flow's new
        form afterwards), move the flow to ``sent_email`` and render the form the user will see.

        Args:
            ctx: The new flow (skips CSRF checks; lives exactly ``lifespan``).
            conn: The engine's open transaction.
            identity: Whose access the secret grants.
            lifespan: The admin's ``expires_in`` or :attr:`secret_lifespan`; the secret should
                expire with the flow (``ctx.flow.expires_at``).

        Returns:
            The link (and code) the administrator hands over.
        """


# ---------------------------------------------------------------------------------------------
# Settings (kratos-behaviour.md sections 1.7, 6.1 and 6.9)

__all__ += ["SettingsResult", "SettingsContext", "SettingsMethod"]


@dataclass(frozen=True, slots=True)
class SettingsResult:
    """A settings submit that changed the identity; the engine checks and stores the change.

    Attributes:
        identity: :attr:`SettingsContext.identity` with the method's change applied.
        method: The method id (``profile``, ``password`` ...); picks ``after.<method>`` hooks.
        proved_aal: Set when the change itself proved a factor (the code of a newly set-up
            TOTP device, confirmed backup codes): once the identity is stored, the engine
            records ``method`` at this level on the current session, as Kratos does, so
            setting up a second factor makes the session ``aal2``. None for other changes.
    """

    identity: Identity
    method: str
    proved_aal: str | None = None


class SettingsContext(_FlowContext):
    """A settings flow being built or submitted for the session's own identity.

    Attributes:
        app: The server.
        flow: The flow; add nodes to ``flow.ui`` when populating.
        request: The HTTP request.
        schema: The identity's schema.
        session: The request's session (its identity owns the flow).
        identity: The identity with credentials. While populating it is the stored identity:
            read it only. On submit it is a private copy: change it and return it in a
            :class:`SettingsResult`; nothing is stored unless the engine stores it.
    """

    def __init__(
        self,
        app: KratosApp,
        flow: Flow,
        request: Request,
        schema: IdentitySchema,
        *,
        session: Any,
        identity: Identity,
    ) -> None:
        super().__init__(app, flow, request, schema)
        self.session = session
        self.identity = identity

    @property
    def privileged(self) -> bool:
        """Whether the session is recent enough for protected changes (section 1.7).

        True while ``authenticated_at + selfservice.flows.settings.privileged_session_max_age``
        lies in the future.
        """
        max_age = self.app.config.selfservice.flows.settings.privileged_session_max_age
        return self.session.authenticated_at + max_age > utcnow()

    def require_privileged(self) -> None:
        """Refuse the change unless :attr:`privileged` (credential changes call this first).

        Raises:
            kratos_core.errors.Forbidden: ``session_refresh_required``; browsers are sent to a
                refresh login that returns to this flow.
        """
        from ..flows.settings_errors import session_refresh_required

        if not self.privileged:
            raise session_refresh_required(self.app.public_base_url, self.flow.id)

    async def replace_traits(self, traits: Any) -> Identity:
        """Replace :attr:`identity`'s traits wholesale and re-derive identifiers and addresses.

        New verifiable addresses start ``pending``; existing ones keep their state. Whether the
        change touches protected data (identifiers, addresses) is checked by the engine.

        Raises:
            FlowValidationError: The traits break the schema (messages on the trait nodes);
                :attr:`identity` is unchanged then.
        """
        from ..flows.errors import FlowValidationError

        previous = self.identity.traits
        self.identity.traits = traits
        try:
            await self.app.identities.revalidate(self.identity)
        except TraitsValidationError as exc:
            self.identity.traits = previous
            raise FlowValidationError.from_traits(exc.issues) from exc
        return self.identity


@runtime_checkable
class SettingsMethod(Protocol):
    """A method whose data users change in the settings flow (profile, password, totp ...).

    Attributes:
        id: The method id; a submit is handed to the method whose id equals the body's ``method``.
    """

    id: str

    def populate_settings(self, ctx: SettingsContext) -> None:
        """Add this method's section to a settings form (``ctx.flow.ui``); may be async.

        Called for every enabled method, in Kratos's strategy order, when a flow is created and
        again after each successful change (the form is rebuilt from the stored identity). The
        engine adds ``csrf_token`` and sorts the nodes (section 2.5).
        """

    async def update_settings(self, ctx: SettingsContext, body: Mapping[str, Any]) -> SettingsResult | ShowFlow:
        """Apply a submit whose ``method`` is this method's id to ``ctx.identity``.

        Call :meth:`SettingsContext.require_privileged` before changing a credential. The engine
        then refuses protected changes from a session that is not privileged, runs
        ``kratos_settings_pre_persist``, stores the identity, marks the flow ``success`` and runs
        the ``after`` hooks.

        Returns:
            A :class:`SettingsResult`, or :data:`SHOW_FLOW` after an intermediate step that
            changed ``ctx.flow`` only (shown with HTTP 200, or a redirect to the UI).

        Raises:
            FlowValidationError: Input the user can fix (messages on the nodes).
            kratos_core.errors.KratosError: Abort; a 400 becomes a message on the flow.
        """
