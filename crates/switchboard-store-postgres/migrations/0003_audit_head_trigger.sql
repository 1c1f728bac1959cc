-- Appending an audit entry moves its chain head in the same statement, atomically.
CREATE FUNCTION audit_advance_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'audit_events' THEN
        UPDATE audit_heads SET seq = NEW.seq, hash = NEW.hash WHERE tenant_id = NEW.tenant_id;
    ELSE
        UPDATE platform_audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_advance_head();

CREATE TRIGGER platform_audit_events_advance_head AFTER INSERT ON platform_audit_events
FOR EACH ROW EXECUTE FUNCTION audit_advance_head();
