-- Webhook endpoints, deliveries that failed at least once, the attempt log, and each consumer's
-- place in a tenant's event sequence.

-- Tenants with webhook endpoints, so the dispatcher knows whom to follow without reading every
-- tenant's tables.
ALTER TABLE tenants ADD COLUMN webhook_endpoints BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tenants_with_webhooks ON tenants (region, id) WHERE webhook_endpoints > 0;

CREATE TABLE webhook_endpoints (
    tenant_id                  TEXT NOT NULL REFERENCES tenants (id),
    id                         TEXT NOT NULL,
    url                        TEXT NOT NULL,
    description                TEXT NOT NULL,
    -- JSON array of event types or families (`conversation.*`); empty: every type.
    event_types                TEXT NOT NULL,
    enabled                    BIGINT NOT NULL,
    -- JSON object of extra headers.
    headers                    TEXT NOT NULL,
    rate_limit_per_s           BIGINT,
    -- Sealed with the server's key; never stored in clear.
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at BIGINT,
    failing_since              BIGINT,
    disabled_reason            TEXT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id        TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
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
    attempt       BIGINT NOT NULL,
    cause         TEXT NOT NULL,
    attempted_at  BIGINT NOT NULL,
    status_code   BIGINT,
    duration_ms   BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    error         TEXT,
    succeeded     BIGINT NOT NULL,
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
    seq         BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    PRIMARY KEY (tenant_id, consumer)
);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE event_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_cursors
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
