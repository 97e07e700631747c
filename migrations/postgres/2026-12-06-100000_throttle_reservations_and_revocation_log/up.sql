-- Sign-ups per client address, so one address cannot keep bcrypt busy (auth::throttle).
CREATE TABLE sign_ups (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX sign_ups_ip ON sign_ups (ip, at);
CREATE INDEX sign_ups_at ON sign_ups (at);

-- Every revocation, numbered by the database: instances sync on this id, not on `revoked_at`,
-- which is the revoking instance's clock. A sequence hands out ids before commit, so a smaller
-- id can become visible after a larger one; the reader keeps such gaps open and asks for them
-- again (auth::revocation). The trigger catches every way a session can end.
CREATE TABLE revocations (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX revocations_at ON revocations (at);
CREATE FUNCTION latchkey_log_revocation() RETURNS trigger AS $$
BEGIN
INSERT INTO revocations (session_id, at) VALUES (NEW.id, NEW.revoked_at);
RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER sessions_log_revocation AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
EXECUTE FUNCTION latchkey_log_revocation();
