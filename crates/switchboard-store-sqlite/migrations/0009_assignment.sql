-- Auto-assignment: each inbox's policy and the agents who take its conversations.
ALTER TABLE inboxes ADD COLUMN assignment_policy TEXT NOT NULL DEFAULT 'none'
    CHECK (assignment_policy IN ('none', 'round_robin', 'balanced'));

CREATE TABLE inbox_members (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    inbox_id         TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    -- When this agent last received a conversation of this inbox (round robin order).
    last_assigned_at INTEGER,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, inbox_id, user_id),
    FOREIGN KEY (tenant_id, inbox_id) REFERENCES inboxes (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX conversations_by_assignee ON conversations (tenant_id, assignee_id, status);
