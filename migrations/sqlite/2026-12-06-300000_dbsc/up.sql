-- Device-bound sessions (DBSC): the public key a browser bound to a session, and the
-- single-use challenges its proofs must sign. In the database so every instance agrees.
ALTER TABLE sessions ADD COLUMN dbsc_key TEXT;
ALTER TABLE sessions ADD COLUMN dbsc_bound_at BIGINT;

-- Only the challenge's SHA-256 is kept; a used one stays until the session's next challenge
-- is issued, so a replay finds it spent.
CREATE TABLE dbsc_challenges (
    challenge_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX dbsc_challenges_session ON dbsc_challenges (session_id, expires_at);
