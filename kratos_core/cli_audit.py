"""``kratos audit export``: the audit log as JSON lines, from a running server's admin API.

Like ``kratos identities`` it talks HTTP (``--endpoint`` or ``KRATOS_ADMIN_URL``), so it works
against any deployment; the server streams every matching row (``GET /admin/audit/events``
with ``Accept: application/x-ndjson``), newest first.
"""

from __future__ import annotations

import click
import httpx

from .cli_identities import _client

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Read the audit log (who did what, when, from where) of a running server."""


@audit.command("export")
@click.option("-e", "--endpoint", help="Admin API URL (default: $KRATOS_ADMIN_URL or http://127.0.0.1:4434).")
@click.option("--identity-id", help="Only this identity's events.")
@click.option("--event", help="Only this event (login.succeeded, session.revoked ...).")
@click.option("--since", help="From this time on (RFC 3339).")
@click.option("--until", help="Before this time (RFC 3339).")
@click.option("-o", "--output", type=click.File("wb"), default="-", help="Write here (default: stdout).")
def export(endpoint: str | None, identity_id: str | None, event: str | None, since: str | None, until: str | None, output: click.utils.LazyFile) -> None:
    """Print matching audit events as JSON lines, newest first."""
    params = {k: v for k, v in {"identity_id": identity_id, "event": event, "since": since, "until": until}.items() if v}
    try:
        with _client(endpoint) as client, client.stream(
            "GET", "/admin/audit/events", params=params, headers={"Accept": "application/x-ndjson"}
        ) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    message = response.json()["error"].get("reason") or response.json()["error"].get("message")
                except (ValueError, KeyError, TypeError):
                    message = response.text[:200]
                raise click.ClickException(f"{response.status_code}: {message}")
            for chunk in response.iter_bytes():
                output.write(chunk)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the admin API: {exc}") from None
    output.flush()
