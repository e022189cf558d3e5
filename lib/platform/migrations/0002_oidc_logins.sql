-- Browser OpenID Connect sign-ins in flight: one row per authorization request, consumed by
-- the callback (single use), so any replica can finish a sign-in another one started.

CREATE TABLE oidc_logins (
    state TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);
