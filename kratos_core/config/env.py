"""Kratos's environment-variable rule: ``SERVE_PUBLIC_BASE_URL`` sets ``serve.public.base_url``.

The variable name is lower-cased and every ``_`` becomes ``.``; the result is compared with the
known key paths, whose own underscores (and hyphens) count as dots too, so the key names resolve
the ambiguity (kratos-behaviour.md section 9). The known paths are precomputed from the Struct
model and the plugin fragments. Lists of objects can be set whole (JSON) or per item with a
numeric segment (``IDENTITY_SCHEMAS_0_URL``). Values arrive as text and are cast to the key's type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kratos_core.config.validate import show, struct_fields, type_info

__all__ = ["INDEX", "KnownPaths", "CastError", "cast_text", "set_path", "deep_merge"]

#: The segment standing for "any list index" in a known path.
INDEX = "*"

Segments = tuple[str, ...]

_HAS_INDEX = re.compile(r"(?:^|\.)\d+(?:\.|$)")


class CastError(ValueError):
    """A text value that cannot be turned into the key's type; ``str()`` says what was expected."""


class KnownPaths:
    """Every settable key path of the model (plus plugin fragments), for env var matching.

    Args:
        root: The top-level Struct type.
        fragments: Plugin Struct types by path; they win over the core type at their path.
        map_keys: Known keys of mapping-valued sections (e.g. method names under
            ``selfservice.methods``), so their sub-keys can be set from the environment too.
        reserved: Top-level fields that are not config keys.
    """

    def __init__(
        self,
        root: type,
        fragments: Mapping[Segments, type],
        map_keys: Mapping[Segments, Iterable[str]],
        reserved: Iterable[str] = (),
    ) -> None:
        self._reserved = frozenset(reserved)
        keys = {prefix: list(names) for prefix, names in map_keys.items()}
        for path in fragments:
            _collect_map_keys(root, path, keys)
        self.types: dict[Segments, Any] = {}
        self._walk(root, (), keys, override=False)
        for path, frag_type in fragments.items():
            self._walk(frag_type, path, keys, override=True)
        self._literal: dict[str, Segments] = {}
        self._patterns: list[tuple[re.Pattern[str], Segments]] = []
        for segments in self.types:
            self._index(segments)

    def _walk(
        self, tp: Any, prefix: Segments, keys: Mapping[Segments, list[str]], *, override: bool
    ) -> None:
        if prefix and (override or prefix not in self.types):
            self.types[prefix] = tp
        info = type_info(tp)
        if info.kind == "struct":
            for name, spec in struct_fields(info.type).items():
                if prefix or name not in self._reserved:
                    self._walk(spec.type, (*prefix, name), keys, override=override)
        elif info.kind == "seq" and type_info(info.item).kind in ("struct", "map"):
            self._walk(info.item, (*prefix, INDEX), keys, override=override)
        elif info.kind == "map":
            for key in keys.get(prefix, ()):
                self._walk(info.item, (*prefix, key), keys, override=override)

    def _index(self, segments: Segments) -> None:
        if INDEX not in segments:
            self._literal.setdefault(_env_form(segments), segments)
            return
        pattern = r"\.".join(
            r"(\d+)" if s == INDEX else re.escape(_env_form((s,))) for s in segments
        )
        self._patterns.append((re.compile(pattern), segments))

    def match_env(self, name: str) -> tuple[tuple[str | int, ...], Any] | None:
        """Find the key path an environment variable name sets.

        Args:
            name: The variable name, e.g. ``SELFSERVICE_FLOWS_LOGIN_UI_URL``.

        Returns:
            ``(path, type)`` with list indices as ints, or None if it matches no known key.
        """
        key = name.lower().replace("_", ".")
        segments = self._literal.get(key)
        if segments is not None:
            return segments, self.types[segments]
        if not _HAS_INDEX.search(key):
            return None
        for pattern, template in self._patterns:
            match = pattern.fullmatch(key)
            if match:
                indices = iter(int(g) for g in match.groups())
                path = tuple(next(indices) if s == INDEX else s for s in template)
                return path, self.types[template]
        return None

    def type_at(self, path: Iterable[str | int]) -> Any:
        """Return the type of the key at ``path`` (ints are list indices), or None if unknown.

        Args:
            path: Key path segments.

        Returns:
            The type or None.
        """
        return self.types.get(tuple(INDEX if isinstance(p, int) else p for p in path))


def _env_form(segments: Iterable[str]) -> str:
    return ".".join(s.replace("_", ".").replace("-", ".") for s in segments)


def _collect_map_keys(root: type, path: Segments, keys: dict[Segments, list[str]]) -> None:
    # A fragment below a mapping (selfservice.methods.<name>.config) makes <name> a known key.
    tp: Any = root
    for depth, segment in enumerate(path):
        info = type_info(tp)
        prefix = path[:depth]
        if info.kind == "map":
            names = keys.setdefault(prefix, [])
            if segment not in names:
                names.append(segment)
            tp = info.item
        elif info.kind == "struct" and segment in struct_fields(info.type):
            tp = struct_fields(info.type)[segment].type
        else:
            return


def cast_text(text: str, tp: Any) -> Any:
    """Turn an environment (or command-line) string into a value of the key's type.

    Scalars are parsed (``true/false/1/0``, integers); lists of strings accept a JSON array or
    comma-separated values; objects and lists of objects accept JSON. Durations, byte sizes and
    strings stay text and are checked by the regular validation.

    Args:
        text: The raw text.
        tp: The key's type.

    Returns:
        The cast value.

    Raises:
        CastError: If the text cannot be cast.
    """
    info = type_info(tp)
    caster = _CASTERS.get(info.kind, _cast_plain)
    return caster(text, info)


def _cast_plain(text: str, info: Any) -> Any:
    return text


def _cast_bool(text: str, info: Any) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise CastError(f"expected a boolean (true, false, 1 or 0), got {show(text)}")


def _cast_int(text: str, info: Any) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CastError(f"expected an integer, got {show(text, info.sensitive)}") from None


def _cast_float(text: str, info: Any) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise CastError(f"expected a number, got {show(text, info.sensitive)}") from None


def _cast_literal(text: str, info: Any) -> Any:
    # LOG_LEVEL=INFO is common in container environments; accept the choice in any case.
    for choice in info.choices:
        if isinstance(choice, str) and choice.lower() == text.strip().lower():
            return choice
    return text


def _cast_seq(text: str, info: Any) -> list[Any]:
    if text.lstrip().startswith("["):
        value = _json(text, "a JSON array", info)
        if not isinstance(value, list):
            raise CastError(f"expected a JSON array, got {show(text, info.sensitive)}")
        return value
    if type_info(info.item).kind in ("struct", "map", "seq"):
        raise CastError(f"expected a JSON array of objects, got {show(text, info.sensitive)}")
    return [cast_text(part.strip(), info.item) for part in text.split(",") if part.strip()]


def _cast_object(text: str, info: Any) -> dict[str, Any]:
    value = _json(text, "a JSON object", info)
    if not isinstance(value, dict):
        raise CastError(f"expected a JSON object, got {show(text, info.sensitive)}")
    return value


def _cast_any(text: str, info: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json(text: str, what: str, info: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CastError(f"expected {what}, got invalid JSON ({exc})") from None


_CASTERS = {
    "bool": _cast_bool,
    "int": _cast_int,
    "float": _cast_float,
    "literal": _cast_literal,
    "seq": _cast_seq,
    "struct": _cast_object,
    "map": _cast_object,
    "any": _cast_any,
}


def deep_merge(base: Any, top: Any) -> Any:
    """Merge ``top`` over ``base``: mappings merge key by key, anything else is replaced.

    Neither argument is modified; the result shares no mappings or lists with them.

    Args:
        base: The lower-precedence value.
        top: The higher-precedence value.

    Returns:
        The merged value.
    """
    if isinstance(base, Mapping) and isinstance(top, Mapping):
        merged = {k: _copy(v) for k, v in base.items()}
        for key, value in top.items():
            merged[key] = deep_merge(merged[key], value) if key in merged else _copy(value)
        return merged
    return _copy(top)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def set_path(tree: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Set ``value`` at ``path`` inside ``tree``, creating objects/lists on the way.

    An object value is merged into an existing object (like a later config file); list indices
    beyond the end pad the list with empty objects.

    Args:
        tree: The raw config tree (modified in place).
        path: Key path; ints index lists.
        value: The value to set.
    """
    node: Any = tree
    for segment, following in zip(path[:-1], path[1:], strict=True):
        child = _get(node, segment)
        if not isinstance(child, (dict, list)):
            child = [] if isinstance(following, int) else {}
            _put(node, segment, child)
        node = child
    _put(node, path[-1], deep_merge(_get(node, path[-1]), value))


def _get(node: Any, segment: str | int) -> Any:
    if isinstance(node, list):
        return node[segment] if isinstance(segment, int) and segment < len(node) else None
    return node.get(segment)


def _put(node: Any, segment: str | int, value: Any) -> None:
    if isinstance(node, list) and isinstance(segment, int):
        node.extend({} for _ in range(segment + 1 - len(node)))
        node[segment] = value
    elif isinstance(node, list):
        raise CastError(f"cannot set key {segment!r} inside a list")
    else:
        node[segment] = value
