"""Reading submit bodies: JSON or HTML forms, as Kratos's decoder does (section 6).

Browsers post ``application/x-www-form-urlencoded`` with dotted keys (``traits.name.first``);
those are nested and, for traits, coerced to the identity schema's types (``"true"`` becomes a
boolean where the schema says boolean, numbers become numbers), so the same validation applies to
forms and JSON. ``GET`` submits read the query string the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from ..bounds import check_bounds, decode_json_bounded
from ..errors import BadRequest
from ..ui.traits import trait_fields, unflatten

__all__ = ["decode_form", "decode_json", "parse_body"]

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
# Go's strconv.ParseBool, which Kratos's form decoder uses; HTML checkboxes send "on".
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True", "on"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False", "off"})


def decode_json(raw: bytes) -> dict[str, Any]:
    """A JSON object body; an empty body is an empty object.

    Raises:
        BadRequest: Not JSON, or not an object.
    """
    if not raw.strip():
        return {}
    data = decode_json_bounded(raw)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def decode_form(pairs: list[tuple[str, str]], schema_raw: Mapping[str, Any]) -> dict[str, Any]:
    """Nest dotted form keys and coerce trait values against the identity schema.

    Args:
        pairs: The form fields in order (a repeated key keeps every value).
        schema_raw: The identity JSON schema.

    Raises:
        BadRequest: Keys that conflict (``a`` and ``a.b`` both sent).
    """
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    types = {f.name: f.schema for f in trait_fields(schema_raw)}
    flat: dict[str, Any] = {}
    for key, values in grouped.items():
        if key.startswith("traits.") and key in types:
            coerced = _coerce(values, types[key])
            if coerced is not _ABSENT:
                flat[key] = coerced
        else:
            # Hidden-plus-checkbox pairs send a key twice; the last value is the one that counts.
            flat[key] = values[-1]
    try:
        return unflatten(flat)
    except ValueError as exc:
        raise BadRequest(f"Unable to decode the form: {exc}") from exc


_ABSENT = object()


def _coerce(values: list[str], schema: Mapping[str, Any]) -> Any:
    kind = _json_type(schema)
    if kind == "array":
        item_schema = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        items = [_scalar(v, _json_type(item_schema)) for v in values if v != ""]
        return [i for i in items if i is not _ABSENT]
    return _scalar(values[-1], kind)


def _scalar(value: str, kind: str | None) -> Any:
    if kind == "boolean":
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        return value  # the schema check reports the wrong type
    if kind in ("number", "integer"):
        if value == "":
            return _ABSENT  # an empty number field means "not given"
        return _number(value)
    return value


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if number == number and abs(number) != float("inf") else value


def _json_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def parse_body(content_type: str | None, raw: bytes, query: list[tuple[str, str]] | None, schema_raw: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a submit body by its content type (``query`` is used for GET submits).

    Raises:
        BadRequest: Unknown content type or undecodable body.
    """
    # Bounded once here (depth, NUL, string lengths), before any method sees the values.
    if query is not None:
        return check_bounds(decode_form([(k, v) for k, v in query if k != "flow"], schema_raw))
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == _JSON:
        return check_bounds(decode_json(raw))
    if media == _FORM:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("The form body is not valid UTF-8.") from exc
        return check_bounds(decode_form(parse_qsl(text, keep_blank_values=True), schema_raw))
    if not raw.strip():
        return {}
    raise BadRequest(
        f'Unable to decode body because HTTP Request Content-Type "{media or "(none)"}" is unknown; '
        f'send "{_JSON}" or "{_FORM}".'
    )
