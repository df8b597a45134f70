"""``kratos courier watch``: run a courier worker on its own (no HTTP servers).

Scale workers independently of servers (ARCHITECTURE.md section 7): run as many as needed;
they share the database (claims keep one attempt per message at a time) and, with
``KRATOS_COURIER_BROKER_URL`` set, consume the same Redis queue.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["courier_group"]


@click.group("courier")
def courier_group() -> None:
    """Deliver the messages that flows queue (email, SMS)."""


@courier_group.command("watch")
@click.option(
    "-c",
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Config file (YAML or JSON); repeatable, merged in order.",
)
@click.option("--dev", is_flag=True, help="Development mode (as for serve).")
def watch(config_files: Sequence[str], dev: bool) -> None:
    """Run a courier worker until SIGINT or SIGTERM.

    Uses the Redis broker named by KRATOS_COURIER_BROKER_URL when it is set, and polls the
    database every courier.worker.pull_wait either way.
    """
    from ..app import build_app
    from ..cli import _boot_errors, _setup_logging

    with _boot_errors():
        app = build_app(config_files, dev=dev)
    _setup_logging(app.config.log.level, app.config.log.format)
    with _boot_errors():
        asyncio.run(_watch(app))


async def _watch(app: KratosApp) -> None:
    from . import courier_for

    await app.start()
    courier = courier_for(app)
    try:
        await courier.start_worker()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # A second signal stops at once, without waiting for a send in flight.
            loop.remove_signal_handler(sig)
    finally:
        await courier.stop()
        await app.stop()
