-- Teams of agents, and each member's availability and capacity (used by auto-assignment).
CREATE TABLE teams (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE team_members (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    team_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_by_user ON team_members (tenant_id, user_id);

ALTER TABLE memberships ADD COLUMN availability TEXT NOT NULL DEFAULT 'offline'
    CHECK (availability IN ('online', 'busy', 'offline'));
-- Open conversations an agent takes at most; NULL: no limit.
ALTER TABLE memberships ADD COLUMN capacity INTEGER CHECK (capacity IS NULL OR capacity >= 0);
