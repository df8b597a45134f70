"""The whoami hot path costs at most one SQL statement and one cache lookup.

On SQLite (one process) every whoami is one statement. On PostgreSQL the session cache is on by
default: a token's first whoami is one lookup that misses plus one statement, later ones one
lookup and no statement; with ``feature_flags.cacheable_sessions: false`` it is one statement.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import kratos_password.plugin as password_plugin
from kratos_core.app import KratosApp
from kratos_core.identity.model import Credential, utcnow
from kratos_core.session.store import SessionCache
from kratos_core.session.tokens import token_digest
from tests.conftest import base_config, make_app
from tests.integration.test_sessions import TotpStub, cookie_header, fake_request, issue, new_identity, token_header


class StatementCounter:
    """Wraps a database object's statement methods and records every SQL statement run."""

    METHODS = ("fetch", "fetchrow", "fetchval", "execute", "executemany")

    def __init__(self, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: list[str] = []
        for name in self.METHODS:
            monkeypatch.setattr(db, name, self._wrap(getattr(db, name)))
        monkeypatch.setattr(db, "transaction", self._no_transactions)

    def _wrap(self, method: Any) -> Any:
        async def counted(sql: str, *args: Any) -> Any:
            self.statements.append(sql)
            return await method(sql, *args)

        return counted

    def _no_transactions(self) -> Any:
        raise AssertionError("whoami must not open a transaction")

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
async def any_app(tmp_path: Path, any_dsn: str) -> AsyncIterator[KratosApp]:
    # The password plugin (registered, not enabled) reserves the schema's identifiers; the
    # TOTP stub declares an aal2 second factor.
    app = make_app(tmp_path, base_config(tmp_path, any_dsn), plugins=[password_plugin, TotpStub()])
    await app.start(migrate=True)
    try:
        yield app
    finally:
        await app.stop()


async def rich_session(app: KratosApp) -> tuple[Any, str]:
    """A session whose identity has addresses and credentials, with two devices."""
    identity = await new_identity(app, "rich@example.org", metadata_admin={"k": 1})
    now = utcnow()
    identity.credentials["totp"] = Credential(
        id=uuid.uuid4(), type="totp", identifiers=[str(identity.id)], config={"totp_url": "otpauth://totp/x"}, created_at=now, updated_at=now
    )
    identity = await app.identities.save(identity)
    session, token = await issue(app, identity, request=fake_request({"user-agent": "first"}))
    await app.sessions.step_up(await app.sessions.get(session.id), "totp", None, fake_request({"user-agent": "second"}))
    return session, token


async def until_fresh(app: KratosApp) -> None:
    """Wait until a caching app's listener is proven current (the cache answers only then; on a
    loaded machine a heartbeat may come back late, and the cache then rightly stays out)."""
    cache = app.sessions.session_cache()
    for _ in range(500):
        if cache is None or (cache.enabled and app.db.fresh):  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the session cache's listener did not become current")


class LookupCounter:
    """Counts session-cache lookups (``SessionCache.get``) of every cache."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lookups = 0
        original = SessionCache.get

        def counted(cache: SessionCache, digest: str) -> Any:
            self.lookups += 1
            return original(cache, digest)

        monkeypatch.setattr(SessionCache, "get", counted)


async def whoami_costs(app: KratosApp, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(statements, cache lookups) of each whoami: three presentations of one token, twice."""
    cache = app.sessions.session_cache()
    await until_fresh(app)
    session, token = await rich_session(app)
    if cache is not None:
        await asyncio.sleep(0.2)  # the announcements of those writes come back to this process too
    counter = StatementCounter(app.db, monkeypatch)
    lookups = LookupCounter(monkeypatch)
    costs = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.public), base_url="http://127.0.0.1:4433") as public:
        for headers in [token_header(token), cookie_header(app, session, token), {"Authorization": f"Bearer {token}"}] * 2:
            await until_fresh(app)
            counter.reset()
            lookups.lookups = 0
            r = await public.get("/sessions/whoami", headers=headers)
            assert r.status_code == 200 and r.json()["id"] == str(session.id)
            costs.append((len(counter.statements), lookups.lookups))

        # Unknown but well-formed tokens cost the one lookup; garbage costs nothing.
        counter.reset()
        lookups.lookups = 0
        assert (await public.get("/sessions/whoami", headers=token_header("ory_st_" + "Z" * 32))).status_code == 401
        assert len(counter.statements) == 1 and lookups.lookups <= 1
        # (The stale cookie above was re-issued; drop it from the client's jar.)
        public.cookies.clear()
        counter.reset()
        lookups.lookups = 0
        for headers in ({}, token_header("garbage"), {"Cookie": "ory_kratos_session=forged"}):
            assert (await public.get("/sessions/whoami", headers=headers)).status_code == 401
        assert counter.statements == [] and lookups.lookups == 0
    return costs


async def test_whoami_costs_one_statement_or_one_cache_hit(any_app: KratosApp, monkeypatch: pytest.MonkeyPatch) -> None:
    costs = await whoami_costs(any_app, monkeypatch)
    if any_app.db.dialect == "sqlite":
        assert costs == [(1, 0)] * 6
    else:
        assert costs == [(1, 1)] + [(0, 1)] * 5


async def test_without_the_cache_every_whoami_is_one_statement(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path, base_config(tmp_path, postgres_dsn, feature_flags={"cacheable_sessions": False}))
    await app.start(migrate=True)
    try:
        assert await whoami_costs(app, monkeypatch) == [(1, 0)] * 6
    finally:
        await app.stop()


async def test_one_statement_loads_the_whole_session(any_app: KratosApp) -> None:
    session, token = await rich_session(any_app)
    loaded = await any_app.sessions.find_by_token(token)
    assert loaded is not None and loaded.id == session.id
    identity = loaded.identity
    assert identity is not None and identity.id == session.identity_id
    assert identity.traits["email"] == "rich@example.org" and identity.metadata_admin == {"k": 1}
    assert [(a.via, a.value, a.verified) for a in identity.verifiable_addresses] == [("email", "rich@example.org", False)]
    assert [(a.via, a.value) for a in identity.recovery_addresses] == [("email", "rich@example.org")]
    assert identity.credentials["password"].identifiers == ["rich@example.org"]
    assert identity.credentials["totp"].config == {"totp_url": "otpauth://totp/x"}
    assert [d.user_agent for d in loaded.devices] == ["first", "second"]
    assert [m.method for m in loaded.authentication_methods] == ["password", "totp"]
    assert loaded.aal == "aal2"
    assert loaded.expires_at.tzinfo is not None and loaded.is_active()
    # And the same identity as the identity store loads it, field for field.
    stored = await any_app.identities.get(identity.id)
    assert identity.verifiable_addresses == stored.verifiable_addresses
    assert identity.recovery_addresses == stored.recovery_addresses
    assert identity.credentials == stored.credentials
    assert await any_app.sessions.find_by_token("ory_st_" + "Z" * 32) is None
    assert token_digest(token) != token


async def test_admin_lists_work_on_both_dialects(any_app: KratosApp) -> None:
    identity = await new_identity(any_app)
    issued = [(await issue(any_app, identity))[0] for _ in range(3)]
    await any_app.sessions.revoke(issued[0].id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=any_app.admin), base_url="http://127.0.0.1:4434") as admin:
        r = await admin.get("/admin/sessions?page_size=2&expand=identity&expand=devices")
        assert [s["id"] for s in r.json()] == [str(issued[2].id), str(issued[1].id)]
        token = r.headers["link"].split("page_token=")[1].split(">")[0]
        r = await admin.get("/admin/sessions", params={"page_size": 2, "page_token": token})
        assert [s["id"] for s in r.json()] == [str(issued[0].id)] and r.json()[0]["active"] is False
        r = await admin.get(f"/admin/identities/{identity.id}/sessions?active=true")
        assert r.headers["x-total-count"] == "2" and len(r.json()) == 2
        r = await admin.get("/admin/sessions?active=false")
        assert [s["id"] for s in r.json()] == [str(issued[0].id)]
