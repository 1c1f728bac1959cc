-- Switchboard foundation schema (SQLite). Paired with the PostgreSQL migration of the same number.
-- Control-plane tables first, then tenant-owned tables (tenant_id first in every key).

CREATE TABLE cells (
    id            TEXT PRIMARY KEY,
    region        TEXT NOT NULL,
    database_name TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE partners (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    plan       TEXT NOT NULL CHECK (plan IN ('starter', 'professional', 'enterprise', 'white_label', 'enterprise_plus')),
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
    region     TEXT NOT NULL,
    cell_id    TEXT NOT NULL REFERENCES cells (id),
    partner_id TEXT REFERENCES partners (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tenants_by_partner ON tenants (partner_id, id);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    password_hash     TEXT,
    is_platform_admin INTEGER NOT NULL DEFAULT 0,
    totp_secret       TEXT,
    totp_enabled      INTEGER NOT NULL DEFAULT 0,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    locked_until      INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE partner_memberships (
    partner_id TEXT NOT NULL REFERENCES partners (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('partner_admin')),
    PRIMARY KEY (partner_id, user_id)
);
CREATE INDEX partner_memberships_by_user ON partner_memberships (user_id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('console', 'access', 'refresh')),
    token_hash TEXT NOT NULL UNIQUE,
    csrf_hash  TEXT,
    family     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_by_family ON sessions (family);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (queue, status, run_at);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    body         TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

CREATE TABLE platform_audit_events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    occurred_at INTEGER NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    outcome     TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

CREATE TABLE platform_audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TRIGGER platform_audit_events_no_update BEFORE UPDATE ON platform_audit_events
BEGIN SELECT RAISE(ABORT, 'platform_audit_events is append-only'); END;
CREATE TRIGGER platform_audit_events_no_delete BEFORE DELETE ON platform_audit_events
BEGIN SELECT RAISE(ABORT, 'platform_audit_events is append-only'); END;

-- Tenant-owned tables.

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer', 'auditor')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE api_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, key_hash)
);

CREATE TABLE audit_heads (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    outcome     TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
);
CREATE INDEX audit_events_by_time ON audit_events (tenant_id, occurred_at);

-- Append-only: no updates ever; rows go only when the whole tenant is purged.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN (SELECT status FROM tenants WHERE id = OLD.tenant_id) IS NOT 'deleted'
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE outbox_events (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    occurred_at   INTEGER NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    payload       TEXT NOT NULL,
    dispatched_at INTEGER,
    PRIMARY KEY (tenant_id, id)
);
