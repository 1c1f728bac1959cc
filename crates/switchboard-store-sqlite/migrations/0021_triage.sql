-- What the triage engine learned about each inbound message. `triage` holds the whole result as
-- JSON; the other columns copy the fields that searches filter on. NULL on outgoing messages and
-- on messages stored before triage existed.
ALTER TABLE messages ADD COLUMN triage TEXT;
ALTER TABLE messages ADD COLUMN triage_status TEXT;
ALTER TABLE messages ADD COLUMN language TEXT;
ALTER TABLE messages ADD COLUMN intent TEXT;
ALTER TABLE messages ADD COLUMN sentiment_label TEXT;
ALTER TABLE messages ADD COLUMN urgency TEXT;
-- Searches by intent alone ("every card_lost message") read this, newest first.
ALTER TABLE messages ADD COLUMN has_pii INTEGER;
CREATE INDEX messages_by_intent ON messages (tenant_id, intent, id) WHERE intent IS NOT NULL;

-- A tenant's triage settings: which intent model, which languages, urgency rules and the
-- redaction policy (JSON). Absent: the defaults.
CREATE TABLE triage_settings (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    settings   TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id)
);

-- Intent models a tenant trained and uploaded; the bytes live in the blob store.
CREATE TABLE intent_models (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    labels     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
