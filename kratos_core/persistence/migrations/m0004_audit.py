"""The audit log (issue 15, item 5; beyond Kratos): one row per event of the catalogue.

Rows carry ids, the event's payload (which never holds a secret), the client address as the
trusted-proxy config decides, the user agent and the outcome. They are listed newest first with
keyset pagination on ``(occurred_at, id)`` and deleted once older than the retention.
"""

from __future__ import annotations

VERSION = "0004"
NAME = "audit"

_STATEMENTS = """
CREATE TABLE audit_events (
    id UUID PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    identity_id UUID NULL,
    session_id UUID NULL,
    client_address TEXT NULL,
    user_agent TEXT NULL,
    payload JSONB NOT NULL
);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_identity_idx ON audit_events (identity_id, occurred_at, id)
"""


def statements(dialect: str) -> list[str]:
    """The DDL statements of this migration for ``dialect`` ("sqlite" or "postgres")."""
    del dialect  # the same DDL on both (the database module maps the types)
    return [s.strip() for s in _STATEMENTS.split(";") if s.strip()]
