-- Registry credentials (`mcpr_…`): the password of `docker login` against the platform's
-- registry. Stored like API keys: only the keyed hash of the value; revocation is a time.

CREATE TABLE registry_credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX registry_credentials_user ON registry_credentials (user_id);
