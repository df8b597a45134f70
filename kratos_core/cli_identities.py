"""``kratos identities import|get|list|delete``: the admin identity API from the shell.

Like Kratos's own CLI these talk HTTP to a running server's admin API (``--endpoint`` or the
``KRATOS_ADMIN_URL`` environment variable), so they work against any deployment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click
import httpx

__all__ = ["identities"]

IMPORT_BATCH = 100


def _client(endpoint: str | None) -> httpx.Client:
    base = endpoint or os.environ.get("KRATOS_ADMIN_URL") or "http://127.0.0.1:4434"
    return httpx.Client(base_url=base.rstrip("/"), timeout=30)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            err = response.json()["error"]
            message = err.get("reason") or err.get("message")
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise click.ClickException(f"{response.status_code}: {message}")
    return response.json() if response.content else None


def _emit(data: Any, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(data))
    elif fmt == "json-pretty":
        click.echo(json.dumps(data, indent=2))
    else:
        rows = data if isinstance(data, list) else [data]
        click.echo("ID\tSCHEMA ID\tSTATE\tADDRESS")
        for i in rows:
            addresses = i.get("verifiable_addresses") or i.get("recovery_addresses") or [{}]
            click.echo(f"{i['id']}\t{i['schema_id']}\t{i.get('state', '')}\t{addresses[0].get('value', '')}")


_endpoint = click.option("-e", "--endpoint", help="Admin API URL (default: $KRATOS_ADMIN_URL or http://127.0.0.1:4434).")
_format = click.option("--format", "fmt", type=click.Choice(["table", "json", "json-pretty"]), default="table")


@click.group()
def identities() -> None:
    """Manage identities through a running server's admin API."""


@identities.command("import")
@click.argument("files", nargs=-1, type=click.File("r"))
@_endpoint
def import_identities(files: Sequence[Any], endpoint: str | None) -> None:
    """Import identities from JSON files (an object or an array of create bodies; - for stdin)."""
    bodies = _read_bodies(files or [click.get_text_stream("stdin")])
    failed = 0
    with _client(endpoint) as client, click.progressbar(length=len(bodies), label="Importing", file=sys.stderr) as bar:
        for start in range(0, len(bodies), IMPORT_BATCH):
            chunk = bodies[start : start + IMPORT_BATCH]
            result = _check(client.patch("/admin/identities", json={"identities": [{"create": b} for b in chunk]}))
            for item in result["identities"]:
                if item["action"] == "create":
                    click.echo(item["identity"])
                else:
                    failed += 1
                    err = item.get("error", {})
                    click.echo(f"failed: {err.get('reason') or err.get('message')}", err=True)
            bar.update(len(chunk))
    click.echo(f"Imported {len(bodies) - failed} of {len(bodies)} identities.", err=True)
    if failed:
        sys.exit(1)


def _read_bodies(files: Sequence[Any]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for fh in files:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{getattr(fh, 'name', 'input')}: not valid JSON ({exc})") from exc
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(i, dict) for i in items):
            raise click.ClickException(f"{getattr(fh, 'name', 'input')}: expected identity objects")
        bodies.extend(items)
    return bodies


@identities.command("get")
@click.argument("ids", nargs=-1, required=True)
@click.option("-i", "--include-credentials", multiple=True, help="Credential types whose config to include.")
@click.option("--external-id", is_flag=True, help="The arguments are external ids.")
@_endpoint
@_format
def get_identities(ids: Sequence[str], include_credentials: Sequence[str], external_id: bool, endpoint: str | None, fmt: str) -> None:
    """Show identities by id."""
    params = [("include_credential", t) for t in include_credentials]
    with _client(endpoint) as client:
        found = [
            _check(client.get(f"/admin/identities/by/external/{i}" if external_id else f"/admin/identities/{i}", params=params))
            for i in ids
        ]
    _emit(found[0] if len(found) == 1 and fmt != "table" else found, fmt)


@identities.command("list")
@click.option("--page-size", type=int, default=250, show_default=True)
@click.option("--page-token", default=None)
@_endpoint
@_format
def list_identities(page_size: int, page_token: str | None, endpoint: str | None, fmt: str) -> None:
    """List one page of identities; the next page's token is printed to stderr."""
    params: dict[str, Any] = {"page_size": page_size}
    if page_token:
        params["page_token"] = page_token
    with _client(endpoint) as client:
        response = client.get("/admin/identities", params=params)
        data = _check(response)
    _emit(data, fmt)
    nxt = response.links.get("next", {}).get("url")
    if nxt:
        token = httpx.URL(nxt).params.get("page_token")
        click.echo(f"next page: --page-token {token}", err=True)


@identities.command("delete")
@click.argument("ids", nargs=-1, required=True)
@_endpoint
def delete_identities(ids: Sequence[str], endpoint: str | None) -> None:
    """Delete identities by id."""
    with _client(endpoint) as client:
        for i in ids:
            _check(client.delete(f"/admin/identities/{i}"))
            click.echo(i)
