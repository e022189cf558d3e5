//! Policy replay: `POST /api/v1/runtime/policy/replay` evaluates every recorded `tools/call`
//! of one server in a time window under a proposed policy (with `lib/policy`, the evaluator the
//! gateway runs) and reports the calls whose decision would change — allow→deny and
//! deny→allow — counted by tool, agent and reason, with samples.
//!
//! The proposal is either a full policy document (`policy`), or grants and/or sessions as YAML
//! (`grants`, `sessions`: `MCPAccessGrant` / `MCPAgentSession` objects, one per YAML document
//! or a list) applied over the server's current objects from the runtime backend — an object
//! with the name of an existing one replaces it, others are added — and rendered with
//! `mcp_policy::render` as the backends render. Neither: the current objects as they are.
//!
//! What a recorded event lets replay re-judge (the gateway's audit payload, `lib/events`):
//! the caller's identity (human, agent, caller team, presented session), the tool, the time
//! (sessions and grants expire as of the call), and whether the tool had drifted from its pin
//! (recorded as `tool_definition_changed`). What it cannot:
//! - arguments are not recorded: calls are judged without them, and a proposed decision that
//!   turns on an argument constraint (`argument_not_allowed`) is counted under
//!   `not_rejudged.arguments`, never as a change;
//! - budgets are not replayed: a call the gateway refused for a budget (`budget_exhausted`,
//!   `rate_limited`) that the proposal would allow is counted under `not_rejudged.budget`; and
//!   no budget of the proposal is charged;
//! - refusals before any policy decision (no or bad token, unreadable request, OAuth scopes, no
//!   policy loaded) have no identity to re-judge: `not_rejudged.gateway`.
//!
//! Bounded: at most `max_events` events are scanned (default 10,000, at most 100,000) within a
//! time budget of [`TIME_BUDGET`]; when either stops the scan, the answer carries
//! `next_cursor` to resume from (newest first, the event list's cursor).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use jiff::Timestamp;
use mcp_api::{MCPAccessGrant, MCPAgentSession};
use mcp_policy::{
    BudgetRefusal, Budgets, Call, Charge, Decision, Document, Identity, Reason, RenderContext, Request,
    Snapshot, render,
};
use mcp_sentinel::query::{EventFilter, EventQuery, EventRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::analytics::{parse_time, query_error, store};
use crate::api::{Caller, team_access};
use crate::error::{ApiError, ApiJson, json_response};
use crate::runtime::ListFilter;
use crate::runtime::kube_meta::ObjectMeta;
use crate::store::{Role, Team};

/// Largest `max_events`.
pub const MAX_EVENTS_LIMIT: u32 = 100_000;
/// Default `max_events`.
pub const MAX_EVENTS_DEFAULT: u32 = 10_000;
/// Longest a replay request scans before answering with a cursor.
pub const TIME_BUDGET: Duration = Duration::from_secs(10);
/// Longest window.
pub const MAX_WINDOW_DAYS: u64 = 90;
const PAGE: u32 = 1_000;
const DAY_MS: u64 = 86_400_000;

/// Budgets that admit everything: replay does not re-judge budgets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBudgets;

impl Budgets for NoBudgets {
    fn admit(&self, _: &[Charge], _: Timestamp) -> Result<(), BudgetRefusal> {
        Ok(())
    }
    fn check(&self, _: &[Charge], _: Timestamp) -> Result<(), BudgetRefusal> {
        Ok(())
    }
}

/// What replay concluded about one recorded call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Same decision.
    Unchanged,
    /// Allowed then, denied under the proposal.
    AllowToDeny,
    /// Denied then, allowed under the proposal.
    DenyToAllow,
    /// The record does not hold what re-judging needs (see the module documentation).
    NotRejudged(&'static str),
}

/// One recorded call judged again.
#[derive(Debug, Clone)]
pub struct Judged {
    /// What replay concluded.
    pub outcome: Outcome,
    /// The proposed decision (absent when not re-judged before evaluation).
    pub after: Option<Decision>,
}

fn reason_of(code: &str) -> Option<Reason> {
    Reason::ALL.iter().copied().find(|r| r.as_str() == code)
}

/// Reasons the gateway decides before the policy has an identity to judge.
fn before_policy(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::MissingBearerToken
            | Reason::InvalidToken
            | Reason::OauthProviderUnavailable
            | Reason::OauthIssuerMissing
            | Reason::OauthConfigMissing
            | Reason::PolicyUnavailable
            | Reason::RpcInspectionFailed
            | Reason::Undecided
            | Reason::InsufficientScope
    )
}

/// Judges one recorded `tools/call` under `snapshot`. Pure.
pub fn judge(snapshot: &Snapshot, event: &EventRecord) -> Judged {
    let not = |why| Judged { outcome: Outcome::NotRejudged(why), after: None };
    let inspection =
        event.payload.get("inspection_error").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let Some(before_reason) = reason_of(&event.reason) else { return not("gateway") };
    if inspection || before_policy(before_reason) || event.tool_name.is_empty() {
        return not("gateway");
    }
    // Under `observe`, the gateway let the call through and recorded what enforcement decided.
    let before_allowed = match event.payload.get("would_decision").and_then(Value::as_str) {
        Some(would) => would == "allow",
        None => event.decision == "allow",
    };
    let identity = Identity {
        human: event.human_id.clone(),
        agent: event.agent_id.clone(),
        team: event.subject_team_id.clone(),
        session: event.session_id.clone(),
    };
    let now = i64::try_from(event.ts_ms).ok().and_then(|ms| Timestamp::from_millisecond(ms).ok());
    let Some(now) = now else { return not("gateway") };
    let call = Call::Tool {
        name: &event.tool_name,
        arguments: None,
        drifted: before_reason == Reason::ToolDefinitionChanged,
    };
    let d = snapshot.evaluate(&Request { identity: &identity, call, now, charge: false }, &NoBudgets);
    let after_allowed = d.would_allow;
    let outcome = if d.reason == Reason::ArgumentNotAllowed {
        Outcome::NotRejudged("arguments")
    } else if matches!(before_reason, Reason::BudgetExhausted | Reason::RateLimited) && after_allowed {
        Outcome::NotRejudged("budget")
    } else {
        match (before_allowed, after_allowed) {
            (true, false) => Outcome::AllowToDeny,
            (false, true) => Outcome::DenyToAllow,
            _ => Outcome::Unchanged,
        }
    };
    Judged { outcome, after: Some(d) }
}

/// Counts of changed calls in one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Changes {
    /// Allowed then, denied under the proposal.
    pub allow_to_deny: u64,
    /// Denied then, allowed under the proposal.
    pub deny_to_allow: u64,
}

/// One changed call.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sample {
    /// The recorded event.
    pub event_id: String,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// Tool.
    pub tool: String,
    /// Human.
    pub human_id: String,
    /// Agent.
    pub agent_id: String,
    /// Session presented.
    pub session_id: String,
    /// `allow` or `deny`, as recorded.
    pub before: String,
    /// Reason recorded.
    pub before_reason: String,
    /// `allow` or `deny` under the proposal.
    pub after: String,
    /// Reason under the proposal.
    pub after_reason: String,
    /// Grant that decided under the proposal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_grant: Option<String>,
}

/// The replay report (one page of the scan).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Events read.
    pub scanned: u64,
    /// Events judged again.
    pub evaluated: u64,
    /// Same decision as recorded.
    pub unchanged: u64,
    /// All changes.
    pub changed: Changes,
    /// Events replay could not re-judge, by cause (`arguments`, `budget`, `gateway`).
    pub not_rejudged: BTreeMap<String, u64>,
    /// Changes per tool.
    pub by_tool: BTreeMap<String, Changes>,
    /// Changes per agent.
    pub by_agent: BTreeMap<String, Changes>,
    /// Changes per `before_reason → after_reason`.
    pub by_reason: BTreeMap<String, u64>,
    /// Up to `samples` changed calls, newest first.
    pub samples: Vec<Sample>,
    /// Why the scan stopped before the end of the window (`max_events` or `time_budget`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Pass as `cursor` (same request otherwise) to replay the rest of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn bump(c: &mut Changes, outcome: Outcome) {
    match outcome {
        Outcome::AllowToDeny => c.allow_to_deny += 1,
        Outcome::DenyToAllow => c.deny_to_allow += 1,
        _ => {}
    }
}

impl Report {
    /// Adds one judged event.
    pub fn add(&mut self, event: &EventRecord, judged: &Judged, max_samples: usize) {
        self.scanned += 1;
        match judged.outcome {
            Outcome::NotRejudged(why) => {
                *self.not_rejudged.entry(why.to_string()).or_default() += 1;
                return;
            }
            Outcome::Unchanged => {
                self.evaluated += 1;
                self.unchanged += 1;
                return;
            }
            _ => self.evaluated += 1,
        }
        let Some(after) = &judged.after else { return };
        bump(&mut self.changed, judged.outcome);
        bump(self.by_tool.entry(event.tool_name.clone()).or_default(), judged.outcome);
        bump(self.by_agent.entry(event.agent_id.clone()).or_default(), judged.outcome);
        *self.by_reason.entry(format!("{} → {}", event.reason, after.reason.as_str())).or_default() += 1;
        if self.samples.len() < max_samples {
            let word = |allowed: bool| if allowed { "allow" } else { "deny" }.to_string();
            self.samples.push(Sample {
                event_id: event.event_id.clone(),
                timestamp: event.timestamp.clone(),
                tool: event.tool_name.clone(),
                human_id: event.human_id.clone(),
                agent_id: event.agent_id.clone(),
                session_id: event.session_id.clone(),
                before: word(judged.outcome == Outcome::AllowToDeny),
                before_reason: event.reason.clone(),
                after: word(after.would_allow),
                after_reason: after.reason.as_str().to_string(),
                after_grant: after.matched_grant.as_ref().map(|g| g.name.clone()),
            });
        }
    }
}

/// `POST /api/v1/runtime/policy/replay` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Team owning the server.
    pub team: String,
    /// Server name.
    pub server: String,
    /// Window start (RFC 3339 or epoch ms; default 24 hours before `until`).
    pub since: Option<String>,
    /// Window end, exclusive (RFC 3339 or epoch ms; default now). At most 90 days after `since`.
    pub until: Option<String>,
    /// A full policy document (`policy.json`) to judge the calls with. `revision` may be empty
    /// (it is computed); when given it must match the content.
    #[schema(value_type = Option<Object>)]
    pub policy: Option<Value>,
    /// `MCPAccessGrant` objects (YAML) applied over the server's current grants.
    pub grants: Option<String>,
    /// `MCPAgentSession` objects (YAML) applied over the server's current sessions.
    pub sessions: Option<String>,
    /// At most this many events are scanned (1..=100000, default 10000).
    #[schema(minimum = 1, maximum = 100000)]
    pub max_events: Option<u32>,
    /// At most this many changed calls are returned as samples (0..=100, default 20).
    #[schema(minimum = 0, maximum = 100)]
    pub samples: Option<u32>,
    /// `next_cursor` of the previous answer.
    pub cursor: Option<String>,
}

/// Reads the proposed document: validated, revision computed when empty.
pub fn proposed_document(value: Value) -> Result<Snapshot, ApiError> {
    let bad = |m: String| ApiError::invalid_field("policy", format!("policy: {m}"));
    let revision_given = value.get("revision").and_then(Value::as_str).is_some_and(|r| !r.is_empty());
    let doc = if revision_given {
        Document::from_json(value.to_string().as_bytes()).map_err(|e| bad(e.to_string()))?
    } else {
        let mut doc: Document = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        doc.stamp();
        doc
    };
    Snapshot::new(doc).map_err(|e| bad(e.to_string()))
}

/// Replays the window of `request` under `snapshot` (events of `namespace`/`server`).
pub async fn replay(
    events: &dyn crate::analytics::EventStore,
    snapshot: &Snapshot,
    namespace: &str,
    request: &ReplayRequest,
) -> Result<Report, ApiError> {
    let now = u64::try_from(Timestamp::now().as_millisecond()).unwrap_or(0);
    let until = request.until.as_deref().map(|v| parse_time("until", v)).transpose()?.unwrap_or(now);
    let since = request
        .since
        .as_deref()
        .map(|v| parse_time("since", v))
        .transpose()?
        .unwrap_or(until.saturating_sub(DAY_MS));
    if since >= until {
        return Err(ApiError::invalid_field("since", "`since` must be before `until`"));
    }
    if until - since > MAX_WINDOW_DAYS * DAY_MS {
        return Err(ApiError::invalid_field(
            "since",
            format!("the window is at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let max_events = request.max_events.unwrap_or(MAX_EVENTS_DEFAULT);
    if !(1..=MAX_EVENTS_LIMIT).contains(&max_events) {
        return Err(ApiError::invalid_field("max_events", "max_events must be between 1 and 100000"));
    }
    let samples = request.samples.unwrap_or(20);
    if samples > 100 {
        return Err(ApiError::invalid_field("samples", "samples must be between 0 and 100"));
    }
    let filter = EventFilter { since_ms: Some(since), until_ms: Some(until), ..EventFilter::default() }
        .with("server", request.server.clone())
        .with("namespace", namespace)
        .with("rpc_method", "tools/call");
    let started = Instant::now();
    let mut report = Report::default();
    let mut cursor = request.cursor.clone().filter(|c| !c.is_empty());
    loop {
        let left = u64::from(max_events) - report.scanned;
        if left == 0 {
            report.stopped = Some("max_events".into());
            break;
        }
        if started.elapsed() >= TIME_BUDGET {
            report.stopped = Some("time_budget".into());
            break;
        }
        let limit = u32::try_from(left.min(u64::from(PAGE))).unwrap_or(PAGE);
        let query = EventQuery { filter: filter.clone(), limit: Some(limit), cursor: cursor.clone() };
        let page = events.events(&query).await.map_err(query_error)?;
        for event in &page.events {
            report.add(event, &judge(snapshot, event), samples as usize);
        }
        cursor = page.meta.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if report.stopped.is_some() {
        report.next_cursor = cursor;
        if report.next_cursor.is_none() {
            report.stopped = None;
        }
    }
    Ok(report)
}

#[utoipa::path(post, path = "/api/v1/runtime/policy/replay", tag = "replay", request_body = ReplayRequest, responses((status = 200, description = "the calls whose decision the proposal would change", body = Report), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn replay_route(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &req.team, Role::Member).await?;
    let snapshot = match req.policy.clone() {
        Some(policy) => {
            if req.grants.is_some() || req.sessions.is_some() {
                return Err(ApiError::invalid_field(
                    "policy",
                    "give either a `policy` document or `grants`/`sessions`, not both",
                ));
            }
            proposed_document(policy)?
        }
        None => proposed_from_objects(&state, &team, &req).await?,
    };
    let server = &snapshot.document().server;
    if server.name != req.server {
        return Err(ApiError::invalid_field("policy", "the document's `server.name` is not `server`"));
    }
    if !server.namespace.is_empty() && server.namespace != team.namespace {
        return Err(ApiError::invalid_field("policy", "the document's `server.namespace` is not the team's"));
    }
    let events = store(&state)?;
    let report = replay(events.as_ref(), &snapshot, &team.namespace, &req).await?;
    Ok(json_response(StatusCode::OK, &report))
}

/// Reads Kubernetes-style objects from YAML: each YAML document is one object or a list of
/// them. Errors name `field`.
pub fn parse_objects<T: serde::de::DeserializeOwned>(field: &str, text: &str) -> Result<Vec<T>, ApiError> {
    let mut out = Vec::new();
    let docs = mcp_api::yaml::from_multiple::<serde_json::Value>(text)
        .map_err(|e| ApiError::invalid_field(field, format!("{field}: {e}")))?;
    for (i, value) in docs.into_iter().enumerate() {
        let items = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        for item in items {
            out.push(
                serde_json::from_value(item).map_err(|e| {
                    ApiError::invalid_field(field, format!("{field}: document {}: {e}", i + 1))
                })?,
            );
        }
    }
    Ok(out)
}

/// Puts `proposed` over `current` (same name: replaced; else added), every object in
/// `namespace` and valid.
fn overlay<T, F>(
    field: &str,
    current: &mut Vec<T>,
    proposed: Vec<T>,
    namespace: &str,
    meta: fn(&mut T) -> &mut ObjectMeta,
    validate: F,
) -> Result<(), ApiError>
where
    F: Fn(&T, &str) -> mcp_api::Findings,
{
    for (i, mut object) in proposed.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        let m = meta(&mut object);
        let Some(name) = m.name.clone().filter(|n| !n.is_empty()) else {
            return Err(ApiError::invalid_field(field, format!("{at}.metadata.name is required")));
        };
        match m.namespace.as_deref() {
            None | Some("") => m.namespace = Some(namespace.to_string()),
            Some(ns) if ns == namespace => {}
            Some(ns) => {
                return Err(ApiError::invalid_field(
                    field,
                    format!("{at}.metadata.namespace {ns:?} is not the team's namespace"),
                ));
            }
        }
        let findings = validate(&object, &format!("{at}.spec"));
        if let Some(e) = findings.errors.first() {
            return Err(ApiError::invalid_field(field, e.to_string()));
        }
        match current.iter_mut().position(|c| meta(c).name.as_deref() == Some(name.as_str())) {
            Some(i) => current[i] = object,
            None => current.push(object),
        }
    }
    Ok(())
}

/// The server's current objects from the runtime backend with the proposed grants and
/// sessions applied over them, rendered as the backends render.
async fn proposed_from_objects(
    state: &AppState,
    team: &Team,
    req: &ReplayRequest,
) -> Result<Snapshot, ApiError> {
    let ns = team.namespace.as_str();
    let runtime = &state.runtime;
    let server = runtime
        .get_server(ns, &req.server)
        .await?
        .ok_or_else(|| ApiError::invalid_field("server", "no such server in this team"))?;
    let filter = ListFilter::server(ns, req.server.clone());
    let mut grants = runtime.list_grants(&filter).await?;
    let mut sessions = runtime.list_sessions(&filter).await?;
    if let Some(text) = &req.grants {
        let proposed: Vec<MCPAccessGrant> = parse_objects("grants", text)?;
        overlay(
            "grants",
            &mut grants,
            proposed,
            ns,
            |g| &mut g.metadata,
            |g, at| mcp_api::validate_grant(&g.spec, at),
        )?;
    }
    if let Some(text) = &req.sessions {
        let proposed: Vec<MCPAgentSession> = parse_objects("sessions", text)?;
        overlay(
            "sessions",
            &mut sessions,
            proposed,
            ns,
            |s| &mut s.metadata,
            |s, at| mcp_api::validate_session(&s.spec, at),
        )?;
    }
    let ctx = RenderContext { cluster: state.config.runtime.cluster.clone(), ..RenderContext::default() };
    let doc = render(&server, &grants, &sessions, &ctx)
        .map_err(|e| ApiError::invalid_field("grants", format!("render: {e}")))?;
    Snapshot::new(doc).map_err(|e| ApiError::invalid_field("grants", e.to_string()))
}
