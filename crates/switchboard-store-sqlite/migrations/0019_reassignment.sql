-- Reassignment rule per inbox: a conversation whose assignee has not answered the waiting
-- customer within this many milliseconds goes to another available agent (NULL: never).
ALTER TABLE inboxes ADD COLUMN reassign_after_ms INTEGER;
