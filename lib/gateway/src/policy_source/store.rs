//! The active policy: a validated, indexed snapshot swapped atomically on reload.
//!
//! A request loads the snapshot once and keeps it to the end, so a reload never changes a
//! decision half-way; the next request sees the new policy. A document that fails verification
//! never replaces the last good one, and identical content is never reloaded.

use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use jiff::Timestamp;
use mcp_policy::Snapshot;
use sha2::{Digest, Sha256};

use crate::pipeline::identify::KeyRing;

/// One activated policy and everything derived from it.
#[derive(Debug)]
pub struct Active {
    /// The indexed document.
    pub snapshot: Snapshot,
    /// Platform session-token verification keys, decoded once.
    pub keys: KeyRing,
    /// When it was activated.
    pub loaded_at: Timestamp,
    /// Request headers this policy names for identity, credentials or sessions (lower case, `_`
    /// as `-`): never forwarded as the client sent them, in any spelling.
    pub owned_headers: Vec<String>,
    /// The header that carries the upstream credential (`session.upstreamTokenHeader`, else
    /// `Authorization`); `None` when the configured name is not a valid header name (the
    /// credential is then not sent at all).
    pub upstream_token_header: Option<http::HeaderName>,
}

impl Active {
    /// Derives the per-request lookups of a validated snapshot.
    pub fn new(snapshot: Snapshot, keys: KeyRing, loaded_at: Timestamp) -> Active {
        let doc = snapshot.document();
        let parse = |name: &str| http::HeaderName::from_bytes(name.as_bytes()).ok();
        let owned_headers = [
            &doc.auth.human_id_header,
            &doc.auth.agent_id_header,
            &doc.auth.team_id_header,
            &doc.auth.session_id_header,
            &doc.auth.token_header,
            &doc.session.header_name,
            &doc.session.upstream_token_header,
        ]
        .into_iter()
        .filter(|name| !name.is_empty())
        .map(|name| crate::pipeline::forward::normalize(name))
        .collect();
        let upstream_token_header = match doc.session.upstream_token_header.as_str() {
            "" => Some(http::header::AUTHORIZATION),
            name => parse(name),
        };
        Active { snapshot, keys, loaded_at, owned_headers, upstream_token_header }
    }
}

/// What `/config/status` reports: never the policy body.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// A valid policy has been active at least once.
    pub ready: bool,
    /// Schema version of the active policy.
    pub schema_version: Option<String>,
    /// Revision of the active policy.
    pub revision: Option<String>,
    /// When it was activated (RFC 3339).
    pub loaded_at: Option<String>,
    /// Why the last reload failed, if it did (cleared by the next success).
    pub last_reload_error: Option<String>,
}

/// Outcome of one reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// A new revision became active.
    Activated(String),
    /// The file holds the content already active.
    Unchanged,
    /// The file could not be read or verified; the previous policy stays.
    Failed(String),
}

/// The active policy and its load history.
#[derive(Debug, Default)]
pub struct PolicyStore {
    active: ArcSwapOption<Active>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    status: Status,
    /// Hash of the active content.
    active_hash: Option<[u8; 32]>,
    /// Hash of the last content that failed, so an unchanged bad file is not re-parsed.
    failed_hash: Option<[u8; 32]>,
}

impl PolicyStore {
    /// An empty store: not ready until the first valid policy.
    pub fn new() -> PolicyStore {
        PolicyStore::default()
    }

    /// The active policy, if any. Take it once per request.
    pub fn current(&self) -> Option<Arc<Active>> {
        self.active.load_full()
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Verifies `bytes` and activates them unless they are already active.
    pub fn load_bytes(&self, bytes: &[u8]) -> Reload {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let mut state = self.lock();
        if state.active_hash == Some(hash) {
            return Reload::Unchanged;
        }
        if state.failed_hash == Some(hash) {
            return Reload::Failed(state.status.last_reload_error.clone().unwrap_or_default());
        }
        let parsed = Snapshot::from_json(bytes).map_err(|e| e.to_string()).and_then(|snapshot| {
            let keys = KeyRing::from_document(snapshot.document()).map_err(|e| e.to_string())?;
            Ok((snapshot, keys))
        });
        match parsed {
            Ok((snapshot, keys)) => {
                let now = Timestamp::now();
                let doc = snapshot.document();
                let revision = doc.revision.clone();
                state.status = Status {
                    ready: true,
                    schema_version: Some(doc.schema_version.clone()),
                    revision: Some(revision.clone()),
                    loaded_at: Some(now.to_string()),
                    last_reload_error: None,
                };
                state.active_hash = Some(hash);
                state.failed_hash = None;
                self.active.store(Some(Arc::new(Active::new(snapshot, keys, now))));
                Reload::Activated(revision)
            }
            Err(reason) => {
                state.failed_hash = Some(hash);
                state.status.last_reload_error = Some(reason.clone());
                Reload::Failed(reason)
            }
        }
    }

    /// Reads `path` and loads it.
    pub async fn load_file(&self, path: &Path) -> Reload {
        match tokio::fs::read(path).await {
            Ok(bytes) => self.load_bytes(&bytes),
            Err(e) => {
                let reason = format!("cannot read {}: {e}", path.display());
                self.lock().status.last_reload_error = Some(reason.clone());
                Reload::Failed(reason)
            }
        }
    }
}
