"""The ``ory.sh/kratos`` JSON-schema extension (kratos-behaviour.md section 5.2).

At schema load the trait sub-schemas are walked once and every property that carries the
extension (or has ``format: tel``, which is normalised before validation) becomes a
:class:`TraitField`. Validation then only has to follow those precomputed paths through the
traits document instead of re-walking the schema on every registration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from referencing.exceptions import Unresolvable

__all__ = [
    "EXTENSION_KEY",
    "EACH_ITEM",
    "KratosExtension",
    "CredentialFlags",
    "IDENTIFIER",
    "VIA",
    "infer_via",
    "TraitField",
    "SchemaDefinitionError",
    "parse_extension",
    "collect_trait_fields",
    "iter_values",
    "json_pointer",
    "unresolvable_reason",
]

EXTENSION_KEY = "ory.sh/kratos"

#: Path segment meaning "every element of the array at this point".
EACH_ITEM: None = None

_VIA_VALUES = ("email", "sms")

#: The credential-block key that makes a trait an identifier of the credential type.
IDENTIFIER = "identifier"
#: The credential-block key that names the channel of an identifier that is also an address.
VIA = "via"

# Formats that can carry an address of the given channel. ``no-validate`` opts out of format
# checking but must stay allowed, otherwise it could not be combined with the extension.
_FORMATS_FOR_VIA: dict[str, frozenset[str | None]] = {
    "email": frozenset({None, "email", "idn-email", "no-validate"}),
    "sms": frozenset({"tel", "no-validate"}),
}

# Our own well-formedness rules for the extension block. Unknown keys are tolerated on purpose:
# Kratos versions add keys (e.g. for enterprise strategies) and old servers must not refuse the
# schema at start because of them. Credential blocks are checked by the shape of their keys, not
# by credential type: which type reads which key is each method's declaration
# (``MethodBase.credential_schema_keys``), and a plugin's type gets the same checks.
_FLAG = {"type": "boolean"}
_EXTENSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "credentials": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "identifier": _FLAG,
                    "account_name": _FLAG,
                    "display_name": _FLAG,
                    "via": {"enum": list(_VIA_VALUES)},
                },
            },
        },
        "verification": {
            "type": "object",
            "properties": {"via": {"enum": list(_VIA_VALUES)}},
            "required": ["via"],
        },
        "recovery": {
            "type": "object",
            "properties": {"via": {"enum": list(_VIA_VALUES)}},
            "required": ["via"],
        },
        "organizations": {"type": "object", "properties": {"matcher": {"type": "string"}}},
    },
}
_EXTENSION_VALIDATOR = jsonschema.Draft7Validator(_EXTENSION_SCHEMA)

# Deep or self-referencing schemas must not hang the server at start.
_MAX_DEPTH = 64


class SchemaDefinitionError(ValueError):
    """The identity schema is structurally wrong (bad extension block, unresolvable ``$ref``...).

    Args:
        pointer: JSON pointer of the offending schema location.
        reason: What is wrong.
    """

    def __init__(self, pointer: str, reason: str) -> None:
        self.pointer = pointer
        self.reason = reason
        super().__init__(f"{pointer}: {reason}")


@dataclass(frozen=True, slots=True)
class KratosExtension:
    """The parsed ``ory.sh/kratos`` block of one trait property.

    Attributes:
        credentials: ``credentials.<type>`` blocks: credential type to the keys flagged on this
            trait (``identifier``, ``account_name`` ... whose value is true) and its ``via``.
        verification_via: ``verification.via``.
        recovery_via: ``recovery.via``.
        organizations_matcher: ``organizations.matcher``.
    """

    credentials: Mapping[str, CredentialFlags] = field(default_factory=dict)
    verification_via: str | None = None
    recovery_via: str | None = None
    organizations_matcher: str | None = None

    @property
    def is_identifier(self) -> bool:
        """Whether the login ``identifier`` label may come from this trait (section 2.3)."""
        return any(flags.keys for flags in self.credentials.values())

    def channels(self) -> Iterator[tuple[str, str]]:
        """Yield ``(purpose, via)`` for every address channel this trait explicitly feeds."""
        for ctype, flags in self.credentials.items():
            if flags.via and IDENTIFIER in flags.keys:
                yield f"credentials.{ctype}.via", flags.via
        if self.verification_via:
            yield "verification.via", self.verification_via
        if self.recovery_via:
            yield "recovery.via", self.recovery_via


@dataclass(frozen=True, slots=True)
class CredentialFlags:
    """One ``credentials.<type>`` block: the keys set to true, and ``via`` if given."""

    keys: frozenset[str] = frozenset()
    via: str | None = None


@dataclass(frozen=True, slots=True)
class TraitField:
    """A trait location that needs processing beyond plain JSON-schema validation.

    Attributes:
        path: Property names below ``traits``; :data:`EACH_ITEM` (``None``) stands for every
            element of an array.
        schema_pointer: Where the sub-schema lives (``#/properties/traits/properties/email``).
        title: The sub-schema ``title``.
        format: The sub-schema ``format``.
        extension: The parsed extension block, ``None`` when the field is only tracked for its
            ``format: tel``.
    """

    path: tuple[str | None, ...]
    schema_pointer: str
    title: str | None = None
    format: str | None = None
    extension: KratosExtension | None = field(default=None)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def json_pointer(segments: Any) -> str:
    """Build a ``#``-prefixed JSON pointer from path segments (RFC 6901 escaping)."""
    parts = [_escape(str(s)) for s in segments]
    return "#/" + "/".join(parts) if parts else "#"


def unresolvable_reason(ref: str) -> str:
    """Reason text for a ``$ref`` that does not resolve."""
    if ref.startswith("#"):
        return f"cannot resolve $ref {ref!r}: no such location in the schema"
    # Fetching other documents at validation time would make registrations depend on the network.
    return f"cannot resolve $ref {ref!r}: references to other documents are not supported"


def parse_extension(raw: Any, pointer: str = "#") -> KratosExtension:
    """Validate and parse one extension block.

    Args:
        raw: The value of the ``ory.sh/kratos`` keyword.
        pointer: Schema location, for error messages.

    Returns:
        The parsed extension.

    Raises:
        SchemaDefinitionError: The block is malformed.
    """
    error = jsonschema.exceptions.best_match(_EXTENSION_VALIDATOR.iter_errors(raw))
    if error is not None:
        where = json_pointer(error.absolute_path)[1:]
        raise SchemaDefinitionError(
            f"{pointer}/{_escape(EXTENSION_KEY)}{where}", f"invalid extension: {error.message}"
        )
    credentials = {
        ctype: CredentialFlags(frozenset(k for k, v in block.items() if v is True), block.get("via"))
        for ctype, block in raw.get("credentials", {}).items()
    }
    return KratosExtension(
        credentials=credentials,
        verification_via=raw.get("verification", {}).get("via"),
        recovery_via=raw.get("recovery", {}).get("via"),
        organizations_matcher=raw.get("organizations", {}).get("matcher"),
    )


class _Walker:
    """Collects :class:`TraitField` entries by walking a trait sub-schema.

    ``properties``, ``items``/``prefixItems``, ``allOf``/``anyOf``/``oneOf``, ``then``/``else``
    and ``$ref`` are followed. Conditional branches are followed optimistically (as if they
    applied), which over-collects only for schemas that put different extension blocks in
    alternative branches of the same property.
    """

    def __init__(self, specification: Any) -> None:
        self.specification = specification
        self.fields: list[TraitField] = []

    def walk(self, node: Any, path: tuple, pointer: str, resolver: Any, active: frozenset) -> None:
        if not isinstance(node, Mapping) or id(node) in active or len(active) > _MAX_DEPTH:
            return
        active = active | {id(node)}
        if isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(self.specification.create_resource(node))
        self._record(node, path, pointer)
        self._follow_ref(node, path, pointer, resolver, active)
        for key in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(_as_list(node.get(key))):
                self.walk(sub, path, f"{pointer}/{key}/{i}", resolver, active)
        for key in ("then", "else"):
            self.walk(node.get(key), path, f"{pointer}/{key}", resolver, active)
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                self.walk(sub, (*path, name), f"{pointer}/properties/{_escape(name)}", resolver, active)
        self._walk_items(node, path, pointer, resolver, active)

    def _walk_items(self, node: Mapping, path: tuple, pointer: str, resolver: Any, active: frozenset) -> None:
        items = node.get("items")
        each = (*path, EACH_ITEM)
        if isinstance(items, Mapping):
            self.walk(items, each, f"{pointer}/items", resolver, active)
        for key in ("items", "prefixItems"):
            value = node.get(key)
            if isinstance(value, list):
                for i, sub in enumerate(value):
                    self.walk(sub, each, f"{pointer}/{key}/{i}", resolver, active)

    def _follow_ref(self, node: Mapping, path: tuple, pointer: str, resolver: Any, active: frozenset) -> None:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable:
            raise SchemaDefinitionError(f"{pointer}/$ref", unresolvable_reason(ref)) from None
        self.walk(resolved.contents, path, f"{pointer}/$ref", resolved.resolver, active)

    def _record(self, node: Mapping, path: tuple, pointer: str) -> None:
        fmt = node.get("format") if isinstance(node.get("format"), str) else None
        raw_ext = node.get(EXTENSION_KEY)
        if raw_ext is None and fmt != "tel":
            return
        title = node.get("title") if isinstance(node.get("title"), str) else None
        ext = parse_extension(raw_ext, pointer) if raw_ext is not None else None
        self.fields.append(TraitField(path, pointer, title, fmt, ext))


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def infer_via(fmt: str | None) -> str:
    """The channel of an address whose credential block gives no ``via``: older schemas omit it,
    and Kratos then takes ``sms`` for ``format: tel`` and ``email`` otherwise."""
    return "sms" if fmt == "tel" else "email"


def _check_channels(f: TraitField, fmt: str | None) -> None:
    """Reject channels the property's format cannot carry (``via: sms`` needs ``format: tel``)."""
    assert f.extension is not None
    for purpose, via in f.extension.channels():
        if fmt in _FORMATS_FOR_VIA[via]:
            continue
        if via == "sms" and fmt is None:
            reason = f"{purpose} is sms but no format specified: add \"format\": \"tel\""
        else:
            reason = f"{purpose} is {via} but the property has format {fmt!r}"
        raise SchemaDefinitionError(f.schema_pointer, reason)


def collect_trait_fields(
    traits_schema: Any, resolver: Any, specification: Any, pointer: str = "#/properties/traits"
) -> tuple[TraitField, ...]:
    """Walk the ``traits`` sub-schema and return the fields needing extension processing.

    Args:
        traits_schema: ``schema["properties"]["traits"]``.
        resolver: A ``referencing`` resolver rooted at the whole schema (for ``$ref``).
        specification: The ``referencing`` specification of the schema's dialect.
        pointer: Schema pointer of ``traits_schema``.

    Returns:
        The fields, in schema order.

    Raises:
        SchemaDefinitionError: A malformed extension block, a channel incompatible with the
            property format, or an unresolvable ``$ref``.
    """
    walker = _Walker(specification)
    walker.walk(traits_schema, (), pointer, resolver, frozenset())
    # A format can sit in a different sub-schema (allOf, $ref) than the extension block.
    formats: dict[tuple, str] = {}
    for f in walker.fields:
        if f.format is not None:
            formats.setdefault(f.path, f.format)
    out: list[TraitField] = []
    for f in walker.fields:
        fmt = f.format or formats.get(f.path)
        if f.extension is not None:
            f = TraitField(f.path, f.schema_pointer, f.title, fmt, f.extension)
            _check_channels(f, fmt)
        out.append(f)
    return tuple(out)


def iter_values(traits: Any, path: tuple[str | None, ...]) -> Iterator[tuple[tuple, Any]]:
    """Yield ``(instance_path, value)`` for every value found at ``path`` in ``traits``.

    Missing properties and type mismatches are skipped silently: validation reports those.

    Args:
        traits: The traits document.
        path: A :attr:`TraitField.path`.

    Yields:
        The concrete path (with integer indexes for array elements) and the value.
    """
    yield from _iter(traits, path, ())


def _iter(node: Any, path: tuple, prefix: tuple) -> Iterator[tuple[tuple, Any]]:
    if not path:
        yield prefix, node
        return
    head, rest = path[0], path[1:]
    if head is EACH_ITEM:
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _iter(item, rest, (*prefix, i))
        return
    if isinstance(node, dict) and head in node:
        yield from _iter(node[head], rest, (*prefix, head))
