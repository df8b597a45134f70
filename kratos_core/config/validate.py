"""Type-driven checking of raw config data against the Struct model, with Kratos-style errors.

msgspec would validate the raw tree on its own, but its errors talk about ``$.a.b`` and Python
types, it cannot read Go durations or ``128MB`` sizes, and it cannot tell a plugin-owned key from
a typo. So the raw tree is walked alongside the Struct types first: durations and byte sizes are
parsed, every unknown key, wrong type or out-of-range value becomes a :class:`ConfigError` with the
dotted key path, and only then does msgspec build the (already valid) objects.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from kratos_core.config.durations import parse_bytes, parse_duration
from kratos_core.config.errors import ConfigError
from kratos_core.config.model import BYTES, SENSITIVE

__all__ = ["TypeInfo", "type_info", "struct_fields", "Checker", "format_path", "convert"]

Path = tuple[Any, ...]

_DURATION_HINT = 'expected a duration such as "1h" or "30m"'
_BYTES_HINT = 'expected a byte size such as "128MB"'


@dataclass(frozen=True)
class TypeInfo:
    """A field type reduced to what checking and env casting need.

    Attributes:
        kind: ``struct``, ``seq``, ``map``, ``literal``, ``duration``, ``bytes``, ``bool``,
            ``int``, ``float``, ``str`` or ``any`` (anything msgspec checks on its own).
        type: The unwrapped type (the Struct class for ``struct``).
        item: The element type of a ``seq`` or the value type of a ``map``.
        choices: The allowed values of a ``literal``.
        optional: Whether ``None`` (YAML ``null``) is allowed.
        metas: The ``msgspec.Meta`` constraints.
        sensitive: Whether the value must not be echoed in messages.
    """

    kind: str
    type: Any
    item: Any = None
    choices: tuple[Any, ...] = ()
    optional: bool = False
    metas: tuple[msgspec.Meta, ...] = ()
    sensitive: bool = False


_SCALARS = {bool: "bool", int: "int", float: "float", str: "str", timedelta: "duration"}


@cache
def type_info(tp: Any) -> TypeInfo:
    """Describe a (possibly ``Annotated`` / optional) field type.

    Args:
        tp: A type as found in ``msgspec.structs.fields``.

    Returns:
        Its :class:`TypeInfo`.
    """
    metas: list[msgspec.Meta] = []
    markers: list[Any] = []
    optional = False
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *extra = get_args(tp)
            metas.extend(e for e in extra if isinstance(e, msgspec.Meta))
            markers.extend(e for e in extra if not isinstance(e, msgspec.Meta))
            tp = base
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            optional = optional or len(args) < len(get_args(tp))
            if len(args) == 1:
                tp = args[0]
                continue
        break
    common = {"optional": optional, "metas": tuple(metas), "sensitive": SENSITIVE in markers}
    return TypeInfo(
        kind=_kind(tp, markers), type=tp, item=_item(tp), choices=_choices(tp), **common
    )


def _kind(tp: Any, markers: list[Any]) -> str:
    origin = get_origin(tp)
    if BYTES in markers:
        return "bytes"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "struct"
    if origin is Literal:
        return "literal"
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        return "seq"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "map"
    return _SCALARS.get(tp, "any")


def _item(tp: Any) -> Any:
    args = get_args(tp)
    origin = get_origin(tp)
    if origin in (tuple, list, Sequence):
        return args[0] if args else Any
    if origin in (dict, Mapping):
        return args[1] if len(args) == 2 else Any
    if tp in (tuple, list, dict, Mapping):
        return Any
    return None


def _choices(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) is Literal else ()


@cache
def struct_fields(tp: type) -> dict[str, msgspec.structs.FieldInfo]:
    """Return a Struct type's fields keyed by their config (encoded) name.

    Args:
        tp: A Struct class.

    Returns:
        ``{encode_name: FieldInfo}`` in declaration order.
    """
    return {f.encode_name: f for f in msgspec.structs.fields(tp)}


def format_path(path: Path) -> str:
    """Render a key path as Kratos-style dotted text (list indices as numbers).

    Args:
        path: The path segments.

    Returns:
        E.g. ``identity.schemas.0.url``.
    """
    return ".".join(str(p) for p in path)


def show(value: Any, sensitive: bool = False) -> str:
    """Render a bad value for an error message (never the content of a sensitive one).

    Args:
        value: The offending value.
        sensitive: Whether to hide the content.

    Returns:
        A short description.
    """
    if sensitive and isinstance(value, str):
        return f"a value of {len(value)} characters"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, timedelta):
        return "a duration"
    return repr(value)


@dataclass
class Checker:
    """Walks raw data alongside a type and returns it normalised for ``msgspec.convert``.

    Attributes:
        owned: Paths owned by plugin fragments; a core section silently drops such keys (the
            fragment validates them) instead of calling them unknown.
        lenient: Paths of core sections a fragment extends: unknown keys there are the
            fragment's business.
        reserved: Top-level field names that are not config keys (runtime provenance).
        forbid_all: Refuse unknown keys even in Structs that allow them (plugin fragments).
    """

    owned: frozenset[Path] = frozenset()
    lenient: frozenset[Path] = frozenset()
    reserved: frozenset[str] = frozenset()
    forbid_all: bool = False

    def check(self, value: Any, tp: Any, path: Path) -> Any:
        """Check ``value`` against ``tp`` at ``path``.

        Args:
            value: Raw data (from YAML/JSON, env casting or overrides).
            tp: The target type.
            path: Where the value sits.

        Returns:
            The value with durations/byte sizes parsed, ready for ``msgspec.convert``.

        Raises:
            ConfigError: On the first problem found.
        """
        info = type_info(tp)
        if value is None:
            if info.optional or info.kind == "any":
                return None
            raise ConfigError(format_path(path), f"{_expectation(info)}, got null")
        handler = getattr(self, f"_check_{info.kind}")
        result = handler(value, info, path)
        _check_metas(result, info, path)
        return result

    def _check_struct(self, value: Any, info: TypeInfo, path: Path) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ConfigError(
                format_path(path), f"expected an object (a mapping of keys), got {show(value)}"
            )
        fields = struct_fields(info.type)
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = (*path, key)
            known = fields.get(key) if isinstance(key, str) else None
            if known is None or (not path and key in self.reserved):
                self._unknown(info.type, item, child, fields)
                continue
            out[key] = self.check(item, known.type, child)
        for name, spec in fields.items():
            required = (
                spec.default is msgspec.NODEFAULT and spec.default_factory is msgspec.NODEFAULT
            )
            if required and name not in out and not (not path and name in self.reserved):
                raise ConfigError(
                    format_path((*path, name)), "a value is required but none was set"
                )
        return out

    def _unknown(self, tp: type, value: Any, child: Path, fields: Mapping[str, Any]) -> None:
        if child in self.lenient:
            return
        if child in self.owned:
            self._check_owned(value, child)
            return
        if any(child[:i] in self.lenient for i in range(1, len(child))):
            return
        forbid = self.forbid_all or tp.__struct_config__.forbid_unknown_fields
        if not forbid:
            return
        names = [n for n in fields if not (len(child) == 1 and n in self.reserved)]
        raise ConfigError(format_path(child), _unknown_message(str(child[-1]), names))

    def _check_owned(self, value: Any, path: Path) -> None:
        # A key only on the way to plugin sections (e.g. "plugins" for "plugins.foo"): its own
        # keys must lead to a declared section, or a typo would vanish unnoticed.
        if not isinstance(value, Mapping):
            raise ConfigError(
                format_path(path), f"expected an object (a mapping of keys), got {show(value)}"
            )
        names = sorted(
            p[len(path)] for p in self.owned if len(p) > len(path) and p[: len(path)] == path
        )
        for key, item in value.items():
            child = (*path, key)
            if child not in self.owned:
                raise ConfigError(format_path(child), _unknown_message(str(key), names))
            if child not in self.lenient:
                self._check_owned(item, child)

    def _check_seq(self, value: Any, info: TypeInfo, path: Path) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(
                format_path(path), f"expected a list, got {show(value, info.sensitive)}"
            )
        return [self.check(item, info.item, (*path, i)) for i, item in enumerate(value)]

    def _check_map(self, value: Any, info: TypeInfo, path: Path) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ConfigError(
                format_path(path), f"expected an object (a mapping of keys), got {show(value)}"
            )
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(
                    format_path((*path, key)), f"keys must be strings, got {show(key)}"
                )
            out[key] = self.check(item, info.item, (*path, key))
        return out

    def _check_literal(self, value: Any, info: TypeInfo, path: Path) -> Any:
        if value in info.choices and type(value) in {type(c) for c in info.choices}:
            return value
        raise ConfigError(format_path(path), f"{_expectation(info)}, got {show(value)}")

    def _check_duration(self, value: Any, info: TypeInfo, path: Path) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = parse_duration(value)
            except ValueError:
                raise ConfigError(
                    format_path(path), f"{_DURATION_HINT}, got {show(value)}"
                ) from None
        else:
            raise ConfigError(format_path(path), f"{_DURATION_HINT}, got {show(value)}")
        if parsed < timedelta(0):
            raise ConfigError(
                format_path(path), f"expected a duration that is not negative, got {show(value)}"
            )
        return parsed

    def _check_bytes(self, value: Any, info: TypeInfo, path: Path) -> int:
        try:
            return parse_bytes(value)
        except ValueError:
            raise ConfigError(format_path(path), f"{_BYTES_HINT}, got {show(value)}") from None

    def _check_bool(self, value: Any, info: TypeInfo, path: Path) -> bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(format_path(path), f"{_expectation(info)}, got {show(value)}")

    def _check_int(self, value: Any, info: TypeInfo, path: Path) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(format_path(path), f"{_expectation(info)}, got {show(value)}")

    def _check_float(self, value: Any, info: TypeInfo, path: Path) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(format_path(path), f"{_expectation(info)}, got {show(value)}")

    def _check_str(self, value: Any, info: TypeInfo, path: Path) -> str:
        if isinstance(value, str):
            return value
        raise ConfigError(format_path(path), f"{_expectation(info)}, got {show(value)}")

    def _check_any(self, value: Any, info: TypeInfo, path: Path) -> Any:
        return value


_EXPECT = {
    "bool": "expected a boolean (true or false)",
    "int": "expected an integer",
    "float": "expected a number",
    "str": "expected a string",
    "duration": _DURATION_HINT,
    "bytes": _BYTES_HINT,
    "seq": "expected a list",
    "map": "expected an object (a mapping of keys)",
    "struct": "expected an object (a mapping of keys)",
    "any": "expected a value",
}


def _expectation(info: TypeInfo) -> str:
    if info.kind == "literal":
        return "expected one of " + ", ".join(show(c) for c in info.choices)
    return _EXPECT[info.kind]


def _unknown_message(key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f'unknown key "{key}" (did you mean "{close[0]}"?)'
    return f'unknown key "{key}"; allowed keys are: ' + ", ".join(names)


def _check_metas(value: Any, info: TypeInfo, path: Path) -> None:
    for meta in info.metas:
        problem = _meta_problem(value, meta, info)
        if problem:
            raise ConfigError(format_path(path), problem)


def _meta_problem(value: Any, meta: msgspec.Meta, info: TypeInfo) -> str | None:
    noun = {"int": "an integer", "bytes": "a byte size", "float": "a number"}.get(
        info.kind, "a value"
    )
    bounds = (
        ("ge", ">=", lambda v, b: v >= b),
        ("gt", ">", lambda v, b: v > b),
        ("le", "<=", lambda v, b: v <= b),
        ("lt", "<", lambda v, b: v < b),
    )
    for attr, sign, ok in bounds:
        bound = getattr(meta, attr)
        if bound is not None and isinstance(value, (int, float)) and not ok(value, bound):
            return f"expected {noun} {sign} {bound}, got {value}"
    return _length_problem(value, meta, info)


def _length_problem(value: Any, meta: msgspec.Meta, info: TypeInfo) -> str | None:
    unit = "characters" if isinstance(value, str) else "items"
    if not isinstance(value, (str, list, tuple, dict)):
        return None
    size = len(value)
    low, high = meta.min_length, meta.max_length
    if low is not None and high is not None and low == high and size != low:
        return f"expected exactly {low} {unit}, got {size}"
    if low is not None and size < low:
        return f"expected at least {low} {unit}, got {size}"
    if high is not None and size > high:
        return f"expected at most {high} {unit}, got {size}"
    if meta.pattern is not None and isinstance(value, str) and not re.search(meta.pattern, value):
        shown = show(value, info.sensitive)
        return f'expected a value matching the pattern "{meta.pattern}", got {shown}'
    return None


_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def convert(data: Any, tp: type, base: Path = ()) -> Any:
    """Build ``tp`` from checked data, turning any leftover msgspec error into a ConfigError.

    Args:
        data: Output of :meth:`Checker.check`.
        tp: The Struct type.
        base: The path of ``data`` (for fragments).

    Returns:
        The Struct instance.

    Raises:
        ConfigError: If msgspec still refuses the data (types the checker leaves to msgspec).
    """
    try:
        return msgspec.convert(data, tp)
    except msgspec.ValidationError as exc:
        match = _MSGSPEC_PATH.match(str(exc))
        assert match is not None  # the pattern matches any text
        raw_path = match.group("path") or ""
        parts = [p for p in re.split(r"\.|\[(\d+)\]", raw_path) if p]
        message = match.group("msg").replace("`", '"')
        raise ConfigError(format_path((*base, *parts)), message[:1].lower() + message[1:]) from None
