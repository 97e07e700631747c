-- Sign-ups per client address, so one address cannot keep bcrypt busy (auth::throttle).
CREATE TABLE sign_ups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX sign_ups_ip ON sign_ups (ip, at);
CREATE INDEX sign_ups_at ON sign_ups (at);

-- Every revocation, in the order the database commits them: instances sync on this id, not
-- on `revoked_at`, which is the revoking instance's clock. SQLite has one writer at a time,
-- so ids become visible in order. The trigger catches every way a session can end.
CREATE TABLE revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX revocations_at ON revocations (at);
CREATE TRIGGER sessions_log_revocation AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
INSERT INTO revocations (session_id, at) VALUES (NEW.id, NEW.revoked_at);
END;
