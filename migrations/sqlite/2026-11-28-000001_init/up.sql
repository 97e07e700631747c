-- Times are UTC epoch seconds (BIGINT) so both backends store them alike; ids are UUID text.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_role ON users (role);
CREATE INDEX users_created ON users (created_at, id);

-- A session is one refresh-token family, from sign-in to its end.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT,
    created_ip TEXT NOT NULL,
    created_user_agent TEXT NOT NULL,
    last_ip TEXT NOT NULL,
    last_user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at, last_used_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at);
CREATE INDEX sessions_active ON sessions (last_used_at, id) WHERE revoked_at IS NULL;

-- Every refresh token ever issued, by SHA-256; used ones are kept so reuse is recognised.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    successor_hash TEXT,
    used_ip TEXT,
    used_user_agent TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
-- The invariant "a live family has exactly one unused token", enforced by the database.
CREATE UNIQUE INDEX refresh_tokens_one_unused ON refresh_tokens (session_id) WHERE used_at IS NULL;

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    actor_id TEXT,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_at ON audit_events (at);
CREATE INDEX audit_user ON audit_events (user_id, id);
CREATE INDEX audit_kind ON audit_events (kind, id);

-- Failed sign-ins, for throttling per account and per client address.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    email TEXT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
