//! Administrator views: the dashboard summary (`GET /api/v1/dashboard/summary`), the health of
//! the platform's components (`GET /api/v1/admin/components`) and the audit timeline of
//! platform actions (`GET /api/v1/admin/audit`: the `platform.audit` events the platform
//! itself emitted, read back from the event store).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use http::StatusCode;
use mcp_sentinel::query::{EventFilter, EventQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::analytics::{parse_time, query_error};
use crate::api::Caller;
use crate::error::{ApiError, json_response};
use crate::runtime::ListFilter;

/// Whether a grant or session `expires_at` (RFC 3339) is still ahead (no expiry: yes).
fn unexpired(expires_at: Option<&str>, now: jiff::Timestamp) -> bool {
    expires_at.is_none_or(|e| mcp_api::parse_rfc3339(e).is_ok_and(|t| t > now))
}

#[utoipa::path(get, path = "/api/v1/dashboard/summary", tag = "dashboard", responses((status = 200, description = "`{total_events, active_servers, active_grants, active_sessions, latest_source, last_event_type, last_event_time}` (event fields null when analytics is not configured or unreachable)", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn summary(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let now = jiff::Timestamp::now();
    let all = ListFilter::default();
    let servers = state.runtime.list_servers(&all).await?;
    let grants = state.runtime.list_grants(&all).await?;
    let sessions = state.runtime.list_sessions(&all).await?;
    let active_grants = grants
        .iter()
        .filter(|g| g.spec.disabled != Some(true) && unexpired(g.spec.expires_at.as_deref(), now))
        .count();
    let active_sessions = sessions
        .iter()
        .filter(|s| s.spec.revoked != Some(true) && unexpired(s.spec.expires_at.as_deref(), now))
        .count();
    let mut body = json!({
        "total_events": null, "active_servers": servers.len(), "active_grants": active_grants,
        "active_sessions": active_sessions, "latest_source": null, "last_event_type": null,
        "last_event_time": null,
    });
    if let Some(events) = &state.events {
        let filter = EventFilter::default();
        if let Ok(stats) = events.stats(&filter).await {
            body["total_events"] = json!(stats.count);
        }
        let latest = EventQuery { limit: Some(1), ..EventQuery::default() };
        if let Ok(page) = events.events(&latest).await
            && let Some(e) = page.events.first()
        {
            body["latest_source"] = json!(e.source);
            body["last_event_type"] = json!(e.event_type);
            body["last_event_time"] = json!(e.timestamp);
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn component(name: &str, ok: bool, detail: Value) -> Value {
    json!({"component": name, "status": if ok { "ok" } else { "down" }, "detail": detail})
}

#[utoipa::path(get, path = "/api/v1/admin/components", tag = "dashboard", responses((status = 200, description = "`{status, items: [{component, status, detail}]}` for store, runtime, analytics, audit and signing keys; `status` is `ok` when every configured component is", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn components(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let mut items = Vec::new();
    let expected = crate::store::latest_version();
    items.push(match state.store.schema_version().await {
        Ok(v) => component(
            "store",
            v == expected,
            json!({"backend": state.store.backend(), "schema_version": v, "schema_expected": expected}),
        ),
        Err(e) => {
            component("store", false, json!({"backend": state.store.backend(), "error": e.to_string()}))
        }
    });
    items.push(match state.runtime.ready().await {
        Ok(()) => component("runtime", true, json!({"kind": state.runtime.kind()})),
        Err(e) => component("runtime", false, json!({"kind": state.runtime.kind(), "error": e.to_string()})),
    });
    items.push(match &state.events {
        None => json!({"component": "analytics", "status": "not_configured", "detail": {"setting": "PLATFORM_CLICKHOUSE_URL"}}),
        Some(events) => match events.ping().await {
            Ok(()) => component("analytics", true, json!({})),
            Err(e) => component("analytics", false, json!({"error": e.to_string()})),
        },
    });
    items.push(if state.audit.enabled() {
        component("audit", true, json!({"dropped": state.audit.dropped()}))
    } else {
        json!({"component": "audit", "status": "not_configured", "detail": {"setting": "ANALYTICS_INGEST_URL"}})
    });
    let keys = state.keys.ring().jwks(crate::store::now());
    let count = keys["keys"].as_array().map_or(0, Vec::len);
    items.push(component("signing_keys", count > 0, json!({"published": count})));
    let all_ok = items.iter().all(|i| i["status"] != "down");
    Ok(json_response(
        StatusCode::OK,
        &json!({"status": if all_ok { "ok" } else { "degraded" }, "items": items}),
    ))
}

/// `GET /api/v1/admin/audit` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Events at or after this time (RFC 3339 or epoch milliseconds).
    pub since: Option<String>,
    /// Events before this time (RFC 3339 or epoch milliseconds).
    pub until: Option<String>,
    /// Page size (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "dashboard", params(AuditParams), responses((status = 200, description = "`{items: [{timestamp, event_id, actor, actor_email, auth, action, object_type, object, team, outcome, status, error_code, client_ip, details}], meta}`: platform actions, newest first", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    q: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let Query(q) = q.map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))?;
    if q.limit.is_some_and(|l| !(1..=1000).contains(&l)) {
        return Err(ApiError::invalid_field("limit", "limit must be between 1 and 1000"));
    }
    let events = crate::analytics::store(&state)?;
    let filter = EventFilter {
        since_ms: q.since.as_deref().map(|v| parse_time("since", v)).transpose()?,
        until_ms: q.until.as_deref().map(|v| parse_time("until", v)).transpose()?,
        ..EventFilter::default()
    }
    .with("source", crate::audit::SOURCE)
    .with("event_type", crate::audit::EVENT_TYPE);
    let page =
        events.events(&EventQuery { filter, limit: q.limit, cursor: q.cursor }).await.map_err(query_error)?;
    let items: Vec<Value> = page
        .events
        .into_iter()
        .map(|e| {
            let mut item = json!({"timestamp": e.timestamp, "event_id": e.event_id});
            if let (Some(obj), Value::Object(payload)) = (item.as_object_mut(), e.payload) {
                obj.extend(payload);
            }
            item
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"items": items, "meta": page.meta})))
}
