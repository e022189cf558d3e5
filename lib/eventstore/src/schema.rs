//! The `events` table: every column of `mcp_events::columns::EVENT_COLUMNS`, in that order,
//! keyed by `event_id`. A column added to the shared table is added here by the migration
//! below (`ALTER TABLE … ADD COLUMN`), so an older data directory keeps working.

use mcp_events::columns::{ColumnType, EVENT_COLUMNS};
use mcp_sentinel::EventRow;
use serde_json::Value;
use sqlx::SqlitePool;

/// Largest number of bound values in one statement (SQLite's default limit is 32,766).
const MAX_BINDS: usize = 30_000;

fn sqlite_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Float64 => "REAL NOT NULL DEFAULT 0",
        ColumnType::String => "TEXT NOT NULL DEFAULT ''",
        ColumnType::DateTime | ColumnType::UInt8 | ColumnType::UInt16 | ColumnType::UInt64 => {
            "INTEGER NOT NULL DEFAULT 0"
        }
    }
}

fn column_def(name: &str, ty: ColumnType) -> String {
    if name == "event_id" {
        "event_id TEXT NOT NULL UNIQUE".into()
    } else {
        format!("{name} {}", sqlite_type(ty))
    }
}

/// The columns the rollups read (the usage report, latency, deny reasons): one index holds
/// them all, so those queries scan the index (about a tenth of a row with its payload) and never
/// the table.
const ROLLUP_COLUMNS: &str = "ts_ms, decision, server, namespace, team_id, tool_name, human_id, agent_id, \
                              session_id, reason, latency_ms";

/// Creates the table and its indexes, or adds the columns an older table lacks.
pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let columns: Vec<String> = EVENT_COLUMNS.iter().map(|c| column_def(c.name, c.ty)).collect();
    // A rowid table: lookups from an index are by integer, and the payload stays out of the
    // index scans. `event_id` is unique (a redelivered event is stored once).
    sqlx::query(&format!("CREATE TABLE IF NOT EXISTS events ({})", columns.join(", "))).execute(pool).await?;
    let present: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('events')").fetch_all(pool).await?;
    for c in EVENT_COLUMNS.iter().filter(|c| !present.iter().any(|p| p == c.name)) {
        sqlx::query(&format!("ALTER TABLE events ADD COLUMN {}", column_def(c.name, c.ty)))
            .execute(pool)
            .await?;
    }
    for (name, cols) in [
        ("events_time", "ts_ms DESC, event_id DESC"),
        ("events_ns_time", "namespace, ts_ms"),
        ("events_tool_latency", "server, tool_name, latency_ms"),
        ("events_rollup", ROLLUP_COLUMNS),
    ] {
        sqlx::query(&format!("CREATE INDEX IF NOT EXISTS {name} ON events ({cols})")).execute(pool).await?;
    }
    // Statistics for the planner (cheap: it samples), so a window covering most events scans the
    // covering index rather than walking the time index row by row.
    sqlx::query("PRAGMA analysis_limit = 1000").execute(pool).await?;
    sqlx::query("PRAGMA optimize = 0x10002").execute(pool).await?;
    Ok(())
}

/// The row's columns as JSON values, in table order.
fn values(row: &EventRow) -> Vec<Value> {
    let object = serde_json::to_value(row).unwrap_or(Value::Null);
    EVENT_COLUMNS.iter().map(|c| object.get(c.name).cloned().unwrap_or(Value::Null)).collect()
}

/// Inserts `rows` in one transaction (ids already stored are skipped).
pub async fn insert<'a>(
    pool: &SqlitePool,
    rows: impl Iterator<Item = &'a EventRow>,
) -> Result<(), sqlx::Error> {
    let names: Vec<&str> = EVENT_COLUMNS.iter().map(|c| c.name).collect();
    let per_row = names.len();
    let rows_per_statement = (MAX_BINDS / per_row).max(1);
    let one = format!("({})", vec!["?"; per_row].join(", "));
    let mut tx = pool.begin().await?;
    let rows: Vec<Vec<Value>> = rows.map(values).collect();
    for chunk in rows.chunks(rows_per_statement) {
        let sql = format!(
            "INSERT OR IGNORE INTO events ({}) VALUES {}",
            names.join(", "),
            vec![one.as_str(); chunk.len()].join(", ")
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = match v {
                    Value::String(s) => q.bind(s.clone()),
                    Value::Number(n) if n.is_f64() => q.bind(n.as_f64().unwrap_or(0.0)),
                    Value::Number(n) => q.bind(n.as_i64().unwrap_or(i64::MAX)),
                    Value::Bool(b) => q.bind(i64::from(*b)),
                    _ => q.bind(Option::<String>::None),
                };
            }
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await
}
