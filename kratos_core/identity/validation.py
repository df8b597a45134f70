"""Traits validation against an identity schema, with Kratos's message ids.

:func:`validate_traits` validates ``{"traits": <traits>}`` with format checking on, maps every
JSON-schema failure to the 4000xxx message of its keyword (kratos-behaviour.md section 2.7) and,
on success, extracts identifiers and addresses from the ``ory.sh/kratos`` extension
(section 5.2).

The ``validation_*`` builders only depend on :class:`~kratos_core.ui.text.TextMessage`, so the UI
message catalogue can reuse them without an import cycle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jsonschema
from email_validator import EmailNotValidError, validate_email

from kratos_core.errors import BadRequest
from kratos_core.identity.extension import (
    EXTENSION_KEY,
    IDENTIFIER,
    TraitField,
    infer_via,
    iter_values,
    json_pointer,
)
from kratos_core.identity.normalize import normalize_identifier, normalize_phone
from kratos_core.ui.text import TextMessage

if TYPE_CHECKING:
    from kratos_core.identity.schema import IdentitySchema

__all__ = [
    "FORMAT_CHECKER",
    "ValidationIssue",
    "TraitsResult",
    "TraitsValidationError",
    "validate_traits",
    "is_valid_email",
    "is_valid_phone",
    "validation_generic",
    "validation_required",
    "validation_min_length",
    "validation_max_length",
    "validation_pattern",
    "validation_minimum",
    "validation_exclusive_minimum",
    "validation_maximum",
    "validation_exclusive_maximum",
    "validation_multiple_of",
    "validation_max_items",
    "validation_min_items",
    "validation_unique_items",
    "validation_wrong_type",
    "validation_const",
    "validation_invalid_email",
    "validation_invalid_phone",
]


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def is_valid_email(value: str) -> bool:
    """Syntax-only e-mail check (no DNS, no deliverability), accepting dot-less test domains.

    Memoised: the check is pure and comparatively slow, and the same address is often checked
    again within one flow (re-submits, settings).
    """
    try:
        validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError:
        return False
    return True


def is_valid_phone(value: str) -> bool:
    """Whether ``value`` is a valid phone number in international (``+``) form."""
    return normalize_phone(value) is not None


_RFC3339_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_RFC3339_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _is_date_time(value: str) -> bool:
    if not _RFC3339_DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_time(value: str) -> bool:
    if not _RFC3339_TIME.match(value):
        return False
    return _is_date_time(f"2000-01-01T{value}")


def _is_date(value: str) -> bool:
    try:
        return len(value) == 10 and date.fromisoformat(value) is not None
    except ValueError:
        return False


def _is_uri_reference(value: str) -> bool:
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        return False
    try:
        urlsplit(value)
    except ValueError:
        return False
    return True


def _is_uri(value: str) -> bool:
    if not value.isascii() or not _is_uri_reference(value):
        return False
    scheme = value.split(":", 1)[0] if ":" in value else ""
    return bool(_URI_SCHEME.match(scheme))


def _is_iri(value: str) -> bool:
    scheme = value.split(":", 1)[0] if ":" in value else ""
    return _is_uri_reference(value) and bool(_URI_SCHEME.match(scheme))


def _is_hostname(value: str) -> bool:
    host = value[:-1] if value.endswith(".") else value
    return 0 < len(host) <= 253 and all(_HOSTNAME_LABEL.match(label) for label in host.split("."))


def _string_check(check: Any) -> Any:
    """Formats constrain strings only; any other type passes (JSON-schema semantics)."""
    return lambda value: not isinstance(value, str) or check(value)


def _build_format_checker() -> jsonschema.FormatChecker:
    # Start from jsonschema's checkers (ipv4, ipv6, uuid, regex, json-pointer, idn-hostname...)
    # and replace those that would otherwise need optional packages or behave unlike Kratos.
    checker = jsonschema.FormatChecker()
    own = {
        "email": is_valid_email,
        "idn-email": is_valid_email,
        "tel": is_valid_phone,
        "date": _is_date,
        "date-time": _is_date_time,
        "time": _is_time,
        "uri": _is_uri,
        "uri-reference": _is_uri_reference,
        "iri": _is_iri,
        "iri-reference": _is_uri_reference,
        "hostname": _is_hostname,
        # Kratos's explicit opt-out of format validation for a property.
        "no-validate": lambda _value: True,
    }
    for name, check in own.items():
        checker.checkers[name] = (_string_check(check), ())
    return checker


#: The one format checker all identity-schema validators share.
FORMAT_CHECKER = _build_format_checker()


# --------------------------------------------------------------------------------------------
# Message builders (ids and texts: kratos-behaviour.md section 2.7)
# --------------------------------------------------------------------------------------------


def _error(id: int, text: str, context: dict[str, Any]) -> TextMessage:
    return TextMessage(id=id, text=text, type="error", context=context)


def _num(value: Any) -> str:
    """Format a number like Go's ``%v`` does for JSON numbers (``5`` not ``5.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _go_value(value: Any) -> str:
    """Format any JSON value like Go's ``%v`` for messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _quote(value: Any) -> str:
    """Quote like Go's ``%q`` (close enough: JSON string escaping, non-ASCII kept)."""
    return json.dumps(value if isinstance(value, str) else _go_value(value), ensure_ascii=False)


def validation_generic(reason: str) -> TextMessage:
    """4000001: free text, used for every keyword without a dedicated message."""
    return _error(4000001, reason, {"reason": reason})


def validation_required(property: str) -> TextMessage:
    """4000002 "Property {name} is missing."."""
    return _error(4000002, f"Property {property} is missing.", {"property": property})


def validation_min_length(min_length: int, actual_length: int) -> TextMessage:
    """4000003 "length must be >= {min}, but got {n}"."""
    return _error(
        4000003,
        f"length must be >= {min_length}, but got {actual_length}",
        {"min_length": min_length, "actual_length": actual_length},
    )


def validation_pattern(pattern: str) -> TextMessage:
    """4000004 'does not match pattern "{p}"'."""
    return _error(4000004, f"does not match pattern {_quote(pattern)}", {"pattern": pattern})


def validation_max_length(max_length: int, actual_length: int) -> TextMessage:
    """4000017 "length must be <= {max}, but got {n}"."""
    return _error(
        4000017,
        f"length must be <= {max_length}, but got {actual_length}",
        {"max_length": max_length, "actual_length": actual_length},
    )


def validation_minimum(minimum: Any, actual: Any) -> TextMessage:
    """4000018 "must be >= {min} but found {v}"."""
    return _error(
        4000018,
        f"must be >= {_num(minimum)} but found {_num(actual)}",
        {"minimum": minimum, "actual": actual},
    )


def validation_exclusive_minimum(minimum: Any, actual: Any) -> TextMessage:
    """4000019 "must be > {min} but found {v}"."""
    return _error(
        4000019,
        f"must be > {_num(minimum)} but found {_num(actual)}",
        {"minimum": minimum, "actual": actual},
    )


def validation_maximum(maximum: Any, actual: Any) -> TextMessage:
    """4000020 "must be <= {max} but found {v}"."""
    return _error(
        4000020,
        f"must be <= {_num(maximum)} but found {_num(actual)}",
        {"maximum": maximum, "actual": actual},
    )


def validation_exclusive_maximum(maximum: Any, actual: Any) -> TextMessage:
    """4000021 "must be < {max} but found {v}"."""
    return _error(
        4000021,
        f"must be < {_num(maximum)} but found {_num(actual)}",
        {"maximum": maximum, "actual": actual},
    )


def validation_multiple_of(base: Any, actual: Any) -> TextMessage:
    """4000022 "{v} not multipleOf {base}"."""
    return _error(4000022, f"{_num(actual)} not multipleOf {_num(base)}", {"base": base, "actual": actual})


def validation_max_items(max_items: int, actual_items: int) -> TextMessage:
    """4000023 "maximum {n} items allowed, but found {m} items"."""
    return _error(
        4000023,
        f"maximum {max_items} items allowed, but found {actual_items} items",
        {"max_items": max_items, "actual_items": actual_items},
    )


def validation_min_items(min_items: int, actual_items: int) -> TextMessage:
    """4000024 "minimum {n} items allowed, but found {m} items"."""
    return _error(
        4000024,
        f"minimum {min_items} items allowed, but found {actual_items} items",
        {"min_items": min_items, "actual_items": actual_items},
    )


def validation_unique_items(index_a: int, index_b: int) -> TextMessage:
    """4000025 "items at index {a} and {b} are equal"."""
    return _error(
        4000025, f"items at index {index_a} and {index_b} are equal", {"index_a": index_a, "index_b": index_b}
    )


def validation_wrong_type(allowed_types: list[str], actual_type: str) -> TextMessage:
    """4000026 "expected {types joined by ' or '}, but got {t}"."""
    return _error(
        4000026,
        f"expected {' or '.join(allowed_types)}, but got {actual_type}",
        {"allowed_types": list(allowed_types), "actual_type": actual_type},
    )


def validation_const(expected: Any) -> TextMessage:
    """4000029 "must be equal to constant {v}"."""
    return _error(4000029, f"must be equal to constant {_go_value(expected)}", {"expected": expected})


def validation_invalid_email(value: Any) -> TextMessage:
    """4000040 "Enter a valid email address"."""
    return _error(4000040, "Enter a valid email address", {"value": value})


def validation_invalid_phone(value: Any) -> TextMessage:
    """4000041 "Enter a valid phone number"."""
    return _error(4000041, "Enter a valid phone number", {"value": value})


# --------------------------------------------------------------------------------------------
# Results and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One failed check.

    Attributes:
        pointer: JSON pointer of the instance (``#/traits/email``); for a missing required
            property, the pointer of the missing property itself.
        message: The UI message (type ``error``) for the node at ``pointer``.
        reason: The validator's own wording, e.g. ``"x" is not valid "email"``.
        schema_pointer: The failing keyword's location in the schema.
    """

    pointer: str
    message: TextMessage
    reason: str
    schema_pointer: str = "#"

    @property
    def field(self) -> str:
        """The dotted UI node name (``traits.name.first``); ``""`` for the document root."""
        return ".".join(
            part.replace("~1", "/").replace("~0", "~") for part in self.pointer[2:].split("/") if part
        )

    def describe(self) -> str:
        """Kratos's one-line form: ``I[<instance>] S[<schema>] <reason>``."""
        return f"I[{self.pointer}] S[{self.schema_pointer}] {self.reason}"


class TraitsValidationError(BadRequest):
    """The traits do not validate against the identity schema.

    Args:
        issues: The individual failures (sorted by pointer for determinism).
    """

    def __init__(self, issues: Iterable[ValidationIssue]) -> None:
        self.issues: list[ValidationIssue] = sorted(issues, key=lambda i: (i.pointer, i.message.id, i.reason))
        super().__init__("; ".join(issue.describe() for issue in self.issues) or "validation failed")


@dataclass(frozen=True, slots=True)
class TraitsResult:
    """What a successful validation yields.

    Attributes:
        traits: The traits, with ``format: tel`` values normalised to E.164.
        credential_identifiers: Credential type to the normalised values of its traits flagged
            ``identifier: true``; types without identifiers are absent.
        credential_addresses: Credential type to sorted, unique ``(via, address)`` pairs of
            those identifiers (``via`` given, or inferred from the format when the value fits
            the channel); whether a type uses them is its method's declaration.
        credential_values: Credential type to every other key flagged true (``account_name``,
            ``display_name`` ...) to the trait values as entered.
        verifiable_addresses: Unique ``(via, address)`` pairs, in schema/document order.
        recovery_addresses: Unique ``(via, address)`` pairs, in schema/document order.
    """

    traits: Any
    credential_identifiers: dict[str, list[str]] = field(default_factory=dict)
    credential_addresses: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    credential_values: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    verifiable_addresses: list[tuple[str, str]] = field(default_factory=list)
    recovery_addresses: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# JSON-schema error -> issue
# --------------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _first_duplicate(items: list[Any]) -> tuple[int, int]:
    for b in range(len(items)):
        for a in range(b):
            if _json_equal(items[a], items[b]):
                return a, b
    return 0, 0  # pragma: no cover - jsonschema only reports uniqueItems with a duplicate


def _json_equal(a: Any, b: Any) -> bool:
    # JSON equality: True != 1 (Python says otherwise), 1 == 1.0.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _additional_properties(error: jsonschema.ValidationError) -> list[str]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [
        name
        for name in instance
        if name not in known and not any(re.search(p, name) for p in patterns)
    ]


def _generic_reason(error: jsonschema.ValidationError) -> str:
    """Go-validator-like wording for keywords without a dedicated message."""
    keyword = error.validator
    if keyword == "enum":
        return "value must be one of " + ", ".join(_quote(v) for v in error.validator_value)
    if keyword == "additionalProperties":
        names = _additional_properties(error)
        if names:
            return "additionalProperties " + ", ".join(_quote(n) for n in names) + " not allowed"
    if keyword == "format":
        return f"{_quote(error.instance)} is not valid {_quote(error.validator_value)}"
    return error.message


def _message_for(error: jsonschema.ValidationError) -> TextMessage:  # noqa: PLR0911 - a dispatch table
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "minLength":
        return validation_min_length(expected, len(value))
    if keyword == "maxLength":
        return validation_max_length(expected, len(value))
    if keyword == "pattern":
        return validation_pattern(expected)
    if keyword in _NUMERIC:
        return _NUMERIC[keyword](expected, value)
    if keyword == "maxItems":
        return validation_max_items(expected, len(value))
    if keyword == "minItems":
        return validation_min_items(expected, len(value))
    if keyword == "uniqueItems":
        return validation_unique_items(*_first_duplicate(value))
    if keyword == "type":
        allowed = [expected] if isinstance(expected, str) else list(expected)
        return validation_wrong_type(allowed, _json_type(value))
    if keyword == "const":
        return validation_const(expected)
    if keyword == "format" and expected in ("email", "idn-email"):
        return validation_invalid_email(value)
    if keyword == "format" and expected == "tel":
        return validation_invalid_phone(value)
    return validation_generic(_generic_reason(error))


_NUMERIC = {
    "minimum": validation_minimum,
    "exclusiveMinimum": validation_exclusive_minimum,
    "maximum": validation_maximum,
    "exclusiveMaximum": validation_exclusive_maximum,
    "multipleOf": validation_multiple_of,
}


def _issues_from(errors: Iterable[jsonschema.ValidationError]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    # jsonschema reports one `required` error per missing property, in `required` order, without
    # naming it; count errors per location to recover which property each one is about.
    required_seen: dict[tuple, int] = {}
    for error in errors:
        schema_pointer = json_pointer(error.absolute_schema_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            key = (tuple(error.absolute_path), schema_pointer)
            missing = [p for p in error.validator_value if p not in error.instance]
            index = required_seen.get(key, 0)
            required_seen[key] = index + 1
            name = missing[index] if index < len(missing) else str(error.message)
            pointer = json_pointer((*error.absolute_path, name))
            reason = f"missing properties: {_quote(name)}"
            issues.append(ValidationIssue(pointer, validation_required(name), reason, schema_pointer))
            continue
        message = _message_for(error)
        own_words = error.validator == "format" or message.id == 4000001
        reason = _generic_reason(error) if own_words else message.text
        issues.append(ValidationIssue(json_pointer(error.absolute_path), message, reason, schema_pointer))
    return issues


# --------------------------------------------------------------------------------------------
# Traits processing
# --------------------------------------------------------------------------------------------


def _normalize_tel(traits: Any, fields: tuple[TraitField, ...]) -> Any:
    """Return ``traits`` with ``format: tel`` values in E.164, copying only what changes."""
    replacements: list[tuple[tuple, str]] = []
    for f in fields:
        if f.format != "tel":
            continue
        for path, value in iter_values(traits, f.path):
            if isinstance(value, str) and path:
                normalised = normalize_phone(value)
                if normalised is not None and normalised != value:
                    replacements.append((path, normalised))
    if not replacements:
        return traits
    return _replace(traits, replacements)


def _replace(doc: Any, replacements: list[tuple[tuple, Any]]) -> Any:
    """Copy-on-write replacement: only containers on a replaced path are shallow-copied."""
    copies: dict[int, Any] = {}

    def own(container: Any) -> Any:
        copy = copies.get(id(container))
        if copy is None:
            copy = dict(container) if isinstance(container, dict) else list(container)
            copies[id(container)] = copies[id(copy)] = copy
        return copy

    root = own(doc)
    for path, value in replacements:
        node = root
        for segment in path[:-1]:
            node[segment] = child = own(node[segment])
            node = child
        node[path[-1]] = value
    return root


class _Collector:
    """Accumulates identifiers and addresses from the extension fields."""

    def __init__(self) -> None:
        self.identifiers: dict[str, list[str]] = {}
        self.addresses: dict[str, set[tuple[str, str]]] = {}
        self.values: dict[str, dict[str, list[str]]] = {}
        self.verifiable: list[tuple[str, str]] = []
        self.recovery: list[tuple[str, str]] = []
        self.issues: list[ValidationIssue] = []

    def add_identifier(self, kind: str, value: str) -> None:
        values = self.identifiers.setdefault(kind, [])
        if value not in values:
            values.append(value)

    def add_value(self, f: TraitField, path: tuple, raw: str) -> None:
        ext = f.extension
        assert ext is not None
        for ctype, flags in ext.credentials.items():
            for key in flags.keys - {IDENTIFIER}:
                self.values.setdefault(ctype, {}).setdefault(key, []).append(raw)
        value = normalize_identifier(raw)
        if not value:
            return
        if any(via == "email" for _, via in ext.channels()) and not self._email_ok(f, path, raw):
            return
        for ctype, flags in ext.credentials.items():
            if IDENTIFIER not in flags.keys:
                continue
            self.add_identifier(ctype, value)
            via = flags.via or infer_via(f.format)
            if flags.via or via != "email" or f.format in ("email", "idn-email", "no-validate") or is_valid_email(raw):
                self.addresses.setdefault(ctype, set()).add((via, value))
        if ext.verification_via and (ext.verification_via, value) not in self.verifiable:
            self.verifiable.append((ext.verification_via, value))
        if ext.recovery_via and (ext.recovery_via, value) not in self.recovery:
            self.recovery.append((ext.recovery_via, value))

    def _email_ok(self, f: TraitField, path: tuple, raw: str) -> bool:
        """``via: email`` implies ``format: email`` even when the schema does not say so."""
        if f.format in ("email", "idn-email", "no-validate") or is_valid_email(raw):
            return True
        pointer = json_pointer(("traits", *path))
        reason = f"{_quote(raw)} is not valid \"email\""
        schema_pointer = f"{f.schema_pointer}/{EXTENSION_KEY.replace('/', '~1')}"
        self.issues.append(ValidationIssue(pointer, validation_invalid_email(raw), reason, schema_pointer))
        return False


def _extract(traits: Any, fields: tuple[TraitField, ...]) -> _Collector:
    collector = _Collector()
    for f in fields:
        if f.extension is None:
            continue
        for path, value in iter_values(traits, f.path):
            # An extension on an array property applies to each of its string items.
            items = enumerate(value) if isinstance(value, list) else [(None, value)]
            for index, item in items:
                if isinstance(item, str):
                    collector.add_value(f, path if index is None else (*path, index), item)
    return collector


def validate_traits(schema: IdentitySchema, traits: Any) -> TraitsResult:
    """Validate traits and extract what the ``ory.sh/kratos`` extension asks for.

    Args:
        schema: The identity schema (its validator and extension fields are precompiled).
        traits: The traits as submitted (any JSON value; non-objects fail cleanly).

    Returns:
        The (tel-normalised) traits with identifiers and addresses.

    Raises:
        TraitsValidationError: The traits do not validate.
    """
    fields = schema.trait_fields
    traits = _normalize_tel(traits, fields)
    issues = _issues_from(schema.validator.iter_errors({"traits": traits}))
    if issues:
        raise TraitsValidationError(issues)
    collected = _extract(traits, fields)
    if collected.issues:
        raise TraitsValidationError(collected.issues)
    return TraitsResult(
        traits=traits,
        credential_identifiers=collected.identifiers,
        credential_addresses={ctype: sorted(pairs) for ctype, pairs in collected.addresses.items()},
        credential_values=collected.values,
        verifiable_addresses=collected.verifiable,
        recovery_addresses=collected.recovery,
    )
