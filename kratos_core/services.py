"""The services a plugin may use: narrow, typed handles on the server's storage and machinery.

Method contexts (``ctx.services``) and plugin routes (a ``services`` parameter, injected) get one
:class:`Services` object per app. It is the only way a plugin reaches storage: plugins write no
SQL and never see the database connection pool, only an opaque :class:`Transaction` that they
hand back to these services so that what they write commits together (a one-time code and the
message that carries it, a used code and the session it unlocks).

Everything here is re-exported by :mod:`kratos_core.api`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from litestar.di import NamedDependency

from .persistence import codes as _codes
from .flows.continuation import Flows

if TYPE_CHECKING:  # pragma: no cover
    from .app import KratosApp
    from .config import Config
    from .identity.manager import IdentityManager
    from .identity.model import Identity
    from .identity.schema import SchemaRegistry
    from .security.throttle import Throttle
    from .session.manager import SessionManager

__all__ = ["Services", "InjectedServices", "Transaction", "OneTimeSecrets", "Outbox"]


class Transaction:
    """An open database transaction, opaque to plugins.

    Get one from :meth:`Services.transaction` and pass it to the services' write methods; it
    commits when the ``async with`` block ends without an exception and rolls back otherwise.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn


def _conn(tx: Transaction | Any) -> Any:
    # Core code may still hand a raw connection; plugins only ever have a Transaction.
    return tx._conn if isinstance(tx, Transaction) else tx


class OneTimeSecrets:
    """Single-use codes and link tokens, stored as keyed digests (never in plain text).

    The rules (lifespan, one use, a submission limit per flow, secret rotation) are Kratos's;
    see :mod:`kratos_core.persistence.codes`. ``kind`` is one of :data:`KINDS`.
    """

    #: The kinds of secrets, by what they unlock.
    KINDS = _codes.KINDS

    def __init__(self, app: KratosApp) -> None:
        self._app = app

    @property
    def keys(self) -> tuple[str, ...]:
        """``secrets.cookie``: the first one digests new secrets, all of them check."""
        return tuple(self._app.config.secrets_for("cookie"))

    @staticmethod
    def new_code() -> str:
        """Six random digits."""
        return _codes.new_code()

    @staticmethod
    def new_token() -> str:
        """32 random letters and digits (for links)."""
        return _codes.new_token()

    async def issue(
        self,
        tx: Transaction,
        *,
        kind: str,
        flow_id: uuid.UUID,
        value: str,
        lifespan: dt.timedelta | None = None,
        expires_at: dt.datetime | None = None,
        identity_id: uuid.UUID | None = None,
        address: tuple[str, str] | None = None,
    ) -> _codes.OneTimeSecret:
        """Store a new secret for ``flow_id`` inside ``tx``."""
        return await _codes.issue(
            _conn(tx),
            keys=self.keys,
            kind=kind,
            flow_id=flow_id,
            value=value,
            lifespan=lifespan,
            expires_at=expires_at,
            identity_id=identity_id,
            address=address,
        )

    async def discard(self, tx: Transaction, flow_id: uuid.UUID, kind: str) -> None:
        """Delete the flow's unused secrets of ``kind`` (a resend replaces them)."""
        await _codes.discard(_conn(tx), flow_id, kind)

    async def check(self, *, flow_id: uuid.UUID, kind: str, value: str, max_submissions: int) -> _codes.OneTimeSecret:
        """Count one submission, then find the matching unused secret.

        Raises:
            TooManySubmissions: The flow used up its submissions.
            CodeNotFound: No unused, unexpired secret matches.
        """
        return await _codes.check_code(
            self._app.db, keys=self.keys, flow_id=flow_id, kind=kind, value=value, max_submissions=max_submissions
        )

    async def find(self, *, flow_id: uuid.UUID, kind: str, value: str) -> _codes.OneTimeSecret:
        """The matching secret without counting a submission (link tokens)."""
        return await _codes.find(self._app.db, keys=self.keys, flow_id=flow_id, kind=kind, value=value)

    async def consume(self, tx: Transaction, record: _codes.OneTimeSecret) -> None:
        """Mark ``record`` used inside ``tx``; of two racing requests exactly one succeeds.

        Raises:
            CodeAlreadyUsed: Another request used it first.
        """
        await _codes.consume(_conn(tx), record)


class Outbox:
    """Queues courier messages in the caller's transaction (sent after it commits)."""

    def __init__(self, app: KratosApp) -> None:
        self._app = app

    async def queue(
        self,
        tx: Transaction,
        *,
        recipient: str,
        template_type: str,
        template_data: Mapping[str, Any],
        channel: str = "email",
    ) -> None:
        """Queue one templated message (``template_type`` as Kratos names them)."""
        from .flows.messages import queue_message

        await queue_message(
            self._app,
            _conn(tx),
            recipient=recipient,
            template_type=template_type,
            template_data=template_data,
            channel=channel,
        )


class Services:
    """The services of one running server, as plugins see them.

    Attributes:
        config: The validated, frozen configuration.
        identities: Reading and writing identities (every write runs the identity hooks).
        sessions: Issuing, finding and revoking sessions.
        secrets: Single-use codes and link tokens.
        outbox: Courier messages.
        flows: Stored self-service flows, and continuing them from plugin routes
            (:class:`kratos_core.flows.continuation.Flows`).
        throttle: Throttling and lockout: count every guess of a secret and every secret sent
            (:class:`kratos_core.security.Throttle`, docs/security.md).
    """

    def __init__(self, app: KratosApp) -> None:
        self._app = app
        self.secrets = OneTimeSecrets(app)
        self.outbox = Outbox(app)
        self.flows = Flows(app)

    @property
    def config(self) -> Config:
        return self._app.config

    @property
    def identities(self) -> IdentityManager:
        return self._app.identities

    @property
    def sessions(self) -> SessionManager:
        return self._app.sessions

    @property
    def throttle(self) -> Throttle:
        return self._app.throttle

    @property
    def schemas(self) -> SchemaRegistry:
        return self._app.schemas

    @property
    def public_base_url(self) -> str:
        """``serve.public.base_url`` (where links in messages point)."""
        return self._app.public_base_url

    def secrets_for(self, purpose: str) -> Sequence[str]:
        """``secrets.<purpose>`` (``cookie``, ``cipher`` ...), newest first."""
        return self._app.config.secrets_for(purpose)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Open a transaction for the services' write methods (commit on success)."""
        async with self._app.db.transaction() as conn:
            yield Transaction(conn)

    async def identity(self, identity_id: uuid.UUID) -> Identity | None:
        """The identity with its credentials, or None."""
        from .persistence import identities as store

        return await store.get_identity(self._app.db, identity_id)

    async def swap_credential_config(
        self,
        identity_id: uuid.UUID,
        credential_type: str,
        expected: Mapping[str, Any],
        config: Mapping[str, Any],
        tx: Transaction | None = None,
    ) -> bool:
        """Replace a credential's ``config`` only if it still equals ``expected`` (a conditional write).

        This is how a method uses up part of a credential exactly once under concurrent
        requests (a backup code, a TOTP time step): of two requests that read the same config,
        only the first write succeeds; the other gets False, reloads the identity
        (:meth:`identity`) and decides again.

        Args:
            identity_id: Whose credential.
            credential_type: The credential type (``lookup_secret`` ...).
            expected: The config as the caller read it.
            config: The new config.
            tx: Write inside this transaction (default: on its own).

        Returns:
            True when written; False when the credential changed or is gone.
        """
        from .persistence import identities as store

        conn = _conn(tx) if tx is not None else self._app.db
        return await store.swap_credential_config(conn, identity_id, credential_type, dict(expected), dict(config))


#: The annotation of a plugin route's ``services`` parameter (``services: InjectedServices``):
#: the app injects its :class:`Services` there.
InjectedServices: TypeAlias = NamedDependency[Services]
