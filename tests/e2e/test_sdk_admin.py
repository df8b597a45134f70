"""The official SDK drives the admin identity API, and every response parses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import kratos_password.plugin as password_plugin
import ory_kratos_client
import pytest
from ory_kratos_client.api.identity_api import IdentityApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.create_identity_body import CreateIdentityBody
from ory_kratos_client.models.identity_patch import IdentityPatch
from ory_kratos_client.models.json_patch import JsonPatch
from ory_kratos_client.models.patch_identities_body import PatchIdentitiesBody
from ory_kratos_client.models.update_identity_body import UpdateIdentityBody

from tests.conftest import LiveServer, make_app


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """With the password plugin (registered, not enabled): it reserves the email identifier."""
    with LiveServer(make_app(tmp_path, plugins=[password_plugin])) as server:
        yield server


@pytest.fixture
def api(live: LiveServer) -> IdentityApi:
    client = ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.admin_url))
    return IdentityApi(client)


def body(email: str, **extra: object) -> CreateIdentityBody:
    return CreateIdentityBody(schema_id="default", traits={"email": email, "name": {"first": "Jo"}}, **extra)


def test_sdk_create_get_update_patch_delete(api: IdentityApi) -> None:
    created = api.create_identity(create_identity_body=body("sdk@example.org", metadata_admin={"tier": 1}, external_id="ext-9"))
    assert created.traits["email"] == "sdk@example.org"
    assert created.verifiable_addresses[0].status == "pending"
    assert created.credentials["password"].identifiers == ["sdk@example.org"]

    fetched = api.get_identity(created.id)
    assert fetched.id == created.id and fetched.metadata_admin == {"tier": 1}
    assert api.get_identity_by_external_id("ext-9").id == created.id

    updated = api.update_identity(
        created.id,
        update_identity_body=UpdateIdentityBody(schema_id="default", state="inactive", traits={"email": "sdk2@example.org"}),
    )
    assert updated.state == "inactive" and updated.traits == {"email": "sdk2@example.org"}

    patched = api.patch_identity(
        created.id, json_patch=[JsonPatch(op="replace", path="/metadata_public", value={"k": "v"})]
    )
    assert patched.metadata_public == {"k": "v"}

    api.delete_identity(created.id)
    with pytest.raises(ApiException) as err:
        api.get_identity(created.id)
    assert err.value.status == 404


def test_sdk_list_with_pagination(api: IdentityApi) -> None:
    ids = {api.create_identity(create_identity_body=body(f"list{i}@example.org")).id for i in range(5)}
    first = api.list_identities_with_http_info(page_size=2)
    seen = [i.id for i in first.data]
    link = {k.lower(): v for k, v in first.headers.items()}["link"]
    while 'rel="next"' in link:
        token = link.split("page_token=")[-1].split(">")[0]
        page = api.list_identities_with_http_info(page_size=2, page_token=token)
        seen += [i.id for i in page.data]
        link = {k.lower(): v for k, v in page.headers.items()}["link"]
    assert sorted(seen) == sorted(ids)


def test_sdk_batch_and_conflict(api: IdentityApi) -> None:
    pid = str(uuid.uuid4())
    result = api.batch_patch_identities(
        patch_identities_body=PatchIdentitiesBody(
            identities=[
                IdentityPatch(create=body("batch@example.org"), patch_id=pid),
                IdentityPatch(create=body("BATCH@example.org")),
            ]
        )
    )
    assert [r.action for r in result.identities] == ["create", "error"]
    assert result.identities[0].patch_id == pid
    with pytest.raises(ApiException) as err:
        api.create_identity(create_identity_body=body("batch@example.org"))
    assert err.value.status == 409


def test_sdk_schemas(live: LiveServer) -> None:
    from ory_kratos_client.api.frontend_api import FrontendApi  # noqa: F401 - import proves the SDK is whole

    client = ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.public_url))
    identity_api = IdentityApi(client)
    schemas = identity_api.list_identity_schemas()
    assert [s.id for s in schemas] == ["default"]
    assert identity_api.get_identity_schema("default")["title"] == "Person"
