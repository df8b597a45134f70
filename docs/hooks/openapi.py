"""MkDocs hook: generate the HTTP API reference from the two apps' OpenAPI documents.

At build time it builds a :class:`~kratos_core.app.KratosApp` from a minimal in-memory config
(no network, no entry-point plugins), asks the public and admin Litestar apps for their OpenAPI
documents, adds them to the site as ``api/public.openapi.json`` and ``api/admin.openapi.json``,
and replaces the marker ``<!-- openapi-reference -->`` in ``api.md`` with a table of every
operation. Plugins' routes are not included: they depend on what is installed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

MARKER = "<!-- openapi-reference -->"
APIS = ("public", "admin")
_METHODS = ("get", "post", "put", "patch", "delete")

_documents: dict[str, dict[str, Any]] = {}


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    documents = _build_documents()
    _documents.clear()
    _documents.update(documents)
    for api, document in documents.items():
        content = json.dumps(document, indent=2, sort_keys=True)
        files.append(File.generated(config, f"api/{api}.openapi.json", content=content))
    return files


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, "\n".join(_table(api, _documents[api]) for api in APIS))


def _build_documents() -> dict[str, dict[str, Any]]:
    import yaml

    from kratos_core.app import build_app
    from kratos_core.testing import default_config

    with tempfile.TemporaryDirectory() as tmp:
        # The test kit's config: in-memory database, one schema, password and code switched off.
        path = Path(tmp) / "kratos.yml"
        path.write_text(yaml.safe_dump(default_config(Path(tmp))))
        app = build_app([str(path)], autoload=False, env={})
        return {"public": app.public.openapi_schema.to_schema(), "admin": app.admin.openapi_schema.to_schema()}


def _table(api: str, document: dict[str, Any]) -> str:
    port = "4433" if api == "public" else "4434"
    lines = [
        f"## {api.capitalize()} API (port {port})\n",
        f"The OpenAPI document: [{api}.openapi.json](api/{api}.openapi.json).\n",
        "| method | path | summary |",
        "|---|---|---|",
    ]
    for path, item in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None:
                summary = (operation.get("summary") or "").replace("|", "\\|")
                lines.append(f"| `{method.upper()}` | `{path}` | {summary} |")
    return "\n".join(lines) + "\n"
