-- A per-tenant sequence on outbox events, in commit order, so readers (the real-time hub, and
-- later the webhook dispatcher) can follow a tenant's events with a cursor and resume after a
-- disconnect without missing one. The counter lives on the tenant's audit head row, which every
-- change already locks at the end of its transaction.
ALTER TABLE audit_heads ADD COLUMN outbox_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox_events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

UPDATE outbox_events SET seq = (
    SELECT COUNT(*) FROM outbox_events o
    WHERE o.tenant_id = outbox_events.tenant_id AND o.id <= outbox_events.id
);
INSERT INTO audit_heads (tenant_id, seq, hash, outbox_seq)
    SELECT tenant_id, 0, '', MAX(seq) FROM outbox_events GROUP BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET outbox_seq = excluded.outbox_seq;

CREATE UNIQUE INDEX outbox_events_seq ON outbox_events (tenant_id, seq);
