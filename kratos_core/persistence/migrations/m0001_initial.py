"""The initial schema: identities, credentials, addresses, sessions, flows, codes, courier.

Written as plain DDL per dialect so that composite unique constraints, cascades and partial
indexes say exactly what they mean. Types: SQLite columns are declared with the names the
SQLite adapter in ``db.py`` converts (UUID, TIMESTAMPTZ, JSONB, BOOLEAN).
"""

from __future__ import annotations

VERSION = "0001"
NAME = "initial"

_TABLES = """
CREATE TABLE identities (
    id UUID PRIMARY KEY,
    schema_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active',
    state_changed_at TIMESTAMPTZ NULL,
    traits JSONB NOT NULL,
    metadata_public JSONB NULL,
    metadata_admin JSONB NULL,
    external_id TEXT NULL,
    organization_id UUID NULL,
    available_aal TEXT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX identities_external_id_uq ON identities (external_id);

CREATE TABLE identity_credentials (
    id UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    config JSONB NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX identity_credentials_identity_type_uq ON identity_credentials (identity_id, type);

CREATE TABLE identity_credential_identifiers (
    id UUID PRIMARY KEY,
    credential_id UUID NOT NULL REFERENCES identity_credentials (id) ON DELETE CASCADE,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    identifier TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX identity_credential_identifiers_type_identifier_uq
    ON identity_credential_identifiers (type, identifier);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);
CREATE INDEX identity_credential_identifiers_credential_idx ON identity_credential_identifiers (credential_id);

CREATE TABLE identity_verifiable_addresses (
    id UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via TEXT NOT NULL,
    value TEXT NOT NULL,
    verified BOOLEAN NOT NULL DEFAULT FALSE,
    verified_at TIMESTAMPTZ NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX identity_verifiable_addresses_via_value_uq ON identity_verifiable_addresses (via, value);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

CREATE TABLE identity_recovery_addresses (
    id UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX identity_recovery_addresses_via_value_uq ON identity_recovery_addresses (via, value);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);

CREATE TABLE sessions (
    id UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL,
    logout_token_digest TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    aal TEXT NOT NULL,
    authentication_methods JSONB NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    authenticated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX sessions_token_digest_uq ON sessions (token_digest);
CREATE UNIQUE INDEX sessions_logout_token_digest_uq ON sessions (logout_token_digest);
CREATE INDEX sessions_identity_idx ON sessions (identity_id, created_at);
CREATE INDEX sessions_created_idx ON sessions (created_at, id);

CREATE TABLE session_devices (
    id UUID PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ip_address TEXT NULL,
    user_agent TEXT NULL,
    location TEXT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_devices_session_idx ON session_devices (session_id);

CREATE TABLE selfservice_flows (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    identity_id UUID NULL REFERENCES identities (id) ON DELETE CASCADE,
    session_id UUID NULL,
    csrf_token TEXT NOT NULL DEFAULT '',
    request_url TEXT NOT NULL,
    return_to TEXT NULL,
    active TEXT NULL,
    ui JSONB NOT NULL,
    data JSONB NOT NULL,
    internal_context JSONB NOT NULL,
    submit_count INTEGER NOT NULL DEFAULT 0,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (expires_at);

CREATE TABLE selfservice_errors (
    id UUID PRIMARY KEY,
    error JSONB NOT NULL,
    csrf_token TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE one_time_codes (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    flow_id UUID NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id UUID NULL REFERENCES identities (id) ON DELETE CASCADE,
    address_via TEXT NULL,
    address_value TEXT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX one_time_codes_flow_idx ON one_time_codes (flow_id, kind);
CREATE INDEX one_time_codes_digest_idx ON one_time_codes (kind, digest);

CREATE TABLE courier_messages (
    id UUID PRIMARY KEY,
    type TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    html_body TEXT NULL,
    template_type TEXT NOT NULL,
    template_data JSONB NULL,
    send_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX courier_messages_status_idx ON courier_messages (status, created_at);
CREATE INDEX courier_messages_created_idx ON courier_messages (created_at, id);

CREATE TABLE courier_dispatches (
    id UUID PRIMARY KEY,
    message_id UUID NOT NULL REFERENCES courier_messages (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    error JSONB NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX courier_dispatches_message_idx ON courier_dispatches (message_id);
"""


def statements(dialect: str) -> list[str]:
    """The DDL statements of this migration for ``dialect`` ("sqlite" or "postgres")."""
    del dialect  # the same portable DDL serves both; types are declared by name
    return [s.strip() for s in _TABLES.split(";") if s.strip()]
