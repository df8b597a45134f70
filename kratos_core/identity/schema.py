"""Identity schemas: loading, checking and lookup (kratos-behaviour.md sections 5.1 and 5.2).

Schemas are loaded once at start from ``file://``, ``base64://`` or ``http(s)://`` URLs and
checked thoroughly: a schema that cannot be used must stop the server at start rather than fail
the first registration. Each :class:`IdentitySchema` carries its validator and extension fields,
precompiled, so validating traits recompiles nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import jsonschema
import referencing
import referencing.jsonschema
from jsonschema import validators
from jsonschema_specifications import REGISTRY as _META_SCHEMAS
from referencing.exceptions import Unresolvable

from kratos_core.errors import NotFound
from kratos_core.identity.extension import (
    SchemaDefinitionError,
    TraitField,
    collect_trait_fields,
    json_pointer,
    unresolvable_reason,
)
from kratos_core.identity.validation import FORMAT_CHECKER

__all__ = [
    "IdentitySchema",
    "SchemaRef",
    "SchemaRegistry",
    "SchemaLoadError",
    "UnknownSchemaError",
    "encode_schema_id",
    "decode_schema_id",
]

_HTTP_TIMEOUT = 10.0

# Keywords whose values are data, not sub-schemas: a "$ref" key in there is not a reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+=*$")


class SchemaLoadError(Exception):
    """An identity schema could not be loaded or is unusable.

    Args:
        schema_id: The schema's configured id.
        url: Where it was loaded from.
        reason: What went wrong.
    """

    def __init__(self, schema_id: str, url: str, reason: str) -> None:
        self.schema_id = schema_id
        self.url = url
        self.reason = reason
        where = f" ({_redact(url)})" if url else ""
        super().__init__(f"identity schema {schema_id!r}{where}: {reason}")


class UnknownSchemaError(NotFound):
    """No identity schema with that id (or encoded id) is configured.

    Args:
        schema_id: The id asked for.
    """

    def __init__(self, schema_id: str) -> None:
        self.schema_id = schema_id
        super().__init__(f"unable to find JSON Schema ID: {schema_id}")


class SchemaRef(NamedTuple):
    """One ``identity.schemas`` entry."""

    id: str
    url: str
    selfservice_selectable: bool = False


def _redact(url: str) -> str:
    # A base64 schema can be kilobytes long; error messages only need to say what kind it was.
    return url if not url.startswith("base64://") or len(url) <= 40 else url[:37] + "..."


def encode_schema_id(schema_id: str) -> str:
    """Base64url without padding, as in ``schema_url`` = ``{public}/schemas/<encoded>``."""
    return base64.urlsafe_b64encode(schema_id.encode()).rstrip(b"=").decode("ascii")


def decode_schema_id(encoded: str) -> str | None:
    """Inverse of :func:`encode_schema_id`; ``None`` when ``encoded`` is not base64url text."""
    if not _BASE64URL.match(encoded):
        return None
    stripped = encoded.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------------------------
# IdentitySchema
# --------------------------------------------------------------------------------------------


class IdentitySchema:
    """A loaded, checked identity schema.

    Build one with :meth:`compile` (or through :class:`SchemaRegistry`).

    Attributes:
        id: The configured schema id.
        url: Where it was loaded from.
        raw: The JSON schema as loaded (served by ``GET /schemas/{id}``); treat as read-only.
        selfservice_selectable: Whether self-service flows may pick it via ``identity_schema``.
        validator: The compiled JSON-schema validator (format checking on).
        trait_fields: Trait locations with an ``ory.sh/kratos`` block or ``format: tel``.
    """

    __slots__ = ("id", "url", "raw", "selfservice_selectable", "validator", "trait_fields", "_label")

    def __init__(
        self,
        id: str,
        url: str,
        raw: dict[str, Any],
        selfservice_selectable: bool,
        validator: jsonschema.protocols.Validator,
        trait_fields: tuple[TraitField, ...],
    ) -> None:
        self.id = id
        self.url = url
        self.raw = raw
        self.selfservice_selectable = selfservice_selectable
        self.validator = validator
        self.trait_fields = trait_fields
        self._label = _identifier_label(trait_fields)

    def __repr__(self) -> str:
        return f"IdentitySchema(id={self.id!r}, url={_redact(self.url)!r})"

    @property
    def encoded_id(self) -> str:
        """The id as base64url without padding (the last segment of ``schema_url``)."""
        return encode_schema_id(self.id)

    def identifier_label(self) -> str | None:
        """Title of the single trait flagged as an identifier (section 2.3), else ``None``.

        ``None`` means: use the generic "ID" label (1070004).
        """
        return self._label

    @classmethod
    def compile(
        cls,
        id: str,
        raw: Any,
        *,
        url: str = "",
        selfservice_selectable: bool = False,
    ) -> IdentitySchema:
        """Check a parsed schema document and precompile it.

        Args:
            id: The schema id.
            raw: The parsed JSON schema.
            url: Where it came from (for messages).
            selfservice_selectable: See the class attributes.

        Returns:
            The ready-to-use schema.

        Raises:
            SchemaLoadError: The document is not a usable identity schema.
        """

        def fail(reason: str) -> SchemaLoadError:
            return SchemaLoadError(id, url, reason)

        if not isinstance(raw, dict):
            raise fail(f"the schema must be a JSON object, got {type(raw).__name__}")
        validator_cls = _validator_class(raw, fail)
        try:
            validator_cls.check_schema(raw)
        except jsonschema.SchemaError as exc:
            where = json_pointer(exc.absolute_path)
            raise fail(f"not a valid JSON Schema: {exc.message} at {where}") from None
        traits = raw.get("properties", {}).get("traits") if isinstance(raw.get("properties"), dict) else None
        if not isinstance(traits, dict):
            raise fail('the schema must define an object schema at "properties.traits"')
        specification = referencing.jsonschema.specification_with(validator_cls.META_SCHEMA["$schema"])
        resolver = _META_SCHEMAS.resolver_with_root(specification.create_resource(raw))
        try:
            _check_refs(raw, "#", resolver, specification)
            fields = collect_trait_fields(traits, resolver, specification)
        except SchemaDefinitionError as exc:
            raise fail(str(exc)) from None
        # An empty Registry never retrieves anything, so validation can never hit the network.
        validator = validator_cls(raw, format_checker=FORMAT_CHECKER, registry=referencing.Registry())
        return cls(id, url, raw, selfservice_selectable, validator, fields)


def _validator_class(raw: dict[str, Any], fail: Any) -> type[jsonschema.protocols.Validator]:
    """Pick the draft by ``$schema`` (default draft 7); tolerate http/https and a trailing ``#``."""
    dialect = raw.get("$schema")
    if dialect is None:
        return jsonschema.Draft7Validator
    if not isinstance(dialect, str):
        raise fail('"$schema" must be a string')
    base = dialect.rstrip("#")
    candidates = [dialect, base, base + "#"]
    if base.startswith("https://"):
        swapped = "http://" + base[len("https://") :]
    else:
        swapped = base.replace("http://", "https://", 1)
    candidates += [swapped, swapped + "#"]
    for candidate in candidates:
        found = validators.validator_for({"$schema": candidate}, default=None)
        if found is not None:
            return found
    raise fail(f"unsupported $schema {dialect!r} (use draft-07, 2019-09 or 2020-12)")


def _check_refs(node: Any, pointer: str, resolver: Any, specification: Any) -> None:
    """Resolve every ``$ref`` once, so a dangling or remote reference fails at start."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_refs(item, f"{pointer}/{i}", resolver, specification)
        return
    if not isinstance(node, Mapping):
        return
    if isinstance(node.get("$id"), str):
        resolver = resolver.in_subresource(specification.create_resource(node))
    ref = node.get("$ref")
    if isinstance(ref, str):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise SchemaDefinitionError(f"{pointer}/$ref", unresolvable_reason(ref)) from None
    for key, value in node.items():
        if key not in _DATA_KEYWORDS:
            _check_refs(value, f"{pointer}/{_escape(str(key))}", resolver, specification)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _identifier_label(fields: tuple[TraitField, ...]) -> str | None:
    paths = {f.path for f in fields if f.extension is not None and f.extension.is_identifier}
    if len(paths) != 1:
        return None
    (path,) = paths
    return next((f.title for f in fields if f.path == path and f.title), None)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _as_ref(entry: Any) -> SchemaRef:
    """Accept a :class:`SchemaRef`, a tuple, a mapping or any object with the attributes."""
    if isinstance(entry, Mapping):
        selectable = bool(entry.get("selfservice_selectable", False))
        return SchemaRef(str(entry["id"]), str(entry["url"]), selectable)
    if isinstance(entry, tuple | list):
        return SchemaRef(*entry)
    return SchemaRef(entry.id, entry.url, bool(getattr(entry, "selfservice_selectable", False)))


def _file_path(url: str, base_dir: Path | None) -> Path:
    # file:///etc/x.json is absolute; file://./x.json and file://config/x.json are relative (not
    # RFC 8089, but what Kratos configurations use).
    path = Path(url[len("file://") :] if url.startswith("file://") else url)
    return path if path.is_absolute() else (base_dir or Path.cwd()) / path


def _read_file(ref: SchemaRef, base_dir: Path | None) -> bytes:
    path = _file_path(ref.url, base_dir)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SchemaLoadError(ref.id, ref.url, f"cannot read {path}: {exc.strerror or exc}") from None


def _decode_base64(ref: SchemaRef) -> bytes:
    # Both alphabets, padded or not: normalise to the standard alphabet with padding.
    data = "".join(ref.url[len("base64://") :].split()).rstrip("=")
    data = data.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except binascii.Error as exc:
        raise SchemaLoadError(ref.id, ref.url, f"invalid base64: {exc}") from None


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def _local_source(ref: SchemaRef, base_dir: Path | None) -> bytes:
    scheme = _scheme(ref.url)
    if scheme == "file":
        return _read_file(ref, base_dir)
    if scheme == "base64":
        return _decode_base64(ref)
    reason = f"unsupported URL scheme {scheme!r} (use file, base64, http or https)"
    raise SchemaLoadError(ref.id, ref.url, reason)


def _check_response(ref: SchemaRef, response: httpx.Response) -> bytes:
    if response.status_code >= 400:
        raise SchemaLoadError(ref.id, ref.url, f"fetching the schema returned HTTP {response.status_code}")
    return response.content


async def _fetch_async(ref: SchemaRef, base_dir: Path | None, client: httpx.AsyncClient | None) -> bytes:
    if _scheme(ref.url) not in ("http", "https"):
        return _local_source(ref, base_dir)
    try:
        if client is not None:
            response = await client.get(ref.url, timeout=_HTTP_TIMEOUT, follow_redirects=True)
        else:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT, follow_redirects=True) as own:
                response = await own.get(ref.url)
    except httpx.HTTPError as exc:
        raise SchemaLoadError(ref.id, ref.url, f"cannot fetch the schema: {exc!r}") from None
    return _check_response(ref, response)


def _fetch_sync(ref: SchemaRef, base_dir: Path | None, client: httpx.Client | None) -> bytes:
    if _scheme(ref.url) not in ("http", "https"):
        return _local_source(ref, base_dir)
    try:
        if client is not None:
            response = client.get(ref.url, timeout=_HTTP_TIMEOUT, follow_redirects=True)
        else:
            with httpx.Client(timeout=_HTTP_TIMEOUT, follow_redirects=True) as own:
                response = own.get(ref.url)
    except httpx.HTTPError as exc:
        raise SchemaLoadError(ref.id, ref.url, f"cannot fetch the schema: {exc!r}") from None
    return _check_response(ref, response)


def _build(ref: SchemaRef, data: bytes) -> IdentitySchema:
    try:
        raw = json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise SchemaLoadError(ref.id, ref.url, f"invalid JSON: {exc}") from None
    return IdentitySchema.compile(ref.id, raw, url=ref.url, selfservice_selectable=ref.selfservice_selectable)


def _check_ids(ids: Sequence[str], default_id: str) -> None:
    seen: set[str] = set()
    for schema_id in ids:
        if schema_id in seen:
            raise SchemaLoadError(schema_id, "", "duplicate identity schema id")
        seen.add(schema_id)
    if default_id not in seen:
        known = ", ".join(repr(i) for i in ids) or "none"
        raise SchemaLoadError(default_id, "", f"the default schema id is not configured (known ids: {known})")


# --------------------------------------------------------------------------------------------
# SchemaRegistry
# --------------------------------------------------------------------------------------------


class SchemaRegistry:
    """All configured identity schemas, in configuration order.

    Args:
        schemas: Compiled schemas.
        default_id: The id used for self-service (``identity.default_schema_id``).

    Raises:
        SchemaLoadError: Duplicate ids, or ``default_id`` is not among them.
    """

    def __init__(self, schemas: Sequence[IdentitySchema], *, default_id: str = "default") -> None:
        _check_ids([s.id for s in schemas], default_id)
        self._schemas = list(schemas)
        self._by_id = {s.id: s for s in schemas}
        self._default = self._by_id[default_id]

    @classmethod
    async def load(
        cls,
        refs: Sequence[Any],
        *,
        default_id: str = "default",
        base_dir: Path | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> SchemaRegistry:
        """Load, check and compile every configured schema.

        Args:
            refs: ``identity.schemas`` entries (objects, mappings or ``(id, url[, selectable])``).
            default_id: ``identity.default_schema_id``.
            base_dir: Base for relative ``file://`` URLs (default: the working directory).
            http_client: Client for ``http(s)://`` URLs (a temporary one otherwise).

        Returns:
            The registry.

        Raises:
            SchemaLoadError: Any schema is unreadable or unusable, ids clash, or the default is
                missing.
        """
        entries = [_as_ref(r) for r in refs]
        _check_ids([e.id for e in entries], default_id)
        schemas = [_build(e, await _fetch_async(e, base_dir, http_client)) for e in entries]
        return cls(schemas, default_id=default_id)

    @classmethod
    def load_sync(
        cls,
        refs: Sequence[Any],
        *,
        default_id: str = "default",
        base_dir: Path | None = None,
        http_client: httpx.Client | None = None,
    ) -> SchemaRegistry:
        """Blocking twin of :meth:`load` (for the CLI); ``http_client`` is a sync client."""
        entries = [_as_ref(r) for r in refs]
        _check_ids([e.id for e in entries], default_id)
        schemas = [_build(e, _fetch_sync(e, base_dir, http_client)) for e in entries]
        return cls(schemas, default_id=default_id)

    @property
    def default(self) -> IdentitySchema:
        """The schema used by self-service flows unless one is selected explicitly."""
        return self._default

    def get(self, schema_id: str) -> IdentitySchema:
        """Return the schema with this id.

        Raises:
            UnknownSchemaError: No such schema (404).
        """
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise UnknownSchemaError(schema_id) from None

    def resolve(self, id_or_encoded: str) -> IdentitySchema:
        """Return the schema named by its plain id or its base64url-encoded id.

        Raises:
            UnknownSchemaError: Neither form names a schema (404).
        """
        found = self._by_id.get(id_or_encoded)
        if found is None:
            decoded = decode_schema_id(id_or_encoded)
            found = self._by_id.get(decoded) if decoded is not None else None
        if found is None:
            raise UnknownSchemaError(id_or_encoded)
        return found

    def all(self) -> list[IdentitySchema]:
        """All schemas in configuration order."""
        return list(self._schemas)

    def __contains__(self, schema_id: object) -> bool:
        return schema_id in self._by_id

    def __iter__(self) -> Iterator[IdentitySchema]:
        return iter(self._schemas)

    def __len__(self) -> int:
        return len(self._schemas)
