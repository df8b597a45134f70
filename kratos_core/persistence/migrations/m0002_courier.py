"""Courier delivery state: when a queued message may be attempted again, and list indexes.

``next_attempt_at`` carries the exponential back-off between failed attempts (NULL: at once), so
every worker (and the poller that backs up the broker) agrees when a retry is due without
keeping timers in memory. The recipient index serves the admin list's ``recipient`` filter.
"""

from __future__ import annotations

VERSION = "0002"
NAME = "courier"

_STATEMENTS = """
ALTER TABLE courier_messages ADD COLUMN next_attempt_at TIMESTAMPTZ NULL;
CREATE INDEX courier_messages_due_idx ON courier_messages (status, next_attempt_at);
CREATE INDEX courier_messages_recipient_idx ON courier_messages (recipient, created_at)
"""


def statements(dialect: str) -> list[str]:
    """The DDL statements of this migration for ``dialect`` ("sqlite" or "postgres")."""
    del dialect  # ADD COLUMN and CREATE INDEX read the same on both
    return [s.strip() for s in _STATEMENTS.split(";") if s.strip()]
