//! Where an adapter's identity comes from: a platform session token, obtained once and
//! refreshed before it expires.
//!
//! Every forwarded request takes [`IdentitySource::current`] once and keeps that `Arc` to its
//! end, so a refresh (an atomic swap) never changes the token of a call already under way.
//!
//! # Refresh schedule
//!
//! A token is refreshed at `expires_at − 5 min`; when less than ten minutes are left (short
//! test lifetimes) at half of what is left, never sooner than one second ([`refresh_delay`]).
//! A failed refresh is reported (the `on_event` callback, stderr in the CLI) and retried after
//! a quarter of what is left (1–30 s); the previous token stays in use until it expires and the
//! gateway refuses it. A refresh never issues a new session: the platform re-applies a revoked
//! adapter session when asked to issue one, so re-issuing would undo a revoke.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;

/// The identity presented to the gateway: `Authorization: Bearer <token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The platform session token (EdDSA JWT).
    pub token: String,
    /// When the token expires; `None` for a static token that is never refreshed.
    pub expires_at: Option<Timestamp>,
    /// The session name (`adapter-…`), empty for a static token.
    pub session: String,
    /// The team owning the session, empty for a static token.
    pub team: String,
    /// The route the token is for (the token's audience), when the platform said.
    pub audience: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("session", &self.session)
            .field("team", &self.team)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Identity {
    /// A fixed token (tests, externally managed tokens).
    pub fn fixed(token: impl Into<String>) -> Identity {
        Identity {
            token: token.into(),
            expires_at: None,
            session: String::new(),
            team: String::new(),
            audience: None,
        }
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// The identity every request presents.
pub trait IdentitySource: Send + Sync + std::fmt::Debug {
    /// The identity to use for the next request.
    fn current(&self) -> Arc<Identity>;
}

/// An identity that never changes.
#[derive(Debug)]
pub struct StaticIdentity(Arc<Identity>);

impl StaticIdentity {
    /// A source that always answers `identity`.
    pub fn new(identity: Identity) -> StaticIdentity {
        StaticIdentity(Arc::new(identity))
    }
}

impl IdentitySource for StaticIdentity {
    fn current(&self) -> Arc<Identity> {
        self.0.clone()
    }
}

/// A boxed future of a platform answer.
pub type IssueFuture<'a> = Pin<Box<dyn Future<Output = Result<Identity, String>> + Send + 'a>>;

/// The platform calls an adapter needs: issue (or reuse) its session, and a fresh token for it.
pub trait SessionIssuer: Send + Sync + std::fmt::Debug {
    /// `POST /api/v1/runtime/adapter/sessions`: a live session and its token.
    fn issue(&self) -> IssueFuture<'_>;
    /// `POST /api/v1/runtime/adapter/sessions/{team}/{name}/token`: a fresh token for the
    /// session `current` names.
    fn refresh<'a>(&'a self, current: &'a Identity) -> IssueFuture<'a>;
}

/// What the refresh loop reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshEvent {
    /// A new token is in use.
    Refreshed {
        /// Its expiry.
        expires_at: Option<Timestamp>,
    },
    /// The refresh failed; the previous token stays in use.
    Failed {
        /// What the platform (or the network) said.
        error: String,
        /// When the next attempt is made.
        retry_in: Duration,
    },
}

/// A platform-issued identity, refreshed in the background.
#[derive(Debug)]
pub struct RefreshingIdentity {
    current: Arc<ArcSwap<Identity>>,
    refreshes: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RefreshingIdentity {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl IdentitySource for RefreshingIdentity {
    fn current(&self) -> Arc<Identity> {
        self.current.load_full()
    }
}

impl RefreshingIdentity {
    /// Issues the session (an error here stops the adapter before it serves anything), then
    /// refreshes its token in a background task until dropped. `on_event` hears every refresh
    /// and every failure.
    pub async fn start(
        issuer: Arc<dyn SessionIssuer>,
        on_event: Arc<dyn Fn(RefreshEvent) + Send + Sync>,
    ) -> Result<RefreshingIdentity, String> {
        let first = issuer.issue().await?;
        let current = Arc::new(ArcSwap::from_pointee(first));
        let refreshes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(refresh_loop(issuer, current.clone(), refreshes.clone(), on_event));
        Ok(RefreshingIdentity { current, refreshes, task })
    }

    /// How many refreshes succeeded so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn refresh_loop(
    issuer: Arc<dyn SessionIssuer>,
    current: Arc<ArcSwap<Identity>>,
    refreshes: Arc<std::sync::atomic::AtomicU64>,
    on_event: Arc<dyn Fn(RefreshEvent) + Send + Sync>,
) {
    let mut delay = refresh_delay(Timestamp::now(), current.load().expires_at);
    loop {
        let Some(wait) = delay else { return };
        tokio::time::sleep(wait).await;
        let old = current.load_full();
        match issuer.refresh(&old).await {
            Ok(fresh) => {
                let expires_at = fresh.expires_at;
                current.store(Arc::new(fresh));
                refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                on_event(RefreshEvent::Refreshed { expires_at });
                delay = refresh_delay(Timestamp::now(), expires_at);
            }
            Err(error) => {
                let retry_in = retry_delay(Timestamp::now(), old.expires_at);
                on_event(RefreshEvent::Failed { error, retry_in });
                delay = Some(retry_in);
            }
        }
    }
}

/// How long to wait before refreshing a token expiring at `expires_at` (`None`: never).
pub fn refresh_delay(now: Timestamp, expires_at: Option<Timestamp>) -> Option<Duration> {
    let left = expires_at?.as_millisecond().saturating_sub(now.as_millisecond()).max(0);
    let left = u64::try_from(left).unwrap_or(0);
    let wait = if left > 600_000 { left - 300_000 } else { left / 2 };
    Some(Duration::from_millis(wait.max(1_000)))
}

/// How long to wait after a failed refresh: a quarter of what is left, 1–30 s.
pub fn retry_delay(now: Timestamp, expires_at: Option<Timestamp>) -> Duration {
    let left = expires_at
        .map(|e| e.as_millisecond().saturating_sub(now.as_millisecond()).max(0))
        .and_then(|l| u64::try_from(l).ok())
        .unwrap_or(0);
    Duration::from_millis((left / 4).clamp(1_000, 30_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("timestamp")
    }

    #[test]
    fn long_tokens_refresh_five_minutes_before_expiry_short_ones_at_half() {
        assert_eq!(refresh_delay(at(0), Some(at(3600))), Some(Duration::from_secs(3300)));
        assert_eq!(refresh_delay(at(0), Some(at(900))), Some(Duration::from_secs(600)));
        assert_eq!(refresh_delay(at(0), Some(at(600))), Some(Duration::from_secs(300)));
        assert_eq!(refresh_delay(at(0), Some(at(60))), Some(Duration::from_secs(30)));
        // Already expired or about to: try again soon, never in a busy loop.
        assert_eq!(refresh_delay(at(10), Some(at(0))), Some(Duration::from_secs(1)));
        assert_eq!(refresh_delay(at(0), None), None, "a static token is never refreshed");
    }

    #[test]
    fn failed_refreshes_retry_within_bounds() {
        assert_eq!(retry_delay(at(0), Some(at(40))), Duration::from_secs(10));
        assert_eq!(retry_delay(at(0), Some(at(3600))), Duration::from_secs(30));
        assert_eq!(retry_delay(at(0), Some(at(2))), Duration::from_secs(1));
        assert_eq!(retry_delay(at(0), None), Duration::from_secs(1));
    }

    #[derive(Debug)]
    struct Counting {
        issued: std::sync::atomic::AtomicU64,
        fail_refresh: bool,
    }

    impl SessionIssuer for Counting {
        fn issue(&self) -> IssueFuture<'_> {
            Box::pin(async move {
                let n = self.issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(Identity {
                    token: format!("t{n}"),
                    // Expires in 2 s: the first refresh is due after 1 s.
                    expires_at: Some(Timestamp::now() + Duration::from_secs(2)),
                    session: "adapter-x".into(),
                    team: "t".into(),
                    audience: None,
                })
            })
        }

        fn refresh<'a>(&'a self, current: &'a Identity) -> IssueFuture<'a> {
            Box::pin(async move {
                if self.fail_refresh {
                    return Err("platform unreachable".into());
                }
                Ok(Identity { token: format!("{}+", current.token), ..current.clone() })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_is_swapped_and_old_holders_keep_theirs() {
        let issuer = Arc::new(Counting { issued: 0.into(), fail_refresh: false });
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = events.clone();
        let source =
            RefreshingIdentity::start(issuer, Arc::new(move |e| sink.lock().expect("events").push(e)))
                .await
                .expect("issue");
        let held = source.current();
        assert_eq!(held.token, "t0");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(source.current().token, "t0+", "refreshed after half the lifetime");
        assert_eq!(held.token, "t0", "an in-flight holder keeps the old token");
        assert_eq!(source.refreshes(), 1);
        assert!(matches!(events.lock().expect("events")[0], RefreshEvent::Refreshed { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_keeps_the_old_token_and_is_reported() {
        let issuer = Arc::new(Counting { issued: 0.into(), fail_refresh: true });
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = events.clone();
        let source =
            RefreshingIdentity::start(issuer, Arc::new(move |e| sink.lock().expect("events").push(e)))
                .await
                .expect("issue");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(source.current().token, "t0");
        let events = events.lock().expect("events");
        assert!(
            matches!(&events[0], RefreshEvent::Failed { error, .. } if error == "platform unreachable"),
            "{events:?}"
        );
    }
}
