//! The columns of one stored audit event, written out once.
//!
//! [`EVENT_COLUMNS`] is the one list every consumer derives from: the ClickHouse table
//! (`mcp-sentinel` `schema::events_table`, in this order), the processor's row and the event
//! list's select list (both checked against this table by their tests), the equality filters
//! of the event list and stats ([`Column::filter`]), and the columns an event record shows
//! ([`Column::listed`]). Adding a column here and to the row struct is the whole change; a new
//! column goes at the end with a new sentinel migration (`ADD COLUMN IF NOT EXISTS`), so the
//! table stays compatible with the one already created.

/// The ClickHouse type of a column (the subset ClickHouse 18.16 and current releases share).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `DateTime` (seconds, UTC).
    DateTime,
    /// `UInt8`.
    UInt8,
    /// `UInt16`.
    UInt16,
    /// `UInt64`.
    UInt64,
    /// `Float64`.
    Float64,
    /// `String`.
    String,
}

impl ColumnType {
    /// The type as ClickHouse spells it.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::DateTime => "DateTime",
            ColumnType::UInt8 => "UInt8",
            ColumnType::UInt16 => "UInt16",
            ColumnType::UInt64 => "UInt64",
            ColumnType::Float64 => "Float64",
            ColumnType::String => "String",
        }
    }
}

/// One column of the events table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Column name (also the payload field and the query parameter it comes from).
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Callers may filter the event list and stats on it with `name=value` (exact match).
    pub filter: bool,
    /// The event list shows it.
    pub listed: bool,
}

const fn col(name: &'static str, ty: ColumnType, filter: bool, listed: bool) -> Column {
    Column { name, ty, filter, listed }
}

use ColumnType::{DateTime, Float64, String as Str, UInt8, UInt16, UInt64};

/// Every column of `<db>.events`, in table order.
pub const EVENT_COLUMNS: &[Column] = &[
    col("timestamp", DateTime, false, false),
    col("ts_ms", UInt64, false, true),
    col("event_id", Str, false, true),
    col("trace_id", Str, true, true),
    col("source", Str, true, true),
    col("event_type", Str, true, true),
    col("server", Str, true, true),
    col("namespace", Str, true, true),
    col("team_id", Str, true, true),
    col("cluster", Str, true, true),
    col("human_id", Str, true, true),
    col("agent_id", Str, true, true),
    col("subject_team_id", Str, true, true),
    col("session_id", Str, true, true),
    col("decision", Str, true, true),
    col("reason", Str, true, true),
    col("rpc_method", Str, true, true),
    col("tool_name", Str, true, true),
    col("method", Str, false, false),
    col("path", Str, false, false),
    col("status", UInt16, false, true),
    col("latency_ms", Float64, false, true),
    col("bytes_in", UInt64, false, false),
    col("bytes_out", UInt64, false, false),
    col("is_error", UInt8, false, false),
    col("policy_version", Str, true, true),
    col("protocol_version", Str, false, false),
    col("required_trust", Str, false, true),
    col("admin_trust", Str, false, false),
    col("consented_trust", Str, false, true),
    col("effective_trust", Str, false, false),
    col("required_side_effect", Str, false, false),
    col("risk_level", Str, false, false),
    col("matched_grant", Str, true, true),
    col("matched_grant_namespace", Str, false, false),
    col("matched_session", Str, false, false),
    col("matched_session_namespace", Str, false, false),
    col("inspection_error", Str, false, false),
    col("payload", Str, false, true),
];

/// The column called `name`.
pub fn column(name: &str) -> Option<&'static Column> {
    EVENT_COLUMNS.iter().find(|c| c.name == name)
}

/// Names of the columns the event list shows, in table order.
pub fn listed() -> impl Iterator<Item = &'static str> {
    EVENT_COLUMNS.iter().filter(|c| c.listed).map(|c| c.name)
}

/// Names of the columns callers may filter on, in table order.
pub fn filters() -> impl Iterator<Item = &'static str> {
    EVENT_COLUMNS.iter().filter(|c| c.filter).map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_filter_is_listed() {
        let mut names: Vec<&str> = EVENT_COLUMNS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate column");
        for c in EVENT_COLUMNS {
            assert!(!c.filter || c.listed, "{} is filterable but not shown", c.name);
        }
    }

    #[test]
    fn the_reference_filters_are_all_here() {
        // Reference §6.8: the event list's filters.
        for name in [
            "trace_id",
            "source",
            "event_type",
            "server",
            "namespace",
            "team_id",
            "cluster",
            "human_id",
            "agent_id",
            "session_id",
            "decision",
            "tool_name",
            "reason",
        ] {
            assert!(column(name).is_some_and(|c| c.filter), "{name}");
        }
    }

    #[test]
    fn every_payload_field_the_gateway_sends_has_a_column_or_stays_in_the_payload() {
        let p = crate::AuditPayload {
            rpc_method: Some(String::new()),
            tool_name: Some(String::new()),
            protocol_version: Some(String::new()),
            jsonrpc_id: Some(serde_json::Value::Null),
            is_error: Some(false),
            batch: Some(false),
            inspection_error: Some(String::new()),
            matched_grant: Some(String::new()),
            matched_grant_namespace: Some(String::new()),
            matched_session: Some(String::new()),
            matched_session_namespace: Some(String::new()),
            required_trust: Some(String::new()),
            required_side_effect: Some(String::new()),
            risk_level: Some(String::new()),
            admin_trust: Some(String::new()),
            consented_trust: Some(String::new()),
            effective_trust: Some(String::new()),
            argument: Some(String::new()),
            argument_rule: Some(String::new()),
            budget: Some(String::new()),
            ..crate::AuditPayload::default()
        };
        let value = serde_json::to_value(p).expect("serializable");
        // Only these stay in the raw payload without a column of their own.
        let payload_only = ["jsonrpc_id", "batch", "argument", "argument_rule", "budget"];
        for key in value.as_object().expect("object").keys() {
            assert!(
                column(key).is_some() || payload_only.contains(&key.as_str()),
                "payload field {key} has no column"
            );
        }
    }
}
