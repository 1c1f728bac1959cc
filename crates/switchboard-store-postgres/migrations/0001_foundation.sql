-- Switchboard foundation schema (PostgreSQL). Paired with the SQLite migration of the same number.
-- Control-plane tables first, then tenant-owned tables (tenant_id first in every key).

CREATE TABLE cells (
    id            TEXT PRIMARY KEY,
    region        TEXT NOT NULL,
    database_name TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE partners (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
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
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tenants_by_partner ON tenants (partner_id, id);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    display_name      TEXT NOT NULL,
    password_hash     TEXT,
    is_platform_admin BIGINT NOT NULL DEFAULT 0,
    totp_secret       TEXT,
    totp_enabled      BIGINT NOT NULL DEFAULT 0,
    failed_logins     BIGINT NOT NULL DEFAULT 0,
    locked_until      BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
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
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
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
    attempts     BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_at       BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (queue, status, run_at);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

CREATE TABLE platform_audit_events (
    seq         BIGINT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    occurred_at BIGINT NOT NULL,
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
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Tenant audit rows may go only when their whole tenant is being purged.
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'
       AND EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id AND status = 'deleted') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;

CREATE TRIGGER platform_audit_events_append_only BEFORE UPDATE OR DELETE ON platform_audit_events
FOR EACH ROW EXECUTE FUNCTION audit_append_only();

-- Tenant-owned tables.

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer', 'auditor')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
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
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, key_hash)
);

CREATE TABLE audit_heads (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
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
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_append_only();

CREATE TABLE outbox_events (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    version       BIGINT NOT NULL,
    occurred_at   BIGINT NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    payload       TEXT NOT NULL,
    dispatched_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);

-- Row-level security: every tenant-owned table admits only the transaction's tenant
-- (set with set_config('app.tenant_id', ..., true)); FORCE applies it to the table owner too.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['memberships', 'api_keys', 'audit_heads', 'audit_events', 'outbox_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING (tenant_id = current_setting(''app.tenant_id'', true)) '
                       'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
    END LOOP;
END
$$;

-- A signed-in person may list their own memberships across tenants (the tenant switcher).
CREATE POLICY own_memberships ON memberships FOR SELECT
    USING (user_id = current_setting('app.user_id', true));
