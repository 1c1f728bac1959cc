-- Full-text search (FTS5). Derived indexes kept in step by triggers; every query also filters on
-- tenant_id.
CREATE VIRTUAL TABLE message_search USING fts5(
    content, tenant_id UNINDEXED, conversation_id UNINDEXED, message_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (content, tenant_id, conversation_id, message_id)
    VALUES (NEW.content, NEW.tenant_id, NEW.conversation_id, NEW.id);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM message_search WHERE message_id = OLD.id AND tenant_id = OLD.tenant_id;
END;

CREATE VIRTUAL TABLE contact_search USING fts5(
    name, email, phone, external_id, tenant_id UNINDEXED, contact_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contact_search (name, email, phone, external_id, tenant_id, contact_id)
    VALUES (NEW.name, NEW.email, NEW.phone, NEW.external_id, NEW.tenant_id, NEW.id);
END;
CREATE TRIGGER contacts_search_update AFTER UPDATE ON contacts BEGIN
    DELETE FROM contact_search WHERE contact_id = OLD.id AND tenant_id = OLD.tenant_id;
    INSERT INTO contact_search (name, email, phone, external_id, tenant_id, contact_id)
    VALUES (NEW.name, NEW.email, NEW.phone, NEW.external_id, NEW.tenant_id, NEW.id);
END;
CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM contact_search WHERE contact_id = OLD.id AND tenant_id = OLD.tenant_id;
END;

-- Index what existed before this migration.
INSERT INTO message_search (content, tenant_id, conversation_id, message_id)
    SELECT content, tenant_id, conversation_id, id FROM messages;
INSERT INTO contact_search (name, email, phone, external_id, tenant_id, contact_id)
    SELECT name, email, phone, external_id, tenant_id, id FROM contacts;
