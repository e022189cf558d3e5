//! The platform store: PostgreSQL (cluster) or SQLite (embedded) behind one `sqlx::Any` pool,
//! with one portable set of versioned migrations.
//!
//! Every query is written once in portable SQL (`$n` placeholders, TEXT ids, BIGINT unix
//! seconds, no booleans). Migrations are applied in one transaction, in version order, and
//! recorded in `platform_schema` with a checksum: `migrate` is idempotent, refuses a database
//! whose applied migrations were edited afterwards or that is newer than this binary, and on
//! PostgreSQL holds an advisory lock so replicas starting together apply each migration once.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// The migrations, oldest first: `(version, name, SQL)`.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "accounts_teams_keys", include_str!("../migrations/0001_accounts_teams_keys.sql")),
    (2, "oidc_logins", include_str!("../migrations/0002_oidc_logins.sql")),
    (3, "runtime", include_str!("../migrations/0003_runtime.sql")),
    (4, "registry_credentials", include_str!("../migrations/0004_registry_credentials.sql")),
];

/// The schema version this binary needs.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Key of the PostgreSQL advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x6d63_705f_706c_6174;

/// A store operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (the message names what exists).
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other failure.
    #[error("database error: {0}")]
    Other(String),
}

pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("already exists".into())
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Other(err.to_string()),
    }
}

fn conflict(what: &str) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_string()),
        other => other,
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A person or a service account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Id (UUIDv7).
    pub id: String,
    /// Email, lower-cased (service accounts: a name-like address).
    pub email: String,
    /// Name shown in lists.
    pub display_name: String,
    /// `human` or `service`.
    pub kind: String,
    /// Platform administrator.
    pub is_admin: bool,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Disabled accounts cannot sign in and their tokens and keys stop working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
    /// The argon2id PHC string (never serialized).
    #[serde(skip)]
    pub password_hash: Option<String>,
}

fn user_from(row: &AnyRow) -> std::result::Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        kind: row.try_get("kind")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
        password_hash: row.try_get("password_hash")?,
    })
}

const USER_COLUMNS: &str = "id, email, display_name, kind, is_admin, created_at, disabled_at, password_hash";

/// A team role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Read and write the team's objects.
    Member,
    /// Also manages the team and its members.
    Owner,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Owner => "owner",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// A team: a group of people owning servers, mapped to one Kubernetes namespace.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    /// Id (UUIDv7).
    pub id: String,
    /// DNS-1123 label, unique, immutable (used in paths).
    pub name: String,
    /// Name shown to people (renamable).
    pub display_name: String,
    /// The Kubernetes namespace of the team's servers.
    pub namespace: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

fn team_from(row: &AnyRow) -> std::result::Result<Team, sqlx::Error> {
    Ok(Team {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        namespace: row.try_get("namespace")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A member of a team.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// The user.
    pub user_id: String,
    /// Their email.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// Their role in the team.
    pub role: Role,
    /// When they joined (unix seconds).
    pub joined_at: i64,
}

/// An API key as stored (the secret itself is never stored).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Id (UUIDv7).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Name given at creation.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// Scopes (`read`, `write`).
    pub scopes: Vec<String>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Expiry (unix seconds), when set.
    pub expires_at: Option<i64>,
    /// Last time it authenticated a request (updated at most once a minute).
    pub last_used_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

fn key_from(row: &AnyRow) -> std::result::Result<ApiKey, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: scopes.split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const KEY_COLUMNS: &str =
    "id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at";

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// The token was live and is now spent: issue the next one in `family` for `user_id`.
    Rotated {
        /// The family.
        family: String,
        /// The account.
        user_id: String,
    },
    /// The token had been spent before: the whole family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    postgres: bool,
}

impl Store {
    /// Connects (lazily: the first query opens the first connection) to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Store { pool, postgres: url.starts_with("postgres") })
    }

    /// The pool (for the runtime tables kept by other modules).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `postgresql` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        if self.postgres { "postgresql" } else { "sqlite" }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// One round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(map_err)
    }

    /// The highest applied migration (0 on an empty database).
    pub async fn schema_version(&self) -> Result<i64> {
        let exists = if self.postgres {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'platform_schema'"
        } else {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'platform_schema'"
        };
        let n: i64 =
            sqlx::query(exists).fetch_one(&self.pool).await.and_then(|r| r.try_get("n")).map_err(map_err)?;
        if n == 0 {
            return Ok(0);
        }
        sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM platform_schema")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get::<i64, _>("v"))
            .map_err(map_err)
    }

    /// Applies the pending migrations; returns the versions applied (empty when up to date).
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if self.postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS platform_schema (\
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let rows = sqlx::query("SELECT version, checksum FROM platform_schema ORDER BY version")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let mut applied = std::collections::BTreeMap::new();
        for row in &rows {
            let version: i64 = row.try_get("version").map_err(map_err)?;
            let checksum: String = row.try_get("checksum").map_err(map_err)?;
            applied.insert(version, checksum);
        }
        if let Some((&newest, _)) = applied.last_key_value()
            && newest > latest_version()
        {
            return Err(StoreError::Other(format!(
                "the database is at schema version {newest}, newer than this binary's {}; run a newer mcp-platform",
                latest_version()
            )));
        }
        let mut done = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
            match applied.get(version) {
                Some(existing) if *existing == checksum => continue,
                Some(_) => {
                    return Err(StoreError::Other(format!(
                        "migration {version} ({name}) was changed after it was applied; add a new migration instead"
                    )));
                }
                None => {}
            }
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Other(format!("migration {version} ({name}): {e}")))?;
            sqlx::query(
                "INSERT INTO platform_schema (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(*version)
            .bind(*name)
            .bind(checksum)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            done.push(*version);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    // ---- users -------------------------------------------------------------------------

    /// Creates an account.
    pub async fn create_user(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, email, display_name, kind, is_admin, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.display_name)
        .bind(&user.kind)
        .bind(i64::from(user.is_admin))
        .bind(user.password_hash.clone())
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
        .map_err(conflict("an account with this email exists"))
    }

    /// Sets (or replaces) the password hash and admin flag of the account with this email
    /// (`admin create` on an existing account).
    pub async fn set_password_and_admin(&self, email: &str, hash: &str, is_admin: bool) -> Result<bool> {
        sqlx::query("UPDATE users SET password_hash = $1, is_admin = $2 WHERE email = $3")
            .bind(hash)
            .bind(i64::from(is_admin))
            .bind(email)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(map_err)
    }

    /// The account with this id.
    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose().map_err(map_err)
    }

    /// The account with this (lower-cased) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql).bind(email).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose().map_err(map_err)
    }

    /// Accounts ordered by email, `limit` after `after` (an email).
    pub async fn list_users(&self, after: Option<&str>, limit: i64) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email > $1 ORDER BY email LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(user_from).collect::<std::result::Result<_, _>>().map_err(map_err)
    }

    /// The account linked to an external identity.
    pub async fn identity_user(&self, provider: &str, subject: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT user_id FROM identities WHERE provider = $1 AND subject = $2")
            .bind(provider)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get::<String, _>("user_id")).transpose().map_err(map_err)
    }

    /// Links an external identity to an account.
    pub async fn link_identity(&self, provider: &str, subject: &str, user_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO identities (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(provider)
            .bind(subject)
            .bind(user_id)
            .bind(now())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
            .map_err(conflict("this identity is linked already"))
    }

    // ---- OpenID Connect logins in flight -----------------------------------------------------

    /// Records a browser sign-in in flight.
    pub async fn insert_oidc_login(
        &self,
        state: &str,
        verifier: &str,
        nonce: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO oidc_logins (state, verifier, nonce, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(state)
            .bind(verifier)
            .bind(nonce)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    /// Takes (deletes and returns) a live sign-in in flight: `(verifier, nonce)`. Expired ones
    /// are removed on the way.
    pub async fn take_oidc_login(&self, state: &str) -> Result<Option<(String, String)>> {
        let at = now();
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= $1")
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        let row = sqlx::query("SELECT verifier, nonce FROM oidc_logins WHERE state = $1")
            .bind(state)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let deleted = sqlx::query("DELETE FROM oidc_logins WHERE state = $1")
            .bind(state)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if deleted.rows_affected() != 1 {
            // Another request consumed it first.
            return Ok(None);
        }
        Ok(Some((row.try_get("verifier").map_err(map_err)?, row.try_get("nonce").map_err(map_err)?)))
    }

    // ---- refresh tokens ----------------------------------------------------------------

    /// Stores a refresh token (by its hash) in `family`.
    pub async fn insert_refresh(
        &self,
        hash: &str,
        family: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash)
        .bind(family)
        .bind(user_id)
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    /// Spends a refresh token: exactly one presenter of a live token wins; presenting a spent
    /// token revokes its family.
    pub async fn use_refresh(&self, hash: &str) -> Result<RefreshUse> {
        let at = now();
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(at)
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        let row = sqlx::query("SELECT family_id, user_id, used_at FROM refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(RefreshUse::Invalid) };
        let family: String = row.try_get("family_id").map_err(map_err)?;
        if spent.rows_affected() == 1 {
            let user_id: String = row.try_get("user_id").map_err(map_err)?;
            if self.family_revoked(&family).await? {
                return Ok(RefreshUse::Invalid);
            }
            return Ok(RefreshUse::Rotated { family, user_id });
        }
        let used: Option<i64> = row.try_get("used_at").map_err(map_err)?;
        if used.is_some() {
            self.revoke_family(&family).await?;
            return Ok(RefreshUse::Reused);
        }
        Ok(RefreshUse::Invalid)
    }

    /// The family of a stored refresh token.
    pub async fn refresh_family(&self, hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get::<String, _>("family_id")).transpose().map_err(map_err)
    }

    /// Revokes every token of a family (sign-out, reuse).
    pub async fn revoke_family(&self, family: &str) -> Result<()> {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(family)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    /// Whether a family has been revoked (access tokens carry their family as `sid`).
    pub async fn family_revoked(&self, family: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL",
        )
        .bind(family)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(row.try_get::<i64, _>("n").map_err(map_err)? > 0)
    }

    /// Deletes refresh tokens that expired more than a day ago.
    pub async fn prune_refresh(&self) -> Result<u64> {
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now() - 86_400)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(map_err)
    }

    // ---- API keys ----------------------------------------------------------------------

    /// Stores a new API key under its hash.
    pub async fn insert_api_key(&self, key: &ApiKey, hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(hash)
        .bind(key.scopes.join(" "))
        .bind(key.created_at)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    /// The key stored under `hash`.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        let row = sqlx::query(&sql).bind(hash).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(key_from).transpose().map_err(map_err)
    }

    /// The key with this id.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(key_from).transpose().map_err(map_err)
    }

    /// The keys of an account, newest first.
    pub async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql).bind(user_id).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(key_from).collect::<std::result::Result<_, _>>().map_err(map_err)
    }

    /// Revokes a key (idempotent).
    pub async fn revoke_api_key(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    /// Records a use of a key (callers throttle this).
    pub async fn touch_api_key(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    // ---- teams -------------------------------------------------------------------------

    /// Creates a team with `owner` as its first owner (one transaction: a team never exists
    /// without an owner).
    pub async fn create_team(&self, team: &Team, created_by: &str, owner: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO teams (id, name, display_name, namespace, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&team.id)
        .bind(&team.name)
        .bind(&team.display_name)
        .bind(&team.namespace)
        .bind(team.created_at)
        .bind(created_by)
        .execute(&mut *tx)
        .await
        .map_err(map_err)
        .map_err(conflict("a team with this name or namespace exists"))?;
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(&team.id)
        .bind(owner)
        .bind(team.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    /// The team with this name.
    pub async fn team(&self, name: &str) -> Result<Option<Team>> {
        let row =
            sqlx::query("SELECT id, name, display_name, namespace, created_at FROM teams WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        row.as_ref().map(team_from).transpose().map_err(map_err)
    }

    /// Teams by name: all of them (`member` None) or those `member` belongs to, with the
    /// caller's role.
    pub async fn list_teams(&self, member: Option<&str>) -> Result<Vec<(Team, Option<Role>)>> {
        let rows = match member {
            None => sqlx::query(
                "SELECT id, name, display_name, namespace, created_at, NULL AS role FROM teams ORDER BY name",
            )
            .fetch_all(&self.pool)
            .await,
            Some(user) => {
                sqlx::query(
                    "SELECT t.id, t.name, t.display_name, t.namespace, t.created_at, m.role FROM teams t \
                     JOIN team_members m ON m.team_id = t.id WHERE m.user_id = $1 ORDER BY t.name",
                )
                .bind(user)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let role: Option<String> = r.try_get("role")?;
                Ok((team_from(r)?, role.as_deref().and_then(Role::parse)))
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(map_err)
    }

    /// Renames a team (display name).
    pub async fn rename_team(&self, id: &str, display_name: &str) -> Result<()> {
        sqlx::query("UPDATE teams SET display_name = $1 WHERE id = $2")
            .bind(display_name)
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    /// Deletes a team and its memberships.
    pub async fn delete_team(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM teams WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    /// The role of `user_id` in `team_id`.
    pub async fn role(&self, team_id: &str, user_id: &str) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let role: Option<String> = row.map(|r| r.try_get("role")).transpose().map_err(map_err)?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    /// The members of a team, by email.
    pub async fn members(&self, team_id: &str) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.display_name, m.role, m.created_at FROM team_members m \
             JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.email",
        )
        .bind(team_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(Member {
                    user_id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    display_name: r.try_get("display_name")?,
                    role: Role::parse(&role).unwrap_or(Role::Viewer),
                    joined_at: r.try_get("created_at")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(map_err)
    }

    /// Sets a member's role (adding them when absent). Refuses, in the same transaction, to
    /// leave the team without an owner.
    pub async fn put_member(&self, team_id: &str, user_id: &str, role: Role) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let updated = sqlx::query("UPDATE team_members SET role = $1 WHERE team_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(team_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(team_id)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        Self::keep_an_owner(&mut tx, team_id).await?;
        tx.commit().await.map_err(map_err)
    }

    /// Removes a member; refuses to remove the last owner. Returns whether they were a member.
    pub async fn remove_member(&self, team_id: &str, user_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let removed = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        Self::keep_an_owner(&mut tx, team_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn keep_an_owner(tx: &mut sqlx::Transaction<'_, sqlx::Any>, team_id: &str) -> Result<()> {
        let owners: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM team_members WHERE team_id = $1 AND role = 'owner'")
                .bind(team_id)
                .fetch_one(&mut **tx)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(map_err)?;
        if owners == 0 {
            return Err(StoreError::Conflict("a team must keep at least one owner".into()));
        }
        Ok(())
    }
}
