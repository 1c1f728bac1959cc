-- Inboxes (channels), conversations with per-tenant display numbers, and their messages.
CREATE TABLE inboxes (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('api', 'widget', 'email', 'sms')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

-- The last display number handed out per tenant; taking the next one locks the row.
CREATE TABLE conversation_counters (
    tenant_id   TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    last_number BIGINT NOT NULL
);

CREATE TABLE conversations (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    id               TEXT NOT NULL,
    number           BIGINT NOT NULL,
    inbox_id         TEXT NOT NULL,
    contact_id       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
    snoozed_until    BIGINT,
    priority         TEXT NOT NULL CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
    assignee_id      TEXT,
    team_id          TEXT,
    waiting_since    BIGINT,
    last_activity_at BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, inbox_id) REFERENCES inboxes (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE INDEX conversations_by_contact ON conversations (tenant_id, contact_id, inbox_id);
CREATE INDEX conversations_by_status ON conversations (tenant_id, status, last_activity_at);

CREATE TABLE messages (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    direction       TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
    private         BIGINT NOT NULL,
    sender_type     TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    content         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id)
);
CREATE INDEX messages_by_conversation ON messages (tenant_id, conversation_id, id);

ALTER TABLE inboxes ENABLE ROW LEVEL SECURITY;
ALTER TABLE inboxes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inboxes
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE conversation_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversation_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_counters
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversations
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
