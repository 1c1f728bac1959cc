-- A customer's newest conversation in an inbox is found on every inbound message: the index
-- serves the filter and the order (`ORDER BY number DESC LIMIT 1`) together. Without it SQLite
-- walked the tenant's conversations by number.
DROP INDEX conversations_by_contact;
CREATE INDEX conversations_by_contact ON conversations (tenant_id, contact_id, inbox_id, number);

-- Full-text indexing at commit instead of per statement.
--
-- FTS5 writes its pending terms to disk at every savepoint once a table was touched in the
-- transaction, and the SQLite writer runs each application transaction in a savepoint of a
-- group-committed batch: indexing each message as it was inserted cost a new index segment (and
-- later merges) per message. New rows are now queued here by the triggers and indexed once per
-- batch, in the same SQLite transaction just before its COMMIT (`store::sql::lite`), so a
-- committed row is always searchable, as before. Deletes stay immediate.
CREATE TABLE search_queue (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('message', 'contact')),
    id        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);

DROP TRIGGER messages_search_insert;
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO search_queue (tenant_id, kind, id) VALUES (NEW.tenant_id, 'message', NEW.id);
END;
DROP TRIGGER messages_search_delete;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM search_queue WHERE tenant_id = OLD.tenant_id AND kind = 'message' AND id = OLD.id;
    DELETE FROM message_search WHERE message_id = OLD.id AND tenant_id = OLD.tenant_id;
END;

DROP TRIGGER contacts_search_insert;
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
    INSERT OR IGNORE INTO search_queue (tenant_id, kind, id) VALUES (NEW.tenant_id, 'contact', NEW.id);
END;
DROP TRIGGER contacts_search_update;
CREATE TRIGGER contacts_search_update AFTER UPDATE ON contacts BEGIN
    DELETE FROM contact_search WHERE contact_id = OLD.id AND tenant_id = OLD.tenant_id;
    INSERT OR IGNORE INTO search_queue (tenant_id, kind, id) VALUES (NEW.tenant_id, 'contact', NEW.id);
END;
DROP TRIGGER contacts_search_delete;
CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM search_queue WHERE tenant_id = OLD.tenant_id AND kind = 'contact' AND id = OLD.id;
    DELETE FROM contact_search WHERE contact_id = OLD.id AND tenant_id = OLD.tenant_id;
END;
