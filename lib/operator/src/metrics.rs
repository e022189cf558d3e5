//! Prometheus metrics of the operator: reconciles by outcome, errors by kind, reconcile
//! duration, policy writes, leadership and admission reviews. Every label is a closed enum.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ErrorKind;

/// How one reconcile ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    /// Every object was applied and status written.
    Success,
    /// The spec is invalid; status says why; nothing was applied.
    Invalid,
    /// An error; the server is retried with backoff.
    Error,
}

/// Labels of `mcp_operator_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// How it ended.
    pub outcome: Outcome,
}

/// Labels of `mcp_operator_reconcile_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// What failed.
    pub error: ErrorKind,
}

/// What happened to a policy ConfigMap.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum PolicyOutcome {
    /// A new revision was written.
    Written,
    /// The revision was already there: nothing written.
    Unchanged,
    /// Removed because the gateway was turned off.
    Deleted,
}

/// Labels of `mcp_operator_policy_writes_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// What happened.
    pub outcome: PolicyOutcome,
}

/// Which resource an admission review was about.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ReviewKind {
    /// MCPServer validation.
    ValidateServer,
    /// MCPServer defaulting.
    MutateServer,
    /// MCPAccessGrant validation.
    ValidateGrant,
    /// MCPAgentSession validation.
    ValidateSession,
    /// A path or body the webhook does not serve.
    Unknown,
}

/// Labels of `mcp_operator_admission_reviews_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// Which review.
    pub kind: ReviewKind,
    /// Allowed or not.
    pub allowed: bool,
}

/// The operator's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles by outcome.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// Reconcile errors by kind.
    pub errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration.
    pub duration: Histogram,
    /// Policy ConfigMap writes by outcome.
    pub policy: Family<PolicyLabels, Counter>,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge<i64, AtomicI64>,
    /// Admission reviews answered.
    pub reviews: Family<ReviewLabels, Counter>,
    /// Unix time of the last successful reconcile.
    pub last_success: Gauge<f64, AtomicU64>,
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
        let m = Metrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            policy: Family::default(),
            leader: Gauge::default(),
            reviews: Family::default(),
            last_success: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "mcp_operator_reconciles",
            "Reconciles of MCPServers, by outcome",
            m.reconciles.clone(),
        );
        registry.register(
            "mcp_operator_reconcile_errors",
            "Failed reconciles, by error kind",
            m.errors.clone(),
        );
        registry.register(
            "mcp_operator_reconcile_duration_seconds",
            "Time one reconcile took",
            m.duration.clone(),
        );
        registry.register(
            "mcp_operator_policy_writes",
            "Policy ConfigMaps written, unchanged or deleted",
            m.policy.clone(),
        );
        registry.register(
            "mcp_operator_leader",
            "1 while this replica holds the leader lease",
            m.leader.clone(),
        );
        registry.register("mcp_operator_admission_reviews", "Admission reviews answered", m.reviews.clone());
        registry.register(
            "mcp_operator_last_success_timestamp_seconds",
            "Unix time of the last successful reconcile",
            m.last_success.clone(),
        );
        Metrics { registry, ..m }
    }

    /// OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts one reconcile.
    pub fn reconciled(&self, outcome: Outcome, seconds: f64) {
        self.reconciles.get_or_create(&ReconcileLabels { outcome }).inc();
        self.duration.observe(seconds);
        if outcome == Outcome::Success {
            let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
            self.last_success.set(now);
        }
    }
}
