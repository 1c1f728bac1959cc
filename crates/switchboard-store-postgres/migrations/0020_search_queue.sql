-- SQLite only (its full-text index is now fed at commit from a queue; see the SQLite migration of
-- the same number). PostgreSQL's tsvector columns are computed in the row itself: nothing to do.
SELECT 1;
