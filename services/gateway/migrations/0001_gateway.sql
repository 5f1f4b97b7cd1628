-- The gateway: people's accounts, their sessions and API tokens, and the shared
-- counters of the rate limits (in the database so every gateway copy sees them).

CREATE TABLE users (
    id text PRIMARY KEY,
    username text NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'staff', 'faculty')),
    name text NOT NULL,
    email text NOT NULL DEFAULT '',
    faculty_id text,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A faculty account is useless without the identifier its sections list.
    CHECK (role <> 'faculty' OR faculty_id IS NOT NULL)
);
-- Usernames are unique whatever their case.
CREATE UNIQUE INDEX users_username ON users (lower(username));

CREATE TABLE sessions (
    -- sha256 of the cookie value: a leaked table does not hand out sessions.
    id_hash text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ip text,
    user_agent text
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- One row per counted attempt (a login try, a token lookup that found nothing).
-- A bucket never holds more rows than its limit per window: once it is full the
-- gateway answers 429 without counting, so the table stays small.
CREATE TABLE rate_events (
    bucket text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_events_bucket ON rate_events (bucket, at);
CREATE INDEX rate_events_at ON rate_events (at);
