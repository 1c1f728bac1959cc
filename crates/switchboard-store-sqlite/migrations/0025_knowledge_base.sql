-- The knowledge base: help centres (portals), their categories, and articles (one row per
-- article and locale; translations point at the article they translate).

CREATE TABLE kb_portals (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    id             TEXT NOT NULL,
    slug           TEXT NOT NULL,
    name           TEXT NOT NULL,
    default_locale TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, slug)
);

CREATE TABLE kb_categories (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    portal_id   TEXT NOT NULL,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    position    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, portal_id, slug),
    FOREIGN KEY (tenant_id, portal_id) REFERENCES kb_portals (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE kb_articles (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    portal_id      TEXT NOT NULL,
    category_id    TEXT,
    -- BCP 47, e.g. en or pt-BR.
    locale         TEXT NOT NULL,
    slug           TEXT NOT NULL,
    title          TEXT NOT NULL,
    -- Markdown.
    body           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    -- The article (in another locale) this one translates.
    translation_of TEXT,
    author_type    TEXT NOT NULL,
    author_id      TEXT NOT NULL,
    helpful        INTEGER NOT NULL DEFAULT 0,
    not_helpful    INTEGER NOT NULL DEFAULT 0,
    views          INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    published_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, portal_id, locale, slug),
    FOREIGN KEY (tenant_id, portal_id) REFERENCES kb_portals (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX kb_articles_published ON kb_articles (tenant_id, portal_id, locale, status);
