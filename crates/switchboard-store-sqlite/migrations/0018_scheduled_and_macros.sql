-- Replies and notes written now, sent later by a job (as their writer, if still allowed).
CREATE TABLE scheduled_messages (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    content         TEXT NOT NULL,
    private         INTEGER NOT NULL,
    attachment_ids  TEXT NOT NULL,
    sender_type     TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    send_at         INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'sent', 'cancelled', 'failed')),
    message_id      TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scheduled_by_conversation ON scheduled_messages (tenant_id, conversation_id);

-- Saved lists of actions an agent runs on a conversation in one go.
CREATE TABLE macros (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    actions    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

-- Agents following a conversation besides its assignee: they hear about new customer messages.
CREATE TABLE conversation_participants (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, user_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);

-- Typed custom attributes on conversations (definitions with applies_to = conversation).
ALTER TABLE conversations ADD COLUMN custom_attributes TEXT NOT NULL DEFAULT '{}';
