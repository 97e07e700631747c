-- Hourly activity counters for the admin chart. Refreshes are far too frequent for the audit
-- log, so sign-ins, refreshes and reuse detections are counted here, per kind and hour.
CREATE TABLE activity (
    kind TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (kind, bucket)
);
CREATE INDEX activity_bucket ON activity (bucket);

-- The revocation sync reads only ended sessions; as a full index on revoked_at it also lured
-- SQLite into using it for `revoked_at IS NULL` (nearly every row) instead of the indexes below.
DROP INDEX sessions_revoked;
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Live sessions, newest activity first: the admin list walks this index in order and the
-- dashboard counts from it without touching the table (expires_at is carried along).
DROP INDEX sessions_active;
CREATE INDEX sessions_live ON sessions (last_used_at, id, expires_at) WHERE revoked_at IS NULL;
-- One user's live sessions (devices page, admin user page, filtered admin list).
CREATE INDEX sessions_user_live ON sessions (user_id, last_used_at, id, expires_at) WHERE revoked_at IS NULL;

-- The audit log filtered by user and kind at once.
CREATE INDEX audit_user_kind ON audit_events (user_id, kind, id);
