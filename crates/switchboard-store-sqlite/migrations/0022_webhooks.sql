-- Webhook endpoints, deliveries that failed at least once, the attempt log, and each consumer's
-- place in a tenant's event sequence.

-- Tenants with webhook endpoints, so the dispatcher knows whom to follow without reading every
-- tenant's tables.
ALTER TABLE tenants ADD COLUMN webhook_endpoints INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tenants_with_webhooks ON tenants (region, id) WHERE webhook_endpoints > 0;

CREATE TABLE webhook_endpoints (
    tenant_id                  TEXT NOT NULL REFERENCES tenants (id),
    id                         TEXT NOT NULL,
    url                        TEXT NOT NULL,
    description                TEXT NOT NULL,
    -- JSON array of event types or families (`conversation.*`); empty: every type.
    event_types                TEXT NOT NULL,
    enabled                    INTEGER NOT NULL,
    -- JSON object of extra headers.
    headers                    TEXT NOT NULL,
    rate_limit_per_s           INTEGER,
    -- Sealed with the server's key; never stored in clear.
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at INTEGER,
    failing_since              INTEGER,
    disabled_reason            TEXT,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id        TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries (tenant_id, endpoint_id, status, created_at);

CREATE TABLE webhook_attempts (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    endpoint_id   TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    cause         TEXT NOT NULL,
    attempted_at  INTEGER NOT NULL,
    status_code   INTEGER,
    duration_ms   INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    error         TEXT,
    succeeded     INTEGER NOT NULL,
    -- Keyed by endpoint first: the log is always read per endpoint, newest first, and one
    -- b-tree per row keeps the dispatcher's writes cheap.
    PRIMARY KEY (tenant_id, endpoint_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);

-- How far a consumer (the webhook dispatcher) has read a tenant's events, and which process holds
-- the right to read on (a lease, so two nodes never dispatch the same tenant at once).
CREATE TABLE event_cursors (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    consumer    TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    PRIMARY KEY (tenant_id, consumer)
);
