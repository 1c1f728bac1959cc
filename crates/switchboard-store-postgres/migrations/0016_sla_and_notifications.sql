-- SLA policies: first response, next response and resolution targets (milliseconds; NULL: no
-- target), counted in business hours when a calendar is set, warned at a share of the budget.
CREATE TABLE sla_policies (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    first_response_ms BIGINT,
    next_response_ms  BIGINT,
    resolution_ms     BIGINT,
    calendar_id       TEXT,
    warning_percent   BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES business_calendars (tenant_id, id)
);

-- The policy new conversations of an inbox get.
ALTER TABLE inboxes ADD COLUMN sla_policy_id TEXT;

-- A conversation's SLA clocks (JSON: each target's budget, time consumed, running segment,
-- when it was met, whether it warned or breached).
CREATE TABLE conversation_slas (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    conversation_id TEXT NOT NULL,
    policy_id       TEXT NOT NULL,
    state           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, policy_id) REFERENCES sla_policies (tenant_id, id)
);

-- Things a person should look at: a mention, an assignment, an SLA warning or breach.
CREATE TABLE notifications (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    conversation_id TEXT,
    data            TEXT NOT NULL,
    read_at         BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX notifications_by_user ON notifications (tenant_id, user_id, id);

ALTER TABLE sla_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE sla_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_policies
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE conversation_slas ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_slas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_slas
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
