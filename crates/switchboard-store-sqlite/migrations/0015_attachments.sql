-- Files sent with messages. The bytes live in the blob store under a key core builds from the
-- tenant and attachment ids (never from a file name); this row holds what the file is. An
-- attachment is uploaded into a conversation first and joins a message when the message is sent.
CREATE TABLE attachments (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_id      TEXT,
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    blob_key        TEXT NOT NULL,
    uploaded_by_type TEXT NOT NULL,
    uploaded_by_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
);
CREATE INDEX attachments_by_conversation ON attachments (tenant_id, conversation_id);
