//! Callers own what they start: an `Mcp-Session-Id` and a task id are bound to the identity
//! that created them, and another identity presenting them is refused (`not_owner`).
//!
//! Bindings are made when the app answers (`initialize` with a new `Mcp-Session-Id`; a task
//! created by a task-augmented `tools/call`) and, for an id the gateway has not seen (it
//! restarted, or the binding was evicted), by the first identity that presents it. Each map is
//! bounded (oldest binding evicted first); a session's binding ends with its DELETE. The same
//! bounded bookkeeping tracks the last activity of each platform session for `idleTimeout`.
//! All of it is per gateway replica.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use mcp_policy::Identity;

/// Most bindings kept per map.
pub const CAPACITY: usize = 65_536;

/// A bounded map that forgets its oldest entries first.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    capacity: usize,
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Bounded<V> {
        Bounded { map: HashMap::new(), order: VecDeque::new(), capacity }
    }

    fn insert(&mut self, key: &str, value: V) {
        if self.map.insert(key.to_string(), value).is_none() {
            self.order.push_back(key.to_string());
            while self.map.len() > self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
        }
        // Keep the order queue from growing past the live entries (removals leave stale keys).
        if self.order.len() > self.capacity.saturating_mul(2) {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    /// Inserts or replaces.
    fn set(&mut self, key: &str, value: V) {
        match self.map.get_mut(key) {
            Some(v) => *v = value,
            None => self.insert(key, value),
        }
    }

    fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }
}

/// Who owns something: the identity's human, agent and team.
pub fn owner_key(identity: &Identity) -> String {
    format!("{}\u{0}{}\u{0}{}", identity.human, identity.agent, identity.team)
}

/// Session and task ownership, and session activity.
#[derive(Debug)]
pub struct Owners {
    sessions: Mutex<Bounded<String>>,
    tasks: Mutex<Bounded<String>>,
    activity: Mutex<Bounded<i64>>,
}

impl Default for Owners {
    fn default() -> Owners {
        Owners::with_capacity(CAPACITY)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Binds `key` to `who`, replacing an earlier owner.
fn bind(map: &Mutex<Bounded<String>>, key: &str, who: &Identity) {
    lock(map).set(key, owner_key(who));
}

/// Checks `key` against its owner in `map`, binding it to `who` when it has none.
fn claim(map: &Mutex<Bounded<String>>, key: &str, who: &Identity) -> bool {
    let owner = owner_key(who);
    let mut map = lock(map);
    match map.map.get(key) {
        Some(existing) => *existing == owner,
        None => {
            map.insert(key, owner);
            true
        }
    }
}

impl Owners {
    /// Empty maps holding at most `capacity` bindings each.
    pub fn with_capacity(capacity: usize) -> Owners {
        Owners {
            sessions: Mutex::new(Bounded::new(capacity)),
            tasks: Mutex::new(Bounded::new(capacity)),
            activity: Mutex::new(Bounded::new(capacity)),
        }
    }

    /// Whether `who` may use MCP session `id` (binding it when unknown).
    pub fn claim_session(&self, id: &str, who: &Identity) -> bool {
        claim(&self.sessions, id, who)
    }

    /// Binds a session the app just created for `who`.
    pub fn bind_session(&self, id: &str, who: &Identity) {
        bind(&self.sessions, id, who);
    }

    /// Forgets a session (after its DELETE).
    pub fn end_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// Whether `who` may use task `id` (binding it when unknown).
    pub fn claim_task(&self, id: &str, who: &Identity) -> bool {
        claim(&self.tasks, id, who)
    }

    /// Binds a task the app just created for `who`.
    pub fn bind_task(&self, id: &str, who: &Identity) {
        bind(&self.tasks, id, who);
    }

    /// Records activity of platform session `name` at `now` (seconds); `false` when it had been
    /// idle longer than `idle` seconds (it then stays idle: the activity is not recorded).
    pub fn touch(&self, name: &str, now: i64, idle: i64) -> bool {
        let mut activity = lock(&self.activity);
        if let Some(last) = activity.map.get(name)
            && now - *last > idle
        {
            return false;
        }
        activity.set(name, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(agent: &str) -> Identity {
        Identity { agent: agent.into(), ..Identity::default() }
    }

    #[test]
    fn a_session_belongs_to_its_creator() {
        let owners = Owners::default();
        owners.bind_session("s1", &who("alice"));
        assert!(owners.claim_session("s1", &who("alice")));
        assert!(!owners.claim_session("s1", &who("mallory")));
        owners.end_session("s1");
        assert!(owners.claim_session("s1", &who("bob")), "an ended session is free again");
        assert!(!owners.claim_session("s1", &who("alice")));
    }

    #[test]
    fn unknown_ids_bind_to_the_first_presenter_and_tasks_too() {
        let owners = Owners::default();
        assert!(owners.claim_task("t1", &who("alice")));
        assert!(!owners.claim_task("t1", &who("mallory")));
        owners.bind_task("t2", &who("bob"));
        assert!(!owners.claim_task("t2", &who("alice")));
    }

    #[test]
    fn maps_are_bounded() {
        let owners = Owners::with_capacity(3);
        for i in 0..10 {
            owners.bind_session(&format!("s{i}"), &who("a"));
        }
        assert_eq!(lock(&owners.sessions).map.len(), 3);
        assert!(owners.claim_session("s0", &who("b")), "the oldest binding was evicted");
        assert!(!owners.claim_session("s9", &who("b")));
    }

    #[test]
    fn idle_sessions_stay_idle() {
        let owners = Owners::default();
        assert!(owners.touch("sess", 100, 60));
        assert!(owners.touch("sess", 150, 60));
        assert!(!owners.touch("sess", 211, 60));
        assert!(!owners.touch("sess", 212, 60));
    }
}
