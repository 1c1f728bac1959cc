-- SLA policies: first response, next response and resolution targets (milliseconds; NULL: no
-- target), counted in business hours when a calendar is set, warned at a share of the budget.
CREATE TABLE sla_policies (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    first_response_ms INTEGER,
    next_response_ms  INTEGER,
    resolution_ms     INTEGER,
    calendar_id       TEXT,
    warning_percent   INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
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
    updated_at      INTEGER NOT NULL,
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
    read_at         INTEGER,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX notifications_by_user ON notifications (tenant_id, user_id, id);
