"""The admin identity API (kratos-behaviour.md section 5.3), on the admin port only.

Every route answers under ``/admin/identities`` and, as Kratos's admin router does, under the
unprefixed ``/identities`` too.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jsonpatch
import msgspec
from litestar import Request, Response, delete, get, patch, post, put

from ..errors import BadRequest, KratosError, NotFound
from ..identity.manager import IdentityDraft
from ..identity.model import Identity, identity_admin_dict
from ..identity.normalize import normalize_identifier
from ..methods import KRATOS_CREDENTIAL_TYPES, MethodBase
from ..persistence import identities as store
from .responses import decode_struct, int_query_param, json_response, read_json

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["identity_handlers"]

#: Kratos allows pages of up to 1000 items (keyset and legacy pagination alike).
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 250
MAX_BATCH = 1000
MAX_BATCH_COSTLY = 200


class CreateIdentityBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    traits: Any
    schema_id: str | None = None
    state: str = "active"
    metadata_public: Any = None
    metadata_admin: Any = None
    verifiable_addresses: list[dict[str, Any]] | None = None
    recovery_addresses: list[dict[str, Any]] | None = None
    credentials: dict[str, dict[str, Any]] | None = None
    external_id: str | None = None
    organization_id: uuid.UUID | None = None


class UpdateIdentityBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    traits: Any
    schema_id: str | None = None
    state: str | None = None
    metadata_public: Any = None
    metadata_admin: Any = None
    credentials: dict[str, dict[str, Any]] | None = None
    external_id: str | None = None
    organization_id: uuid.UUID | None = None


class BatchItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    create: Any = None
    patch_id: uuid.UUID | None = None


class BatchBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    identities: list[BatchItem]


def _kratos(request: Request) -> KratosApp:
    return request.app.state["kratos"]


def _parse_id(raw: str) -> uuid.UUID:
    # Kratos parses path ids leniently and then finds nothing: an id that is not a UUID is 404.
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound("Unable to locate the resource", message="Unable to locate the resource") from exc


def _include_credential(request: Request) -> list[str]:
    types = request.query_params.getall("include_credential", [])
    known = _kratos(request).identities.credential_methods
    for t in types:
        if t not in known and t not in KRATOS_CREDENTIAL_TYPES:
            raise BadRequest(f'Unknown credential type "{t}" in include_credential.')
    return types


_NO_METHOD = MethodBase()


def _method(app: KratosApp, ctype: str) -> MethodBase | None:
    return app.identities.credential_methods.get(ctype)


def _present(app: KratosApp, ctype: str, config: dict[str, Any]) -> dict[str, Any]:
    """A credential's config as its method shows it (redacted when no installed method owns it)."""
    return (_method(app, ctype) or _NO_METHOD).present_credential(config)


def _render(app: KratosApp, identity: Identity, *, credentials: bool = True, include: list[str] = ()) -> dict[str, Any]:
    out = identity_admin_dict(identity, app.public_base_url, credentials=credentials, include_config=include)
    for entry in out.get("credentials", {}).values():
        if "config" in entry:
            entry["config"] = _present(app, entry["type"], entry["config"])
    return out


def _draft(app: KratosApp, body: Any, *, state: str) -> IdentityDraft:
    return IdentityDraft(
        schema_id=body.schema_id or app.config.identity.default_schema_id,
        traits=body.traits,
        state=state,
        metadata_public=body.metadata_public,
        metadata_admin=body.metadata_admin,
        external_id=body.external_id,
        organization_id=body.organization_id,
        verifiable_addresses=getattr(body, "verifiable_addresses", None),
        recovery_addresses=getattr(body, "recovery_addresses", None),
        credentials=body.credentials,
    )


# -- pagination ---------------------------------------------------------------------------------


def _page_token(last: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode({"k": str(last)})).decode().rstrip("=")


def _parse_page_token(token: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return uuid.UUID(msgspec.json.decode(raw)["k"])
    except (binascii.Error, ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
        raise BadRequest("The page_token is invalid; use the one from the Link header.") from exc


def _link(app: KratosApp, params: dict[str, Any], rel: str) -> str:
    url = f"{app.admin_base_url.rstrip('/')}/admin/identities?{urlencode(params, doseq=True)}"
    return f'<{url}>; rel="{rel}"'


# -- handlers -----------------------------------------------------------------------------------


def identity_handlers() -> list[Any]:
    """The admin identity routes (created per app so each app owns its handler objects)."""

    def paths(suffix: str = "") -> list[str]:
        return [f"/admin/identities{suffix}", f"/identities{suffix}"]

    @get(paths(), summary="List identities", tags=["identity"])
    async def list_identities(request: Request) -> Response[bytes]:
        app = _kratos(request)
        q = request.query_params
        include = _include_credential(request)
        filters = [f for f in ("credentials_identifier", "preview_credentials_identifier_similar", "ids", "organization_id") if q.getall(f, [])]
        if len(filters) > 1:
            raise BadRequest("You cannot combine multiple filters in this API")
        if filters:
            return await _filtered(app, request, filters[0], include)
        return await _paged(app, request, include)

    @post(paths(), summary="Create an identity", tags=["identity"], status_code=201)
    async def create_identity(request: Request) -> Response[bytes]:
        app = _kratos(request)
        body = decode_struct(await read_json(request), CreateIdentityBody)
        identity = await app.identities.create(_draft(app, body, state=body.state))
        location = f"{app.admin_base_url.rstrip('/')}/identities/{identity.id}"
        return json_response(_render(app, identity), status_code=201, headers={"Location": location})

    @patch(paths(), summary="Create identities in a batch", tags=["identity"])
    async def batch_identities(request: Request) -> Response[bytes]:
        app = _kratos(request)
        body = decode_struct(await read_json(request), BatchBody)
        _check_batch_limits(body)
        _check_costly_imports(app, body)
        results = [await _batch_one(app, item) for item in body.identities]
        return json_response({"identities": results})

    @get(paths("/{identity_id:str}"), summary="Get an identity", tags=["identity"])
    async def get_identity(request: Request) -> Response[bytes]:
        identity_id = request.path_params["identity_id"]
        app = _kratos(request)
        include = _include_credential(request)
        identity = await app.identities.get(_parse_id(identity_id))
        return json_response(_render(app, identity, include=include))

    @get(paths("/by/external/{external_id:str}"), summary="Get an identity by its external id", tags=["identity"])
    async def get_by_external_id(request: Request) -> Response[bytes]:
        external_id = request.path_params["external_id"]
        app = _kratos(request)
        include = _include_credential(request)
        found = await store.find_identity_id_by_external_id(app.db, external_id)
        if found is None:
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource")
        return json_response(_render(app, await app.identities.get(found), include=include))

    @put(paths("/{identity_id:str}"), summary="Replace an identity", tags=["identity"])
    async def update_identity(request: Request) -> Response[bytes]:
        identity_id = request.path_params["identity_id"]
        app = _kratos(request)
        identity = await app.identities.get(_parse_id(identity_id))
        body = decode_struct(await read_json(request), UpdateIdentityBody)
        draft = _draft(app, body, state=body.state or identity.state)
        draft.schema_id = body.schema_id or identity.schema_id
        updated = await app.identities.update(identity, draft)
        return json_response(_render(app, updated))

    @patch(paths("/{identity_id:str}"), summary="Change an identity with JSON Patch", tags=["identity"])
    async def patch_identity(request: Request) -> Response[bytes]:
        identity_id = request.path_params["identity_id"]
        app = _kratos(request)
        identity = await app.identities.get(_parse_id(identity_id))
        ops = await read_json(request)
        patched = _apply_patch(_render(app, identity, include=list(identity.credentials)), ops)
        updated = await _save_patched(app, identity, patched)
        return json_response(_render(app, updated))

    @delete(paths("/{identity_id:str}"), summary="Delete an identity", tags=["identity"], status_code=204)
    async def delete_identity(request: Request) -> None:
        identity_id = request.path_params["identity_id"]
        await _kratos(request).identities.delete(_parse_id(identity_id))

    @delete(paths("/{identity_id:str}/credentials/{ctype:str}"), summary="Delete one credential", tags=["identity"], status_code=204)
    async def delete_credential(request: Request) -> None:
        identity_id, ctype = request.path_params["identity_id"], request.path_params["ctype"]
        app = _kratos(request)
        identity = await app.identities.get(_parse_id(identity_id))
        _remove_credential(app, identity, ctype, request.query_params.get("identifier"))
        await app.identities.save(identity)

    return [
        list_identities,
        create_identity,
        batch_identities,
        get_identity,
        get_by_external_id,
        update_identity,
        patch_identity,
        delete_identity,
        delete_credential,
    ]


async def _paged(app: KratosApp, request: Request, include: list[str]) -> Response[bytes]:
    q = request.query_params
    headers: dict[str, str] = {}
    if q.get("page") is not None or q.get("per_page") is not None:
        # Legacy offset pagination, kept for old clients: page is 0-based.
        # Kratos clamps per_page into [1, 1000] instead of refusing it.
        per_page = min(max(int_query_param(request, "per_page", DEFAULT_PAGE_SIZE, low=-(2**31), high=2**31), 1), MAX_PAGE_SIZE)
        page = int_query_param(request, "page", 0, low=0, high=1000)
        if page * per_page > 1000:
            raise BadRequest("Legacy pagination can reach at most 1000 items; use page_token instead.")
        identities = await store.list_identities(app.db, limit=per_page, offset=page * per_page, credentials=bool(include))
        headers["X-Total-Count"] = str(await store.count_identities(app.db))
        return json_response([_render(app, i, credentials=bool(include), include=include) for i in identities], headers=headers)
    size = int_query_param(request, "page_size", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
    token = q.get("page_token")
    after = _parse_page_token(token) if token else None
    identities = await store.list_identities(app.db, limit=size + 1, after=after, credentials=bool(include))
    links = [_link(app, {"page_size": size}, "first")]
    if len(identities) > size:
        identities = identities[:size]
        links.append(_link(app, {"page_size": size, "page_token": _page_token(identities[-1].id)}, "next"))
    headers["Link"] = ",".join(links)
    return json_response([_render(app, i, credentials=bool(include), include=include) for i in identities], headers=headers)


async def _filtered(app: KratosApp, request: Request, name: str, include: list[str]) -> Response[bytes]:
    q = request.query_params
    if name == "ids":
        raw_ids = q.getall("ids", [])
        if len(raw_ids) > 500:
            raise BadRequest("You can request at most 500 ids at once.")
        try:
            ids = sorted({uuid.UUID(i) for i in raw_ids})
        except ValueError as exc:
            raise BadRequest("Every ids value must be a UUID.") from exc
        identities = await store.get_identities(app.db, ids, credentials=bool(include))
        return json_response([_render(app, i, credentials=bool(include), include=include) for i in identities])
    if name == "organization_id":
        try:
            org = uuid.UUID(q.get("organization_id"))
        except ValueError as exc:
            raise BadRequest("organization_id must be a UUID.") from exc
        ids = await store.identity_ids_of_organization(app.db, org)
        identities = await store.get_identities(app.db, ids, credentials=bool(include))
        return json_response([_render(app, i, credentials=bool(include), include=include) for i in identities])
    value = q.get(name) or ""
    if name == "credentials_identifier":
        ids = await store.find_identity_id_by_identifier(app.db, normalize_identifier(value))
        if not ids and value != normalize_identifier(value):
            ids = await store.find_identity_id_by_identifier(app.db, value)
    else:
        ids = await _similar(app, normalize_identifier(value))
    identities = await store.get_identities(app.db, ids)
    # Filtering by identifier shows credentials (without config unless asked), as Kratos does.
    return json_response([_render(app, i, include=include) for i in identities])


async def _similar(app: KratosApp, prefix: str) -> list[uuid.UUID]:
    return await store.identity_ids_by_identifier_prefix(app.db, prefix)


def _check_batch_limits(body: BatchBody) -> None:
    if len(body.identities) > MAX_BATCH:
        raise BadRequest(f"A batch may contain at most {MAX_BATCH} identities, got {len(body.identities)}.")



def _check_costly_imports(app: KratosApp, body: BatchBody) -> None:
    costly = sum(1 for item in body.identities if _is_costly(app, item.create))
    if costly > MAX_BATCH_COSTLY:
        raise BadRequest(
            f"A batch may contain at most {MAX_BATCH_COSTLY} identities whose credentials must be hashed on import (plaintext secrets), got {costly}."
        )


def _is_costly(app: KratosApp, create: Any) -> bool:
    """Whether an item imports a credential its method declares costly (a secret to hash)."""
    creds = create.get("credentials") if isinstance(create, dict) else None
    if not isinstance(creds, dict):
        return False
    for ctype, raw in creds.items():
        method = _method(app, ctype)
        if method is not None and isinstance(raw, dict) and method.import_is_costly(raw):
            return True
    return False


async def _batch_one(app: KratosApp, item: BatchItem) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if item.patch_id is not None:
        result["patch_id"] = str(item.patch_id)
    try:
        if item.create is None:
            raise BadRequest('Each batch item needs a "create" object.')
        body = decode_struct(item.create, CreateIdentityBody, what="identity")
        identity = await app.identities.create(_draft(app, body, state=body.state))
    except KratosError as exc:
        return {"action": "error", "error": exc.to_dict(), **result}
    return {"action": "create", "identity": str(identity.id), **result}


# -- JSON Patch ---------------------------------------------------------------------------------

_FORBIDDEN_PATCH = ("/id", "/credentials", "/credentials/oidc", "/credentials/saml")
_PATCHABLE = {"traits", "schema_id", "state", "metadata_public", "metadata_admin", "external_id", "credentials", "verifiable_addresses", "recovery_addresses", "organization_id"}


def _apply_patch(document: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise BadRequest("The request body must be a JSON Patch document: an array of operations.")
    for op in ops:
        for key in ("path", "from"):
            path = op.get(key)
            if not isinstance(path, str):
                continue
            if path in _FORBIDDEN_PATCH[:2] or path.startswith(("/credentials/oidc", "/credentials/saml")):
                raise BadRequest(f'The JSON Patch path "{path}" may not be changed.')
            top = path.split("/")[1] if path.count("/") else ""
            if key == "path" and top not in _PATCHABLE:
                raise BadRequest(f'The JSON Patch path "{path}" may not be changed.')
    try:
        return jsonpatch.apply_patch(document, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as exc:
        raise BadRequest(f"Unable to apply the JSON Patch: {exc}") from exc


async def _save_patched(app: KratosApp, identity: Identity, patched: dict[str, Any]) -> Identity:
    creds = patched.get("credentials") or {}
    if not isinstance(creds, dict) or set(creds) != set(identity.credentials):
        raise BadRequest("Credentials cannot be added or removed with JSON Patch; change their config instead.")
    changed: dict[str, dict[str, Any]] = {}
    for ctype, cred in creds.items():
        config = cred.get("config") if isinstance(cred, dict) else None
        if not isinstance(config, dict):
            raise BadRequest(f"credentials.{ctype}.config must be an object.")
        stored = identity.credentials[ctype].config
        if config == _present(app, ctype, stored):
            continue
        if getattr(app.identities.credential_owner(ctype), "import_credentials", None) is not None:
            # Through the owning plugin, so a patched secret is hashed and a hash is checked.
            changed[ctype] = {"config": config}
        elif _present(app, ctype, stored) == stored:
            identity.credentials[ctype].config = config
        else:
            # What the patch saw was redacted: writing it back would destroy the secret.
            raise BadRequest(f"credentials.{ctype}.config cannot be changed with JSON Patch: no installed plugin imports it.")
    state = patched.get("state")
    if not isinstance(state, str):
        raise BadRequest('The identity state must be "active" or "inactive".')
    organization = patched.get("organization_id")
    try:
        org_id = uuid.UUID(organization) if organization else None
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadRequest("organization_id must be a UUID.") from exc
    draft = IdentityDraft(
        schema_id=str(patched.get("schema_id") or ""),
        traits=patched.get("traits"),
        state=state,
        metadata_public=patched.get("metadata_public"),
        metadata_admin=patched.get("metadata_admin"),
        external_id=patched.get("external_id") if isinstance(patched.get("external_id"), str) else None,
        organization_id=org_id,
        verifiable_addresses=patched.get("verifiable_addresses") if isinstance(patched.get("verifiable_addresses"), list) else None,
        credentials=changed,
    )
    return await app.identities.update(identity, draft)


# -- deleting one credential --------------------------------------------------------------------


def _remove_credential(app: KratosApp, identity: Identity, ctype: str, identifier: str | None) -> None:
    """Kratos's rules, computed from the method declarations: only a set-up credential (usable as
    a first or second factor) can be deleted, never the identity's last first factor, and the
    method decides what remains (:meth:`~kratos_core.methods.MethodBase.remove_credential`)."""
    method = _method(app, ctype)
    if method is None:
        # A Kratos type whose plugin is not installed: the identity cannot hold a usable one.
        # A method without credentials (profile), or a stranger type: nothing deletable.
        absent = ctype in KRATOS_CREDENTIAL_TYPES and ctype not in identity.credentials
        if absent and app.plugins.methods.get(ctype) is None:
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource")
        raise BadRequest(f'Credentials of type "{ctype}" cannot be deleted.')
    cred = identity.credentials.get(ctype)
    if cred is None or not (method.first_factor(cred) or method.second_factor(cred)):
        raise NotFound("Unable to locate the resource", message="Unable to locate the resource")
    if method.first_factor(cred):
        others = [
            t for t, c in identity.credentials.items()
            if t != ctype and (m := _method(app, t)) is not None and m.first_factor(c)
        ]
        if not others:
            raise BadRequest("You cannot remove the last first factor credential.")
    kept = method.remove_credential(cred, identifier)
    if kept is None:
        del identity.credentials[ctype]
    else:
        cred.config = kept
