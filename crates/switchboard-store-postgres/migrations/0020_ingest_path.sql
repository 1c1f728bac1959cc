-- A customer's newest conversation in an inbox is found on every inbound message: the index
-- serves the filter and the order (`ORDER BY number DESC LIMIT 1`) together.
DROP INDEX conversations_by_contact;
CREATE INDEX conversations_by_contact ON conversations (tenant_id, contact_id, inbox_id, number);

-- SQLite also moves full-text indexing to commit time (see its migration of the same number);
-- PostgreSQL's tsvector columns are computed in the row itself.
