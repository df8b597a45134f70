"""Issuing, finding and ending sessions (kratos-behaviour.md sections 3.6, 4.2 and 4.4).

:class:`SessionManager` is the one place that knows how a request proves a session (header,
cookie, bearer token, in that order), how the session cookie looks, and the lifecycle rules:
activation, step-up keeping the session id, revocation, and the admin extend rule. Tokens are
secrets: they are stored as digests only and never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Collection, Mapping
from email.utils import format_datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import BadRequest, NotFound, Unauthorized
from ..events import SessionIssued, SessionRefreshed, SessionRevoked
from ..identity.model import Identity, utcnow
from ..methods import MethodBase, declared, methods_by_credential_type
from . import store
from .aal import check_required_aal, method_aal, session_aal
from .cookie import CookiePayload, SessionCookieCodec
from .model import AuthenticationMethod, Device, Session, session_json
from .tokens import LOGOUT_TOKEN_PREFIX, TOKEN_RANDOM_LENGTH, looks_like_session_token, new_session_token, token_digest

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp
    from ..persistence.db import Connection

__all__ = [
    "SessionManager",
    "IDENTITY_DISABLED_ID",
    "no_valid_session",
    "session_not_found",
    "derive_logout_token",
    "device_from_request",
    "client_ip",
]

IDENTITY_DISABLED_ID = "identity_disabled"

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_LOGOUT_KEY_INFO = b"kratos_core logout token v1"


def no_valid_session() -> Unauthorized:
    """whoami's 401: deliberately without an error id (section 4.4)."""
    return Unauthorized("No valid session credentials found in the request.")


def session_not_found() -> NotFound:
    return NotFound("Unable to locate the resource", message="Unable to locate the resource")


def identity_disabled() -> BadRequest:
    return BadRequest("This account was disabled.", id=IDENTITY_DISABLED_ID, message="identity is disabled")


def derive_logout_token(session_token: str) -> str:
    """The session's logout token, derived from its session token.

    Only digests are stored, yet the browser logout flow must hand the logout token out again
    later. Deriving it (HMAC keyed by the session token) gives the same ``ory_lo_`` token from
    the session cookie every time, while the logout token reveals nothing about the session
    token and cannot be computed without it, which is what protects logout from CSRF.
    """
    mac = hmac.new(session_token.encode("utf-8"), _LOGOUT_KEY_INFO, hashlib.sha256).digest()
    number = int.from_bytes(mac, "big")  # 256 bits: 32 base-62 digits need ~191
    chars = []
    for _ in range(TOKEN_RANDOM_LENGTH):
        number, digit = divmod(number, len(_ALNUM))
        chars.append(_ALNUM[digit])
    return LOGOUT_TOKEN_PREFIX + "".join(chars)


# -- the request ----------------------------------------------------------------------------------


def _header(request: Any, name: str) -> str:
    return (request.headers.get(name) or "").strip()


def client_ip(request: Any) -> str | None:
    """The client's IP, honouring proxy headers like Kratos (``True-Client-Ip``, ``X-Real-Ip``,
    then the first hop of ``X-Forwarded-For``), else the socket peer."""
    for name in ("true-client-ip", "x-real-ip"):
        value = _header(request, name)
        if value:
            return value
    forwarded = _header(request, "x-forwarded-for")
    if forwarded:
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first
    client = getattr(request, "client", None)
    return getattr(client, "host", None) if client is not None else None


def device_from_request(request: Any | None) -> Device:
    """A device record: IP, all ``User-Agent`` values joined by a space, Cloudflare location."""
    now = utcnow()
    if request is None:
        return Device(id=uuid.uuid4(), created_at=now)
    agents = request.headers.getall("user-agent", []) if hasattr(request.headers, "getall") else []
    location = ", ".join(v for v in (_header(request, "cf-ipcity"), _header(request, "cf-ipcountry")) if v)
    return Device(
        id=uuid.uuid4(),
        ip_address=client_ip(request),
        user_agent=" ".join(agents) or None,
        location=location,
        created_at=now,
    )


def _bearer(request: Any) -> str | None:
    scheme, _, token = _header(request, "authorization").partition(" ")
    # The scheme is case-insensitive (RFC 7235), as Kratos treats it.
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# -- the manager ----------------------------------------------------------------------------------


class WhoamiAnswer(NamedTuple):
    """What a whoami response needs besides its body, when the session was not decoded."""

    identity_id: Any
    expires_at: dt.datetime
    token: str | None
    cookie_expires_at: dt.datetime | None


class SessionManager:
    """Sessions for one :class:`~kratos_core.app.KratosApp`.

    Args:
        app: The running app (config, database, plugins).
    """

    def __init__(self, app: KratosApp) -> None:
        self.app = app

    @property
    def config(self) -> Any:
        return self.app.config

    @cached_property
    def codec(self) -> SessionCookieCodec:
        return SessionCookieCodec(self.config.secrets_for("cookie"))

    @property
    def cookie_name(self) -> str:
        return self.config.session.cookie.name

    @property
    def lifespan(self) -> dt.timedelta:
        return self.config.session.lifespan

    # -- configuration looked up once ---------------------------------------------------------

    @cached_property
    def enabled_methods(self) -> Collection[str]:
        """Ids of the installed and enabled methods (only their credentials count for AAL)."""
        return frozenset(self.app.plugins.enabled_methods(self.config))

    @cached_property
    def _aal_methods(self) -> Mapping[str, MethodBase]:
        """Declarations of the enabled methods by credential type (they judge credentials)."""
        return methods_by_credential_type(self.app.plugins.enabled_methods(self.config).values())

    @cached_property
    def _declarations(self) -> Mapping[str, MethodBase]:
        """Declarations of every registered method by id (the AAL it provides)."""
        return {mid: declared(m) for mid, m in self.app.plugins.methods.items.items()}

    def _completed(self, method: str, aal: str | None, now: dt.datetime, **extra: Any) -> AuthenticationMethod:
        done_aal = method_aal(self._declarations.get(method), aal)
        return AuthenticationMethod(method=method, aal=done_aal, completed_at=now, **extra)

    @cached_property
    def _cookie_attributes(self) -> str:
        own, shared = self.config.session.cookie, self.config.cookies
        domain = own.domain if own.domain is not None else shared.domain
        path = own.path or shared.path or "/"
        same_site = own.same_site or shared.same_site or "Lax"
        secure = own.secure if own.secure is not None else shared.secure
        if secure is None:
            secure = not self.config.dev
        parts = [f"Path={path}"]
        if domain:
            parts.append(f"Domain={domain}")
        parts.append("HttpOnly")
        if secure:
            parts.append("Secure")
        parts.append(f"SameSite={same_site}")
        return "; ".join(parts)

    # -- issuing --------------------------------------------------------------------------------

    async def issue(
        self,
        identity: Identity,
        *,
        method: str,
        aal: str | None = None,
        request: Any | None = None,
        conn: Connection | None = None,
        provider: str | None = None,
        organization: str | None = None,
    ) -> tuple[Session, str]:
        """Activate a new session for ``identity`` after it authenticated with ``method``.

        Args:
            identity: Who authenticated.
            method: The credential type that authenticated (``password``, ``code``, ...).
            aal: The AAL the method provides; defaults to the method's usual AAL.
            request: The HTTP request, for the device record (IP, user agent, location).
            conn: An open transaction to write in (a registration writes identity and session
                atomically); by default the session is written in its own transaction.
            provider: The OIDC/SAML provider, for social sign-in.
            organization: The organization, for B2B sign-in.

        Returns:
            The session (with ``token`` and ``logout_token`` set in memory) and its token.

        Raises:
            BadRequest: ``identity_disabled`` when the identity is inactive.
        """
        session, token = self.new(identity, method=method, aal=aal, request=request, provider=provider, organization=organization)
        await self.persist_new(session, conn=conn)
        return session, token

    def new(
        self,
        identity: Identity,
        *,
        method: str,
        aal: str | None = None,
        request: Any | None = None,
        provider: str | None = None,
        organization: str | None = None,
    ) -> tuple[Session, str]:
        """A new active session for ``identity``, in memory only (:meth:`persist_new` stores it).

        A login builds its session first, runs its ``after`` hooks and actions, and then writes
        session and completed flow in one statement: a hook that refuses the login leaves nothing
        behind. Arguments as :meth:`issue`.

        Raises:
            BadRequest: ``identity_disabled`` when the identity is inactive.
        """
        if not identity.active:
            raise identity_disabled()
        now = utcnow()
        token = new_session_token()
        done = self._completed(method, aal, now, provider=provider, organization=organization)
        session = Session(
            id=uuid.uuid4(),
            identity_id=identity.id,
            active=True,
            aal=session_aal([done], self._declarations),
            authentication_methods=[done],
            issued_at=now,
            authenticated_at=now,
            expires_at=now + self.lifespan,
            created_at=now,
            updated_at=now,
            devices=[device_from_request(request)],
            identity=identity,
            token=token,
            logout_token=derive_logout_token(token),
        )
        return session, token

    async def persist_new(self, session: Session, *, conn: Connection | None = None) -> None:
        """Store a session made by :meth:`new` (with its device), in ``conn`` when given."""
        assert session.token is not None and session.logout_token is not None
        digests = token_digest(session.token), token_digest(session.logout_token)
        if conn is None and store.insert_is_atomic(self.app.db):
            await store.insert_session(self.app.db, session, *digests)  # one statement: no transaction
        else:
            await self._write(conn, store.insert_session, session, *digests)

    async def announce_issued(self, session: Session, *, flow: str) -> None:
        """Tell observers a new session is stored (``session.issued``); call after the commit.

        Args:
            session: The stored session.
            flow: The flow kind that issued it (``login``, ``registration``, ``recovery``).
        """
        method = session.authentication_methods[-1].method if session.authentication_methods else ""
        event = SessionIssued(session_id=session.id, identity_id=session.identity_id, aal=session.aal, method=method, flow=flow)
        await self.app.plugins.hooks.event(payload=event)

    async def announce_refreshed(self, session: Session, *, reason: str) -> None:
        """Tell observers a stored session was re-authenticated or extended (``session.refreshed``)."""
        event = SessionRefreshed(session_id=session.id, identity_id=session.identity_id, aal=session.aal, reason=reason)
        await self.app.plugins.hooks.event(payload=event)

    async def _revoked(self, identity_id: uuid.UUID | None, session_id: uuid.UUID | None, count: int, reason: str) -> None:
        if count:
            event = SessionRevoked(identity_id=identity_id, session_id=session_id, count=count, reason=reason)
            await self.app.plugins.hooks.event(payload=event)

    async def step_up(
        self,
        session: Session,
        method: str,
        aal: str | None,
        request: Any | None,
        *,
        conn: Connection | None = None,
        provider: str | None = None,
    ) -> Session:
        """Record another completed method on an existing session (aal2 step-up, refresh).

        Kratos keeps the session id and token (pitfall 11): the method is appended, the AAL is
        recomputed and issued/authenticated/expires restart from now.

        Raises:
            BadRequest: ``identity_disabled`` when the session's identity is inactive.
        """
        if session.identity is not None and not session.identity.active:
            raise identity_disabled()
        now = utcnow()
        session.authentication_methods.append(self._completed(method, aal, now, provider=provider))
        session.aal = session_aal(session.authentication_methods, self._declarations)
        session.active = True
        session.issued_at = session.authenticated_at = session.updated_at = now
        session.expires_at = now + self.lifespan
        device = device_from_request(request)
        session.devices.append(device)
        await self._write(conn, _store_step_up, session, device)
        return session

    async def _write(self, conn: Connection | None, fn: Any, *args: Any) -> None:
        if conn is not None:
            await fn(conn, *args)
            return
        async with self.app.db.transaction() as tx:
            await fn(tx, *args)

    # -- finding --------------------------------------------------------------------------------

    def presented(self, request: Any) -> tuple[str | None, CookiePayload | None]:
        """The session token a request presents, and the decoded cookie if it came from one.

        Order as in Kratos: ``X-Session-Token``, then the session cookie, then
        ``Authorization: Bearer``. A present header wins even if it is garbage; a cookie that does
        not open (tampered, foreign secret) is skipped.
        """
        header = _header(request, "x-session-token")
        if header:
            return header, None
        raw = request.cookies.get(self.cookie_name) if getattr(request, "cookies", None) else None
        if raw:
            payload = self.codec.decode(raw)
            if payload is not None:
                return payload.session_token, payload
        return _bearer(request), None

    async def authenticate(self, request: Any) -> Session | None:
        """The request's active session (identity, credentials and devices loaded), else None.

        One SQL statement at most; shapes that cannot be a token cost none.
        """
        token, cookie = self.presented(request)
        if not looks_like_session_token(token):
            return None
        session, _ = await self._load(token, cookie, token_digest(token), None, None)
        return session

    async def _load(
        self, token: str, cookie: CookiePayload | None, digest: str, cache: store.SessionCache | None, entry: Any
    ) -> tuple[Session | None, Any]:
        """The active session of ``token``: from the cache ``entry`` when there is one, else with
        one statement (stored in ``cache`` when given). Returns (session, its cache entry or None)."""
        if cache is None:
            session = await store.load_by_token_digest(self.app.db, digest)
        elif entry is None:
            generation = cache.generation
            row = await store.load_row_by_token_digest(self.app.db, digest)
            if row is None:
                return None, None
            entry = cache.put(digest, row, generation)
            session = store.session_from_row(row)
        else:
            session = store.session_from_row(entry.row)
        if session is None or not session.is_active():
            return None, None
        session.token = token
        session.cookie_expires_at = cookie.expires_at if cookie is not None else None
        return session, entry

    def session_cache(self) -> store.SessionCache | None:
        """The session cache, on PostgreSQL unless ``feature_flags.cacheable_sessions`` is
        ``false``; made (and its LISTEN connection started) by ``KratosApp.start``, or on first
        use by an app started otherwise."""
        db = self.app.db
        current = self.__dict__.get("_cache")
        if current is not None and current[0] is db:
            return current[1]
        flags = self.config.feature_flags
        if flags.cacheable_sessions is False or db.dialect != "postgres" or not hasattr(db, "listen"):
            self._cache = (db, None)
            return None
        max_age = flags.cacheable_sessions_max_age
        cache = store.SessionCache(max_age=max_age.total_seconds() if max_age else 60.0)
        cache.clock = db
        db.listen(store.SESSION_CHANGES_CHANNEL, cache.invalidate, cache.set_listening)
        self._cache = (db, cache)
        return cache

    async def whoami_json(self, request: Any) -> tuple[Session | WhoamiAnswer, bytes]:
        """``GET /sessions/whoami``: :meth:`whoami` and the session's JSON (``session_dict``,
        public, encoded), served from the session cache when it is enabled.

        At most one cache lookup and, when it misses, one SQL statement.

        Returns the facts the response needs beyond the body (a :class:`Session` does too).

        Raises:
            Unauthorized: no valid session (401 without error id).
            Forbidden: ``session_aal2_required`` when the session's AAL is too low.
        """
        token, cookie = self.presented(request)
        if not looks_like_session_token(token):
            raise no_valid_session()
        digest = token_digest(token)
        cache = self.session_cache()
        entry = None
        if cache is not None:
            entry = cache.get(digest)
            if entry is not None:
                answer = self._whoami_from_entry(entry, token, cookie)
                if answer is not None:
                    return answer
        session, entry = await self._load(token, cookie, digest, cache, entry)
        if session is None:
            raise no_valid_session()
        self.check_aal(session, self.config.session.whoami.required_aal)
        if entry is None:
            return session, session_json(session, self.app.public_base_url)
        # Every 200 whoami shows an active session, so body and AAL verdict depend on the row alone.
        entry.aal_ok = True
        body = entry.body
        if body is None:
            body = entry.body = session_json(session, self.app.public_base_url)
        return session, body

    def _whoami_from_entry(
        self, entry: Any, token: str, cookie: CookiePayload | None
    ) -> tuple[WhoamiAnswer, bytes] | None:
        """A cached whoami answer without decoding the session, or None (then the full path
        decides: not rendered yet, inactive or expired, AAL not yet checked)."""
        if entry.body is None or not entry.aal_ok:
            return None
        if not entry.flag_active or entry.expires_at <= utcnow():
            return None
        answer = WhoamiAnswer(
            identity_id=entry.identity_id,
            expires_at=entry.expires_at,
            token=token,
            cookie_expires_at=cookie.expires_at if cookie is not None else None,
        )
        return answer, entry.body

    async def whoami(self, request: Any, *, required_aal: str | None = None) -> Session:
        """The request's session, checked against ``session.whoami.required_aal``.

        Raises:
            Unauthorized: no valid session (401 without error id).
            Forbidden: ``session_aal2_required`` when the session's AAL is too low.
        """
        session = await self.authenticate(request)
        if session is None:
            raise no_valid_session()
        self.check_aal(session, required_aal or self.config.session.whoami.required_aal)
        return session

    def check_aal(self, session: Session, required: str, *, return_to: str | None = None) -> None:
        """Apply a ``required_aal`` setting to a loaded session (identity with credentials)."""
        assert session.identity is not None, "check_aal needs the session's identity"
        check_required_aal(
            session,
            session.identity,
            required,
            public_base_url=self.app.public_base_url,
            methods=self._aal_methods,
            return_to=return_to,
        )

    async def get(self, session_id: uuid.UUID) -> Session:
        """One session with identity and devices.

        Raises:
            NotFound: unknown id.
        """
        session = await store.get_session(self.app.db, session_id)
        if session is None:
            raise session_not_found()
        return session

    async def find_by_token(self, token: str) -> Session | None:
        """The session a token belongs to, active or not (native logout revokes either)."""
        if not looks_like_session_token(token):
            return None
        return await store.load_by_token_digest(self.app.db, token_digest(token))

    async def list_sessions(self, **kwargs: Any) -> list[Session]:
        """A page of sessions; see :func:`kratos_core.session.store.list_sessions`."""
        return await store.list_sessions(self.app.db, **kwargs)

    async def count_sessions(self, identity_id: uuid.UUID, **kwargs: Any) -> int:
        return await store.count_sessions(self.app.db, identity_id, **kwargs)

    # -- ending and extending -------------------------------------------------------------------

    async def revoke(self, session_id: uuid.UUID, *, identity_id: uuid.UUID | None = None, reason: str = "admin") -> None:
        """Deactivate a session (the row stays, as in Kratos); observers get ``session.revoked``.

        Args:
            session_id: The session.
            identity_id: Only if it belongs to this identity (a user revoking own sessions).
            reason: For the event: ``admin``, ``logout``, ``self_service``, ``hook_refused``.

        Raises:
            NotFound: no such session (of that identity, when given).
        """
        if not await store.revoke_session(self.app.db, session_id, identity_id):
            raise session_not_found()
        await self._revoked(identity_id, session_id, 1, reason)

    async def revoke_token(self, token: str) -> bool:
        """Deactivate the session of a token (a logout); False when no session has it."""
        if not looks_like_session_token(token):
            return False
        revoked = await store.revoke_by_token_digest(self.app.db, token_digest(token))
        if revoked is None:
            return False
        session_id, identity_id = revoked
        await self._revoked(identity_id, session_id, 1, "logout")
        return True

    async def revoke_others(self, session: Session, *, reason: str = "revoke_active_sessions") -> int:
        """Deactivate all other active sessions of the session's identity; how many.

        ``reason`` (for the event) defaults to the flow action's; the user's own "revoke my other
        sessions" passes ``self_service``.
        """
        count = await store.revoke_other_sessions(self.app.db, session.identity_id, session.id)
        await self._revoked(session.identity_id, None, count, reason)
        return count

    async def revoke_all_for_identity(self, identity_id: uuid.UUID, *, reason: str = "admin") -> int:
        """Deactivate every active session of an identity; how many."""
        count = await store.revoke_identity_sessions(self.app.db, identity_id)
        await self._revoked(identity_id, None, count, reason)
        return count

    async def delete_all_for_identity(self, identity_id: uuid.UUID) -> int:
        """Delete (not deactivate) every session of an identity (admin API); how many."""
        count = await store.delete_identity_sessions(self.app.db, identity_id)
        await self._revoked(identity_id, None, count, "admin_delete")
        return count

    async def extend(self, session_id: uuid.UUID) -> Session:
        """The admin extend rule (section 4.2): extend only once ``expires_at`` is within
        ``earliest_possible_extend`` from now; sessions never slide otherwise.

        Raises:
            NotFound: unknown id.
        """
        session = await self.get(session_id)
        now = utcnow()
        earliest = self.config.session.earliest_possible_extend or self.lifespan
        if session.expires_at - earliest < now:
            session.expires_at = now + self.lifespan
            await store.set_expiry(self.app.db, session.id, session.expires_at)
            await self.announce_refreshed(session, reason="extended")
        return session

    # -- the cookie -----------------------------------------------------------------------------

    def cookie_header(self, session: Session, token: str) -> str:
        """The ``Set-Cookie`` value carrying ``token`` until the session expires."""
        value = self.codec.encode(token, session.expires_at)
        parts = [f"{self.cookie_name}={value}"]
        if self.config.session.cookie.persistent:
            seconds = max(0, int((session.expires_at - utcnow()).total_seconds()))
            parts.append(f"Expires={format_datetime(session.expires_at.astimezone(dt.UTC), usegmt=True)}")
            parts.append(f"Max-Age={seconds}")
        parts.append(self._cookie_attributes)
        return "; ".join(parts)

    def clear_cookie_header(self) -> str:
        """The ``Set-Cookie`` value that deletes the session cookie."""
        return f"{self.cookie_name}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; {self._cookie_attributes}"

    def cookie_is_stale(self, session: Session) -> bool:
        """Whether the presented cookie remembers an earlier expiry than the session now has
        (after an admin extend or a step-up), so whoami should re-issue it."""
        return session.cookie_expires_at is not None and session.cookie_expires_at < session.expires_at


async def _store_step_up(conn: Connection, session: Session, device: Device) -> None:
    await store.update_authentication(conn, session)
    await store.insert_device(conn, session.id, device)
