-- The account's own security history (GET /account/security): one user's events within a time
-- window, newest first, walked in this index's order and stopped at the page size, so its cost
-- depends on the page, not on the size of the log.
CREATE INDEX audit_user_at ON audit_events (user_id, at, id);

-- "Confirm it's you": when this session last proved its password (signing in, or /confirm).
-- On the session row, so it survives access-token rotation and every instance reads the same.
ALTER TABLE sessions ADD COLUMN confirmed_at BIGINT;
