"""Writing identities: traits validation, the schema extension, credentials and addresses.

Everything that creates or changes an identity goes through :class:`IdentityManager`, so the
rules hold everywhere: traits are validated against the identity's schema, credential
identifiers and addresses are derived from the ``ory.sh/kratos`` extension, identifiers are
unique per credential type (409 on the admin API), and plugin hooks see every write:
:meth:`IdentityManager.writing` is the one write path (hooks and events fire there, once).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from ..errors import BadRequest, Conflict, NotFound
from ..events import Event, IdentityCreated, IdentityDeleted, IdentityUpdated
from ..methods import CredentialTraits, MethodBase, methods_by_credential_type
from ..persistence import identities as store
from ..persistence.db import Connection, UniqueViolation
from .extension import IDENTIFIER, VIA
from .model import Credential, Identity, RecoveryAddress, VerifiableAddress, utcnow
from .validation import TraitsResult, validate_traits

if TYPE_CHECKING:  # pragma: no cover
    from ..persistence.db import Database
    from ..plugins.manager import PluginHost
    from .schema import SchemaRegistry

__all__ = ["IdentityManager", "IdentityDraft", "CONFLICT_REASON", "Operation"]

#: What an identity write does (``kratos_identity_pre_persist``/``post_persist`` get it).
Operation = Literal["create", "update", "delete"]

CONFLICT_REASON = "This identity conflicts with another identity that already exists."


class IdentityDraft:
    """What an admin body or a flow wants an identity to become (before validation)."""

    def __init__(
        self,
        *,
        schema_id: str,
        traits: Any,
        state: str = "active",
        metadata_public: Any = None,
        metadata_admin: Any = None,
        external_id: str | None = None,
        organization_id: uuid.UUID | None = None,
        verifiable_addresses: list[Mapping[str, Any]] | None = None,
        recovery_addresses: list[Mapping[str, Any]] | None = None,
        credentials: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.schema_id = schema_id
        self.traits = traits
        self.state = state
        self.metadata_public = metadata_public
        self.metadata_admin = metadata_admin
        self.external_id = external_id
        self.organization_id = organization_id
        self.verifiable_addresses = verifiable_addresses
        self.recovery_addresses = recovery_addresses
        self.credentials = credentials or {}


class IdentityManager:
    """Creates, updates and deletes identities under the schema and plugin rules."""

    def __init__(self, db: Database, schemas: SchemaRegistry, plugins: PluginHost) -> None:
        self.db = db
        self.schemas = schemas
        self.plugins = plugins

    @cached_property
    def credential_methods(self) -> dict[str, MethodBase]:
        """Declarations of every registered method by the credential type it owns.

        Registered, not only enabled: identifiers stay reserved while a method is switched off.
        """
        return methods_by_credential_type(self.plugins.methods.items.values())

    def credential_owner(self, ctype: str) -> Any | None:
        """The registered method object owning credential type ``ctype``, if any."""
        return next((m for m in self.plugins.methods.items.values() if m.credential_type == ctype), None)

    # -- reading -----------------------------------------------------------------------------

    async def get(self, identity_id: uuid.UUID, conn: Connection | None = None) -> Identity:
        identity = await store.get_identity(conn or self.db, identity_id)
        if identity is None:
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource")
        return identity

    # -- writing -----------------------------------------------------------------------------

    async def create(self, draft: IdentityDraft, *, source: str = "admin") -> Identity:
        """Validate and store a new identity; 409 when an identifier or address is taken."""
        now = utcnow()
        identity = Identity(
            id=uuid.uuid4(),
            schema_id=draft.schema_id,
            traits={},
            state=_check_state(draft.state),
            state_changed_at=now,
            metadata_public=draft.metadata_public,
            metadata_admin=draft.metadata_admin,
            external_id=draft.external_id or None,
            organization_id=draft.organization_id,
            created_at=now,
            updated_at=now,
        )
        await self._apply_traits(identity, draft.traits, draft.verifiable_addresses, draft.recovery_addresses)
        await self._import_credentials(identity, draft.credentials)
        async with self.writing(identity, "create", source=source):
            pass
        return identity

    async def update(self, identity: Identity, draft: IdentityDraft, *, source: str = "admin") -> Identity:
        """Replace traits, metadata, state, external id and schema; merge imported credentials."""
        if identity.state != _check_state(draft.state):
            identity.state = draft.state
            identity.state_changed_at = utcnow()
        identity.schema_id = draft.schema_id
        identity.metadata_public = draft.metadata_public
        identity.metadata_admin = draft.metadata_admin
        identity.external_id = draft.external_id or None
        if draft.organization_id is not None:
            identity.organization_id = draft.organization_id
        await self._apply_traits(identity, draft.traits, draft.verifiable_addresses, draft.recovery_addresses)
        await self._import_credentials(identity, draft.credentials)
        return await self.save(identity, source=source)

    async def save(self, identity: Identity, *, source: str = "admin") -> Identity:
        """Store an identity whose fields (traits, credentials ...) were changed in place.

        Nothing is re-derived: call :meth:`revalidate` first when traits changed.
        """
        async with self.writing(identity, "update", source=source):
            pass
        return identity

    async def delete(self, identity_id: uuid.UUID, *, source: str = "admin") -> None:
        """Delete an identity with its credentials, addresses and sessions."""
        identity = await self.get(identity_id)
        async with self.writing(identity, "delete", source=source):
            pass

    @asynccontextmanager
    async def writing(
        self,
        identity: Identity,
        operation: Operation,
        *,
        source: str,
        verified_address: VerifiableAddress | None = None,
        batch: bool = False,
    ) -> AsyncIterator[Connection]:
        """The one identity write path: every create, update, credential change, address
        verification and delete of the server and of plugins goes through here.

        Fires ``kratos_identity_pre_persist`` (fail closed), writes the identity in a transaction
        that the block may add its own writes to (a session, the completed flow, a used code:
        they commit together), then ``kratos_identity_post_persist`` (contained) and the
        ``identity.created``/``updated``/``deleted`` event, each exactly once and only after the
        commit. An exception in the block rolls everything back and fires nothing after.

        Args:
            identity: The identity as it is to be stored.
            operation: ``create``, ``update`` or ``delete``.
            source: Who writes (``admin``, ``registration``, ``settings``, ``login``,
                ``recovery``, ``verification`` or a plugin's name); hooks and events get it.
            verified_address: Verify this address of the identity and write only that (an
                ``update``): the used code or link proved it.
            batch: Write as one statement (blind writes only in the block; registrations).

        Raises:
            Conflict: an identifier or address belongs to another identity (409).
            NotFound: the identity to update or delete does not exist.
        """
        if verified_address is not None:
            _mark_verified(verified_address)
        hooks = self.plugins.hooks
        await hooks.identity_pre_persist(identity=identity, operation=operation, source=source)
        try:
            async with self.db.batch() if batch else self.db.transaction() as tx:
                await self._store(tx, identity, operation, verified_address)
                yield tx
        except UniqueViolation as exc:
            raise Conflict(CONFLICT_REASON) from exc
        await hooks.identity_post_persist(identity=identity, operation=operation, source=source)
        await hooks.event(payload=_event(identity, operation, source, verified_address))

    async def _store(
        self, tx: Connection, identity: Identity, operation: Operation, verified_address: VerifiableAddress | None
    ) -> None:
        if operation == "create":
            await store.insert_identity(tx, identity)
        elif verified_address is not None:
            await store.mark_address_verified(tx, identity.id, verified_address)
        elif operation == "update":
            if await store.get_identity(tx, identity.id) is None:
                raise NotFound("Unable to locate the resource", message="Unable to locate the resource")
            await store.update_identity(tx, identity)
        elif not await store.delete_identity(tx, identity.id):
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource")

    # -- derivation --------------------------------------------------------------------------

    async def revalidate(self, identity: Identity) -> None:
        """Re-derive identifiers and addresses from the identity's current traits."""
        await self._apply_traits(identity, identity.traits, None, None)

    async def _apply_traits(
        self,
        identity: Identity,
        traits: Any,
        verifiable: list[Mapping[str, Any]] | None,
        recovery: list[Mapping[str, Any]] | None,
    ) -> None:
        if identity.schema_id not in self.schemas:
            raise BadRequest(f'Identity schema "{identity.schema_id}" does not exist.')
        schema = self.schemas.get(identity.schema_id)
        result = validate_traits(schema, traits)
        identity.traits = result.traits
        now = utcnow()
        for ctype, method in self.credential_methods.items():
            _derive_credential(identity, ctype, method, result, now)
        identity.verifiable_addresses = _merge_verifiable(identity.verifiable_addresses, result.verifiable_addresses, verifiable, now)
        identity.recovery_addresses = _merge_recovery(identity.recovery_addresses, result.recovery_addresses, now)
        del recovery  # given recovery addresses are always re-derived from the schema

    async def _import_credentials(self, identity: Identity, credentials: Mapping[str, Mapping[str, Any]]) -> None:
        now = utcnow()
        for ctype, raw in credentials.items():
            if not isinstance(raw, Mapping):
                raise BadRequest(f'credentials.{ctype} must be an object with a "config" key.')
            importer = getattr(self.credential_owner(ctype), "import_credentials", None)
            if importer is None:
                raise BadRequest(
                    f'Credentials of type "{ctype}" cannot be imported: no installed plugin provides this credential type.'
                )
            config = await importer(identity, dict(raw))
            cred = identity.credentials.get(ctype)
            created = cred is None
            if cred is None:
                cred = identity.credentials[ctype] = _new_credential(ctype, now)
            cred.config = config
            cred.updated_at = now
            method = self.credential_methods.get(ctype)
            if created and method is not None and method.credential_schema_keys:
                # Not created implicitly when the traits were applied: derive what the schema
                # says for it now (validated traits validate again; this path is rare).
                result = validate_traits(self.schemas.get(identity.schema_id), identity.traits)
                _derive_credential(identity, ctype, method, result, now)


def _mark_verified(address: VerifiableAddress) -> None:
    """``verified: true, status: completed`` (an earlier ``verified_at`` is kept)."""
    now = utcnow()
    address.verified = True
    address.status = "completed"
    address.verified_at = address.verified_at or now
    address.updated_at = now


def _event(identity: Identity, operation: Operation, source: str, verified_address: VerifiableAddress | None) -> Event:
    if operation == "create":
        return IdentityCreated(identity_id=identity.id, source=source)
    if operation == "delete":
        return IdentityDeleted(identity_id=identity.id, source=source)
    change = "identity" if verified_address is None else "address_verified"
    return IdentityUpdated(identity_id=identity.id, source=source, change=change)


def _derive_credential(identity: Identity, ctype: str, method: MethodBase, result: TraitsResult, now: dt.datetime) -> None:
    """Bring one credential type in line with the traits, as far as its method declares."""
    keys = method.credential_schema_keys
    if not keys:
        return
    identifiers = result.credential_identifiers.get(ctype, []) if IDENTIFIER in keys else []
    cred = identity.credentials.get(ctype)
    if cred is None and identifiers and method.implicit_credential:
        # Created without a secret so the identifiers are reserved (unique) from the start.
        cred = identity.credentials[ctype] = _new_credential(ctype, now)
    if cred is None:
        return
    if IDENTIFIER in keys:
        cred.identifiers = list(identifiers)
    traits = CredentialTraits(
        identifiers=list(identifiers),
        addresses=list(result.credential_addresses.get(ctype, [])) if VIA in keys else [],
        values={k: v for k, v in result.credential_values.get(ctype, {}).items() if k in keys},
    )
    cred.config = method.credential_from_traits(cred.config, traits)


def _check_state(state: str) -> str:
    if state not in ("active", "inactive"):
        raise BadRequest(f'The identity state "{state}" is not valid: use "active" or "inactive".')
    return state


def _new_credential(ctype: str, now: dt.datetime) -> Credential:
    return Credential(id=uuid.uuid4(), type=ctype, identifiers=[], config={}, created_at=now, updated_at=now)


def _merge_verifiable(
    existing: list[VerifiableAddress],
    derived: list[tuple[str, str]],
    given: list[Mapping[str, Any]] | None,
    now: dt.datetime,
) -> list[VerifiableAddress]:
    """Addresses come from the schema; existing ones keep their state, given ones may set it."""
    by_key = {(a.via, a.value): a for a in existing}
    given_by_key = {(str(g.get("via", "")), str(g.get("value", "")).strip().lower()): g for g in given or []}
    out = []
    for via, value in derived:
        address = by_key.get((via, value)) or VerifiableAddress(
            id=uuid.uuid4(), value=value, via=via, created_at=now, updated_at=now
        )
        g = given_by_key.get((via, value.lower()))
        if g is not None:
            _apply_given_state(address, g, now)
        out.append(address)
    return out


def _apply_given_state(address: VerifiableAddress, given: Mapping[str, Any], now: dt.datetime) -> None:
    verified = bool(given.get("verified", False))
    address.verified = verified
    status = given.get("status") or ("completed" if verified else "pending")
    if status not in ("pending", "sent", "completed"):
        raise BadRequest(f'Verifiable address status "{status}" is not valid: use pending, sent or completed.')
    address.status = status
    if verified:
        address.verified_at = _parse_time(given.get("verified_at")) or address.verified_at or now
    else:
        address.verified_at = None
    address.updated_at = now


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f'"{value}" is not an RFC 3339 timestamp.') from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _merge_recovery(existing: list[RecoveryAddress], derived: list[tuple[str, str]], now: dt.datetime) -> list[RecoveryAddress]:
    by_key = {(a.via, a.value): a for a in existing}
    return [
        by_key.get((via, value)) or RecoveryAddress(id=uuid.uuid4(), value=value, via=via, created_at=now, updated_at=now)
        for via, value in derived
    ]

