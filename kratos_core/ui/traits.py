"""Input nodes from an identity JSON schema's ``traits`` (kratos-behaviour.md section 2.3).

Also the dotted-key helpers form handling needs: ``flatten({"traits": {"name": {"first": "A"}}})``
gives ``{"traits.name.first": "A"}`` and ``unflatten`` turns it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from kratos_core.ui import messages
from kratos_core.ui.nodes import Node, input_node
from kratos_core.ui.text import TextMessage

__all__ = [
    "MAX_OPTIONS",
    "TraitField",
    "trait_fields",
    "trait_names",
    "trait_nodes",
    "identifier_label",
    "flatten",
    "unflatten",
]

#: Enums longer than this get no ``options`` (the UI falls back to a free-text input rather
#: than a dropdown that silently lacks valid values).
MAX_OPTIONS = 500

_FORMAT_TYPES: dict[str, tuple[str, str | None]] = {
    "email": ("email", "email"),
    "tel": ("tel", "tel"),
    "date-time": ("datetime-local", None),
    "date": ("date", None),
    "uri": ("url", "url"),
}

_IDENTIFIER_FLAGS: tuple[tuple[str, str], ...] = (
    ("password", "identifier"),
    ("webauthn", "identifier"),
    ("code", "identifier"),
    ("totp", "account_name"),
    ("passkey", "display_name"),
)


class TraitField(msgspec.Struct, frozen=True):
    """One leaf of the traits schema.

    Attributes:
        name: Dotted node name, e.g. ``traits.name.first``.
        schema: The (``$ref``-resolved) JSON schema of the leaf.
        required: Whether the parent object lists the leaf in ``required``.
    """

    name: str
    schema: dict[str, Any]
    required: bool


def trait_fields(schema_raw: Mapping[str, Any]) -> list[TraitField]:
    """All leaf paths under ``properties.traits`` in schema key order.

    Nested objects recurse; free-form objects (no ``properties``) are skipped because they have
    no form representation.

    Args:
        schema_raw: The identity JSON schema as parsed JSON.

    Returns:
        The leaves, in the order their keys appear in the schema.
    """
    traits = _resolve(schema_raw, (schema_raw.get("properties") or {}).get("traits") or {})
    return list(_walk(schema_raw, traits, "traits"))


def trait_names(schema_raw: Mapping[str, Any]) -> list[str]:
    """The dotted trait node names in schema key order (input for ``sort_nodes``)."""
    return [f.name for f in trait_fields(schema_raw)]


def _walk(root: Mapping[str, Any], obj: Mapping[str, Any], prefix: str) -> Iterator[TraitField]:
    required = set(obj.get("required") or ())
    for key, sub in (obj.get("properties") or {}).items():
        sub = _resolve(root, sub)
        name = f"{prefix}.{key}"
        if _is_object(sub):
            if sub.get("properties"):
                yield from _walk(root, sub, name)
            continue
        yield TraitField(name=name, schema=dict(sub), required=key in required)


def _is_object(schema: Mapping[str, Any]) -> bool:
    return _json_type(schema) == "object" or ("properties" in schema and "type" not in schema)


def _json_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        # ``["string", "null"]`` is a nullable string: the first non-null type decides.
        kind = next((k for k in kind if k != "null"), None)
    return kind


def _resolve(root: Mapping[str, Any], schema: Any, depth: int = 0) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/definitions/...``); remote refs are left unresolved."""
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#") or depth > 32:
        return dict(schema)
    target: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part) if isinstance(target, Mapping) else None
    merged = {**_resolve(root, target, depth + 1), **{k: v for k, v in schema.items() if k != "$ref"}}
    return merged


def trait_nodes(
    schema_raw: Mapping[str, Any],
    *,
    group: str = "default",
    values: Mapping[str, Any] | None = None,
    hidden: bool = False,
) -> list[Node]:
    """One input node per trait leaf of an identity schema.

    Args:
        schema_raw: The identity JSON schema as parsed JSON.
        group: The node group (``default`` for registration, ``profile`` for settings).
        values: The identity's traits object (``{"email": ...}``, not ``{"traits": ...}``);
            leaves found in it pre-fill the node values.
        hidden: Render every trait as a hidden input (second step of two-step registration).

    Returns:
        The nodes, in schema key order.
    """
    flat = flatten(values or {}, "traits")
    return [_trait_node(f, group, flat.get(f.name), hidden) for f in trait_fields(schema_raw)]


def _trait_node(field: TraitField, group: str, value: Any, hidden: bool) -> Node:
    schema = field.schema
    input_type, autocomplete = _input_type(schema)
    if hidden:
        input_type, autocomplete = "hidden", None
    title = schema.get("title")
    return input_node(
        field.name,
        input_type,  # type: ignore[arg-type]
        group,
        value=value,
        required=field.required,
        autocomplete=autocomplete,
        label=messages.trait_label(title, field.name) if title else None,
        pattern=schema.get("pattern") if isinstance(schema.get("pattern"), str) else None,
        disabled=schema.get("disableFormField") is True,
        options=_enum_options(schema),
    )


def _input_type(schema: Mapping[str, Any]) -> tuple[str, str | None]:
    kind = _json_type(schema)
    base = "number" if kind in ("number", "integer") else "checkbox" if kind == "boolean" else "text"
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_TYPES:
        return _FORMAT_TYPES[fmt]
    return base, None


def _enum_options(schema: Mapping[str, Any]) -> list[Any] | None:
    enum = schema.get("enum")
    if not isinstance(enum, list) or not enum or len(enum) > MAX_OPTIONS:
        return None
    return list(enum)


def identifier_label(schema_raw: Mapping[str, Any]) -> TextMessage:
    """The login ``identifier`` label.

    If exactly one trait is flagged as a login identifier in the ``ory.sh/kratos`` extension and
    it has a ``title``, that title (1070002); otherwise 1070004 "ID".
    """
    flagged = [f for f in trait_fields(schema_raw) if _is_identifier(f.schema)]
    if len(flagged) == 1 and flagged[0].schema.get("title"):
        return messages.trait_label(flagged[0].schema["title"], flagged[0].name)
    return messages.label_id()


def _is_identifier(schema: Mapping[str, Any]) -> bool:
    ext = schema.get("ory.sh/kratos")
    credentials = ext.get("credentials") if isinstance(ext, Mapping) else None
    if not isinstance(credentials, Mapping):
        return False
    return any(
        isinstance(credentials.get(method), Mapping) and credentials[method].get(flag) is True
        for method, flag in _IDENTIFIER_FLAGS
    )


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted leaf keys.

    Args:
        obj: The nested mapping.
        prefix: Prepended to every key (``"traits"`` gives ``traits.email``).

    Returns:
        ``{"a.b": leaf}``; lists and empty mappings are leaves.
    """
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn dotted keys back into nested dicts (``traits.name.first`` -> nested).

    Raises:
        ValueError: Two keys conflict (``a`` is both a leaf and an object).
    """
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"form key {key!r} conflicts with a value at {part!r}")
        if isinstance(target.get(leaf), dict) and not isinstance(value, Mapping):
            raise ValueError(f"form key {key!r} conflicts with nested keys below it")
        target[leaf] = _merge(target.get(leaf), value)
    return out


def _merge(existing: Any, value: Any) -> Any:
    if isinstance(existing, dict) and isinstance(value, Mapping):
        return {**existing, **unflatten(flatten(value))}
    return dict(value) if isinstance(value, Mapping) else value
