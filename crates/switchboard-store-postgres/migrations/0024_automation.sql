-- Automation rules (a trigger, conditions and actions per tenant) and the log of their runs.

-- Tenants the automation engine follows: enabled rules, plus one while AI answers are on.
ALTER TABLE tenants ADD COLUMN automation_count BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tenants_with_automation ON tenants (region, id) WHERE automation_count > 0;

CREATE TABLE automation_rules (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled     BIGINT NOT NULL,
    -- Rules run in this order (then oldest first).
    position    BIGINT NOT NULL,
    -- The trigger's kind (`message_created`, …); its parameters are in definition.
    trigger_kind TEXT NOT NULL,
    -- JSON: {trigger, conditions, actions} as core defines them.
    definition  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

-- One row per rule and event (or time-based occasion): the key that stops a rule acting twice
-- on the same event, and what it did.
CREATE TABLE automation_runs (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    conversation_id TEXT,
    -- 0 when a person, customer or system caused the event; n + 1 when a run at depth n did.
    depth           BIGINT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('running', 'applied', 'failed', 'loop_limit')),
    -- JSON array: each action with its result.
    actions         TEXT NOT NULL,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, rule_id, event_id),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES automation_rules (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX automation_runs_by_conversation ON automation_runs (tenant_id, conversation_id, id);
CREATE INDEX automation_runs_by_rule ON automation_runs (tenant_id, rule_id, id);

ALTER TABLE automation_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE automation_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automation_rules
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE automation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE automation_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON automation_runs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
