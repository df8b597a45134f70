"""MkDocs hook: render the table of every name in ``kratos_core.api`` from the module itself.

``plugins/api.md`` holds the marker ``<!-- public-api -->``; at build time it becomes a table of
each public name, what kind of thing it is, where it is defined and the first line of its
docstring, so the page lists exactly what the contract exports.
"""

from __future__ import annotations

import inspect
from typing import Any

MARKER = "<!-- public-api -->"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def _kind(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "protocol" if getattr(obj, "_is_protocol", False) else "class"
    if callable(obj):
        return "function"
    return "constant"


def render() -> str:
    import kratos_core.api as api

    rows = ["| name | kind | defined in | what it is |", "|---|---|---|---|"]
    for name in sorted(api.__all__, key=str.lower):
        obj = getattr(api, name)
        kind = _kind(obj)
        module = obj.__name__ if kind == "module" else getattr(obj, "__module__", "") or ""
        doc = inspect.getdoc(obj) if kind != "constant" else ""
        summary = (doc or "").strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{name}` | {kind} | `{module}` | {summary} |")
    return "\n".join(rows)
