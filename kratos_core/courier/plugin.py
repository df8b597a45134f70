"""The courier's built-in plugin: the ``kratos courier`` commands and start-up template checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click

    from ..config import Config

__all__ = ["kratos_register_commands", "kratos_startup"]


@hookimpl
def kratos_register_commands(cli: click.Group) -> None:
    """Add ``kratos courier watch``."""
    from .commands import courier_group

    cli.add_command(courier_group)


@hookimpl
def kratos_startup(config: Config) -> None:
    """Render every courier template once: a broken override stops the start, not a send."""
    from .templates import Templates

    Templates(config).validate()
