ALTER TABLE sessions DROP COLUMN confirmed_at;
DROP INDEX audit_user_at;
