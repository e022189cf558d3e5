//! Fast policy delivery: the gateway watches its policy ConfigMap through the Kubernetes API.
//!
//! A ConfigMap projected as a file reaches the pod only after kubelet's sync (up to a minute or
//! more); a watch on the API sees the new revision within milliseconds of the operator writing
//! it. With `POLICY_CONFIGMAP=<namespace>/<name>` (or `--policy-configmap`) the gateway lists
//! and watches exactly that one object (a `metadata.name` field selector, so a Role limited by
//! `resourceNames` is enough) and feeds its `policy.json` to the policy store.
//!
//! The projected file (`POLICY_FILE`) stays the fallback. It is read while the API has not yet
//! answered, and again once the API has been failing for `POLICY_FILE_FALLBACK_MS` (default
//! 120 s, longer than kubelet's ConfigMap propagation): a stale projected copy must never undo
//! a newer revision seen through the API, so the file is ignored while the watch is healthy.
//! Without `POLICY_CONFIGMAP` only the file is used, exactly as before.
//!
//! API errors are logged and retried with backoff (kube's watcher backoff); they never stop
//! the gateway, and the last good policy stays active throughout.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::store::Reload;
use super::{PolicySource, Settings};
use crate::config::ConfigMapRef;
use crate::metrics::ReloadLabels;

/// Key of the policy document in the ConfigMap.
pub const POLICY_KEY: &str = "policy.json";

/// Health of the API source, shared with the file fallback loop.
#[derive(Debug, Default)]
struct ApiHealth {
    /// The API has answered (the ConfigMap was listed, present or not) at least once.
    synced: bool,
    /// Since when the API has been failing (cleared by the next good event).
    failing_since: Option<Instant>,
}

/// Runs the policy sources until `stop` fires: the API watch plus file fallback
/// when `POLICY_CONFIGMAP` is set, else the file watch alone.
pub(super) async fn watch(source: Arc<PolicySource>, stop: watch::Receiver<bool>) {
    let Some(target) = source.settings.policy_configmap.clone() else {
        source.watch_file(stop).await;
        return;
    };
    let client = match client(&source.settings).await {
        Ok(client) => client,
        Err(reason) => {
            warn!(configmap = %target, %reason, "no Kubernetes API client: using the policy file only");
            source.watch_file(stop).await;
            return;
        }
    };
    let health = Arc::new(Mutex::new(ApiHealth::default()));
    let api_task =
        tokio::spawn(watch_configmap(source.clone(), client, target.clone(), health.clone(), stop.clone()));
    file_fallback(source, target, health, stop).await;
    api_task.abort();
}

/// The API client: from the kubeconfig file in `KUBECONFIG` when set, else the pod's service
/// account (in-cluster), else kube's usual inference.
async fn client(config: &Settings) -> Result<Client, String> {
    // One crypto provider for every TLS client in the process (ring, as hyper-rustls uses).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("invalid kubeconfig {}: {e}", path.display()))?
        }
        None => match kube::Config::incluster() {
            Ok(c) => c,
            Err(_) => kube::Config::infer()
                .await
                .map_err(|e| format!("no in-cluster or kubeconfig settings: {e}"))?,
        },
    };
    Client::try_from(kube_config).map_err(|e| format!("cannot build the API client: {e}"))
}

/// Activates a policy document, recording the outcome in metrics and logs the way file reloads
/// are recorded. `source` is `api` or `file`.
fn activate(policy: &PolicySource, bytes: &[u8], target: &ConfigMapRef, source: &'static str) {
    let outcome = policy.store.load_bytes(bytes);
    let result = match &outcome {
        Reload::Activated(revision) => {
            info!(configmap = %target, %revision, source, "policy activated");
            policy.metrics.policy_synchronized.set(1);
            policy.metrics.policy_last_success.set(Timestamp::now().as_millisecond() as f64 / 1000.0);
            "activated"
        }
        Reload::Unchanged => return,
        Reload::Failed(reason) => {
            warn!(configmap = %target, %reason, source, "policy rejected; keeping the last good policy");
            policy.metrics.policy_synchronized.set(0);
            "failed"
        }
    };
    policy.metrics.reloads.get_or_create(&ReloadLabels { result }).inc();
}

fn lock(health: &Mutex<ApiHealth>) -> std::sync::MutexGuard<'_, ApiHealth> {
    health.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks the API healthy (it answered), logging the recovery from a failure.
fn answered(health: &mut ApiHealth, target: &ConfigMapRef) {
    if health.failing_since.take().is_some() {
        info!(configmap = %target, "the API answers again; the policy file is ignored");
    }
}

async fn watch_configmap(
    source: Arc<PolicySource>,
    client: Client,
    target: ConfigMapRef,
    health: Arc<Mutex<ApiHealth>>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &target.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
    let mut events = watch_stream(api, config).default_backoff().boxed();
    info!(configmap = %target, "watching the policy ConfigMap through the API");
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = stop.changed() => return,
        };
        let Some(event) = event else { return };
        match event {
            Ok(Event::InitApply(cm) | Event::Apply(cm)) => {
                // Activated under the health lock, with the API marked as answering, so a file
                // read in flight cannot land after this (newer) revision and replace it.
                let mut h = lock(&health);
                answered(&mut h, &target);
                h.synced = true;
                match cm.data.as_ref().and_then(|d| d.get(POLICY_KEY)) {
                    Some(text) => activate(&source, text.as_bytes(), &target, "api"),
                    None => {
                        warn!(configmap = %target, "the ConfigMap has no {POLICY_KEY}; keeping the last good policy")
                    }
                }
            }
            Ok(Event::Delete(_)) => {
                let mut h = lock(&health);
                answered(&mut h, &target);
                h.synced = true;
                warn!(configmap = %target, "the policy ConfigMap was deleted; keeping the last good policy");
            }
            Ok(Event::Init) => answered(&mut lock(&health), &target),
            Ok(Event::InitDone) => {
                let mut h = lock(&health);
                answered(&mut h, &target);
                if !h.synced {
                    debug!(configmap = %target, "policy ConfigMap listed");
                }
                h.synced = true;
            }
            Err(err) => {
                let mut h = lock(&health);
                if h.failing_since.is_none() {
                    warn!(configmap = %target, error = %err, "policy ConfigMap watch failed; retrying with backoff");
                    h.failing_since = Some(Instant::now());
                } else {
                    debug!(configmap = %target, error = %err, "policy ConfigMap watch still failing");
                }
            }
        }
    }
}

/// Whether the file may be used: before the API first answered, and after it has failed for
/// longer than the fallback grace.
fn file_allowed(h: &ApiHealth, grace: Duration) -> bool {
    !h.synced || h.failing_since.is_some_and(|since| since.elapsed() >= grace)
}

/// Re-reads the projected file every `POLICY_RECHECK_MS` while the file may be used. The file
/// is read outside the lock and activated under it only if it may still be used, so an API
/// revision that arrived meanwhile is never replaced by the (older) file.
async fn file_fallback(
    source: Arc<PolicySource>,
    target: ConfigMapRef,
    health: Arc<Mutex<ApiHealth>>,
    mut stop: watch::Receiver<bool>,
) {
    let grace = source.settings.policy_file_fallback;
    let path = source.settings.policy_file.clone();
    let mut tick = tokio::time::interval(source.settings.policy_recheck);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut using_file = true;
    let mut read_error_logged = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let use_file = file_allowed(&lock(&health), grace);
        if use_file != using_file {
            if use_file {
                warn!(
                    grace_ms = grace.as_millis() as u64,
                    "the API has been failing past the grace period: reading the policy file"
                );
            } else {
                info!("policy ConfigMap watch healthy: the policy file is ignored");
            }
        }
        using_file = use_file;
        if !use_file {
            continue;
        }
        source.checks.fetch_add(1, Ordering::Relaxed);
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                read_error_logged = false;
                let h = lock(&health);
                if file_allowed(&h, grace) {
                    activate(&source, &bytes, &target, "file");
                }
            }
            Err(err) => {
                if !read_error_logged {
                    debug!(file = %path.display(), error = %err, "cannot read the policy file");
                }
                read_error_logged = true;
            }
        }
    }
}
