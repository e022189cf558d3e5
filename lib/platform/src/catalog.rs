//! The catalog: the servers and tools a caller may see, declared inventory (the MCPServer spec)
//! against live inventory (what the server's gateways saw in `tools/list` and pinned), with a
//! drift status per tool, and ready-to-paste connect configs per server.
//!
//! Drift (per tool):
//! - `declared` — declared and seen live with its pinned definition (or no live report yet);
//! - `missing` — declared, but the gateways' report does not have it;
//! - `ungoverned` — seen live but not declared (no side effect known: every call is refused
//!   `tool_side_effect_unknown`);
//! - `changed` — seen live with a definition that differs from its pin (`ToolsPinned` false).
//!
//! Live inventory comes from the gateways' pin reports in the server's status (`toolPins` and
//! the `ToolsPinned` condition: the operator reads them from every gateway in a cluster; the
//! Local backend keeps what its gateways report). A server whose gateways have not reported
//! yet has `live: null` and `live_error`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use mcp_api::MCPServer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{Caller, team_access};
use crate::error::{ApiError, json_response};
use crate::registry::{governed_url, server_name, visible_servers};
use crate::store::{Role, Team};

/// Drift status of one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// Declared, and live as pinned (or not reported yet).
    Declared,
    /// Declared, not live.
    Missing,
    /// Live, not declared.
    Ungoverned,
    /// Live with a definition different from its pin.
    Changed,
}

impl Drift {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Declared => "declared",
            Drift::Missing => "missing",
            Drift::Ungoverned => "ungoverned",
            Drift::Changed => "changed",
        }
    }
}

/// What the gateways reported for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Tools seen, with their pinned hash.
    pub pins: BTreeMap<String, String>,
    /// Tools whose definition changed since pinned.
    pub changed: BTreeSet<String>,
}

/// The live inventory in a server's status, or why there is none.
pub fn live_of(server: &MCPServer) -> Result<Live, String> {
    let status = server.status.clone().unwrap_or_default();
    let condition = status.conditions.iter().find(|c| c.type_ == "ToolsPinned");
    match condition {
        Some(c) if c.status == "True" || c.status == "False" => {
            let changed = if c.status == "False" {
                c.message
                    .split_once(':')
                    .map(|(_, list)| {
                        list.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
                    })
                    .unwrap_or_default()
            } else {
                BTreeSet::new()
            };
            Ok(Live { pins: status.tool_pins, changed })
        }
        _ if !status.tool_pins.is_empty() => Ok(Live { pins: status.tool_pins, changed: BTreeSet::new() }),
        _ => Err("no gateway has reported this server's tools yet".into()),
    }
}

/// One tool row of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ToolRow {
    /// Tool.
    pub tool_name: String,
    /// Description (declared).
    pub description: String,
    /// Server.
    pub server: String,
    /// Team.
    pub team: String,
    /// Namespace.
    pub namespace: String,
    /// The governed URL.
    pub endpoint_url: String,
    /// Declared in the server's spec.
    pub declared: bool,
    /// Seen live (`null`: no live report yet).
    pub live: Option<bool>,
    /// `declared`, `missing`, `ungoverned` or `changed`.
    pub drift_status: Drift,
    /// Trust required (declared; `low` by default).
    pub required_trust: String,
    /// Side effect (declared), when any.
    pub side_effect: Option<String>,
    /// Risk level (declared), when any.
    pub risk_level: Option<String>,
    /// Pinned definition hash, when seen live.
    pub pin: Option<String>,
    /// Labels (declared).
    pub labels: BTreeMap<String, String>,
}

/// The tool rows of one server: declared tools in spec order, then undeclared live ones.
pub fn tool_rows(team: &Team, server: &MCPServer, url: &str) -> Vec<ToolRow> {
    let live = live_of(server).ok();
    let name = server.metadata.name.clone().unwrap_or_default();
    let row = |tool: &str| ToolRow {
        tool_name: tool.to_string(),
        description: String::new(),
        server: name.clone(),
        team: team.name.clone(),
        namespace: team.namespace.clone(),
        endpoint_url: url.to_string(),
        declared: false,
        live: live.as_ref().map(|l| l.pins.contains_key(tool)),
        drift_status: Drift::Declared,
        required_trust: "low".into(),
        side_effect: None,
        risk_level: None,
        pin: live.as_ref().and_then(|l| l.pins.get(tool).cloned()),
        labels: BTreeMap::new(),
    };
    let mut out = Vec::new();
    for t in &server.spec.tools {
        let mut r = row(&t.name);
        r.declared = true;
        r.description = t.description.clone().unwrap_or_default();
        r.required_trust = t.required_trust.map(|v| v.to_string()).unwrap_or_else(|| "low".into());
        r.side_effect = t.side_effect.map(|v| v.to_string());
        r.risk_level = t.risk_level.map(|v| v.to_string());
        r.labels = t.labels.clone();
        r.drift_status = match &live {
            None => Drift::Declared,
            Some(l) if l.changed.contains(&t.name) => Drift::Changed,
            Some(l) if l.pins.contains_key(&t.name) => Drift::Declared,
            Some(_) => Drift::Missing,
        };
        out.push(r);
    }
    if let Some(l) = &live {
        let declared: BTreeSet<&str> = server.spec.tools.iter().map(|t| t.name.as_str()).collect();
        for tool in l.pins.keys().filter(|t| !declared.contains(t.as_str())) {
            let mut r = row(tool);
            r.drift_status = if l.changed.contains(tool) { Drift::Changed } else { Drift::Ungoverned };
            r.required_trust = String::new();
            out.push(r);
        }
    }
    out
}

/// Connect configs of one server for MCP clients, each starting the CLI's adapter.
pub fn connect_configs(platform_url: &str, team: &str, server: &str, agent: &str, url: &str) -> Value {
    let args = |mode: &str| {
        let mut a = vec![
            "adapter".to_string(),
            mode.to_string(),
            "--platform".into(),
            platform_url.to_string(),
            "--team".into(),
            team.to_string(),
            "--server".into(),
            server.to_string(),
            "--agent".into(),
            agent.to_string(),
        ];
        if mode == "proxy" {
            a.extend(["--listen".to_string(), "127.0.0.1:8099".to_string()]);
        }
        a
    };
    let stdio = json!({"command": "mcp-runtime", "args": args("stdio")});
    json!({
        "claude_desktop": {"mcpServers": {server: stdio}},
        "cursor": {"mcpServers": {server: stdio}},
        "vscode": {"servers": {server: {"type": "stdio", "command": "mcp-runtime", "args": args("stdio")}}},
        "json": {
            "name": server,
            "team": team,
            "url": url,
            "transport": "streamable-http",
            "adapter": {
                "stdio": {"command": "mcp-runtime", "args": args("stdio")},
                "proxy": {"command": "mcp-runtime", "args": args("proxy"), "url": "http://127.0.0.1:8099/mcp"},
            },
        },
    })
}

fn platform_url(headers: &HeaderMap) -> String {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let host = get("x-forwarded-host").or_else(|| get("host")).unwrap_or("localhost:8090");
    let proto = get("x-forwarded-proto").filter(|p| *p == "https" || *p == "http").unwrap_or("http");
    format!("{proto}://{host}")
}

/// Query of the catalog lists: every filter optional, all must hold.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CatalogParams {
    /// Case-insensitive substring of tool, description, server, team, namespace, URL, trust, side
    /// effect, risk, drift or a label (alias `q`).
    pub query: Option<String>,
    /// Alias of `query`.
    pub q: Option<String>,
    /// Only this team.
    pub team: Option<String>,
    /// Only this server.
    pub server: Option<String>,
    /// Only tools requiring this trust.
    pub trust: Option<String>,
    /// Only tools with this side effect.
    pub side_effect: Option<String>,
    /// Only tools with this risk level.
    pub risk: Option<String>,
    /// Only tools with this drift status (servers: having such a tool).
    pub drift: Option<String>,
}

impl CatalogParams {
    fn keeps(&self, r: &ToolRow) -> bool {
        let eq =
            |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.is_empty() || w == have);
        let q = self.query.as_deref().or(self.q.as_deref()).map(str::to_lowercase).filter(|q| !q.is_empty());
        let text_ok = q.is_none_or(|q| {
            let fields = [
                r.tool_name.as_str(),
                &r.description,
                &r.server,
                &r.team,
                &r.namespace,
                &r.endpoint_url,
                &r.required_trust,
                r.side_effect.as_deref().unwrap_or_default(),
                r.risk_level.as_deref().unwrap_or_default(),
                r.drift_status.as_str(),
            ];
            fields.iter().any(|f| f.to_lowercase().contains(&q))
                || r.labels
                    .iter()
                    .any(|(k, v)| k.to_lowercase().contains(&q) || v.to_lowercase().contains(&q))
        });
        text_ok
            && eq(&self.team, &r.team)
            && eq(&self.server, &r.server)
            && eq(&self.trust, &r.required_trust)
            && eq(&self.side_effect, r.side_effect.as_deref().unwrap_or_default())
            && eq(&self.risk, r.risk_level.as_deref().unwrap_or_default())
            && eq(&self.drift, r.drift_status.as_str())
    }

    fn check(&self) -> Result<(), ApiError> {
        if let Some(d) = self.drift.as_deref().filter(|d| !d.is_empty())
            && !["declared", "missing", "ungoverned", "changed"].contains(&d)
        {
            return Err(ApiError::invalid_field(
                "drift",
                "drift must be declared, missing, ungoverned or changed",
            ));
        }
        Ok(())
    }
}

type Params = Result<Query<CatalogParams>, axum::extract::rejection::QueryRejection>;

fn params(q: Params) -> Result<CatalogParams, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))?;
    q.check()?;
    Ok(q)
}

fn server_view(
    state: &AppState,
    team: &Team,
    server: &MCPServer,
    rows: Vec<ToolRow>,
    platform: &str,
) -> Value {
    let name = server.metadata.name.clone().unwrap_or_default();
    let url = governed_url(state, server);
    let status = server.status.clone().unwrap_or_default();
    let live = live_of(server);
    let mut drift: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *drift.entry(r.drift_status.as_str()).or_default() += 1;
    }
    json!({
        "team": team.name,
        "namespace": team.namespace,
        "name": name,
        "registry_name": server_name(&state.config.runtime.mcp_host, &team.name, &name),
        "description": server.spec.description,
        "url": url,
        "phase": status.phase.map(|p| p.to_string()),
        "policy_revision": status.policy_revision,
        "tools": rows,
        "live_inventory": live.as_ref().ok().map(|l| l.pins.keys().cloned().collect::<Vec<_>>()),
        "live_inventory_error": live.err(),
        "drift": drift,
        "prompts": server.spec.prompts.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "resources": server.spec.mcp_resources.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "connect": connect_configs(platform, &team.name, &name, "<agent-id>", &url),
    })
}

#[utoipa::path(get, path = "/api/v1/catalog/servers", tag = "catalog", params(CatalogParams), responses((status = 200, description = "`{items: [server]}`: the servers the caller may see (teams' servers; administrators all) with tools, drift and connect configs; a server is listed when any of its tools (or, without tools, the server) matches", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn servers(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let platform = platform_url(&headers);
    let mut items = Vec::new();
    for (team, server) in visible_servers(&state, &p).await? {
        let url = governed_url(&state, &server);
        let rows = tool_rows(&team, &server, &url);
        let keep = if rows.is_empty() {
            let probe = ToolRow {
                tool_name: String::new(),
                description: server.spec.description.clone().unwrap_or_default(),
                server: server.metadata.name.clone().unwrap_or_default(),
                team: team.name.clone(),
                namespace: team.namespace.clone(),
                endpoint_url: url.clone(),
                declared: false,
                live: None,
                drift_status: Drift::Declared,
                required_trust: String::new(),
                side_effect: None,
                risk_level: None,
                pin: None,
                labels: BTreeMap::new(),
            };
            q.trust.is_none()
                && q.side_effect.is_none()
                && q.risk.is_none()
                && q.drift.is_none()
                && q.keeps(&probe)
        } else {
            rows.iter().any(|r| q.keeps(r))
        };
        if keep {
            items.push(server_view(&state, &team, &server, rows, &platform));
        }
    }
    Ok(json_response(StatusCode::OK, &json!({ "items": items })))
}

#[utoipa::path(get, path = "/api/v1/catalog/tools", tag = "catalog", params(CatalogParams), responses((status = 200, description = "`{items: [tool row]}` of the servers the caller may see", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn tools(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    q: Params,
) -> Result<Response, ApiError> {
    let q = params(q)?;
    let mut items = Vec::new();
    for (team, server) in visible_servers(&state, &p).await? {
        let url = governed_url(&state, &server);
        items.extend(tool_rows(&team, &server, &url).into_iter().filter(|r| q.keeps(r)));
    }
    Ok(json_response(StatusCode::OK, &json!({ "items": items })))
}

/// Query of the connect configs.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectParams {
    /// The agent id to put into the configs (default the placeholder `<agent-id>`).
    pub agent: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/catalog/servers/{team}/{name}/connect", tag = "catalog", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "server name"), ConnectParams), responses((status = 200, description = "`{claude_desktop, cursor, vscode, json}`: client configs starting `mcp-runtime adapter stdio` (and `adapter proxy` in `json`)", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn connect(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    headers: HeaderMap,
    Path((team, name)): Path<(String, String)>,
    q: Result<Query<ConnectParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))?;
    let (team, _) = team_access(&state, &p, &team, Role::Viewer).await?;
    let server = state
        .runtime
        .get_server(&team.namespace, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("no such server"))?;
    let agent = q.agent.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "<agent-id>".into());
    let url = governed_url(&state, &server);
    Ok(json_response(
        StatusCode::OK,
        &connect_configs(&platform_url(&headers), &team.name, &name, &agent, &url),
    ))
}

#[cfg(test)]
mod tests {
    use mcp_api::{MCPServerSpec, MCPServerStatus, SideEffect, ToolConfig};

    use super::*;
    use crate::runtime::kube_meta::{Condition, Time};

    fn team() -> Team {
        Team {
            id: "t".into(),
            name: "a".into(),
            display_name: "A".into(),
            namespace: "mcp-team-a".into(),
            created_at: 0,
        }
    }

    fn server(pins: &[(&str, &str)], condition: Option<(&str, &str)>) -> MCPServer {
        let tool = |n: &str| ToolConfig {
            name: n.into(),
            side_effect: Some(SideEffect::Read),
            ..ToolConfig::default()
        };
        let mut s = MCPServer::new(
            "srv",
            MCPServerSpec {
                image: "x".into(),
                tools: vec![tool("echo"), tool("add"), tool("gone")],
                ..Default::default()
            },
        );
        let conditions = condition
            .map(|(status, message)| Condition {
                type_: "ToolsPinned".into(),
                status: status.into(),
                message: message.into(),
                reason: "R".into(),
                observed_generation: None,
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            })
            .into_iter()
            .collect();
        s.status = Some(MCPServerStatus {
            tool_pins: pins.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            conditions,
            ..MCPServerStatus::default()
        });
        s
    }

    fn drift(rows: &[ToolRow]) -> Vec<(String, Drift)> {
        rows.iter().map(|r| (r.tool_name.clone(), r.drift_status)).collect()
    }

    #[test]
    fn declared_against_live_gives_every_drift_status() {
        let s = server(
            &[("echo", "sha256:e"), ("add", "sha256:a"), ("shell", "sha256:s")],
            Some(("False", "tool definitions changed since pinned: add")),
        );
        let rows = tool_rows(&team(), &s, "http://x");
        assert_eq!(
            drift(&rows),
            vec![
                ("echo".into(), Drift::Declared),
                ("add".into(), Drift::Changed),
                ("gone".into(), Drift::Missing),
                ("shell".into(), Drift::Ungoverned),
            ]
        );
        assert_eq!(rows[0].pin.as_deref(), Some("sha256:e"));
        assert_eq!((rows[2].live, rows[3].declared), (Some(false), false));
    }

    #[test]
    fn no_report_yet_is_declared_with_unknown_liveness() {
        let rows = tool_rows(&team(), &server(&[], None), "http://x");
        assert!(rows.iter().all(|r| r.drift_status == Drift::Declared && r.live.is_none()));
        assert!(live_of(&server(&[], None)).is_err());
        let reported = server(&[("echo", "h")], Some(("True", "1 tool definitions pinned")));
        assert_eq!(live_of(&reported).expect("live").changed.len(), 0);
    }

    #[test]
    fn connect_configs_start_the_adapter() {
        let c = connect_configs(
            "https://platform.example.com",
            "a",
            "srv",
            "agt_1",
            "https://mcp.example.com/srv/mcp",
        );
        let args = c["claude_desktop"]["mcpServers"]["srv"]["args"].as_array().expect("args");
        assert_eq!(args[0..2], [json!("adapter"), json!("stdio")]);
        assert!(args.contains(&json!("agt_1")) && args.contains(&json!("https://platform.example.com")));
        assert_eq!(c["vscode"]["servers"]["srv"]["type"], "stdio");
        assert_eq!(c["cursor"], c["claude_desktop"]);
        assert_eq!(c["json"]["adapter"]["proxy"]["args"][1], "proxy");
        assert_eq!(c["json"]["url"], "https://mcp.example.com/srv/mcp");
    }
}
