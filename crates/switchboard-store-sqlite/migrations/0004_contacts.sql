-- Contacts (the people who write in) and the companies they belong to. Tenant-owned.

CREATE TABLE companies (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    domain            TEXT,
    custom_attributes TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
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
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id)
);
CREATE UNIQUE INDEX contacts_unique_email ON contacts (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_unique_phone ON contacts (tenant_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX contacts_unique_external_id ON contacts (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX contacts_by_company ON contacts (tenant_id, company_id);
