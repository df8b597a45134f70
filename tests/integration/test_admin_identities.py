"""The admin identity API over HTTP: shapes, status codes, and refusals of bad input."""

from __future__ import annotations

import uuid

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import kratos_password.plugin as password_plugin
import pytest

from kratos_core.app import KratosApp
from tests.conftest import make_app

EMAIL = "jane@example.org"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[KratosApp]:
    """Core plugins plus the password plugin, registered but not enabled: the schema's
    ``credentials.password.identifier`` traits are reserved as identifiers by its declarations."""
    instance = make_app(tmp_path, plugins=[password_plugin])
    await instance.start(migrate=True)
    try:
        yield instance
    finally:
        await instance.stop()


async def create(admin: httpx.AsyncClient, email: str = EMAIL, **body: object) -> httpx.Response:
    payload = {"schema_id": "default", "traits": {"email": email, "name": {"first": "Jane"}}, **body}
    return await admin.post("/admin/identities", json=payload)


async def test_create_returns_201_location_and_kratos_shape(admin: httpx.AsyncClient) -> None:
    r = await create(admin, metadata_admin={"plan": "pro"}, metadata_public={"nick": "jj"})
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"http://127.0.0.1:4434/identities/{body['id']}"
    uuid.UUID(body["id"])
    assert body["schema_id"] == "default"
    assert body["schema_url"] == "http://127.0.0.1:4433/schemas/ZGVmYXVsdA"
    assert body["state"] == "active"
    assert body["traits"] == {"email": EMAIL, "name": {"first": "Jane"}}
    assert body["metadata_admin"] == {"plan": "pro"}
    assert body["metadata_public"] == {"nick": "jj"}
    assert body["organization_id"] is None
    [va] = body["verifiable_addresses"]
    assert (va["value"], va["via"], va["verified"], va["status"]) == (EMAIL, "email", False, "pending")
    [ra] = body["recovery_addresses"]
    assert (ra["value"], ra["via"]) == (EMAIL, "email")
    # The identifier is reserved at once, even without a password (Kratos does the same).
    assert body["credentials"]["password"]["identifiers"] == [EMAIL]
    assert "config" not in body["credentials"]["password"]


async def test_identifiers_are_normalised_and_unique_across_case_and_spaces(admin: httpx.AsyncClient) -> None:
    assert (await create(admin, "Jane@Example.org")).status_code == 201
    for variant in ("jane@example.org", "JANE@EXAMPLE.ORG", "Jane@EXAMPLE.org"):
        r = await create(admin, variant)
        assert r.status_code == 409, variant
        err = r.json()["error"]
        assert err["code"] == 409
        assert err["reason"] == "This identity conflicts with another identity that already exists."
    # With surrounding spaces the trait is not an e-mail address at all (as in Kratos).
    r = await create(admin, "  jane@example.org  ")
    assert r.status_code == 400 and "email" in r.json()["error"]["reason"]
    listed = (await admin.get("/admin/identities")).json()
    assert len(listed) == 1


async def test_username_identifiers_conflict_across_spaces_and_case(tmp_path) -> None:
    from tests.conftest import IDENTITY_SCHEMA, base_config

    schema = {**IDENTITY_SCHEMA}
    schema["properties"] = {"traits": {"type": "object", "properties": {"username": {
        "type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": True}}}}}}}
    cfg = base_config(tmp_path)
    (tmp_path / "identity.schema.json").write_text(__import__("json").dumps(schema))
    app = make_app(tmp_path, cfg, plugins=[password_plugin])
    await app.start(migrate=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://a") as admin:
            body = {"schema_id": "default", "traits": {"username": "Jane.Doe"}}
            assert (await admin.post("/admin/identities", json=body)).status_code == 201
            for variant in ("  jane.doe  ", "JANE.DOE", "ｊａｎｅ．ｄｏｅ"):
                body = {"schema_id": "default", "traits": {"username": variant}}
                assert (await admin.post("/admin/identities", json=body)).status_code == 409, variant
            assert len((await admin.get("/admin/identities")).json()) == 1
    finally:
        await app.stop()


async def test_schema_violation_is_400_with_the_key_and_nothing_stored(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/admin/identities", json={"schema_id": "default", "traits": {"email": "not-an-email"}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["status"] == "Bad Request"
    assert "email" in err["reason"]
    r = await admin.post("/admin/identities", json={"schema_id": "default", "traits": {"name": {"first": "x"}}})
    assert r.status_code == 400
    assert "email" in r.json()["error"]["reason"]
    assert (await admin.get("/admin/identities")).json() == []


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"content-type": "application/json"}, b"{not json"),
        ({"content-type": "text/plain"}, b'{"traits": {}}'),
        ({}, b'{"traits": {}}'),
        ({"content-type": "application/json"}, b'{"traits": {"email": "a@b.co"}, "unknown_field": 1}'),
        ({"content-type": "application/json"}, b'{"schema_id": "nope", "traits": {"email": "a@b.co"}}'),
        ({"content-type": "application/json"}, b'{"traits": {"email": "a@b.co"}, "state": "sleeping"}'),
        ({"content-type": "application/json"}, b"[]"),
    ],
)
async def test_bad_create_bodies_are_400_in_error_shape(admin: httpx.AsyncClient, headers: dict, content: bytes) -> None:
    r = await admin.post("/admin/identities", content=content, headers=headers)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == 400 and err["message"] and err["reason"]
    assert (await admin.get("/admin/identities")).json() == []


async def test_unknown_credential_type_is_400(admin: httpx.AsyncClient) -> None:
    r = await create(admin, credentials={"totp": {"config": {"totp_url": "otpauth://totp/x"}}})
    assert r.status_code == 400
    assert "totp" in r.json()["error"]["reason"]


async def test_body_over_the_limit_is_413(admin: httpx.AsyncClient) -> None:
    big = b'{"traits": {"email": "' + b"a" * (6 * 1024 * 1024) + b'"}}'
    r = await admin.post("/admin/identities", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == 413


async def test_get_unknown_and_malformed_ids_are_404(admin: httpx.AsyncClient) -> None:
    for ident in (str(uuid.uuid4()), "not-a-uuid"):
        r = await admin.get(f"/admin/identities/{ident}")
        assert r.status_code == 404
        assert r.json()["error"]["message"] == "Unable to locate the resource"


async def test_unprefixed_admin_paths_work(admin: httpx.AsyncClient) -> None:
    created = (await create(admin)).json()
    r = await admin.get(f"/identities/{created['id']}")
    assert r.status_code == 200 and r.json()["id"] == created["id"]


async def test_keyset_pagination_walks_every_identity_once(admin: httpx.AsyncClient) -> None:
    ids = {(await create(admin, f"user{i}@example.org")).json()["id"] for i in range(7)}
    seen: list[str] = []
    url = "/admin/identities?page_size=3"
    pages = 0
    while url:
        r = await admin.get(url)
        assert r.status_code == 200
        page = r.json()
        assert all("credentials" not in i for i in page)
        seen += [i["id"] for i in page]
        nxt = r.links.get("next", {}).get("url")
        assert 'rel="first"' in r.headers["link"]
        url = nxt.replace("http://127.0.0.1:4434", "") if nxt else ""
        pages += 1
    assert pages == 3
    assert seen == sorted(ids) and len(seen) == 7


async def test_list_filters(admin: httpx.AsyncClient) -> None:
    a = (await create(admin, "a@example.org")).json()
    b = (await create(admin, "b@example.org")).json()
    r = await admin.get("/admin/identities", params={"credentials_identifier": " A@Example.org "})
    [found] = r.json()
    assert found["id"] == a["id"] and "credentials" in found
    r = await admin.get("/admin/identities", params=[("ids", a["id"]), ("ids", b["id"])])
    assert {i["id"] for i in r.json()} == {a["id"], b["id"]}
    r = await admin.get("/admin/identities", params=[("ids", a["id"]), ("credentials_identifier", "x")])
    assert r.status_code == 400
    assert r.json()["error"]["reason"] == "You cannot combine multiple filters in this API"
    r = await admin.get("/admin/identities", params={"page_size": "0"})
    assert r.status_code == 400
    r = await admin.get("/admin/identities", params={"page_token": "garbage!"})
    assert r.status_code == 400
    r = await admin.get("/admin/identities", params={"include_credential": "nonsense"})
    assert r.status_code == 400


async def test_legacy_pagination_has_total_count(admin: httpx.AsyncClient) -> None:
    for i in range(3):
        await create(admin, f"p{i}@example.org")
    r = await admin.get("/admin/identities", params={"page": 1, "per_page": 2})
    assert r.headers["x-total-count"] == "3"
    assert len(r.json()) == 1
    # Kratos allows pages of up to 1000 and clamps per_page instead of refusing it.
    for params in ({"page_size": 1000}, {"per_page": 750}, {"per_page": 5000}, {"per_page": 0}):
        r = await admin.get("/admin/identities", params=params)
        assert r.status_code == 200, (params, r.text)
    assert len((await admin.get("/admin/identities", params={"per_page": 0})).json()) == 1
    assert (await admin.get("/admin/identities", params={"page_size": 1001})).status_code == 400


async def test_put_replaces_and_clears_missing_fields(admin: httpx.AsyncClient) -> None:
    created = (await create(admin, metadata_admin={"plan": "pro"}, external_id="ext-1")).json()
    r = await admin.put(
        f"/admin/identities/{created['id']}",
        json={"schema_id": "default", "state": "inactive", "traits": {"email": "new@example.org"}},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["traits"] == {"email": "new@example.org"}
    assert body["state"] == "inactive"
    assert body["state_changed_at"] >= created["state_changed_at"]
    assert "metadata_admin" not in body and "external_id" not in body
    assert body["credentials"]["password"]["identifiers"] == ["new@example.org"]
    assert [a["value"] for a in body["verifiable_addresses"]] == ["new@example.org"]
    # The old identifier is free again.
    assert (await create(admin, EMAIL)).status_code == 201


async def test_put_conflict_leaves_both_identities_unchanged(admin: httpx.AsyncClient) -> None:
    a = (await create(admin, "a@example.org")).json()
    b = (await create(admin, "b@example.org")).json()
    r = await admin.put(f"/admin/identities/{b['id']}", json={"schema_id": "default", "traits": {"email": "A@example.org"}})
    assert r.status_code == 409
    assert (await admin.get(f"/admin/identities/{b['id']}")).json()["traits"]["email"] == "b@example.org"
    assert (await admin.get(f"/admin/identities/{a['id']}")).json()["traits"]["email"] == "a@example.org"


async def test_json_patch(admin: httpx.AsyncClient) -> None:
    created = (await create(admin)).json()
    ops = [
        {"op": "replace", "path": "/traits/email", "value": "patched@example.org"},
        {"op": "add", "path": "/metadata_public", "value": {"a": 1}},
        {"op": "replace", "path": "/state", "value": "inactive"},
    ]
    r = await admin.patch(f"/admin/identities/{created['id']}", json=ops)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["traits"]["email"] == "patched@example.org"
    assert body["metadata_public"] == {"a": 1}
    assert body["state"] == "inactive"
    assert body["credentials"]["password"]["identifiers"] == ["patched@example.org"]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/id", "value": "00000000-0000-0000-0000-000000000000"}],
        [{"op": "remove", "path": "/credentials"}],
        [{"op": "add", "path": "/credentials/oidc", "value": {}}],
        [{"op": "replace", "path": "/traits/email", "value": "not an email"}],
        [{"op": "replace", "path": "/state", "value": "weird"}],
        [{"op": "test", "path": "/traits/email", "value": "other@example.org"}],
        [{"op": "remove", "path": "/traits/nope"}],
        {"op": "replace"},
        [{"op": "jump", "path": "/traits"}],
    ],
)
async def test_bad_json_patches_are_400_and_change_nothing(admin: httpx.AsyncClient, ops: object) -> None:
    created = (await create(admin)).json()
    r = await admin.patch(f"/admin/identities/{created['id']}", json=ops)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == 400
    after = (await admin.get(f"/admin/identities/{created['id']}")).json()
    assert after["traits"] == created["traits"] and after["state"] == "active"


async def test_delete(admin: httpx.AsyncClient) -> None:
    created = (await create(admin)).json()
    r = await admin.delete(f"/admin/identities/{created['id']}")
    assert r.status_code == 204 and r.content == b""
    assert (await admin.get(f"/admin/identities/{created['id']}")).status_code == 404
    assert (await admin.delete(f"/admin/identities/{created['id']}")).status_code == 404
    assert (await create(admin)).status_code == 201


async def test_external_id_lookup_and_uniqueness(admin: httpx.AsyncClient) -> None:
    created = (await create(admin, external_id="crm-42")).json()
    r = await admin.get("/admin/identities/by/external/crm-42")
    assert r.status_code == 200 and r.json()["id"] == created["id"]
    assert r.json()["external_id"] == "crm-42"
    assert (await admin.get("/admin/identities/by/external/unknown")).status_code == 404
    assert (await create(admin, "other@example.org", external_id="crm-42")).status_code == 409


async def test_batch_create_reports_each_item(admin: httpx.AsyncClient) -> None:
    patch_ids = [str(uuid.uuid4()) for _ in range(3)]
    body = {
        "identities": [
            {"create": {"schema_id": "default", "traits": {"email": "one@example.org"}}, "patch_id": patch_ids[0]},
            {"create": {"schema_id": "default", "traits": {"email": "bad"}}, "patch_id": patch_ids[1]},
            {"create": {"schema_id": "default", "traits": {"email": "ONE@example.org"}}, "patch_id": patch_ids[2]},
        ]
    }
    r = await admin.patch("/admin/identities", json=body)
    assert r.status_code == 200
    results = r.json()["identities"]
    assert [x["action"] for x in results] == ["create", "error", "error"]
    assert [x["patch_id"] for x in results] == patch_ids
    assert results[1]["error"]["code"] == 400
    assert results[2]["error"]["code"] == 409
    assert len((await admin.get("/admin/identities")).json()) == 1


async def test_batch_limits(admin: httpx.AsyncClient) -> None:
    body = {"identities": [{"create": {"traits": {"email": f"u{i}@example.org"}}} for i in range(1001)]}
    r = await admin.patch("/admin/identities", json=body)
    assert r.status_code == 400
    assert (await admin.get("/admin/identities")).json() == []


async def test_preverified_addresses_on_create(admin: httpx.AsyncClient) -> None:
    r = await create(
        admin,
        verifiable_addresses=[{"value": EMAIL, "via": "email", "verified": True, "status": "completed"}],
    )
    [va] = r.json()["verifiable_addresses"]
    assert va["verified"] is True and va["status"] == "completed" and "verified_at" in va


async def test_delete_credential_rules(admin: httpx.AsyncClient) -> None:
    created = (await create(admin)).json()
    base = f"/admin/identities/{created['id']}/credentials"
    assert (await admin.delete(f"{base}/totp")).status_code == 404
    assert (await admin.delete(f"{base}/profile")).status_code == 400
    # A password credential without a secret is not a credential to delete.
    assert (await admin.delete(f"{base}/password")).status_code == 404


async def test_schemas_on_both_ports(admin: httpx.AsyncClient, public: httpx.AsyncClient) -> None:
    for client in (admin, public):
        listed = (await client.get("/schemas")).json()
        assert [s["id"] for s in listed] == ["default"]
        assert listed[0]["schema"]["title"] == "Person"
        assert (await client.get("/schemas/default")).json()["title"] == "Person"
        assert (await client.get("/schemas/ZGVmYXVsdA")).json()["title"] == "Person"
        r = await client.get("/schemas/unknown")
        assert r.status_code == 404 and r.json()["error"]["code"] == 404


async def test_health_and_version(admin: httpx.AsyncClient, public: httpx.AsyncClient, app: KratosApp) -> None:
    for client in (admin, public):
        assert (await client.get("/health/alive")).json() == {"status": "ok"}
        assert (await client.get("/health/ready")).json() == {"status": "ok"}
        r = await client.get("/version")
        if client is public:  # /version is served by the admin API only, as in Kratos
            assert r.status_code == 404
            continue
        assert r.json()["version"].startswith("v")
        assert r.headers["cache-control"] == "private, no-cache, no-store, must-revalidate"
    await app.db.close()
    r = await public.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["errors"]["database"] == "error may contain sensitive information and was obfuscated"


async def test_public_port_never_serves_admin(public: httpx.AsyncClient) -> None:
    for path in ("/admin/identities", "/identities", "/admin/identities/x?y=1"):
        r = await public.get(path)
        assert r.status_code == 307
        assert r.headers["location"] == "http://127.0.0.1:4434" + path
    r = await public.post("/admin/identities", json={"traits": {}})
    assert r.status_code == 307


async def test_unknown_routes_and_methods_in_error_shape(admin: httpx.AsyncClient, public: httpx.AsyncClient) -> None:
    r = await public.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == 404
    r = await admin.put("/admin/identities", json={})
    assert r.status_code == 405 and r.json()["error"]["code"] == 405


async def test_openapi_document_is_served(admin: httpx.AsyncClient) -> None:
    r = await admin.get("/.well-known/kratos-core/openapi/openapi.json")
    assert r.status_code == 200
    assert "/admin/identities" in r.json()["paths"]
