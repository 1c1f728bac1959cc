-- AI answers: each tenant's settings (the generative model's key sealed), what the AI did with
-- each customer message it looked at, and tokens spent per month.

CREATE TABLE ai_settings (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    settings   TEXT NOT NULL,
    -- The generative model's API key, sealed with the server's key; never stored in clear.
    api_key    TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id)
);

CREATE TABLE ai_answers (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    -- The customer message looked at (one decision per message).
    message_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    -- running, reply, resolve, handoff, skipped
    action           TEXT NOT NULL,
    reply_message_id TEXT,
    -- JSON: why (confidences, thresholds), citations, the model used.
    details          TEXT NOT NULL,
    tokens           INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX ai_answers_by_conversation ON ai_answers (tenant_id, conversation_id, created_at);

CREATE TABLE ai_usage (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    -- YYYY-MM (UTC)
    month     TEXT NOT NULL,
    tokens    INTEGER NOT NULL,
    requests  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, month)
);
