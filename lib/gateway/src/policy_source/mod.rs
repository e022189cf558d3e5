//! The policy source: where the active policy comes from and how it is kept current — the
//! validated snapshot store ([`store`]), the policy file (inotify plus a periodic re-check), the
//! ConfigMap watch through the Kubernetes API ([`configmap`]) and the reload bookkeeping
//! (metrics, logs, check counter). The request pipeline only reads [`PolicyStore::current`];
//! nothing here knows about requests or the server.

pub mod configmap;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tracing::{info, warn};

pub use store::{Active, PolicyStore, Reload, Status};

use crate::config::{Config, ConfigMapRef};
use crate::metrics::{Metrics, ReloadLabels};

/// Where the policy is read from (a part of [`Config`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `POLICY_FILE`.
    pub policy_file: PathBuf,
    /// `POLICY_RECHECK_MS`.
    pub policy_recheck: Duration,
    /// `POLICY_CONFIGMAP`.
    pub policy_configmap: Option<ConfigMapRef>,
    /// `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// `POLICY_FILE_FALLBACK_MS`.
    pub policy_file_fallback: Duration,
}

impl Settings {
    /// The policy settings of a gateway configuration.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            policy_file: config.policy_file.clone(),
            policy_recheck: config.policy_recheck,
            policy_configmap: config.policy_configmap.clone(),
            kubeconfig: config.kubeconfig.clone(),
            policy_file_fallback: config.policy_file_fallback,
        }
    }
}

/// The reload metrics (handles into the gateway's registry).
#[derive(Debug, Clone)]
pub struct ReloadMetrics {
    /// Reload attempts by result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// 1 while the active policy is the source's current content.
    pub policy_synchronized: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Unix time of the last activation.
    pub policy_last_success: Gauge<f64, AtomicU64>,
}

impl ReloadMetrics {
    /// Handles to the reload metrics of `metrics`.
    pub fn of(metrics: &Metrics) -> ReloadMetrics {
        ReloadMetrics {
            reloads: metrics.reloads.clone(),
            policy_synchronized: metrics.policy_synchronized.clone(),
            policy_last_success: metrics.policy_last_success.clone(),
        }
    }
}

/// The active policy and the machinery that keeps it current.
#[derive(Debug)]
pub struct PolicySource {
    /// The active policy.
    pub store: PolicyStore,
    /// Where it comes from.
    pub settings: Settings,
    metrics: ReloadMetrics,
    /// How many times the policy file was checked (for tests and diagnostics).
    pub checks: AtomicU64,
}

impl PolicySource {
    /// An empty source (not ready until the first valid policy).
    pub fn new(settings: Settings, metrics: ReloadMetrics) -> PolicySource {
        PolicySource { store: PolicyStore::new(), settings, metrics, checks: AtomicU64::new(0) }
    }

    /// Loads the policy file once, recording the outcome in metrics and logs.
    pub async fn reload(&self) -> Reload {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let outcome = self.store.load_file(&self.settings.policy_file).await;
        let result = match &outcome {
            Reload::Activated(revision) => {
                info!(%revision, "policy activated");
                self.metrics.policy_synchronized.set(1);
                self.metrics.policy_last_success.set(Timestamp::now().as_millisecond() as f64 / 1000.0);
                "activated"
            }
            Reload::Unchanged => return outcome,
            Reload::Failed(reason) => {
                warn!(%reason, "policy reload failed; keeping the last good policy");
                self.metrics.policy_synchronized.set(0);
                "failed"
            }
        };
        self.metrics.reloads.get_or_create(&ReloadLabels { result }).inc();
        outcome
    }

    /// Keeps the policy current until `stop` fires: the ConfigMap watch with the file as
    /// fallback when `POLICY_CONFIGMAP` is set, else the file alone.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        configmap::watch(self, stop).await;
    }

    /// Reloads the policy when its directory changes (inotify; a projected ConfigMap swaps a
    /// symlink there) and re-checks it every `policy_recheck` in any case, until `stop` fires.
    async fn watch_file(&self, mut stop: watch::Receiver<bool>) {
        let changed = Arc::new(tokio::sync::Notify::new());
        let _watcher = self.watch_directory(changed.clone());
        let mut tick = tokio::time::interval(self.settings.policy_recheck);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.reload().await; }
                () = changed.notified() => { self.reload().await; }
                _ = stop.changed() => return,
            }
        }
    }

    /// A file-system watch on the policy file's directory; `None` (polling only) when the
    /// platform or directory does not allow one.
    fn watch_directory(&self, changed: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher;
        let dir = self.settings.policy_file.parent().filter(|d| !d.as_os_str().is_empty())?.to_path_buf();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the file is an access event too: reacting to those would make every reload
            // trigger the next one. Only changes (create, write, rename, remove) count.
            if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                changed.notify_one();
            }
        })
        .map_err(|e| warn!(error = %e, "cannot watch the policy directory; polling only"))
        .ok()?;
        match watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(watcher),
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot watch the policy directory; polling only");
                None
            }
        }
    }
}
