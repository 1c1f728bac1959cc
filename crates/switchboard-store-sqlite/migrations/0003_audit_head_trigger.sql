-- Appending an audit entry moves its chain head in the same statement, atomically.
CREATE TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
BEGIN
    UPDATE audit_heads SET seq = NEW.seq, hash = NEW.hash WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER platform_audit_events_advance_head AFTER INSERT ON platform_audit_events
BEGIN
    UPDATE platform_audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
END;
