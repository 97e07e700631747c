-- Device-bound sessions (DBSC): the public key a browser bound to a session, and the
-- single-use challenges its proofs must sign. In the database so every instance agrees.
ALTER TABLE sessions ADD COLUMN dbsc_key TEXT;
ALTER TABLE sessions ADD COLUMN dbsc_bound_at BIGINT;

-- Only the challenge's SHA-256 is kept. A used one stays until the session's next challenge is
-- issued and an expired one until any next challenge is (a replay then finds nothing, which is
-- refused alike), so the table holds about one row per session signed in the last minutes.
CREATE TABLE dbsc_challenges (
    challenge_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX dbsc_challenges_session ON dbsc_challenges (session_id, used_at);
CREATE INDEX dbsc_challenges_expiry ON dbsc_challenges (expires_at);
