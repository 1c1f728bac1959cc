-- Business-hours calendars (time zone, weekly hours, holidays) that SLA timers count in.
CREATE TABLE business_calendars (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

ALTER TABLE business_calendars ENABLE ROW LEVEL SECURITY;
ALTER TABLE business_calendars FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON business_calendars
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
