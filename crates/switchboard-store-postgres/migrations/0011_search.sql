-- Full-text search (tsvector). Generated columns keep the vectors in step; row-level security
-- applies to the tables they live in.
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);

ALTER TABLE contacts ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple',
        coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(external_id, ''))) STORED;
CREATE INDEX contacts_search ON contacts USING GIN (search);
