"""One-time codes: a per-flow attempt counter that only the code check writes.

Kratos counts every code a flow is asked to check and refuses further checks once the count
exceeds ``max_submissions`` (kratos-behaviour.md section 6.2, pitfall 14). The counter lives in
its own column rather than in ``submit_count`` because the flow engine writes ``submit_count``
back from memory on every flow update: two guesses racing each other could then lower the
count. ``code_submit_count`` is only ever changed by ``UPDATE ... SET c = c + 1``.
"""

from __future__ import annotations

VERSION = "0003"
NAME = "codes"

_STATEMENTS = """
ALTER TABLE selfservice_flows ADD COLUMN code_submit_count INTEGER NOT NULL DEFAULT 0
"""


def statements(dialect: str) -> list[str]:
    """The DDL statements of this migration for ``dialect`` ("sqlite" or "postgres")."""
    del dialect  # ADD COLUMN with a constant default reads the same on both
    return [s.strip() for s in _STATEMENTS.split(";") if s.strip()]
