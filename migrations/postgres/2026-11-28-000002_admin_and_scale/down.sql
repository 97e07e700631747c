DROP INDEX audit_user_kind;
DROP INDEX sessions_user_live;
DROP INDEX sessions_live;
CREATE INDEX sessions_active ON sessions (last_used_at, id) WHERE revoked_at IS NULL;
DROP INDEX sessions_revoked;
CREATE INDEX sessions_revoked ON sessions (revoked_at);
DROP INDEX activity_bucket;
DROP TABLE activity;
