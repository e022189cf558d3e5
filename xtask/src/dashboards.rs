//! `cargo xtask dashboards [--check]`: the Grafana dashboards shipped in
//! `deploy/base/grafana/dashboards/`, generated from this file so that panels stay consistent
//! (datasource uids, units, variables). `cargo xtask ci` fails when a committed file is stale;
//! tests elsewhere check that every PromQL metric exists in the gateway's `/metrics` and that
//! every ClickHouse query runs against the real schema.
//!
//! - `mcp-gateway.json` (Prometheus): requests, denies by reason, latency percentiles, policy
//!   reloads, audit delivery, per server (the `server` label comes from the scrape config).
//! - `mcp-analytics.json` (ClickHouse, `mcp.events`): calls, denies by reason, top tools, top
//!   agents, latency percentiles per tool.

use anyhow::Result;
use serde_json::{Value, json};

use crate::util::{ensure_file_contents, project_root};

const COMMAND: &str = "cargo xtask dashboards";
/// Datasource uids provisioned with Grafana (deploy/base/grafana).
pub const PROMETHEUS_UID: &str = "prometheus";
pub const CLICKHOUSE_UID: &str = "clickhouse";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fail instead of writing when a committed dashboard differs from the generated one.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args) -> Result<()> {
    sync(args.check)
}

/// Writes (or, with `check`, compares) every dashboard.
pub fn sync(check: bool) -> Result<()> {
    let dir = project_root().join("deploy/base/grafana/dashboards");
    for (name, dashboard) in [("mcp-gateway.json", gateway()), ("mcp-analytics.json", analytics())] {
        let mut text = serde_json::to_string_pretty(&dashboard)?;
        text.push('\n');
        ensure_file_contents(&dir.join(name), &text, check, COMMAND)?;
    }
    Ok(())
}

fn prometheus() -> Value {
    json!({"type": "prometheus", "uid": PROMETHEUS_UID})
}

fn clickhouse() -> Value {
    json!({"type": "grafana-clickhouse-datasource", "uid": CLICKHOUSE_UID})
}

/// A panel on a 24-column grid.
fn panel(
    id: u32,
    title: &str,
    kind: &str,
    (x, y, w, h): (u32, u32, u32, u32),
    datasource: Value,
    targets: Value,
    unit: &str,
) -> Value {
    json!({
        "id": id,
        "title": title,
        "type": kind,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    })
}

fn promql(expr: &str, legend: &str) -> Value {
    json!({"refId": "A", "datasource": prometheus(), "expr": expr, "legendFormat": legend})
}

fn sql(query: &str, format: u8) -> Value {
    // format: 0 = time series, 1 = table (the ClickHouse plugin's convention).
    json!({"refId": "A", "datasource": clickhouse(), "rawSql": query, "format": format, "queryType": "sql", "editorType": "sql"})
}

fn dashboard(uid: &str, title: &str, description: &str, variables: Value, panels: Vec<Value>) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["mcp-runtime"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": false,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "panels": panels,
    })
}

/// The gateway sidecars, from Prometheus.
pub fn gateway() -> Value {
    let sel = r#"server=~"$server""#;
    let variables = json!([{
        "name": "server", "label": "Server", "type": "query", "datasource": prometheus(),
        "query": "label_values(mcp_gateway_requests_total, server)", "refresh": 2,
        "includeAll": true, "multi": true, "current": {"text": "All", "value": "$__all"},
    }]);
    let panels = vec![
        panel(
            1,
            "Requests per second by decision",
            "timeseries",
            (0, 0, 12, 8),
            prometheus(),
            json!([promql(
                &format!("sum by (decision) (rate(mcp_gateway_requests_total{{{sel}}}[5m]))"),
                "{{decision}}"
            )]),
            "reqps",
        ),
        panel(
            2,
            "Denied calls by reason",
            "timeseries",
            (12, 0, 12, 8),
            prometheus(),
            json!([promql(
                &format!(
                    r#"sum by (reason) (rate(mcp_gateway_policy_decisions_total{{{sel}, decision="deny"}}[5m]))"#
                ),
                "{{reason}}"
            )]),
            "reqps",
        ),
        panel(
            3,
            "Latency percentiles (gateway answer time)",
            "timeseries",
            (0, 8, 12, 8),
            prometheus(),
            json!([
                promql(&format!("histogram_quantile(0.5, sum by (le) (rate(mcp_gateway_request_duration_seconds_bucket{{{sel}}}[5m])))"), "p50"),
                {"refId": "B", "datasource": prometheus(), "expr": format!("histogram_quantile(0.99, sum by (le) (rate(mcp_gateway_request_duration_seconds_bucket{{{sel}}}[5m])))"), "legendFormat": "p99"},
            ]),
            "s",
        ),
        panel(
            4,
            "Requests by MCP method",
            "timeseries",
            (12, 8, 12, 8),
            prometheus(),
            json!([promql(
                &format!("sum by (rpc_method) (rate(mcp_gateway_requests_total{{{sel}}}[5m]))"),
                "{{rpc_method}}"
            )]),
            "reqps",
        ),
        panel(
            5,
            "Policy in sync",
            "stat",
            (0, 16, 6, 5),
            prometheus(),
            json!([promql(&format!("min(mcp_gateway_policy_synchronized{{{sel}}})"), "in sync")]),
            "bool",
        ),
        panel(
            6,
            "Policy reloads by result",
            "timeseries",
            (6, 16, 9, 5),
            prometheus(),
            json!([promql(
                &format!("sum by (result) (increase(mcp_gateway_policy_reloads_total{{{sel}}}[5m]))"),
                "{{result}}"
            )]),
            "short",
        ),
        panel(
            7,
            "Tools drifted from their pins",
            "stat",
            (15, 16, 9, 5),
            prometheus(),
            json!([promql(&format!("sum(mcp_gateway_tools_drifted{{{sel}}})"), "drifted")]),
            "short",
        ),
        panel(
            8,
            "Audit delivery by outcome",
            "timeseries",
            (0, 21, 12, 8),
            prometheus(),
            json!([promql(
                &format!("sum by (outcome) (rate(mcp_gateway_audit_events_total{{{sel}}}[5m]))"),
                "{{outcome}}"
            )]),
            "ops",
        ),
        panel(
            9,
            "Audit spool (undelivered bytes)",
            "timeseries",
            (12, 21, 12, 8),
            prometheus(),
            json!([promql(
                &format!("sum by (server) (mcp_gateway_audit_spool_bytes{{{sel}}})"),
                "{{server}}"
            )]),
            "bytes",
        ),
    ];
    dashboard(
        "mcp-gateway",
        "MCP Runtime / Gateways",
        "Governed MCP traffic per server, from the mcp-gateway sidecars' /metrics.",
        variables,
        panels,
    )
}

/// The audit events, from ClickHouse.
pub fn analytics() -> Value {
    // `$__timeFilter` and `${server:sqlstring}` are expanded by the ClickHouse datasource.
    let filter =
        "$__timeFilter(timestamp) AND (server IN (${server:singlequote}) OR '${server:raw}' = '$__all')";
    let variables = json!([{
        "name": "server", "label": "Server", "type": "query", "datasource": clickhouse(),
        "query": "SELECT DISTINCT server FROM mcp.events WHERE server != '' ORDER BY server",
        "refresh": 2, "includeAll": true, "multi": true, "allValue": "$__all",
        "current": {"text": "All", "value": "$__all"},
    }]);
    let panels = vec![
        panel(
            1,
            "Governed calls per minute by decision",
            "timeseries",
            (0, 0, 12, 8),
            clickhouse(),
            json!([sql(
                &format!(
                    "SELECT toStartOfMinute(timestamp) AS time, decision, uniqExact(event_id) AS calls FROM mcp.events \
             WHERE {filter} GROUP BY time, decision ORDER BY time"
                ),
                0
            )]),
            "short",
        ),
        panel(
            2,
            "Top deny reasons",
            "barchart",
            (12, 0, 12, 8),
            clickhouse(),
            json!([sql(
                &format!(
                    "SELECT reason, uniqExact(event_id) AS denials FROM mcp.events WHERE {filter} AND decision = 'deny' \
             GROUP BY reason ORDER BY denials DESC LIMIT 10"
                ),
                1
            )]),
            "short",
        ),
        panel(
            3,
            "Top tools",
            "table",
            (0, 8, 12, 8),
            clickhouse(),
            json!([sql(
                &format!(
                    "SELECT server, tool_name, uniqExact(event_id) AS calls, \
             uniqExactIf(event_id, decision = 'deny') AS denied FROM mcp.events \
             WHERE {filter} AND tool_name != '' GROUP BY server, tool_name ORDER BY calls DESC LIMIT 20"
                ),
                1
            )]),
            "short",
        ),
        panel(
            4,
            "Top agents",
            "table",
            (12, 8, 12, 8),
            clickhouse(),
            json!([sql(
                &format!(
                    "SELECT human_id, agent_id, uniqExact(event_id) AS calls, uniqExact(tool_name) AS tools FROM mcp.events \
             WHERE {filter} AND agent_id != '' GROUP BY human_id, agent_id ORDER BY calls DESC LIMIT 20"
                ),
                1
            )]),
            "short",
        ),
        panel(
            5,
            "Latency percentiles per tool (ms)",
            "table",
            (0, 16, 24, 8),
            clickhouse(),
            json!([sql(
                &format!(
                    "SELECT tool_name, quantile(0.5)(latency_ms) AS p50, quantile(0.95)(latency_ms) AS p95, \
             quantile(0.99)(latency_ms) AS p99, count() AS calls FROM mcp.events FINAL \
             WHERE {filter} AND tool_name != '' GROUP BY tool_name ORDER BY p99 DESC LIMIT 20"
                ),
                1
            )]),
            "ms",
        ),
    ];
    dashboard(
        "mcp-analytics",
        "MCP Runtime / Audit analytics",
        "Who called what, what was denied and why, how slow: the audit events in ClickHouse (mcp.events).",
        variables,
        panels,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn dashboards_are_well_formed() {
        for d in [gateway(), analytics()] {
            let uid = d["uid"].as_str().expect("uid");
            let panels = d["panels"].as_array().expect("panels");
            let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().expect("id")).collect();
            assert_eq!(ids.len(), panels.len(), "{uid}: panel ids are unique");
            for p in panels {
                let title = p["title"].as_str().expect("title");
                let ds = p["datasource"]["uid"].as_str().expect("datasource");
                assert!([PROMETHEUS_UID, CLICKHOUSE_UID].contains(&ds), "{uid}/{title}: datasource {ds}");
                let grid = &p["gridPos"];
                assert!(
                    grid["x"].as_u64().expect("x") + grid["w"].as_u64().expect("w") <= 24,
                    "{uid}/{title}"
                );
                let targets = p["targets"].as_array().expect("targets");
                assert!(!targets.is_empty(), "{uid}/{title}: no query");
                for t in targets {
                    let query = t["expr"].as_str().or(t["rawSql"].as_str()).expect("query");
                    assert!(!query.trim().is_empty(), "{uid}/{title}");
                    assert_eq!(t["datasource"]["uid"], p["datasource"]["uid"], "{uid}/{title}");
                }
            }
        }
    }
}
