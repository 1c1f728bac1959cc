-- A tenant transaction now writes its audit entries and moves the chain head in one statement
-- at commit (switchboard_store::sql::audit::append_moving_tenant_head), so the per-row trigger
-- that moved the head (migration 0003) would only move it a second time. The platform chain
-- keeps its trigger.
DROP TRIGGER audit_events_advance_head ON audit_events;
