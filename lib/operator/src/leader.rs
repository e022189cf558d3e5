//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several operator replicas
//! exactly one reconciles (every replica serves webhooks, metrics and probes).
//!
//! Expected flow: every replica tries to acquire or renew the Lease every `retry_period`.
//! The holder renews its `renewTime`; another replica takes over only when the Lease expired
//! (`renewTime + leaseDurationSeconds` in the past) or was released. Writes carry the
//! `resourceVersion` read, so two replicas racing for an expired Lease cannot both win (the
//! loser gets 409 Conflict).
//!
//! Guarantees: a leader that cannot renew for `renew_deadline` (shorter than the lease
//! duration) steps down before anyone else can take over; a replica shutting down releases
//! the Lease so the next one takes over at once.
//!
//! Assumptions: replicas' clocks agree to well within the lease duration.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// Lease settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// Namespace of the Lease (the operator's).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal (default 15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down (default 10 s).
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew (default 2 s).
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Default timings for a Lease `namespace/name` held as `identity`.
    pub fn new(namespace: &str, name: &str, identity: &str) -> LeaseSettings {
        LeaseSettings {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One replica's side of the election.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector").field("settings", &self.settings).finish_non_exhaustive()
    }
}

fn micro(t: Timestamp) -> MicroTime {
    MicroTime(t)
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    /// An elector using `client`.
    pub fn new(client: Client, settings: LeaseSettings) -> Elector {
        Elector { api: Api::namespaced(client, &settings.namespace), settings }
    }

    /// The settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    fn spec(&self, now: Timestamp, acquired: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.settings.lease_duration.as_secs().try_into().unwrap_or(15)),
            acquire_time: Some(micro(acquired)),
            renew_time: Some(micro(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt to acquire or renew. `Ok(true)` when this replica holds the Lease after it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        let next = if holder == self.settings.identity {
            let acquired = spec.acquire_time.map_or(now, |t| t.0);
            self.spec(now, acquired, transitions)
        } else {
            let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
            let expired = spec.renew_time.as_ref().is_none_or(|t| t.0 + duration < now);
            if !holder.is_empty() && !expired {
                return Ok(false);
            }
            self.spec(now, now, transitions + 1)
        };
        lease.spec = Some(next);
        match self.api.replace(&self.settings.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up when this replica holds it, so another can take over at once.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else { return Ok(()) };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(micro(Timestamp::UNIX_EPOCH));
        lease.spec = Some(spec);
        match self.api.replace(&self.settings.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(e) if conflict(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Campaigns until `stop` turns true, publishing leadership on `leading`. Leadership is lost
    /// (`false` again) when renewal fails for longer than the renew deadline. On stop, a held
    /// Lease is released.
    pub async fn run(self, leading: watch::Sender<bool>, mut stop: watch::Receiver<bool>) {
        let mut last_renewal: Option<Instant> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    if last_renewal.is_none() {
                        info!(lease = %self.settings.name, identity = %self.settings.identity, "became the leader");
                    }
                    last_renewal = Some(Instant::now());
                    leading.send_if_modified(|l| !std::mem::replace(l, true));
                }
                Ok(false) => {
                    if last_renewal.take().is_some() {
                        warn!(lease = %self.settings.name, "another replica holds the lease: stepping down");
                    }
                    leading.send_if_modified(|l| std::mem::replace(l, false));
                }
                Err(err) => {
                    warn!(lease = %self.settings.name, error = %err, "cannot acquire or renew the lease");
                    if last_renewal.is_some_and(|t| t.elapsed() >= self.settings.renew_deadline) {
                        warn!(lease = %self.settings.name, "renew deadline passed: stepping down");
                        last_renewal = None;
                        leading.send_if_modified(|l| std::mem::replace(l, false));
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.retry_period) => {}
                () = crate::until(&mut stop, true) => break,
            }
        }
        if last_renewal.is_some() {
            if let Err(err) = self.release().await {
                warn!(lease = %self.settings.name, error = %err, "cannot release the lease");
            } else {
                info!(lease = %self.settings.name, "lease released");
            }
        }
        leading.send_if_modified(|l| std::mem::replace(l, false));
    }
}
