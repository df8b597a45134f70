"""A first factor without secrets, so second-factor plugins can be tested alone.

A login submit ``{"method": "stub_first_factor", "identity_id": "<uuid>"}`` (or ``"identifier":
"<an identifier of any credential>"``) signs that identity in at ``aal1``; a registration submit
``{"method": "stub_first_factor", "traits": {...}}`` signs up with no secret at all (so flow
actions can be tested on registration without a credential plugin). Never install it in a real
server: it lets anyone sign in as anyone.

It declares (:class:`~kratos_core.methods.MethodBase`) that it reads
``ory.sh/kratos.credentials.stub_first_factor.identifier`` (the testing schema flags the email)
with an implicit credential, so its identifiers exist without any other plugin, and that such a
credential is a first factor.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .. import hookimpl
from ..flows.errors import FlowValidationError
from ..identity.model import Credential, Identity
from ..identity.normalize import normalize_identifier
from ..methods import MethodBase
from ..methods.protocols import LoginContext, LoginResult, RegistrationContext, RegistrationResult
from ..persistence import identities as identity_store
from ..ui import messages
from ..ui.nodes import input_node, submit_node

__all__ = ["STUB_FIRST_FACTOR", "StubFirstFactor", "StubFirstFactorPlugin"]

#: The method id (``selfservice.methods.stub_first_factor.enabled: true`` switches it on).
STUB_FIRST_FACTOR = "stub_first_factor"


class StubFirstFactor(MethodBase):
    """The ``stub_first_factor`` login method: names an identity, gets an aal1 session."""

    id = STUB_FIRST_FACTOR
    credential_type = STUB_FIRST_FACTOR
    config_model = None
    credential_schema_keys = frozenset({"identifier"})
    implicit_credential = True

    def first_factor(self, credential: Credential) -> bool:
        """Any identity the schema gives an identifier can sign in with it."""
        return bool(credential.identifiers)

    def configure(self, config: Any, app_config: Any) -> None:
        del config, app_config

    def populate_login(self, ctx: LoginContext) -> None:
        """An ``identity_id`` input and a submit button, on aal1 flows only."""
        if ctx.requested_aal != "aal1":
            return
        ctx.flow.ui.append(input_node("identity_id", "text", "default", required=True))
        ctx.flow.ui.append(submit_node("method", STUB_FIRST_FACTOR, "default", messages.sign_in()))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult:
        """Sign in the identity the body names; 4000006 when there is none."""
        identity = await self._find(ctx, body)
        if identity is None:
            raise FlowValidationError.on_flow(messages.invalid_credentials())
        return LoginResult(identity=identity, method=STUB_FIRST_FACTOR, aal="aal1")

    def populate_registration(self, ctx: RegistrationContext) -> None:
        """A sign-up button on the credentials (or unified) form."""
        if ctx.step != "profile":
            ctx.flow.ui.append(submit_node("method", STUB_FIRST_FACTOR, "default", messages.sign_up()))

    async def register(self, ctx: RegistrationContext, body: Mapping[str, Any]) -> RegistrationResult:
        """Sign up with the body's ``traits`` (validated against the schema) and no secret."""
        identity = await ctx.new_identity(body.get("traits"))
        return RegistrationResult(identity=identity, method=STUB_FIRST_FACTOR)

    @staticmethod
    async def _find(ctx: LoginContext, body: Mapping[str, Any]) -> Identity | None:
        db = ctx.app.db
        raw_id = body.get("identity_id")
        if isinstance(raw_id, str) and raw_id:
            try:
                return await identity_store.get_identity(db, uuid.UUID(raw_id))
            except ValueError:
                return None
        identifier = body.get("identifier")
        if isinstance(identifier, str) and identifier:
            # Any credential type (its own, or another installed method's).
            ids = await identity_store.find_identity_id_by_identifier(db, normalize_identifier(identifier), None)
            return await identity_store.get_identity(db, ids[0]) if ids else None
        return None


class StubFirstFactorPlugin:
    """The plugin registering :class:`StubFirstFactor` (one method object per app)."""

    @hookimpl
    def kratos_register_methods(self, register: Any) -> None:
        """Register ``stub_first_factor``."""
        register(StubFirstFactor())
