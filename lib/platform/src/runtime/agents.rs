//! The managed agent directory: per-team agents with platform-generated ids
//! (`agt_<26-char lowercase ULID>`), names unique case-insensitively per team, and an
//! active/inactive state. Kept in the platform store whatever the runtime backend.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Store, StoreError, map_err, now};

/// One agent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Agent {
    /// `agt_<26-char lowercase ULID>`.
    pub id: String,
    /// Id of the owning team.
    pub team_id: String,
    /// Name (unique per team, case-insensitively).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// `active` or `inactive`.
    pub status: String,
    /// Who registered it (account id).
    pub created_by: String,
    /// Registration time (unix seconds).
    pub created_at: i64,
    /// Last change (unix seconds).
    pub updated_at: i64,
    /// When it was deactivated, if it is inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<i64>,
}

impl Agent {
    /// Whether the agent may get sessions and tokens.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

const COLUMNS: &str =
    "id, team_id, name, description, active, created_by, created_at, updated_at, deactivated_at";

fn agent_from(row: &AnyRow) -> Result<Agent, sqlx::Error> {
    Ok(Agent {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        status: if row.try_get::<i64, _>("active")? != 0 { "active" } else { "inactive" }.into(),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deactivated_at: row.try_get("deactivated_at")?,
    })
}

/// A new agent id: `agt_` + a lowercase Crockford base32 ULID (48-bit milliseconds, 80 random
/// bits).
pub fn new_agent_id() -> Result<String, String> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let millis = u128::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0) & ((1 << 48) - 1);
    let random = crate::secrets::random_bytes::<10>()?;
    let mut value = millis << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    let mut out = String::from("agt_");
    for i in (0..26).rev() {
        out.push(ALPHABET[((value >> (5 * i)) & 31) as usize] as char);
    }
    Ok(out)
}

/// Whether `id` has the shape of an agent id.
pub fn is_agent_id(id: &str) -> bool {
    id.strip_prefix("agt_").is_some_and(|rest| {
        rest.len() == 26 && rest.bytes().all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
    })
}

/// Agent queries.
impl Store {
    /// Registers an agent.
    pub async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO managed_agents (id, team_id, name, name_key, description, active, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)",
        )
        .bind(&agent.id)
        .bind(&agent.team_id)
        .bind(&agent.name)
        .bind(agent.name.to_lowercase())
        .bind(&agent.description)
        .bind(&agent.created_by)
        .bind(agent.created_at)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(map_err)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("an agent with this name exists in the team".into()),
            other => other,
        })
    }

    /// The agent with this id.
    pub async fn agent(&self, id: &str) -> Result<Option<Agent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM managed_agents WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await.map_err(map_err)?;
        row.as_ref().map(agent_from).transpose().map_err(map_err)
    }

    /// A team's agents by name: `active` filters by state, `q` is a case-insensitive substring
    /// of the name, `after` a name key (cursor).
    pub async fn list_agents(
        &self,
        team_id: &str,
        active: Option<bool>,
        q: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Agent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM managed_agents WHERE team_id = $1 AND name_key > $2 \
             AND ($3 < 0 OR active = $3) AND name_key LIKE $4 ORDER BY name_key LIMIT $5"
        );
        let pattern = format!("%{}%", q.unwrap_or_default().to_lowercase().replace(['\\', '%', '_'], ""));
        let rows = sqlx::query(&sql)
            .bind(team_id)
            .bind(after.unwrap_or(""))
            .bind(active.map(i64::from).unwrap_or(-1))
            .bind(pattern)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        rows.iter().map(agent_from).collect::<Result<_, _>>().map_err(map_err)
    }

    /// Renames an agent / changes its description.
    pub async fn update_agent(&self, id: &str, name: &str, description: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE managed_agents SET name = $1, name_key = $2, description = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(name)
        .bind(name.to_lowercase())
        .bind(description)
        .bind(now())
        .bind(id)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(map_err)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("an agent with this name exists in the team".into()),
            other => other,
        })
    }

    /// Activates or deactivates an agent.
    pub async fn set_agent_active(&self, id: &str, active: bool) -> Result<(), StoreError> {
        let at = now();
        sqlx::query(
            "UPDATE managed_agents SET active = $1, updated_at = $2, deactivated_at = $3 WHERE id = $4",
        )
        .bind(i64::from(active))
        .bind(at)
        .bind((!active).then_some(at))
        .bind(id)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    /// When the team last published a server (push cooldown).
    pub async fn last_push(&self, team_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT pushed_at FROM runtime_pushes WHERE team_id = $1")
            .bind(team_id)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get::<i64, _>("pushed_at")).transpose().map_err(map_err)
    }

    /// Records a publish of the team.
    pub async fn record_push(&self, team_id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runtime_pushes (team_id, pushed_at) VALUES ($1, $2) \
             ON CONFLICT (team_id) DO UPDATE SET pushed_at = $2",
        )
        .bind(team_id)
        .bind(at)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_sortable_ulids() {
        let a = new_agent_id().expect("id");
        assert!(is_agent_id(&a), "{a}");
        assert_eq!(a.len(), 30);
        assert!(!is_agent_id("agt_short"));
        assert!(!is_agent_id("agt_0123456789ABCDEFGHJKMNPQRS"));
    }
}
