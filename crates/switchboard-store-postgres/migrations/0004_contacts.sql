-- Contacts (the people who write in) and the companies they belong to. Tenant-owned.

CREATE TABLE companies (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    domain            TEXT,
    custom_attributes TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX companies_unique_domain ON companies (tenant_id, domain) WHERE domain IS NOT NULL;

CREATE TABLE contacts (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    email             TEXT,
    phone             TEXT,
    external_id       TEXT,
    company_id        TEXT,
    custom_attributes TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id)
);
CREATE UNIQUE INDEX contacts_unique_email ON contacts (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_unique_phone ON contacts (tenant_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX contacts_unique_external_id ON contacts (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX contacts_by_company ON contacts (tenant_id, company_id);

ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON companies
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Tables created after the first migration need the application role's grants too; migrate()
-- grants on all tables after every run.
