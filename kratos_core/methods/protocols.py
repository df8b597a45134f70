"""What a login or registration method implements, and the small objects it is handed.

A method object (registered through ``kratos_register_methods``) takes part in a flow kind by
implementing that kind's protocol, as Kratos's strategies do:

* :class:`LoginMethod`: add nodes to a new login flow; check a submit whose ``method`` is yours.
* :class:`RegistrationMethod`: add nodes to a new registration flow; turn a submit whose
  ``method`` is yours into a new identity with your credential.

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

from ..identity.model import Identity, utcnow
from ..identity.normalize import normalize_identifier
from ..identity.validation import TraitsValidationError
from ..persistence import identities as identity_store

if TYPE_CHECKING:  # pragma: no cover
    from litestar import Request

    from ..app import KratosApp
    from ..config import Config
    from ..flows.model import Flow
    from ..identity.schema import IdentitySchema

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
            ids = await identity_store.find_identity_id_by_identifier(db, candidate, credential_type)
            if ids:
                return await identity_store.get_identity(db, ids[0])
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
        from ..flows.errors import FlowValidationError

        now = utcnow()
        identity = Identity(
            id=uuid.uuid4(),
            schema_id=self.schema.id,
            traits={} if traits is None else traits,
            state="active",
            state_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.app.identities.revalidate(identity)
        except TraitsValidationError as exc:
            raise FlowValidationError.from_traits(exc.issues) from exc
        return identity

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
