-- Facts the reports are computed from, written in the transaction of the change they describe:
-- `first_response` and `reply` (a person answered: from when the customer started waiting),
-- `resolution` (value 1 when no person replied in that cycle), `reopened`, `handoff`, and
-- `csat` (value: the 1-5 rating). started_at/at are instants, so business time can be
-- computed for any calendar when a report asks for it.
CREATE TABLE metric_events (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    inbox_id        TEXT NOT NULL,
    agent_id        TEXT,
    team_id         TEXT,
    started_at      BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    value           BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX metric_events_by_time ON metric_events (tenant_id, kind, at);
CREATE INDEX metric_events_by_conversation ON metric_events (tenant_id, conversation_id, kind);

-- A satisfaction survey sent when a conversation is resolved; answered once with its token.
CREATE TABLE csat_surveys (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    token_hash      TEXT NOT NULL,
    sent_at         BIGINT NOT NULL,
    rating          BIGINT,
    comment         TEXT,
    responded_at    BIGINT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX csat_by_time ON csat_surveys (tenant_id, sent_at);

ALTER TABLE metric_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE metric_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON metric_events
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE csat_surveys ENABLE ROW LEVEL SECURITY;
ALTER TABLE csat_surveys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON csat_surveys
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
