-- PostgreSQL drops its per-row audit-head trigger for tenant chains in the migration of the same
-- number (a tenant's commit moves the head in the statement that writes the entries). SQLite's
-- writer is in-process, where a statement costs microseconds, so it keeps its trigger.
SELECT 1;
