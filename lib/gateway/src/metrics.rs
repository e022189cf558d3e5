//! Prometheus metrics. Every label value comes from a closed set (HTTP verbs, the bounded
//! JSON-RPC method list, reason codes, fixed outcomes), never raw request text.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method, or `OTHER`.
    pub method: &'static str,
    /// Bounded JSON-RPC method label.
    pub rpc_method: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// HTTP status class of the answer, e.g. `2xx`.
    pub status: &'static str,
}

/// Labels of decision counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Reason code.
    pub reason: &'static str,
    /// Bounded JSON-RPC method label.
    pub rpc_method: &'static str,
}

/// Labels of reload counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `activated`, `unchanged` or `failed`.
    pub result: &'static str,
}

/// Labels of limit counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `header_read_timeout`, `body_read_timeout` or `max_connections`.
    pub limit: &'static str,
}

/// The gateway's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Policy decisions made.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Request duration.
    pub duration: Histogram,
    /// Requests in flight.
    pub inflight: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Policy reload attempts that changed something or failed.
    pub reloads: Family<ReloadLabels, Counter>,
    /// 1 while the active policy matches the file, 0 after a failed reload.
    pub policy_synchronized: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Unix time of the last successful activation.
    pub policy_last_success: Gauge<f64, AtomicU64>,
    /// Tools whose definition drifted from its pin.
    pub tools_drifted: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Audit delivery.
    pub audit: crate::audit::AuditMetrics,
    /// Times a resource limit was hit.
    pub limits: Family<LimitLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        let inflight = Gauge::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let policy_synchronized = Gauge::default();
        let policy_last_success = Gauge::default();
        let tools_drifted = Gauge::default();
        registry.register("mcp_gateway_requests", "Requests answered by the gateway", requests.clone());
        registry.register(
            "mcp_gateway_policy_decisions",
            "Policy decisions on governed calls",
            decisions.clone(),
        );
        registry.register(
            "mcp_gateway_request_duration_seconds",
            "Time to answer a request",
            duration.clone(),
        );
        registry.register("mcp_gateway_inflight_requests", "Requests in flight", inflight.clone());
        registry.register("mcp_gateway_policy_reloads", "Policy reload attempts by result", reloads.clone());
        registry.register(
            "mcp_gateway_policy_synchronized",
            "1 when the active policy is the file's current content, 0 after a failed reload",
            policy_synchronized.clone(),
        );
        registry.register(
            "mcp_gateway_policy_last_success_timestamp_seconds",
            "Unix time of the last policy activation",
            policy_last_success.clone(),
        );
        registry.register(
            "mcp_gateway_tools_drifted",
            "Tools whose definition changed since it was pinned",
            tools_drifted.clone(),
        );
        let limits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "mcp_gateway_limit_hits",
            "Times a resource limit was hit (header/body read timeouts, the connection cap)",
            limits.clone(),
        );
        let audit = crate::audit::AuditMetrics::default();
        registry.register(
            "mcp_gateway_audit_events",
            "Audit events by delivery outcome (sent, spooled, replayed, rejected, dropped_*)",
            audit.events.clone(),
        );
        registry.register(
            "mcp_gateway_audit_spool_bytes",
            "Bytes of undelivered audit batches waiting in the spool",
            audit.spool_bytes.clone(),
        );
        Metrics {
            registry,
            audit,
            tools_drifted,
            limits,
            requests,
            decisions,
            duration,
            inflight,
            reloads,
            policy_synchronized,
            policy_last_success,
        }
    }

    /// Counts a hit of resource limit `limit`.
    pub fn limit(&self, limit: &'static str) {
        self.limits.get_or_create(&LimitLabels { limit }).inc();
    }

    /// Counts one message's verdict (an allowed decision, or the refusal's reason).
    pub fn decision(
        &self,
        verdict: &Result<mcp_policy::Decision, crate::error::GatewayError>,
        rpc_method: &'static str,
    ) {
        let (decision, reason) = match verdict {
            Ok(d) => ("allow", d.reason.as_str()),
            Err(err) => ("deny", err.reason()),
        };
        self.decisions.get_or_create(&DecisionLabels { decision, reason, rpc_method }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The HTTP method label: a standard verb, else `OTHER`.
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::DELETE => "DELETE",
        http::Method::PUT => "PUT",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// The status class label.
pub fn status_label(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped Grafana dashboard only queries metrics this gateway exposes.
    #[test]
    fn dashboard_queries_name_real_metrics() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/base/grafana/dashboards/mcp-gateway.json");
        let text = std::fs::read_to_string(path).expect("the gateway dashboard (cargo xtask dashboards)");
        // Label families show up once they have a series.
        let m = Metrics::new();
        m.requests
            .get_or_create(&RequestLabels {
                method: "POST",
                rpc_method: "tools/call",
                decision: "allow",
                status: "200",
            })
            .inc();
        m.decisions
            .get_or_create(&DecisionLabels { decision: "deny", reason: "x", rpc_method: "tools/call" })
            .inc();
        m.reloads.get_or_create(&ReloadLabels { result: "activated" }).inc();
        m.audit.events.get_or_create(&crate::audit::OutcomeLabels { outcome: "sent" }).inc();
        let exposed = m.encode();
        let mut checked = 0;
        let mut rest = text.as_str();
        while let Some(at) = rest.find("mcp_gateway_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            rest = &rest[at + name.len()..];
            let base = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name);
            assert!(
                exposed.contains(&format!("# TYPE {base} ")),
                "the dashboard queries {name}, which /metrics lacks:\n{exposed}"
            );
            checked += 1;
        }
        assert!(checked >= 9, "only {checked} metric references found");
    }
}
