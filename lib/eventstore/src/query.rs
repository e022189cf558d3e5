//! The analytics queries of `mcp_sentinel::query`, answered from SQLite with the same
//! semantics: the same filters (filterable columns of `mcp_events::columns`, namespace scope,
//! time window), orders, clamps, cursors and result shapes. ClickHouse's `quantileExact` is
//! computed the way ClickHouse does ([`quantile_exact`]).

use mcp_events::columns;
use mcp_sentinel::query::{
    ActorUsage, Cursor, DecisionUsage, EVENTS_LIMIT_DEFAULT, EVENTS_LIMIT_MAX, EventFilter, EventPage,
    EventQuery, EventRecord, KeyCount, PageMeta, QueryError, ReasonCount, Scope, ServerUsage, Stats,
    ToolLatency, ToolUsage, UsageBucket, UsageQuery, UsageReport, UsageTotals, clamp, fill_buckets,
    format_ms,
};
use serde_json::Value;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row};

use crate::{EventStore, StoreError};

/// A `WHERE` clause and its bound values.
#[derive(Default)]
struct Where {
    parts: Vec<String>,
    args: Vec<Bind>,
}

#[derive(Clone)]
enum Bind {
    Str(String),
    Int(i64),
}

fn int(v: u64) -> Bind {
    Bind::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Where {
    fn eq(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.parts.push(format!("{column} = ?"));
            self.args.push(Bind::Str(v.to_string()));
        }
    }

    fn in_list(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        self.parts.push(format!("{column} IN ({})", vec!["?"; values.len()].join(", ")));
        self.args.extend(values.iter().map(|v| Bind::Str(v.clone())));
    }

    fn window(&mut self, from_ms: Option<u64>, to_ms: Option<u64>) {
        if let Some(from) = from_ms {
            self.parts.push("ts_ms >= ?".into());
            self.args.push(int(from));
        }
        if let Some(to) = to_ms {
            self.parts.push("ts_ms < ?".into());
            self.args.push(int(to));
        }
    }

    fn raw(&mut self, part: &str) {
        self.parts.push(part.into());
    }

    fn sql(&self) -> String {
        if self.parts.is_empty() { String::new() } else { format!(" WHERE {}", self.parts.join(" AND ")) }
    }
}

fn filter_where(filter: &EventFilter) -> Where {
    let mut w = Where::default();
    for column in columns::filters() {
        w.eq(column, filter.get(column));
    }
    w.in_list("namespace", &filter.namespaces);
    w.window(filter.since_ms, filter.until_ms);
    w
}

fn scope_where(scope: &Scope) -> Where {
    let q = scope.query();
    let mut w = Where::default();
    w.window(Some(scope.from_ms), Some(scope.to_ms));
    w.in_list("namespace", &q.namespaces);
    w.in_list("team_id", &q.team_ids);
    w.eq("server", q.server.as_deref());
    w.eq("decision", q.decision.as_deref());
    w.eq("tool_name", q.tool.as_deref());
    w
}

fn arguments(binds: &[Bind]) -> SqliteArguments<'static> {
    let mut args = SqliteArguments::default();
    for b in binds {
        // Adding a plain string or integer to SQLite arguments cannot fail.
        let _ = match b {
            Bind::Str(s) => args.add(s.clone()),
            Bind::Int(i) => args.add(*i),
        };
    }
    args
}

async fn fetch(store: &EventStore, sql: &str, binds: &[Bind]) -> Result<Vec<SqliteRow>, QueryError> {
    sqlx::query_with(sql, arguments(binds))
        .fetch_all(store.reader())
        .await
        .map_err(|e| QueryError::from(StoreError::from(e)))
}

fn u(row: &SqliteRow, name: &str) -> u64 {
    row.try_get::<i64, _>(name).ok().and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

fn s(row: &SqliteRow, name: &str) -> String {
    row.try_get::<String, _>(name).unwrap_or_default()
}

fn f(row: &SqliteRow, name: &str) -> f64 {
    row.try_get::<f64, _>(name).unwrap_or(0.0)
}

fn record(row: &SqliteRow) -> EventRecord {
    let payload = s(row, "payload");
    let ts_ms = u(row, "ts_ms");
    EventRecord {
        timestamp: format_ms(ts_ms),
        ts_ms,
        event_id: s(row, "event_id"),
        trace_id: s(row, "trace_id"),
        source: s(row, "source"),
        event_type: s(row, "event_type"),
        server: s(row, "server"),
        namespace: s(row, "namespace"),
        team_id: s(row, "team_id"),
        cluster: s(row, "cluster"),
        human_id: s(row, "human_id"),
        agent_id: s(row, "agent_id"),
        subject_team_id: s(row, "subject_team_id"),
        session_id: s(row, "session_id"),
        decision: s(row, "decision"),
        reason: s(row, "reason"),
        rpc_method: s(row, "rpc_method"),
        tool_name: s(row, "tool_name"),
        status: u16::try_from(u(row, "status")).unwrap_or(0),
        latency_ms: f(row, "latency_ms"),
        policy_version: s(row, "policy_version"),
        required_trust: s(row, "required_trust"),
        consented_trust: s(row, "consented_trust"),
        matched_grant: s(row, "matched_grant"),
        payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
    }
}

fn listed() -> String {
    columns::listed().collect::<Vec<_>>().join(", ")
}

/// ClickHouse's `quantileExact(level)` of sorted values: the element at `floor(level · n)`
/// (the last one for `level ≥ 1`); 0 for no values.
pub fn quantile_exact(sorted: &[f64], level: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len();
    // Truncation is the definition (ClickHouse takes the integer part of level · n).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = if level < 1.0 { ((level * n as f64) as usize).min(n - 1) } else { n - 1 };
    sorted[i]
}

const ALLOW_DENY: &str =
    "COUNT(*) AS events, SUM(decision = 'allow') AS allowed, SUM(decision = 'deny') AS denied";

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

impl EventStore {
    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), QueryError> {
        fetch(self, "SELECT 1", &[]).await.map(|_| ())
    }

    /// One page of events, newest first.
    pub async fn events(&self, query: &EventQuery) -> Result<EventPage, QueryError> {
        let limit = clamp(query.limit, EVENTS_LIMIT_DEFAULT, 1, EVENTS_LIMIT_MAX);
        let mut w = filter_where(&query.filter);
        if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
            let c = Cursor::decode(cursor)?;
            w.parts.push("(ts_ms < ? OR (ts_ms = ? AND event_id < ?))".into());
            w.args.extend([int(c.ts), int(c.ts), Bind::Str(c.id)]);
        }
        let mut args = w.args.clone();
        args.push(int(u64::from(limit) + 1));
        let sql =
            format!("SELECT {} FROM events{} ORDER BY ts_ms DESC, event_id DESC LIMIT ?", listed(), w.sql());
        let rows = fetch(self, &sql, &args).await?;
        let has_more = rows.len() > limit as usize;
        let mut events: Vec<EventRecord> = rows.iter().map(record).collect();
        events.truncate(limit as usize);
        let next_cursor = if has_more {
            events.last().map(|r| Cursor { ts: r.ts_ms, id: r.event_id.clone() }.encode())
        } else {
            None
        };
        Ok(EventPage { events, meta: PageMeta { limit, next_cursor, has_more } })
    }

    /// Number of events matching `filter`.
    pub async fn stats(&self, filter: &EventFilter) -> Result<Stats, QueryError> {
        let w = filter_where(filter);
        let rows = fetch(self, &format!("SELECT COUNT(*) AS count FROM events{}", w.sql()), &w.args).await?;
        Ok(Stats { count: rows.first().map_or(0, |r| u(r, "count")) })
    }

    async fn group_count(&self, column: &str, filter: &EventFilter) -> Result<Vec<KeyCount>, QueryError> {
        let w = filter_where(filter);
        let sql = format!(
            "SELECT {column} AS key, COUNT(*) AS count FROM events{} GROUP BY {column} ORDER BY count DESC, key ASC",
            w.sql()
        );
        let rows = fetch(self, &sql, &w.args).await?;
        Ok(rows.iter().map(|r| KeyCount { key: s(r, "key"), count: u(r, "count") }).collect())
    }

    /// Events per source.
    pub async fn sources(&self, filter: &EventFilter) -> Result<Vec<KeyCount>, QueryError> {
        self.group_count("source", filter).await
    }

    /// Events per event type.
    pub async fn event_types(&self, filter: &EventFilter) -> Result<Vec<KeyCount>, QueryError> {
        self.group_count("event_type", filter).await
    }

    async fn section(
        &self,
        scope: &Scope,
        extra: Option<&str>,
        select: &str,
        tail: &str,
    ) -> Result<Vec<SqliteRow>, QueryError> {
        let mut w = scope_where(scope);
        if let Some(extra) = extra {
            w.raw(extra);
        }
        let mut args = w.args.clone();
        let tail = match tail.strip_suffix('?') {
            Some(head) => {
                args.push(int(u64::from(scope.limit)));
                format!("{head}?")
            }
            None => tail.to_string(),
        };
        fetch(self, &format!("SELECT {select} FROM events{}{tail}", w.sql()), &args).await
    }

    /// The usage rollup of a window.
    pub async fn usage(&self, query: &UsageQuery) -> Result<UsageReport, QueryError> {
        let scope = Scope::new(query, now_ms());
        let totals = self
            .section(
                &scope,
                None,
                &format!(
                    "{ALLOW_DENY}, COUNT(DISTINCT NULLIF(server, '')) AS unique_servers, \
                     COUNT(DISTINCT NULLIF(human_id, '')) AS unique_humans, \
                     COUNT(DISTINCT NULLIF(agent_id, '')) AS unique_agents, \
                     COUNT(DISTINCT NULLIF(session_id, '')) AS unique_sessions"
                ),
                "",
            )
            .await?;
        let totals = totals.first().map_or_else(UsageTotals::default, |r| UsageTotals {
            events: u(r, "events"),
            allowed: u(r, "allowed"),
            denied: u(r, "denied"),
            unique_servers: u(r, "unique_servers"),
            unique_humans: u(r, "unique_humans"),
            unique_agents: u(r, "unique_agents"),
            unique_sessions: u(r, "unique_sessions"),
        });
        let servers = self
            .section(
                &scope,
                Some("server != ''"),
                &format!("server, namespace, {ALLOW_DENY}"),
                " GROUP BY server, namespace ORDER BY events DESC, server ASC, namespace ASC LIMIT ?",
            )
            .await?
            .iter()
            .map(|r| ServerUsage {
                server: s(r, "server"),
                namespace: s(r, "namespace"),
                events: u(r, "events"),
                allowed: u(r, "allowed"),
                denied: u(r, "denied"),
            })
            .collect();
        let actors = self
            .section(
                &scope,
                Some("(human_id != '' OR agent_id != '')"),
                &format!("human_id, agent_id, {ALLOW_DENY}"),
                " GROUP BY human_id, agent_id ORDER BY events DESC, human_id ASC, agent_id ASC LIMIT ?",
            )
            .await?
            .iter()
            .map(|r| ActorUsage {
                human_id: s(r, "human_id"),
                agent_id: s(r, "agent_id"),
                events: u(r, "events"),
                allowed: u(r, "allowed"),
                denied: u(r, "denied"),
            })
            .collect();
        let tools = self
            .section(
                &scope,
                Some("tool_name != ''"),
                &format!("server, tool_name, human_id, team_id, agent_id, {ALLOW_DENY}"),
                " GROUP BY server, tool_name, human_id, team_id, agent_id ORDER BY events DESC, server ASC, \
                 tool_name ASC, human_id ASC, team_id ASC, agent_id ASC LIMIT ?",
            )
            .await?
            .iter()
            .map(|r| ToolUsage {
                server: s(r, "server"),
                tool_name: s(r, "tool_name"),
                human_id: s(r, "human_id"),
                team_id: s(r, "team_id"),
                agent_id: s(r, "agent_id"),
                events: u(r, "events"),
                allowed: u(r, "allowed"),
                denied: u(r, "denied"),
            })
            .collect();
        let decisions = self
            .section(
                &scope,
                None,
                "decision, COUNT(*) AS events",
                " GROUP BY decision ORDER BY events DESC, decision ASC",
            )
            .await?
            .iter()
            .map(|r| DecisionUsage { decision: s(r, "decision"), events: u(r, "events") })
            .collect();
        let b = scope.bucket_ms;
        let buckets = self
            .section(
                &scope,
                None,
                &format!("(ts_ms / {b}) * {b} AS start_ms, {ALLOW_DENY}"),
                " GROUP BY start_ms ORDER BY start_ms ASC",
            )
            .await?
            .iter()
            .map(|r| UsageBucket {
                start_ms: u(r, "start_ms"),
                events: u(r, "events"),
                allowed: u(r, "allowed"),
                denied: u(r, "denied"),
            })
            .collect();
        let recent = self
            .section(&scope, None, &listed(), " ORDER BY ts_ms DESC, event_id DESC LIMIT ?")
            .await?
            .iter()
            .map(record)
            .collect();
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
        let scope = Scope::new(query, now_ms());
        let busiest = self
            .section(
                &scope,
                Some("tool_name != ''"),
                "server, tool_name, COUNT(*) AS calls, MAX(latency_ms) AS max_ms",
                " GROUP BY server, tool_name ORDER BY calls DESC, server ASC, tool_name ASC LIMIT ?",
            )
            .await?;
        let mut out = Vec::with_capacity(busiest.len());
        for r in &busiest {
            let (server, tool) = (s(r, "server"), s(r, "tool_name"));
            // Exactly this group: `eq` would skip an empty server name and mix groups.
            let mut w = scope_where(&scope);
            w.parts.push("server = ? AND tool_name = ?".into());
            w.args.extend([Bind::Str(server.clone()), Bind::Str(tool.clone())]);
            let sql = format!("SELECT latency_ms FROM events{} ORDER BY latency_ms ASC", w.sql());
            let values: Vec<f64> =
                fetch(self, &sql, &w.args).await?.iter().map(|r| f(r, "latency_ms")).collect();
            out.push(ToolLatency {
                server,
                tool_name: tool,
                calls: u(r, "calls"),
                p50_ms: quantile_exact(&values, 0.5),
                p95_ms: quantile_exact(&values, 0.95),
                p99_ms: quantile_exact(&values, 0.99),
                max_ms: f(r, "max_ms"),
            });
        }
        Ok(out)
    }

    /// The most frequent deny reasons in a window.
    pub async fn deny_reasons(&self, query: &UsageQuery) -> Result<Vec<ReasonCount>, QueryError> {
        let scope = Scope::new(query, now_ms());
        Ok(self
            .section(
                &scope,
                Some("decision = 'deny'"),
                "reason, COUNT(*) AS count",
                " GROUP BY reason ORDER BY count DESC, reason ASC LIMIT ?",
            )
            .await?
            .iter()
            .map(|r| ReasonCount { reason: s(r, "reason"), count: u(r, "count") })
            .collect())
    }
}
