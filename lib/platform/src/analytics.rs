//! Analytics: the audit events the gateways recorded, behind one [`EventStore`] trait, served
//! admin-wide (`/api/v1/events`, `/stats`, `/sources`, `/event-types`, `/analytics/*`) and
//! team-scoped (`/api/v1/teams/{team}/analytics/*`: only events of the team's namespace).
//!
//! The trait speaks the query vocabulary of `mcp_sentinel::query` (filters, pages, rollups), so
//! the ClickHouse implementation ([`mcp_sentinel::Analytics`], configured by
//! `PLATFORM_CLICKHOUSE_*`) and an embedded store later answer the same endpoints with the same
//! shapes. The filterable columns come from the one column table, `mcp_events::columns`: a new
//! filterable column is a new query parameter here without a change to this file.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::StatusCode;
use mcp_events::columns;
use mcp_sentinel::query::{
    EventFilter, EventPage, EventQuery, KeyCount, QueryError, ReasonCount, Stats, ToolLatency, UsageQuery,
    UsageReport,
};
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use crate::AppState;
use crate::api::{Caller, team_access};
use crate::error::{ApiError, json_response};
use crate::store::{Role, Team};

/// The answer of an [`EventStore`] call.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueryError>> + Send + 'a>>;

/// Where recorded audit events are read from: ClickHouse through `lib/sentinel`'s queries in a
/// cluster ([`mcp_sentinel::Analytics`]), an embedded store in `mcp-runtime dev` later. Every
/// method reads distinct events (copies of one event are counted once); values from callers
/// are bound, never spliced; limits and windows are clamped as `mcp_sentinel::query` documents.
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Whether the store answers.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// One page of events, newest first, with a cursor to the next.
    fn events<'a>(&'a self, query: &'a EventQuery) -> StoreFuture<'a, EventPage>;
    /// Number of events matching `filter`.
    fn stats<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Stats>;
    /// Events per source.
    fn sources<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Vec<KeyCount>>;
    /// Events per event type.
    fn event_types<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Vec<KeyCount>>;
    /// The usage rollup of a window.
    fn usage<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, UsageReport>;
    /// Latency percentiles per tool in a window.
    fn tool_latency<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, Vec<ToolLatency>>;
    /// The most frequent deny reasons in a window.
    fn deny_reasons<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, Vec<ReasonCount>>;
}

impl EventStore for mcp_sentinel::Analytics {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(mcp_sentinel::Analytics::ping(self))
    }
    fn events<'a>(&'a self, query: &'a EventQuery) -> StoreFuture<'a, EventPage> {
        Box::pin(mcp_sentinel::Analytics::events(self, query))
    }
    fn stats<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Stats> {
        Box::pin(mcp_sentinel::Analytics::stats(self, filter))
    }
    fn sources<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Vec<KeyCount>> {
        Box::pin(mcp_sentinel::Analytics::sources(self, filter))
    }
    fn event_types<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Vec<KeyCount>> {
        Box::pin(mcp_sentinel::Analytics::event_types(self, filter))
    }
    fn usage<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, UsageReport> {
        Box::pin(mcp_sentinel::Analytics::usage(self, query))
    }
    fn tool_latency<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, Vec<ToolLatency>> {
        Box::pin(mcp_sentinel::Analytics::tool_latency(self, query))
    }
    fn deny_reasons<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, Vec<ReasonCount>> {
        Box::pin(mcp_sentinel::Analytics::deny_reasons(self, query))
    }
}

impl EventStore for mcp_eventstore::EventStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(mcp_eventstore::EventStore::ping(self))
    }
    fn events<'a>(&'a self, query: &'a EventQuery) -> StoreFuture<'a, EventPage> {
        Box::pin(mcp_eventstore::EventStore::events(self, query))
    }
    fn stats<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Stats> {
        Box::pin(mcp_eventstore::EventStore::stats(self, filter))
    }
    fn sources<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Vec<KeyCount>> {
        Box::pin(mcp_eventstore::EventStore::sources(self, filter))
    }
    fn event_types<'a>(&'a self, filter: &'a EventFilter) -> StoreFuture<'a, Vec<KeyCount>> {
        Box::pin(mcp_eventstore::EventStore::event_types(self, filter))
    }
    fn usage<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, UsageReport> {
        Box::pin(mcp_eventstore::EventStore::usage(self, query))
    }
    fn tool_latency<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, Vec<ToolLatency>> {
        Box::pin(mcp_eventstore::EventStore::tool_latency(self, query))
    }
    fn deny_reasons<'a>(&'a self, query: &'a UsageQuery) -> StoreFuture<'a, Vec<ReasonCount>> {
        Box::pin(mcp_eventstore::EventStore::deny_reasons(self, query))
    }
}

/// The configured event store, or 503 when none is.
pub fn store(state: &AppState) -> Result<&Arc<dyn EventStore>, ApiError> {
    state.events.as_ref().ok_or_else(|| ApiError {
        details: Some(json!({"setting": "PLATFORM_CLICKHOUSE_URL"})),
        ..ApiError::unavailable("analytics is not configured (PLATFORM_CLICKHOUSE_URL)")
    })
}

/// A query failure in the API's envelope: bad cursors and filters are 400 naming the
/// parameter; a store that cannot answer is 503.
pub fn query_error(err: QueryError) -> ApiError {
    match err {
        QueryError::InvalidCursor => ApiError::invalid_field("cursor", "cursor is not valid"),
        QueryError::UnknownFilter(name) => {
            ApiError::invalid_field(&name, format!("`{name}` is not a query parameter of this route"))
        }
        QueryError::ClickHouse(e) => ApiError::unavailable(format!("analytics query: {e}")),
        QueryError::Store(e) => ApiError::unavailable(format!("analytics query: {e}")),
    }
}

/// The last millisecond a stored event can have (ClickHouse `DateTime`: seconds in a `u32`).
pub const MAX_TIME_MS: u64 = u32::MAX as u64 * 1000 + 999;

/// Milliseconds since the epoch of an RFC 3339 time or a plain millisecond count, between
/// 1970 and 2106 (what the events table holds).
pub fn parse_time(field: &str, value: &str) -> Result<u64, ApiError> {
    let value = value.trim();
    value
        .parse::<u64>()
        .ok()
        .or_else(|| {
            value.parse::<jiff::Timestamp>().ok().and_then(|t| u64::try_from(t.as_millisecond()).ok())
        })
        .filter(|ms| *ms <= MAX_TIME_MS)
        .ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!("`{field}` must be an RFC 3339 time or epoch milliseconds between 1970 and 2106"),
            )
        })
}

fn parse_u32(field: &str, value: &str) -> Result<u32, ApiError> {
    value.trim().parse().map_err(|_| ApiError::invalid_field(field, format!("`{field}` must be a number")))
}

/// The query parameters of the event list, stats, sources and event types: one per filterable
/// column of `mcp_events::columns` (exact match), `since` and `until` (RFC 3339 or epoch ms),
/// and for the list `limit` (1–1000, default 100) and `cursor`.
#[derive(Debug, Clone, Default)]
pub struct EventParams(pub Vec<(String, String)>);

impl EventParams {
    /// The query these parameters ask for; unknown or repeated parameters are refused.
    pub fn query(&self, paged: bool) -> Result<EventQuery, ApiError> {
        let mut q = EventQuery::default();
        let mut seen = std::collections::BTreeSet::new();
        for (key, value) in &self.0 {
            if !seen.insert(key.as_str()) {
                return Err(ApiError::invalid_field(key, format!("`{key}` is given more than once")));
            }
            match key.as_str() {
                "since" => q.filter.since_ms = Some(parse_time(key, value)?),
                "until" => q.filter.until_ms = Some(parse_time(key, value)?),
                "limit" if paged => q.limit = Some(parse_u32(key, value)?),
                "cursor" if paged => q.cursor = Some(value.clone()),
                _ => q.filter.set(key, value.clone()).map_err(query_error)?,
            }
        }
        Ok(q)
    }
}

fn string_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn integer_param(name: &str, description: &str, min: u32, max: u32) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(f64::from(min)))
                .maximum(Some(f64::from(max))),
        ))
        .build()
}

fn filter_params() -> Vec<Parameter> {
    let mut out: Vec<Parameter> = columns::filters()
        .map(|c| string_param(c, &format!("only events whose `{c}` is exactly this")))
        .collect();
    out.push(string_param("since", "events at or after this time (RFC 3339 or epoch milliseconds)"));
    out.push(string_param("until", "events before this time (RFC 3339 or epoch milliseconds)"));
    out
}

impl utoipa::IntoParams for EventParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut out = filter_params();
        out.push(integer_param("limit", "page size (default 100)", 1, 1000));
        out.push(string_param("cursor", "`meta.next_cursor` of the previous page"));
        out
    }
}

/// The filter parameters alone (stats, sources, event types).
#[derive(Debug, Clone, Default)]
pub struct FilterParams(pub Vec<(String, String)>);

impl utoipa::IntoParams for FilterParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        filter_params()
    }
}

/// The query parameters of the usage rollup, latency percentiles and deny reasons.
#[derive(Debug, Clone, Default)]
pub struct UsageParams(pub Vec<(String, String)>);

impl UsageParams {
    /// The query these parameters ask for; unknown or repeated parameters are refused.
    pub fn query(&self) -> Result<UsageQuery, ApiError> {
        let mut q = UsageQuery::default();
        let mut seen = std::collections::BTreeSet::new();
        for (key, value) in &self.0 {
            let canonical = match key.as_str() {
                "status" | "outcome" => "decision",
                "tool_name" => "tool",
                "team" => "team_id",
                k => k,
            };
            if !seen.insert(canonical) {
                return Err(ApiError::invalid_field(key, format!("`{key}` is given more than once")));
            }
            let v = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            match canonical {
                "window_days" => q.window_days = Some(parse_u32(key, value)?),
                "limit" => q.limit = Some(parse_u32(key, value)?),
                "namespace" => q.namespaces = v.into_iter().collect(),
                "team_id" => q.team_ids = v.into_iter().collect(),
                "server" => q.server = v,
                "decision" => q.decision = v,
                "tool" => q.tool = v,
                "until" => q.until_ms = Some(parse_time(key, value)?),
                _ => {
                    return Err(ApiError::invalid_field(
                        key,
                        format!("`{key}` is not a query parameter of this route"),
                    ));
                }
            }
        }
        Ok(q)
    }
}

impl utoipa::IntoParams for UsageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            integer_param("window_days", "days back from `until` (default 30)", 1, 365),
            integer_param("limit", "rows per section (default 10)", 1, 50),
            string_param("namespace", "only this namespace"),
            string_param("team_id", "only servers of this team id (alias `team`)"),
            string_param("server", "only this server"),
            string_param("decision", "only `allow` or `deny` (aliases `status`, `outcome`)"),
            string_param("tool", "only this tool (alias `tool_name`)"),
            string_param("until", "end of the window (RFC 3339 or epoch milliseconds; default now)"),
        ]
    }
}

type St = State<Arc<AppState>>;
type Pairs = Query<Vec<(String, String)>>;

/// The scope a caller reads: everything (administrators on the admin routes) or one team's
/// namespace.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every event.
    All,
    /// Only events of this team's namespace.
    Team(Team),
}

impl Scope {
    /// Narrows an event filter; a `namespace` filter outside the team is refused.
    pub fn events(&self, filter: &mut EventFilter) -> Result<(), ApiError> {
        if let Scope::Team(team) = self {
            if filter.get("namespace").is_some_and(|ns| ns != team.namespace) {
                return Err(ApiError::invalid_field("namespace", "`namespace` is not the team's namespace"));
            }
            filter.namespaces = vec![team.namespace.clone()];
        }
        Ok(())
    }

    /// Narrows a usage query; a `namespace` outside the team is refused.
    pub fn usage(&self, query: &mut UsageQuery) -> Result<(), ApiError> {
        if let Scope::Team(team) = self {
            if query.namespaces.iter().any(|ns| *ns != team.namespace) {
                return Err(ApiError::invalid_field("namespace", "`namespace` is not the team's namespace"));
            }
            query.namespaces = vec![team.namespace.clone()];
        }
        Ok(())
    }
}

fn admin_scope(caller: &Caller) -> Result<Scope, ApiError> {
    caller.0.require_admin()?;
    Ok(Scope::All)
}

async fn team_scope(state: &AppState, caller: &Caller, team: &str) -> Result<Scope, ApiError> {
    let (team, _) = team_access(state, &caller.0, team, Role::Viewer).await?;
    Ok(Scope::Team(team))
}

fn ok<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::OK, body)
}

/// Which read of the analytics routes.
#[derive(Debug, Clone, Copy)]
enum Read {
    Events,
    Stats,
    Sources,
    EventTypes,
    Usage,
    Latency,
    DenyReasons,
}

async fn read(
    state: &AppState,
    scope: Scope,
    what: Read,
    pairs: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let store = store(state)?;
    match what {
        Read::Events | Read::Stats | Read::Sources | Read::EventTypes => {
            let paged = matches!(what, Read::Events);
            let mut q = EventParams(pairs).query(paged)?;
            scope.events(&mut q.filter)?;
            match what {
                Read::Events => Ok(ok(&store.events(&q).await.map_err(query_error)?)),
                Read::Stats => Ok(ok(&store.stats(&q.filter).await.map_err(query_error)?)),
                Read::Sources => {
                    let rows = store.sources(&q.filter).await.map_err(query_error)?;
                    let items: Vec<_> =
                        rows.into_iter().map(|r| json!({"source": r.key, "count": r.count})).collect();
                    Ok(ok(&json!({ "items": items })))
                }
                _ => {
                    let rows = store.event_types(&q.filter).await.map_err(query_error)?;
                    let items: Vec<_> =
                        rows.into_iter().map(|r| json!({"event_type": r.key, "count": r.count})).collect();
                    Ok(ok(&json!({ "items": items })))
                }
            }
        }
        Read::Usage | Read::Latency | Read::DenyReasons => {
            let mut q = UsageParams(pairs).query()?;
            scope.usage(&mut q)?;
            match what {
                Read::Usage => Ok(ok(&store.usage(&q).await.map_err(query_error)?)),
                Read::Latency => {
                    Ok(ok(&json!({"items": store.tool_latency(&q).await.map_err(query_error)?})))
                }
                _ => Ok(ok(&json!({"items": store.deny_reasons(&q).await.map_err(query_error)?}))),
            }
        }
    }
}

fn pairs(
    q: Result<Pairs, axum::extract::rejection::QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(p)| p).map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))
}

macro_rules! admin_route {
    ($name:ident, $path:literal, $what:expr, $params:ty, $desc:literal) => {
        #[utoipa::path(get, path = $path, tag = "analytics", params($params), responses((status = 200, description = $desc, body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
        pub(crate) async fn $name(
            State(state): St,
            caller: Caller,
            q: Result<Pairs, axum::extract::rejection::QueryRejection>,
        ) -> Result<Response, ApiError> {
            let scope = admin_scope(&caller)?;
            read(&state, scope, $what, pairs(q)?).await
        }
    };
}

macro_rules! team_route {
    ($name:ident, $path:literal, $what:expr, $params:ty, $desc:literal) => {
        #[utoipa::path(get, path = $path, tag = "analytics", params(("team" = String, Path, description = "team name"), $params), responses((status = 200, description = $desc, body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
        pub(crate) async fn $name(
            State(state): St,
            caller: Caller,
            Path(team): Path<String>,
            q: Result<Pairs, axum::extract::rejection::QueryRejection>,
        ) -> Result<Response, ApiError> {
            let scope = team_scope(&state, &caller, &team).await?;
            read(&state, scope, $what, pairs(q)?).await
        }
    };
}

admin_route!(
    events,
    "/api/v1/events",
    Read::Events,
    EventParams,
    "`{events: [...], meta: {limit, next_cursor, has_more}}`, newest first"
);
admin_route!(stats, "/api/v1/stats", Read::Stats, FilterParams, "`{count}` of the matching events");
admin_route!(
    sources,
    "/api/v1/sources",
    Read::Sources,
    FilterParams,
    "`{items: [{source, count}]}`, most first"
);
admin_route!(
    event_types,
    "/api/v1/event-types",
    Read::EventTypes,
    FilterParams,
    "`{items: [{event_type, count}]}`, most first"
);
admin_route!(
    usage,
    "/api/v1/analytics/usage",
    Read::Usage,
    UsageParams,
    "the usage rollup of the window (totals, servers, actors, tools, decisions, buckets, recent)"
);
admin_route!(
    latency,
    "/api/v1/analytics/latency",
    Read::Latency,
    UsageParams,
    "`{items: [{server, tool_name, calls, p50_ms, p95_ms, p99_ms, max_ms}]}`, busiest first"
);
admin_route!(
    deny_reasons,
    "/api/v1/analytics/deny-reasons",
    Read::DenyReasons,
    UsageParams,
    "`{items: [{reason, count}]}`, most first"
);

team_route!(
    team_events,
    "/api/v1/teams/{team}/analytics/events",
    Read::Events,
    EventParams,
    "the team's events: `{events: [...], meta}`, newest first"
);
team_route!(
    team_stats,
    "/api/v1/teams/{team}/analytics/stats",
    Read::Stats,
    FilterParams,
    "`{count}` of the team's matching events"
);
team_route!(
    team_sources,
    "/api/v1/teams/{team}/analytics/sources",
    Read::Sources,
    FilterParams,
    "`{items: [{source, count}]}` of the team's events"
);
team_route!(
    team_event_types,
    "/api/v1/teams/{team}/analytics/event-types",
    Read::EventTypes,
    FilterParams,
    "`{items: [{event_type, count}]}` of the team's events"
);
team_route!(
    team_usage,
    "/api/v1/teams/{team}/analytics/usage",
    Read::Usage,
    UsageParams,
    "the usage rollup of the team's namespace"
);
team_route!(
    team_latency,
    "/api/v1/teams/{team}/analytics/latency",
    Read::Latency,
    UsageParams,
    "latency percentiles per tool of the team's servers"
);
team_route!(
    team_deny_reasons,
    "/api/v1/teams/{team}/analytics/deny-reasons",
    Read::DenyReasons,
    UsageParams,
    "the most frequent deny reasons of the team's servers"
);

/// Settings of the ClickHouse event store: `PLATFORM_CLICKHOUSE_URL` (unset: analytics answers
/// 503), `PLATFORM_CLICKHOUSE_DB` (default `mcp`), `PLATFORM_CLICKHOUSE_USER` (default
/// `default`), `PLATFORM_CLICKHOUSE_PASSWORD`.
pub fn clickhouse_config(
    src: &dyn crate::config::Source,
) -> Result<Option<mcp_sentinel::ClickHouseConfig>, crate::config::ConfigError> {
    let Some(url) = src.get("PLATFORM_CLICKHOUSE_URL") else { return Ok(None) };
    let url = url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(crate::config::ConfigError {
            key: "PLATFORM_CLICKHOUSE_URL",
            value: url,
            reason: "must be an http:// or https:// URL (the HTTP interface)".into(),
        });
    }
    let mut config = mcp_sentinel::ClickHouseConfig::new(url);
    if let Some(db) = src.get("PLATFORM_CLICKHOUSE_DB") {
        config.database = mcp_sentinel::Database::new(db.trim()).map_err(|e| crate::config::ConfigError {
            key: "PLATFORM_CLICKHOUSE_DB",
            value: db.clone(),
            reason: e.to_string(),
        })?;
    }
    if let Some(user) = src.get("PLATFORM_CLICKHOUSE_USER") {
        config.user = user.trim().to_string();
    }
    if let Some(password) = src.get("PLATFORM_CLICKHOUSE_PASSWORD") {
        config.password = password;
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_filterable_column_is_a_parameter_and_nothing_else_is() {
        for column in columns::filters() {
            let q = EventParams(p(&[(column, "x")])).query(true).expect(column);
            assert_eq!(q.filter.get(column), Some("x"));
        }
        for bad in ["payload", "latency_ms", "nope"] {
            let err = EventParams(p(&[(bad, "x")])).query(true).expect_err(bad);
            assert_eq!(err.details, Some(json!({"field": bad})));
        }
        assert!(EventParams(p(&[("limit", "5")])).query(false).is_err(), "stats take no limit");
        assert!(EventParams(p(&[("server", "a"), ("server", "b")])).query(true).is_err(), "repeated");
        let q =
            EventParams(p(&[("since", "2026-01-01T00:00:00Z"), ("until", "1767225600001"), ("limit", "7")]))
                .query(true)
                .expect("valid");
        assert_eq!(
            (q.filter.since_ms, q.filter.until_ms, q.limit),
            (Some(1_767_225_600_000), Some(1_767_225_600_001), Some(7))
        );
        assert!(EventParams(p(&[("since", "yesterday")])).query(true).is_err());
        assert!(EventParams(p(&[("until", "99999999999999999")])).query(true).is_err(), "after 2106");
        assert!(EventParams(p(&[("until", "4294967295999")])).query(true).is_ok());
    }

    #[test]
    fn usage_aliases_and_team_scope() {
        let q =
            UsageParams(p(&[("status", "deny"), ("tool_name", "add"), ("team", "t"), ("namespace", "ns")]))
                .query()
                .expect("valid");
        assert_eq!((q.decision.as_deref(), q.tool.as_deref()), (Some("deny"), Some("add")));
        assert_eq!(
            (q.team_ids.clone(), q.namespaces.clone()),
            (vec!["t".to_string()], vec!["ns".to_string()])
        );
        assert!(UsageParams(p(&[("decision", "a"), ("outcome", "b")])).query().is_err(), "alias repeated");
        let team = Team {
            id: "id".into(),
            name: "a".into(),
            display_name: "A".into(),
            namespace: "mcp-team-a".into(),
            created_at: 0,
        };
        let scope = Scope::Team(team);
        let mut mine = UsageQuery::default();
        scope.usage(&mut mine).expect("no namespace asked");
        assert_eq!(mine.namespaces, vec!["mcp-team-a".to_string()]);
        let mut other = UsageQuery { namespaces: vec!["mcp-team-b".into()], ..UsageQuery::default() };
        assert!(scope.usage(&mut other).is_err());
        let mut f = EventFilter::default().with("namespace", "mcp-team-b");
        assert!(scope.events(&mut f).is_err());
        let mut f = EventFilter::default().with("server", "x");
        scope.events(&mut f).expect("narrowed");
        assert_eq!(f.namespaces, vec!["mcp-team-a".to_string()]);
    }

    #[test]
    fn the_map_of_parameters_is_derived() {
        let names: BTreeMap<String, ()> = <EventParams as utoipa::IntoParams>::into_params(|| None)
            .into_iter()
            .map(|p| (p.name, ()))
            .collect();
        for c in columns::filters() {
            assert!(names.contains_key(c), "{c}");
        }
    }
}
