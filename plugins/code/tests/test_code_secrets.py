"""Codes and link tokens as stored and checked, the methods' config, and what they register."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kratos_core.persistence import codes
from kratos_core.methods.protocols import LoginMethod, RecoveryMethod, RegistrationMethod, VerificationMethod
from kratos_core.testing import clients, default_config, merge

import kratos_code.plugin as code_plugin
from kratos_code import CodeConfig, CodeMethod, LinkConfig, LinkMethod

KEY, OLD_KEY = "a-test-secret-that-is-long-enough", "an-older-secret-still-accepted"


async def new_flow(app: Any) -> uuid.UUID:
    """A stored verification flow to hang codes on (codes belong to a flow)."""
    async with clients(app) as (public, _):
        return uuid.UUID((await public.get("/self-service/verification/api")).json()["id"])


@pytest.fixture
async def app(kratos_app_factory: Any, tmp_path: Path) -> Any:
    selfservice = {"methods": {"code": {"enabled": True}}, "flows": {"verification": {"enabled": True}}}
    return await kratos_app_factory(
        merge(default_config(tmp_path), {"selfservice": selfservice}), plugins=[code_plugin]
    )


def test_code_and_token_shapes() -> None:
    seen = {codes.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in seen) and len(seen) > 150
    token = codes.new_token()
    assert len(token) == 32 and token.isalnum() and token != codes.new_token()


def test_digest_is_keyed_hmac_sha512_256() -> None:
    expected = hmac.new(KEY.encode(), b"123456", hashlib.new("sha512_256").name).hexdigest()
    assert codes.digest(KEY, "123456") == expected
    assert codes.digest(OLD_KEY, "123456") != expected


async def test_codes_are_stored_as_digests_and_every_key_is_tried(app: Any) -> None:
    flow_id = await new_flow(app)
    async with app.db.transaction() as tx:
        await codes.issue(
            tx,
            keys=[OLD_KEY],
            kind="verification_code",
            flow_id=flow_id,
            value="424242",
            lifespan=dt.timedelta(hours=1),
        )
    stored = await app.db.fetchval("SELECT digest FROM one_time_codes WHERE flow_id = $1", flow_id)
    assert "424242" not in stored and stored == codes.digest(OLD_KEY, "424242")
    # After a key rotation the old key still checks codes it made.
    found = await codes.check_code(
        app.db, keys=[KEY, OLD_KEY], flow_id=flow_id, kind="verification_code", value="424242", max_submissions=5
    )
    assert found.flow_id == flow_id
    with pytest.raises(codes.CodeNotFound):
        await codes.find(app.db, keys=[KEY], flow_id=flow_id, kind="verification_code", value="424242")
    with pytest.raises(codes.CodeNotFound):
        await codes.find(app.db, keys=[KEY, OLD_KEY], flow_id=flow_id, kind="recovery_code", value="424242")


async def test_expired_codes_are_not_found_and_used_ones_are_refused(app: Any) -> None:
    flow_id = await new_flow(app)
    async with app.db.transaction() as tx:
        live = await codes.issue(
            tx, keys=[KEY], kind="verification_code", flow_id=flow_id, value="111111", lifespan=dt.timedelta(hours=1)
        )
        await codes.issue(
            tx, keys=[KEY], kind="verification_code", flow_id=flow_id, value="222222", lifespan=dt.timedelta(seconds=-1)
        )
    with pytest.raises(codes.CodeNotFound):
        await codes.find(app.db, keys=[KEY], flow_id=flow_id, kind="verification_code", value="222222")
    async with app.db.transaction() as tx:
        await codes.consume(tx, live)
    with pytest.raises(codes.CodeAlreadyUsed):
        await codes.find(app.db, keys=[KEY], flow_id=flow_id, kind="verification_code", value="111111")
    with pytest.raises(codes.CodeAlreadyUsed):
        async with app.db.transaction() as tx:
            await codes.consume(tx, live)


async def test_the_counter_is_raised_before_the_check(app: Any) -> None:
    flow_id = await new_flow(app)
    async with app.db.transaction() as tx:
        await codes.issue(
            tx, keys=[KEY], kind="verification_code", flow_id=flow_id, value="333333", lifespan=dt.timedelta(hours=1)
        )
    for _ in range(2):
        with pytest.raises(codes.CodeNotFound):
            await codes.check_code(
                app.db, keys=[KEY], flow_id=flow_id, kind="verification_code", value="999999", max_submissions=2
            )
    with pytest.raises(codes.TooManySubmissions):
        await codes.check_code(
            app.db, keys=[KEY], flow_id=flow_id, kind="verification_code", value="333333", max_submissions=2
        )
    assert await app.db.fetchval("SELECT code_submit_count FROM selfservice_flows WHERE id = $1", flow_id) == 3


async def test_discard_deletes_only_that_kind(app: Any) -> None:
    flow_id = await new_flow(app)
    async with app.db.transaction() as tx:
        for kind in ("verification_code", "verification_link"):
            await codes.issue(
                tx, keys=[KEY], kind=kind, flow_id=flow_id, value="444444", lifespan=dt.timedelta(hours=1)
            )
        await codes.discard(tx, flow_id, "verification_code")
    rows = await app.db.fetch("SELECT kind FROM one_time_codes WHERE flow_id = $1", flow_id)
    assert [r["kind"] for r in rows] == ["verification_link"]


# -- the method objects and their config ----------------------------------------------------


def test_methods_implement_their_protocols() -> None:
    code, link = CodeMethod(), LinkMethod()
    for protocol in (VerificationMethod, RecoveryMethod, LoginMethod, RegistrationMethod):
        assert isinstance(code, protocol)
    assert isinstance(link, VerificationMethod) and isinstance(link, RecoveryMethod)
    assert not isinstance(link, LoginMethod)
    assert (code.id, code.credential_type, link.id, link.credential_type) == ("code", "code", "link", None)


def test_defaults_are_kratos_defaults() -> None:
    assert CodeConfig() == CodeConfig(
        lifespan=dt.timedelta(hours=1), max_submissions=5, missing_credential_fallback_enabled=False
    )
    assert LinkConfig().lifespan == dt.timedelta(hours=1) and LinkConfig().base_url is None


async def test_config_is_validated_at_start_up(kratos_app_factory: Any, tmp_path: Path) -> None:
    good = {"methods": {"code": {"enabled": True, "config": {"lifespan": "15m", "max_submissions": 3}}}}
    app = await kratos_app_factory(merge(default_config(tmp_path), {"selfservice": good}), plugins=[code_plugin])
    method = app.plugins.methods.get("code")
    assert method.config.lifespan == dt.timedelta(minutes=15) and method.config.max_submissions == 3
    for bad in ({"max_submissions": 0}, {"max_submissions": 256}, {"unknown": True}, {"lifespan": "soon"}):
        config = merge(
            default_config(tmp_path), {"selfservice": {"methods": {"code": {"enabled": True, "config": bad}}}}
        )
        with pytest.raises(Exception, match="max_submissions|unknown|lifespan"):
            await kratos_app_factory(config, plugins=[code_plugin])


async def test_link_base_url_is_used_in_links(kratos_app_factory: Any, tmp_path: Path) -> None:
    selfservice = {
        "methods": {"link": {"enabled": True, "config": {"base_url": "https://links.example.org/"}}},
        "flows": {"verification": {"enabled": True, "use": "link"}},
    }
    app = await kratos_app_factory(merge(default_config(tmp_path), {"selfservice": selfservice}), plugins=[code_plugin])
    async with clients(app) as (public, admin):
        await admin.post("/admin/identities", json={"schema_id": "default", "traits": {"email": "jane@example.org"}})
        flow = (await public.get("/self-service/verification/api")).json()
        sent = await public.post(
            "/self-service/verification",
            params={"flow": flow["id"]},
            json={"method": "link", "email": "jane@example.org"},
        )
        assert sent.status_code == 200 and sent.json()["state"] == "sent_email"
    data = await app.db.fetchval(
        "SELECT template_data FROM courier_messages WHERE template_type = 'verification_valid'"
    )
    url = data["verification_url"]
    assert url.startswith("https://links.example.org/self-service/verification?")
    assert parse_qs(urlsplit(url).query)["flow"] == [flow["id"]]
