-- Invitations to join a tenant: a link (whose token is stored hashed) that lets the invited
-- person set their name and password, or join with the account they already have.
CREATE TABLE invitations (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash)
);
