-- Typed custom attributes a tenant defines for its contacts, companies and conversations.
CREATE TABLE attribute_definitions (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    applies_to TEXT NOT NULL CHECK (applies_to IN ('contact', 'company', 'conversation')),
    attr_key   TEXT NOT NULL,
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('text', 'number', 'boolean', 'date', 'list', 'link')),
    options    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, applies_to, attr_key)
);

ALTER TABLE attribute_definitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE attribute_definitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON attribute_definitions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
