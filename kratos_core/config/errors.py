"""The one error type configuration loading raises."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """A configuration problem, pointing at the key (or file) that causes it.

    Args:
        path: Dotted key path such as ``selfservice.flows.login.lifespan``; list items are
            numbered (``identity.schemas.0.url``). Empty when the problem is a whole file.
        message: What is wrong, e.g. ``expected a duration such as "1h" or "30m", got "abc"``.
        source: Where the value came from when that is not a config file, e.g.
            ``environment variable SESSION_LIFESPAN``.
        file: The config file that could not be read or parsed.
        line: The 1-based line in ``file`` where parsing failed.

    Attributes:
        path: See above.
        message: See above.
        source: See above.
        file: See above.
        line: See above.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        source: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = path
        self.message = message
        self.source = source
        self.file = file
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        if self.file is not None and not self.path:
            where = f'config file "{self.file}"'
            if self.line is not None:
                where += f", line {self.line}"
        else:
            where = f'config key "{self.path}"' if self.path else "config"
        if self.source:
            where += f" (set by {self.source})"
        return f"{where}: {self.message}"

    def __str__(self) -> str:
        return self._render()
