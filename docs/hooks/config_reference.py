"""MkDocs hook: render the table of every config key from the config model itself.

``configuration.md`` holds the marker ``<!-- config-reference -->``; at build time it becomes one
table per section, read from :class:`kratos_core.config.model.Config` (key, type, default), so
the page cannot drift from what the server accepts.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

MARKER = "<!-- config-reference -->"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def render() -> str:
    from kratos_core.config.model import RUNTIME_FIELDS, Config

    sections: list[str] = []
    top_rows = []
    for path, _cls, field_type, default in _fields(Config, ""):
        if path.split(".")[0] in RUNTIME_FIELDS:
            continue
        if _struct(field_type) is not None:
            continue
        top_rows.append((path, field_type, default))
    for path, cls, doc in _sections(Config, ""):
        rows = [(p, t, d) for p, _, t, d in _fields(cls, path) if _struct(t) is None or _compact(t)]
        if rows:
            sections.append(_table(path, doc, rows))
    head = _table("", "Top-level keys.", [r for r in top_rows if "." not in r[0]])
    return "\n".join([head, *sections])


def _sections(cls: type, prefix: str) -> Iterator[tuple[str, type, str]]:
    from kratos_core.config.model import RUNTIME_FIELDS

    for info in msgspec.structs.fields(cls):
        if not prefix and info.name in RUNTIME_FIELDS:
            continue
        inner = _struct(_hints(cls)[info.name])
        if inner is None or _compact(_hints(cls)[info.name]):
            continue
        child_cls, suffix = inner
        path = f"{prefix}.{info.encode_name}{suffix}" if prefix else f"{info.encode_name}{suffix}"
        yield path, child_cls, _first_line(child_cls.__doc__)
        yield from _sections(child_cls, path)


def _fields(cls: type, prefix: str) -> Iterator[tuple[str, type, Any, str]]:
    hints = _hints(cls)
    for info in msgspec.structs.fields(cls):
        path = f"{prefix}.{info.encode_name}" if prefix else info.encode_name
        yield path, cls, hints[info.name], _default(info)


def _compact(tp: Any) -> str | None:
    """Hook lists repeat under every flow and method: one row each, explained on the page."""
    inner = _struct(tp)
    names = {"BeforeHooks": "hook list (`hooks`)", "MethodHooks": "method hooks (`default_browser_return_url`, `hooks`)", "HookConfig": "list of hooks (`hook`, `config`)"}
    return names.get(inner[0].__name__) if inner else None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _struct(tp: Any) -> tuple[type, str] | None:
    """The Struct a field holds (itself, or as the values of a mapping / items of a tuple)."""
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp, ""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Mapping, dict, typing.Mapping) and len(args) == 2:
        inner = _struct(args[1])
        return (inner[0], ".<id>" + inner[1]) if inner else None
    if origin is tuple and args and args[-1] is Ellipsis:
        inner = _struct(args[0])
        return (inner[0], "[]" + inner[1]) if inner else None
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return _struct(members[0]) if len(members) == 1 else None
    return None


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _type_name(tp: Any) -> str:
    compact = _compact(tp)
    if compact:
        return compact
    markers = [getattr(m, "name", None) for m in getattr(tp, "__metadata__", ())]
    if "bytes" in markers:
        return "byte size (`128MB`)"
    tp = _strip(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is dt.timedelta:
        return "duration (`1h`)"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " or null"
    if origin is tuple:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin in (Mapping, dict, typing.Mapping):
        return "object"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def _default(info: msgspec.structs.FieldInfo) -> str:
    if info.default is not msgspec.NODEFAULT:
        value = info.default
    elif info.default_factory is not msgspec.NODEFAULT:
        value = info.default_factory()
    else:
        return "*required*"
    if isinstance(value, msgspec.Struct):
        return "see below" if not isinstance(value, _compact_types()) else ""
    return _show(value)


def _compact_types() -> tuple[type, ...]:
    from kratos_core.config.model import BeforeHooks, HookConfig, MethodHooks

    return (BeforeHooks, HookConfig, MethodHooks)


def _show(value: Any) -> str:
    from kratos_core.config.durations import format_duration

    if value is None:
        return "unset"
    if isinstance(value, dt.timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list)):
        return "`[]`" if not value else "`" + ", ".join(str(v) for v in value) + "`"
    if isinstance(value, Mapping):
        return "`{}`" if not value else f"`{dict(value)}`"
    if isinstance(value, str) and len(value) > 60:
        return f"`{value[:57]}...`"
    return f"`{value}`"


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].replace("``", "`") if doc else ""


def _table(path: str, doc: str, rows: list[tuple[str, Any, str]]) -> str:
    if doc.strip("`.") == path:
        doc = ""  # the docstring only repeats the key
    title = f"### `{path}`\n\n{doc}\n" if path else f"{doc}\n"
    lines = [title, "| key | type | default |", "|---|---|---|"]
    for key, tp, default in rows:
        lines.append(f"| `{key}` | {_type_name(tp)} | {default} |")
    return "\n".join(lines) + "\n"
