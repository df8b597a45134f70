"""Loading, checking and looking up identity schemas."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from kratos_core.errors import NotFound
from kratos_core.identity import (
    IdentitySchema,
    SchemaLoadError,
    SchemaRef,
    SchemaRegistry,
    UnknownSchemaError,
    validate_traits,
)
from kratos_core.identity.schema import decode_schema_id, encode_schema_id

EXT = "ory.sh/kratos"


def email_schema(title: str = "E-Mail", **extra: Any) -> dict[str, Any]:
    """A quickstart-like e-mail + password schema."""
    schema: dict[str, Any] = {
        "$id": "https://example.org/identity.schema.json",
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Person",
        "type": "object",
        "properties": {
            "traits": {
                "type": "object",
                "properties": {
                    "email": {
                        "type": "string",
                        "format": "email",
                        "title": title,
                        "minLength": 3,
                        EXT: {
                            "credentials": {"password": {"identifier": True}},
                            "verification": {"via": "email"},
                            "recovery": {"via": "email"},
                        },
                    },
                    "name": {
                        "type": "object",
                        "properties": {"first": {"type": "string", "title": "First Name"}},
                    },
                },
                "required": ["email"],
                "additionalProperties": False,
            }
        },
    }
    schema.update(extra)
    return schema


def traits_schema(properties: dict[str, Any], **traits_extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": properties, **traits_extra}},
    }


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def b64(data: bytes, *, urlsafe: bool, padded: bool) -> str:
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return encoded if padded else encoded.rstrip("=")


def load_one(url: str, **kwargs: Any) -> IdentitySchema:
    return SchemaRegistry.load_sync([("default", url)], **kwargs).default


def assert_load_error(url: str, *fragments: str, **kwargs: Any) -> SchemaLoadError:
    with pytest.raises(SchemaLoadError) as info:
        load_one(url, **kwargs)
    message = str(info.value)
    assert "'default'" in message
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.schema_id == "default"
    assert info.value.url == url
    return info.value


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


async def test_load_file_absolute(tmp_path: Path) -> None:
    path = write(tmp_path / "identity.schema.json", email_schema())
    registry = await SchemaRegistry.load([SchemaRef("default", f"file://{path}")])
    schema = registry.default
    assert schema.id == "default"
    assert schema.url == f"file://{path}"
    assert schema.raw == email_schema()
    assert schema.selfservice_selectable is False


@pytest.mark.parametrize("url", ["file://./config/id.json", "file://config/id.json"])
async def test_load_file_relative_to_base_dir(tmp_path: Path, url: str) -> None:
    write(tmp_path / "config" / "id.json", email_schema())
    registry = await SchemaRegistry.load([("default", url)], base_dir=tmp_path)
    assert registry.default.raw["title"] == "Person"


def test_load_file_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "config" / "id.json", email_schema())
    monkeypatch.chdir(tmp_path)
    assert load_one("file://./config/id.json").raw["title"] == "Person"


def _b64_payload() -> bytes:
    # Find a document whose standard base64 contains "+" or "/" and needs padding, so the
    # alphabet and padding variants below are really different strings.
    for n in range(64):
        doc = email_schema(description="x" * n + "\u00ff\u00fe?>~")
        data = json.dumps(doc).encode()
        std = base64.b64encode(data).decode()
        if ("+" in std or "/" in std) and std.endswith("="):
            return data
    raise AssertionError("no suitable payload")  # pragma: no cover


@pytest.mark.parametrize("urlsafe", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_load_base64(urlsafe: bool, padded: bool) -> None:
    data = _b64_payload()
    schema = load_one("base64://" + b64(data, urlsafe=urlsafe, padded=padded))
    assert schema.raw == json.loads(data)


async def test_load_http_with_mock_transport() -> None:
    body = json.dumps(email_schema()).encode()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/identity.schema.json":
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        registry = await SchemaRegistry.load(
            [("default", "https://schemas.example.org/identity.schema.json")], http_client=client
        )
        assert registry.default.raw == email_schema()
        with pytest.raises(SchemaLoadError, match="HTTP 404"):
            await SchemaRegistry.load(
                [("default", "https://schemas.example.org/missing.json")], http_client=client
            )
    assert seen[0] == "https://schemas.example.org/identity.schema.json"


@pytest.fixture
def http_server() -> Iterator[str]:
    body = json.dumps(email_schema()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path == "/identity.schema.json":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(500)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_load_http_real_server(http_server: str) -> None:
    registry = await SchemaRegistry.load([("default", f"{http_server}/identity.schema.json")])
    assert registry.default.raw == email_schema()


def test_load_sync_http_real_server(http_server: str) -> None:
    assert load_one(f"{http_server}/identity.schema.json").raw == email_schema()
    assert_load_error(f"{http_server}/broken", "HTTP 500")


def test_load_http_unreachable() -> None:
    # Port 9 (discard) on localhost is closed in test environments: connection refused.
    assert_load_error("http://127.0.0.1:9/identity.schema.json", "cannot fetch")


# --------------------------------------------------------------------------------------------
# Load failures
# --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert_load_error(f"file://{tmp_path}/nope.json", "cannot read", "nope.json")


def test_bad_json(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '{"type": "object",')
    assert_load_error(f"file://{path}", "invalid JSON")


def test_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", [1, 2])
    assert_load_error(f"file://{path}", "must be a JSON object")


def test_not_a_json_schema(tmp_path: Path) -> None:
    doc = email_schema()
    doc["properties"]["traits"]["properties"]["email"]["type"] = 12
    path = write(tmp_path / "s.json", doc)
    assert_load_error(f"file://{path}", "not a valid JSON Schema")


def test_invalid_regex_pattern(tmp_path: Path) -> None:
    doc = email_schema()
    doc["properties"]["traits"]["properties"]["email"]["pattern"] = "(["
    assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "not a valid JSON Schema")


def test_missing_traits(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"type": "object", "properties": {"name": {"type": "string"}}})
    assert_load_error(f"file://{path}", "properties.traits")


def test_unsupported_dialect(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", email_schema(**{"$schema": "https://example.org/my-dialect"}))
    assert_load_error(f"file://{path}", "unsupported $schema")


def test_unresolvable_ref(tmp_path: Path) -> None:
    doc = traits_schema({"email": {"$ref": "#/definitions/nope"}})
    assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "cannot resolve $ref", "#/definitions/nope")


def test_remote_ref_is_refused(tmp_path: Path) -> None:
    doc = traits_schema({"email": {"$ref": "https://example.org/other.json#/email"}})
    assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "cannot resolve $ref")


@pytest.mark.parametrize(
    ("extension", "fragment"),
    [
        ({"credentials": {"password": {"identifier": "yes"}}}, "credentials/password/identifier"),
        ({"verification": {"via": "pigeon"}}, "verification/via"),
        ({"recovery": {}}, "'via' is a required property"),
        ({"credentials": {"code": {"identifier": True, "via": "fax"}}}, "credentials/code/via"),
        ("not an object", "invalid extension"),
    ],
)
def test_bad_extension(tmp_path: Path, extension: Any, fragment: str) -> None:
    doc = traits_schema({"email": {"type": "string", "format": "email", EXT: extension}})
    error = assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "invalid extension", fragment)
    assert "#/properties/traits/properties/email/ory.sh~1kratos" in error.reason


@pytest.mark.parametrize(
    "extension",
    [
        {"verification": {"via": "sms"}},
        {"recovery": {"via": "sms"}},
        {"credentials": {"code": {"identifier": True, "via": "sms"}}},
    ],
)
def test_sms_without_tel_format(tmp_path: Path, extension: dict[str, Any]) -> None:
    doc = traits_schema({"phone": {"type": "string", EXT: extension}})
    assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "no format specified", "#/properties/traits/properties/phone")


def test_sms_with_email_format(tmp_path: Path) -> None:
    doc = traits_schema({"phone": {"type": "string", "format": "email", EXT: {"verification": {"via": "sms"}}}})
    assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "verification.via is sms", "'email'")


def test_email_via_on_tel_format(tmp_path: Path) -> None:
    doc = traits_schema({"phone": {"type": "string", "format": "tel", EXT: {"recovery": {"via": "email"}}}})
    assert_load_error(f"file://{write(tmp_path / 's.json', doc)}", "recovery.via is email", "'tel'")


@pytest.mark.parametrize("fmt", ["tel", "no-validate"])
def test_sms_with_tel_or_no_validate_loads(fmt: str) -> None:
    doc = traits_schema({"phone": {"type": "string", "format": fmt, EXT: {"verification": {"via": "sms"}}}})
    assert IdentitySchema.compile("p", doc).id == "p"


def test_sms_format_from_sibling_allof() -> None:
    doc = traits_schema(
        {"phone": {"allOf": [{"type": "string", "format": "tel"}, {EXT: {"verification": {"via": "sms"}}}]}}
    )
    schema = IdentitySchema.compile("p", doc)
    assert validate_traits(schema, {"phone": "+1 650 253 0000"}).verifiable_addresses == [("sms", "+16502530000")]


def test_unknown_default_id(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", email_schema())
    with pytest.raises(SchemaLoadError, match="default schema id is not configured") as info:
        SchemaRegistry.load_sync([("customer", f"file://{path}")], default_id="employee")
    assert info.value.schema_id == "employee"
    assert "'customer'" in str(info.value)


async def test_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", email_schema())
    refs = [("default", f"file://{path}"), ("default", f"file://{path}")]
    with pytest.raises(SchemaLoadError, match="duplicate identity schema id"):
        await SchemaRegistry.load(refs)


def test_no_schemas() -> None:
    with pytest.raises(SchemaLoadError, match="default schema id is not configured"):
        SchemaRegistry.load_sync([])


def test_unsupported_scheme() -> None:
    assert_load_error("ftp://example.org/s.json", "unsupported URL scheme 'ftp'")


def test_invalid_base64() -> None:
    assert_load_error("base64://***", "invalid base64")


def test_long_base64_url_is_shortened_in_messages() -> None:
    error = assert_load_error("base64://" + b64(b"[" * 300, urlsafe=False, padded=True), "invalid JSON")
    assert len(str(error)) < 200


# --------------------------------------------------------------------------------------------
# Registry API
# --------------------------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> SchemaRegistry:
    a = write(tmp_path / "a.json", email_schema())
    b = write(tmp_path / "b.json", email_schema(title="Work e-mail"))
    refs = [
        SchemaRef("default", f"file://{a}"),
        {"id": "customer", "url": f"file://{b}", "selfservice_selectable": True},
        SimpleNamespace(id="employee/v2", url=f"file://{b}", selfservice_selectable=False),
    ]
    return SchemaRegistry.load_sync(refs)


def test_registry_lookup(registry: SchemaRegistry) -> None:
    assert [s.id for s in registry.all()] == ["default", "customer", "employee/v2"]
    assert len(registry) == 3
    assert "customer" in registry
    assert "nope" not in registry
    assert registry.default.id == "default"
    assert registry.get("customer").selfservice_selectable is True
    assert registry.get("employee/v2").selfservice_selectable is False


def test_encoded_id(registry: SchemaRegistry) -> None:
    assert registry.default.encoded_id == "ZGVmYXVsdA"
    assert encode_schema_id("employee/v2") == "ZW1wbG95ZWUvdjI"
    assert decode_schema_id("ZW1wbG95ZWUvdjI") == "employee/v2"
    assert decode_schema_id("ZGVmYXVsdA==") == "default"
    assert decode_schema_id("not base64!") is None


def test_resolve_by_id_and_encoded_id(registry: SchemaRegistry) -> None:
    assert registry.resolve("default") is registry.default
    assert registry.resolve("ZGVmYXVsdA") is registry.default
    assert registry.resolve(encode_schema_id("customer")).id == "customer"
    assert registry.resolve("ZW1wbG95ZWUvdjI").id == "employee/v2"


@pytest.mark.parametrize("name", ["nope", "bm9wZQ", "%%%"])
def test_resolve_unknown(registry: SchemaRegistry, name: str) -> None:
    with pytest.raises(UnknownSchemaError) as info:
        registry.resolve(name)
    assert isinstance(info.value, NotFound)
    assert info.value.status_code == 404
    assert name in (info.value.reason or "")


def test_get_unknown(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownSchemaError, match="unable to find JSON Schema ID: ZGVmYXVsdA"):
        registry.get("ZGVmYXVsdA")  # get() takes plain ids only


def test_schemas_are_compiled_once(registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = registry.default

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("recompiled")

    monkeypatch.setattr(IdentitySchema, "compile", boom)
    validator = schema.validator
    for _ in range(3):
        validate_traits(schema, {"email": "jane@example.org"})
    assert schema.validator is validator


# --------------------------------------------------------------------------------------------
# Dialects, $ref and the identifier label
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dialect",
    [
        "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ],
)
def test_dialects(dialect: str) -> None:
    schema = IdentitySchema.compile("default", email_schema(**{"$schema": dialect}))
    assert schema.raw["$schema"] == dialect
    assert validate_traits(schema, {"email": "jane@example.org"}).credential_identifiers == {
        "password": ["jane@example.org"]
    }


def test_extension_behind_ref_2020_12() -> None:
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {
            "email": {
                "type": "string",
                "format": "email",
                "title": "E-Mail",
                EXT: {"credentials": {"password": {"identifier": True}}},
            }
        },
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {"email": {"$ref": "#/$defs/email"}}}},
    }
    schema = IdentitySchema.compile("default", doc)
    assert schema.identifier_label() == "E-Mail"
    result = validate_traits(schema, {"email": "Jane@Example.org"})
    assert result.credential_identifiers == {"password": ["jane@example.org"]}


def test_recursive_ref_does_not_hang() -> None:
    doc = traits_schema(
        {"tree": {"$ref": "#/definitions/node"}},
    )
    doc["definitions"] = {
        "node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/node"}}}
    }
    assert IdentitySchema.compile("tree", doc).trait_fields == ()


def test_identifier_label_single_identifier() -> None:
    assert IdentitySchema.compile("d", email_schema(title="Your E-Mail")).identifier_label() == "Your E-Mail"


def test_identifier_label_other_flags_count() -> None:
    doc = traits_schema(
        {
            "username": {"type": "string", "title": "Username", EXT: {"credentials": {"totp": {"account_name": True}}}},
            "nick": {"type": "string", "title": "Nick"},
        }
    )
    assert IdentitySchema.compile("d", doc).identifier_label() == "Username"


def test_identifier_label_none_for_several_or_untitled() -> None:
    several = traits_schema(
        {
            "email": {"type": "string", "title": "E-Mail", EXT: {"credentials": {"password": {"identifier": True}}}},
            "phone": {"type": "string", "format": "tel", "title": "Phone", EXT: {"credentials": {"webauthn": {"identifier": True}}}},
        }
    )
    untitled = traits_schema({"email": {"type": "string", EXT: {"credentials": {"password": {"identifier": True}}}}})
    recovery_only = traits_schema({"email": {"type": "string", "title": "E-Mail", EXT: {"recovery": {"via": "email"}}}})
    assert IdentitySchema.compile("a", several).identifier_label() is None
    assert IdentitySchema.compile("b", untitled).identifier_label() is None
    assert IdentitySchema.compile("c", recovery_only).identifier_label() is None
