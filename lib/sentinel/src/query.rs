//! The query library the platform API and the dashboard use: event list with cursor pagination,
//! stats, usage rollups, latency percentiles per tool and top deny reasons.
//!
//! Every query reads `<db>.events FINAL`, so copies of one event (retries, redelivery) that
//! have not been merged yet are still counted once. Every value from a caller is a client-side
//! `?` bind, never spliced into the SQL text; limits and windows are clamped, not refused.
//! SQL is built by pure functions ([`events_sql`], [`usage_sql`], …) that are tested without a
//! server; [`Analytics`] runs them.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use mcp_events::columns;

use crate::config::{ClickHouseConfig, Database};

/// Event list page size: default and largest.
pub const EVENTS_LIMIT_DEFAULT: u32 = 100;
/// Largest event list page.
pub const EVENTS_LIMIT_MAX: u32 = 1_000;
/// Usage window in days: default, smallest, largest.
pub const WINDOW_DAYS_DEFAULT: u32 = 30;
/// Largest usage window in days.
pub const WINDOW_DAYS_MAX: u32 = 365;
/// Rows per usage section: default and largest.
pub const USAGE_LIMIT_DEFAULT: u32 = 10;
/// Largest number of rows per usage section.
pub const USAGE_LIMIT_MAX: u32 = 50;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// A query that failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The pagination cursor was not one this library issued.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A filter on a column callers may not filter on.
    #[error("unknown filter `{0}`")]
    UnknownFilter(String),
    /// ClickHouse refused or could not be reached.
    #[error("query failed: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// Another event store (the embedded one of `mcp-runtime dev`) failed.
    #[error("query failed: {0}")]
    Store(String),
}

impl QueryError {
    /// Stable error code for API answers (`invalid_query_param` or `query_failed`).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::InvalidCursor | QueryError::UnknownFilter(_) => "invalid_query_param",
            QueryError::ClickHouse(_) | QueryError::Store(_) => "query_failed",
        }
    }
}

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A string (escaped by the client).
    Str(String),
    /// An unsigned number.
    UInt(u64),
}

impl Serialize for Arg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Arg::Str(v) => s.serialize_str(v),
            Arg::UInt(v) => s.serialize_u64(*v),
        }
    }
}

/// SQL text with `?` placeholders and the values for them, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), args: Vec::new() }
    }

    fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn push_where(&mut self, w: Where) -> &mut Sql {
        if !w.parts.is_empty() {
            self.text.push_str(" WHERE ");
            self.text.push_str(&w.parts.join(" AND "));
            self.args.extend(w.args);
        }
        self
    }

    fn bind(&mut self, arg: Arg) -> &mut Sql {
        self.text.push('?');
        self.args.push(arg);
        self
    }

    /// The SQL text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The bound values, in placeholder order.
    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// A query for `client` with every value bound.
    pub fn query(&self, client: &Client) -> clickhouse::query::Query {
        self.args.iter().fold(client.query(&self.text), |q, arg| q.bind(arg))
    }
}

/// Conditions joined by `AND`.
#[derive(Debug, Default)]
struct Where {
    parts: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    fn raw(&mut self, part: &str) {
        self.parts.push(part.to_string());
    }

    fn eq(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.parts.push(format!("{column} = ?"));
            self.args.push(Arg::Str(v.to_string()));
        }
    }

    fn in_list(&mut self, column: &str, values: &[String]) {
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.parts.push(format!("{column} IN ({marks})"));
        self.args.extend(values.into_iter().map(|v| Arg::Str(v.clone())));
    }

    /// `ts_ms` in `[from, to)`, with the `DateTime` column bounded too so day partitions outside
    /// the range are skipped.
    fn window(&mut self, from_ms: Option<u64>, to_ms: Option<u64>) {
        if let Some(from) = from_ms {
            self.parts.push("timestamp >= toDateTime(?) AND ts_ms >= ?".into());
            self.args.extend([Arg::UInt(from / 1000), Arg::UInt(from)]);
        }
        if let Some(to) = to_ms {
            self.parts.push("timestamp <= toDateTime(?) AND ts_ms < ?".into());
            self.args.extend([Arg::UInt(to / 1000), Arg::UInt(to)]);
        }
    }
}

/// Filters of the event list and stats (reference §6.8): an exact match on any column
/// [`mcp_events::columns::filters`] names, a namespace scope and a time window. Empty values
/// mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    /// Exact matches: column name → value. Only filterable columns are read (in table order).
    pub equals: BTreeMap<String, String>,
    /// Only events of these namespaces (a team's scope); any when empty.
    pub namespaces: Vec<String>,
    /// Events at or after this time (milliseconds since the epoch).
    pub since_ms: Option<u64>,
    /// Events before this time (milliseconds since the epoch).
    pub until_ms: Option<u64>,
}

impl EventFilter {
    /// This filter with `column = value` added (a column that is not filterable is ignored
    /// when the query is built; [`EventFilter::set`] refuses it instead).
    pub fn with(mut self, column: &str, value: impl Into<String>) -> EventFilter {
        self.equals.insert(column.to_string(), value.into());
        self
    }

    /// Adds `column = value`; refuses a column callers may not filter on.
    pub fn set(&mut self, column: &str, value: impl Into<String>) -> Result<(), QueryError> {
        match columns::column(column) {
            Some(c) if c.filter => {
                self.equals.insert(c.name.to_string(), value.into());
                Ok(())
            }
            _ => Err(QueryError::UnknownFilter(column.to_string())),
        }
    }

    /// The value filtered on for `column`, when set and not empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.equals.get(column).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn conditions(&self) -> Where {
        let mut w = Where::default();
        for column in columns::filters() {
            w.eq(column, self.get(column));
        }
        w.in_list("namespace", &self.namespaces);
        w.window(self.since_ms, self.until_ms);
        w
    }
}

/// One page request of the event list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventQuery {
    /// Which events.
    #[serde(flatten)]
    pub filter: EventFilter,
    /// Page size, clamped to 1–1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Where a page ends: the last event shown (newest first order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `ts_ms` of the last event shown.
    pub ts: u64,
    /// `event_id` of the last event shown.
    pub id: String,
}

impl Cursor {
    /// The opaque form handed to callers.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a cursor from its opaque form.
    pub fn decode(text: &str) -> Result<Cursor, QueryError> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| QueryError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| QueryError::InvalidCursor)
    }
}

/// Clamps `value` (or `default`) into `min..=max`.
pub fn clamp(value: Option<u32>, default: u32, min: u32, max: u32) -> u32 {
    value.unwrap_or(default).clamp(min, max)
}

/// The select list of the event list: the listed columns of [`mcp_events::columns`].
pub fn event_fields() -> String {
    columns::listed().collect::<Vec<_>>().join(", ")
}

/// The event list query: newest first, one more row than the page to know whether more follow.
pub fn events_sql(db: &Database, query: &EventQuery) -> Result<(Sql, u32), QueryError> {
    let limit = clamp(query.limit, EVENTS_LIMIT_DEFAULT, 1, EVENTS_LIMIT_MAX);
    let mut w = query.filter.conditions();
    if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
        let c = Cursor::decode(cursor)?;
        w.parts.push("(ts_ms < ? OR (ts_ms = ? AND event_id < ?))".into());
        w.args.extend([Arg::UInt(c.ts), Arg::UInt(c.ts), Arg::Str(c.id)]);
    }
    let mut sql = Sql::new(format!("SELECT {} FROM {db}.events FINAL", event_fields()));
    sql.push_where(w)
        .push(" ORDER BY ts_ms DESC, event_id DESC LIMIT ")
        .bind(Arg::UInt(u64::from(limit) + 1));
    Ok((sql, limit))
}

/// `count()` of the events matching `filter`.
pub fn count_sql(db: &Database, filter: &EventFilter) -> Sql {
    let mut sql = Sql::new(format!("SELECT count() AS count FROM {db}.events FINAL"));
    sql.push_where(filter.conditions());
    sql
}

/// Which column [`group_count_sql`] groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// `source`.
    Source,
    /// `event_type`.
    EventType,
}

/// Events per `source` or per `event_type`, most first.
pub fn group_count_sql(db: &Database, by: GroupBy, filter: &EventFilter) -> Sql {
    let column = match by {
        GroupBy::Source => "source",
        GroupBy::EventType => "event_type",
    };
    let mut sql = Sql::new(format!("SELECT {column} AS key, count() AS count FROM {db}.events FINAL"));
    sql.push_where(filter.conditions()).push(&format!(" GROUP BY {column} ORDER BY count DESC, key ASC"));
    sql
}

/// Parameters of the usage rollups, latency percentiles and deny reasons (reference §5.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageQuery {
    /// Days back from `until_ms`, clamped to 1–365 (default 30).
    pub window_days: Option<u32>,
    /// Rows per section, clamped to 1–50 (default 10).
    pub limit: Option<u32>,
    /// Only these namespaces (any when empty).
    pub namespaces: Vec<String>,
    /// Only servers owned by these teams (any when empty).
    pub team_ids: Vec<String>,
    /// Only this server.
    pub server: Option<String>,
    /// Only this decision.
    #[serde(alias = "status", alias = "outcome")]
    pub decision: Option<String>,
    /// Only this tool.
    #[serde(alias = "tool_name")]
    pub tool: Option<String>,
    /// End of the window (milliseconds since the epoch; default now).
    pub until_ms: Option<u64>,
}

/// A [`UsageQuery`] with defaults applied and values clamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Window length in days.
    pub window_days: u32,
    /// Rows per section.
    pub limit: u32,
    /// Window start (inclusive), ms.
    pub from_ms: u64,
    /// Window end (exclusive), ms.
    pub to_ms: u64,
    /// Width of a time bucket, ms: an hour for windows up to two days, else a day.
    pub bucket_ms: u64,
    query: UsageQuery,
}

impl Scope {
    /// Applies defaults and clamps; `now_ms` is used when the query names no end.
    pub fn new(query: &UsageQuery, now_ms: u64) -> Scope {
        let window_days = clamp(query.window_days, WINDOW_DAYS_DEFAULT, 1, WINDOW_DAYS_MAX);
        let limit = clamp(query.limit, USAGE_LIMIT_DEFAULT, 1, USAGE_LIMIT_MAX);
        let to_ms = query.until_ms.unwrap_or(now_ms);
        let from_ms = to_ms.saturating_sub(u64::from(window_days) * DAY_MS);
        let bucket_ms = if window_days <= 2 { HOUR_MS } else { DAY_MS };
        Scope { window_days, limit, from_ms, to_ms, bucket_ms, query: query.clone() }
    }

    /// The query this scope was made from.
    pub fn query(&self) -> &UsageQuery {
        &self.query
    }

    fn conditions(&self) -> Where {
        let mut w = Where::default();
        w.window(Some(self.from_ms), Some(self.to_ms));
        w.in_list("namespace", &self.query.namespaces);
        w.in_list("team_id", &self.query.team_ids);
        w.eq("server", self.query.server.as_deref());
        w.eq("decision", self.query.decision.as_deref());
        w.eq("tool_name", self.query.tool.as_deref());
        w
    }
}

/// The sections of a usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSection {
    /// Totals and distinct counts.
    Totals,
    /// Per server.
    Servers,
    /// Per (human, agent).
    Actors,
    /// Per (server, tool, human, team, agent).
    Tools,
    /// Per decision.
    Decisions,
    /// Per time bucket.
    Buckets,
    /// Per tool latency percentiles.
    Latency,
    /// Deny reasons.
    DenyReasons,
}

const ALLOW_DENY: &str =
    "count() AS events, countIf(decision = 'allow') AS allowed, countIf(decision = 'deny') AS denied";

/// The SQL of one usage section.
pub fn usage_sql(db: &Database, scope: &Scope, section: UsageSection) -> Sql {
    let from = format!(" FROM {db}.events FINAL");
    let mut w = scope.conditions();
    let (select, tail) = match section {
        UsageSection::Totals => (
            format!(
                "SELECT {ALLOW_DENY}, uniqExactIf(server, server != '') AS unique_servers, \
                 uniqExactIf(human_id, human_id != '') AS unique_humans, \
                 uniqExactIf(agent_id, agent_id != '') AS unique_agents, \
                 uniqExactIf(session_id, session_id != '') AS unique_sessions"
            ),
            String::new(),
        ),
        UsageSection::Servers => {
            w.raw("server != ''");
            (
                format!("SELECT server, namespace, {ALLOW_DENY}"),
                " GROUP BY server, namespace ORDER BY events DESC, server ASC, namespace ASC LIMIT ?".into(),
            )
        }
        UsageSection::Actors => {
            w.raw("(human_id != '' OR agent_id != '')");
            (
                format!("SELECT human_id, agent_id, {ALLOW_DENY}"),
                " GROUP BY human_id, agent_id ORDER BY events DESC, human_id ASC, agent_id ASC LIMIT ?"
                    .into(),
            )
        }
        UsageSection::Tools => {
            w.raw("tool_name != ''");
            (
                format!("SELECT server, tool_name, human_id, team_id, agent_id, {ALLOW_DENY}"),
                " GROUP BY server, tool_name, human_id, team_id, agent_id \
                 ORDER BY events DESC, server ASC, tool_name ASC, human_id ASC, team_id ASC, agent_id ASC LIMIT ?"
                    .into(),
            )
        }
        UsageSection::Decisions => (
            "SELECT decision, count() AS events".into(),
            " GROUP BY decision ORDER BY events DESC, decision ASC".into(),
        ),
        UsageSection::Buckets => (
            format!("SELECT intDiv(ts_ms, {b}) * {b} AS start_ms, {ALLOW_DENY}", b = scope.bucket_ms),
            " GROUP BY start_ms ORDER BY start_ms ASC".into(),
        ),
        UsageSection::Latency => {
            w.raw("tool_name != ''");
            (
                "SELECT server, tool_name, count() AS calls, quantileExact(0.5)(latency_ms) AS p50_ms, \
                 quantileExact(0.95)(latency_ms) AS p95_ms, quantileExact(0.99)(latency_ms) AS p99_ms, \
                 max(latency_ms) AS max_ms"
                    .into(),
                " GROUP BY server, tool_name ORDER BY calls DESC, server ASC, tool_name ASC LIMIT ?".into(),
            )
        }
        UsageSection::DenyReasons => {
            w.raw("decision = 'deny'");
            (
                "SELECT reason, count() AS count".into(),
                " GROUP BY reason ORDER BY count DESC, reason ASC LIMIT ?".into(),
            )
        }
    };
    let mut sql = Sql::new(select);
    sql.push(&from).push_where(w);
    if let Some(head) = tail.strip_suffix('?') {
        sql.push(head).bind(Arg::UInt(u64::from(scope.limit)));
    } else {
        sql.push(&tail);
    }
    sql
}

/// One event as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// RFC 3339 time (UTC, milliseconds).
    pub timestamp: String,
    /// Milliseconds since the epoch.
    pub ts_ms: u64,
    /// Unique id.
    pub event_id: String,
    /// W3C trace id, or empty.
    pub trace_id: String,
    /// Emitter.
    pub source: String,
    /// Kind.
    pub event_type: String,
    /// Server.
    pub server: String,
    /// Namespace.
    pub namespace: String,
    /// Server's team.
    pub team_id: String,
    /// Cluster.
    pub cluster: String,
    /// Human.
    pub human_id: String,
    /// Agent.
    pub agent_id: String,
    /// Caller's team.
    pub subject_team_id: String,
    /// Session.
    pub session_id: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// Reason code.
    pub reason: String,
    /// JSON-RPC method.
    pub rpc_method: String,
    /// Tool.
    pub tool_name: String,
    /// HTTP status.
    pub status: u16,
    /// Latency, ms.
    pub latency_ms: f64,
    /// Revision of the policy that decided.
    pub policy_version: String,
    /// Trust the tool requires.
    pub required_trust: String,
    /// Trust the session consented to.
    pub consented_trust: String,
    /// Grant that decided.
    pub matched_grant: String,
    /// The whole payload.
    pub payload: Value,
}

/// The listed columns as ClickHouse returns them (checked against
/// [`mcp_events::columns::listed`] by a test).
#[derive(Debug, Row, Deserialize)]
pub struct EventListRow {
    ts_ms: u64,
    event_id: String,
    trace_id: String,
    source: String,
    event_type: String,
    server: String,
    namespace: String,
    team_id: String,
    cluster: String,
    human_id: String,
    agent_id: String,
    subject_team_id: String,
    session_id: String,
    decision: String,
    reason: String,
    rpc_method: String,
    tool_name: String,
    status: u16,
    latency_ms: f64,
    policy_version: String,
    required_trust: String,
    consented_trust: String,
    matched_grant: String,
    payload: String,
}

/// RFC 3339 text of a millisecond time.
pub fn format_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

impl From<EventListRow> for EventRecord {
    fn from(r: EventListRow) -> EventRecord {
        let payload = serde_json::from_str(&r.payload).unwrap_or(Value::String(r.payload));
        EventRecord {
            timestamp: format_ms(r.ts_ms),
            ts_ms: r.ts_ms,
            event_id: r.event_id,
            trace_id: r.trace_id,
            source: r.source,
            event_type: r.event_type,
            server: r.server,
            namespace: r.namespace,
            team_id: r.team_id,
            cluster: r.cluster,
            human_id: r.human_id,
            agent_id: r.agent_id,
            subject_team_id: r.subject_team_id,
            session_id: r.session_id,
            decision: r.decision,
            reason: r.reason,
            rpc_method: r.rpc_method,
            tool_name: r.tool_name,
            status: r.status,
            latency_ms: r.latency_ms,
            policy_version: r.policy_version,
            required_trust: r.required_trust,
            consented_trust: r.consented_trust,
            matched_grant: r.matched_grant,
            payload,
        }
    }
}

/// One page of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<EventRecord>,
    /// Page metadata.
    pub meta: PageMeta,
}

/// Page metadata (reference §6.2 list shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    /// Page size used.
    pub limit: u32,
    /// Cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
    /// Whether more events follow.
    pub has_more: bool,
}

/// Number of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct Stats {
    /// Distinct events matching the filter.
    pub count: u64,
}

/// Events per key (`source` or `event_type`).
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct KeyCount {
    /// The source or event type.
    pub key: String,
    /// Distinct events.
    pub count: u64,
}

/// Totals of a usage window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct UsageTotals {
    /// Events.
    pub events: u64,
    /// Allowed.
    pub allowed: u64,
    /// Denied.
    pub denied: u64,
    /// Distinct non-empty servers.
    pub unique_servers: u64,
    /// Distinct non-empty humans.
    pub unique_humans: u64,
    /// Distinct non-empty agents.
    pub unique_agents: u64,
    /// Distinct non-empty sessions.
    pub unique_sessions: u64,
}

/// Usage of one server.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct ServerUsage {
    /// Server.
    pub server: String,
    /// Its namespace.
    pub namespace: String,
    /// Events.
    pub events: u64,
    /// Allowed.
    pub allowed: u64,
    /// Denied.
    pub denied: u64,
}

/// Usage of one (human, agent).
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct ActorUsage {
    /// Human.
    pub human_id: String,
    /// Agent.
    pub agent_id: String,
    /// Events.
    pub events: u64,
    /// Allowed.
    pub allowed: u64,
    /// Denied.
    pub denied: u64,
}

/// Usage of one tool by one caller.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct ToolUsage {
    /// Server.
    pub server: String,
    /// Tool.
    pub tool_name: String,
    /// Human.
    pub human_id: String,
    /// Server's team.
    pub team_id: String,
    /// Agent.
    pub agent_id: String,
    /// Events.
    pub events: u64,
    /// Allowed.
    pub allowed: u64,
    /// Denied.
    pub denied: u64,
}

/// Events per decision.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct DecisionUsage {
    /// `allow`, `deny` (or whatever producers sent).
    pub decision: String,
    /// Events.
    pub events: u64,
}

/// One time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct UsageBucket {
    /// Bucket start, ms.
    pub start_ms: u64,
    /// Events.
    pub events: u64,
    /// Allowed.
    pub allowed: u64,
    /// Denied.
    pub denied: u64,
}

/// Latency percentiles of one tool.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct ToolLatency {
    /// Server.
    pub server: String,
    /// Tool.
    pub tool_name: String,
    /// Calls.
    pub calls: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// Denials per reason.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct ReasonCount {
    /// Reason code.
    pub reason: String,
    /// Denials.
    pub count: u64,
}

/// The usage rollup of one window (reference §5.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Window length used, days.
    pub window_days: u32,
    /// Rows per section used.
    pub limit: u32,
    /// Window start (RFC 3339).
    pub from: String,
    /// Window end (RFC 3339).
    pub to: String,
    /// Totals.
    pub totals: UsageTotals,
    /// Busiest servers.
    pub servers: Vec<ServerUsage>,
    /// Busiest (human, agent) pairs.
    pub actors: Vec<ActorUsage>,
    /// Busiest tools per caller.
    pub tools: Vec<ToolUsage>,
    /// Events per decision.
    pub decisions: Vec<DecisionUsage>,
    /// Every time bucket of the window, oldest first (empty buckets included).
    pub buckets: Vec<UsageBucket>,
    /// Newest events.
    pub recent: Vec<EventRecord>,
}

/// Every bucket start of `[from, to)`, with the counts found (zeros elsewhere).
pub fn fill_buckets(found: Vec<UsageBucket>, from_ms: u64, to_ms: u64, bucket_ms: u64) -> Vec<UsageBucket> {
    let first = from_ms / bucket_ms * bucket_ms;
    let mut out = Vec::new();
    let mut found = found.into_iter().peekable();
    let mut start = first;
    while start < to_ms {
        let mut bucket = UsageBucket { start_ms: start, events: 0, allowed: 0, denied: 0 };
        while let Some(f) = found.next_if(|f| f.start_ms <= start) {
            if f.start_ms == start {
                bucket = f;
            }
        }
        out.push(bucket);
        start += bucket_ms;
    }
    out
}

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

/// Runs the queries against one ClickHouse database.
#[derive(Clone)]
pub struct Analytics {
    client: Client,
    db: Database,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics").field("db", &self.db).finish_non_exhaustive()
    }
}

impl Analytics {
    /// Queries the database of `config`.
    pub fn new(config: &ClickHouseConfig) -> Analytics {
        Analytics { client: config.client(), db: config.database.clone() }
    }

    /// Whether ClickHouse answers.
    pub async fn ping(&self) -> Result<(), QueryError> {
        self.client.query("SELECT 1").execute().await.map_err(QueryError::from)
    }

    /// One page of events, newest first.
    pub async fn events(&self, query: &EventQuery) -> Result<EventPage, QueryError> {
        let (sql, limit) = events_sql(&self.db, query)?;
        let mut rows: Vec<EventListRow> = sql.query(&self.client).fetch_all().await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|r| Cursor { ts: r.ts_ms, id: r.event_id.clone() }.encode())
        } else {
            None
        };
        Ok(EventPage {
            events: rows.into_iter().map(EventRecord::from).collect(),
            meta: PageMeta { limit, next_cursor, has_more },
        })
    }

    /// Number of distinct events matching `filter`.
    pub async fn stats(&self, filter: &EventFilter) -> Result<Stats, QueryError> {
        Ok(count_sql(&self.db, filter).query(&self.client).fetch_one().await?)
    }

    /// Events per source.
    pub async fn sources(&self, filter: &EventFilter) -> Result<Vec<KeyCount>, QueryError> {
        Ok(group_count_sql(&self.db, GroupBy::Source, filter).query(&self.client).fetch_all().await?)
    }

    /// Events per event type.
    pub async fn event_types(&self, filter: &EventFilter) -> Result<Vec<KeyCount>, QueryError> {
        Ok(group_count_sql(&self.db, GroupBy::EventType, filter).query(&self.client).fetch_all().await?)
    }

    async fn section<T>(&self, scope: &Scope, section: UsageSection) -> Result<Vec<T>, QueryError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        Ok(usage_sql(&self.db, scope, section).query(&self.client).fetch_all().await?)
    }

    /// The usage rollup of a window.
    pub async fn usage(&self, query: &UsageQuery) -> Result<UsageReport, QueryError> {
        let scope = Scope::new(query, now_ms());
        let totals: UsageTotals = usage_sql(&self.db, &scope, UsageSection::Totals)
            .query(&self.client)
            .fetch_optional()
            .await?
            .unwrap_or_default();
        let servers = self.section(&scope, UsageSection::Servers).await?;
        let actors = self.section(&scope, UsageSection::Actors).await?;
        let tools = self.section(&scope, UsageSection::Tools).await?;
        let decisions = self.section(&scope, UsageSection::Decisions).await?;
        let buckets = self.section(&scope, UsageSection::Buckets).await?;
        let (sql, _) = recent_sql(&self.db, &scope);
        let rows: Vec<EventListRow> = sql.query(&self.client).fetch_all().await?;
        let recent = rows.into_iter().map(EventRecord::from).collect();
        Ok(UsageReport {
            window_days: scope.window_days,
            limit: scope.limit,
            from: format_ms(scope.from_ms),
            to: format_ms(scope.to_ms),
            totals,
            servers,
            actors,
            tools,
            decisions,
            buckets: fill_buckets(buckets, scope.from_ms, scope.to_ms, scope.bucket_ms),
            recent,
        })
    }

    /// Latency percentiles per tool in a window, busiest tools first.
    pub async fn tool_latency(&self, query: &UsageQuery) -> Result<Vec<ToolLatency>, QueryError> {
        self.section(&Scope::new(query, now_ms()), UsageSection::Latency).await
    }

    /// The most frequent deny reasons in a window.
    pub async fn deny_reasons(&self, query: &UsageQuery) -> Result<Vec<ReasonCount>, QueryError> {
        self.section(&Scope::new(query, now_ms()), UsageSection::DenyReasons).await
    }
}

/// The newest events of a scope (any number of namespaces and teams).
pub fn recent_sql(db: &Database, scope: &Scope) -> (Sql, u32) {
    let mut sql = Sql::new(format!("SELECT {} FROM {db}.events FINAL", event_fields()));
    sql.push_where(scope.conditions())
        .push(" ORDER BY ts_ms DESC, event_id DESC LIMIT ")
        .bind(Arg::UInt(u64::from(scope.limit)));
    (sql, scope.limit)
}

#[cfg(test)]
mod tests;
