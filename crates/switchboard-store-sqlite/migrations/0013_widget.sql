-- Channel settings on inboxes, and the web widget's contact sessions.
--
-- `public_token`: the public half of a widget inbox's identifier (the tenant is the other half).
-- `channel_config`: the channel's non-secret settings, as JSON.
-- `secret_version`: secrets derived for the inbox (the widget's identity-verification key) change
-- when it is bumped; they are never stored.
ALTER TABLE inboxes ADD COLUMN public_token TEXT;
ALTER TABLE inboxes ADD COLUMN channel_config TEXT NOT NULL DEFAULT '{}';
ALTER TABLE inboxes ADD COLUMN secret_version INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX inboxes_public_token ON inboxes (tenant_id, public_token);

-- A visitor's session on a widget inbox: the token is stored hashed. `verified` when the visitor
-- proved their identity with the tenant's identifier hash.
CREATE TABLE widget_sessions (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    inbox_id     TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    verified     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, inbox_id) REFERENCES inboxes (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX widget_sessions_by_contact ON widget_sessions (tenant_id, contact_id);
