//! Sign-in lockout, keyed on (account, client address): after `threshold` failures a key is
//! locked for `base`, doubling with every further failure up to `max`. A success clears the
//! key. Idle entries expire after 30 minutes; the table is bounded (4,096 entries) and, when
//! full, evicts the entry that is unlocked and idle longest, never a locked one before an
//! unlocked one. Per process: each replica counts on its own (documented).
//!
//! Keying on both account and address means a stranger hammering one account from one address
//! does not lock its owner out from another address, and one address guessing many accounts
//! is limited per account.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries kept.
pub const CAPACITY: usize = 4096;
/// Entries untouched this long are forgotten.
const IDLE: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

/// The lockout table.
#[derive(Debug)]
pub struct Lockout {
    threshold: u32,
    base: Duration,
    max: Duration,
    entries: Mutex<HashMap<(String, IpAddr), Entry>>,
}

impl Lockout {
    /// A table with these bounds.
    pub fn new(threshold: u32, base: Duration, max: Duration) -> Lockout {
        Lockout { threshold, base, max, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, IpAddr), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `account` from `addr` must still wait, if it is locked out.
    pub fn locked(&self, account: &str, addr: IpAddr, now: Instant) -> Option<Duration> {
        let entries = self.lock();
        let until = entries.get(&(account.to_string(), addr))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed sign-in; returns the lockout it started, if any.
    pub fn fail(&self, account: &str, addr: IpAddr, now: Instant) -> Option<Duration> {
        let mut entries = self.lock();
        let key = (account.to_string(), addr);
        if !entries.contains_key(&key) && entries.len() >= CAPACITY {
            entries
                .retain(|_, e| now.duration_since(e.last) < IDLE || e.locked_until.is_some_and(|u| u > now));
            if entries.len() >= CAPACITY {
                let victim = entries
                    .iter()
                    .min_by_key(|(_, e)| (e.locked_until.is_some_and(|u| u > now), e.failures, e.last))
                    .map(|(k, _)| k.clone());
                if let Some(victim) = victim {
                    entries.remove(&victim);
                }
            }
        }
        let entry = entries.entry(key).or_insert(Entry { failures: 0, locked_until: None, last: now });
        if now.duration_since(entry.last) >= IDLE {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        if entry.failures < self.threshold {
            return None;
        }
        let doublings = (entry.failures - self.threshold).min(20);
        let wait = self.base.saturating_mul(1u32 << doublings).min(self.max);
        entry.locked_until = Some(now + wait);
        Some(wait)
    }

    /// Clears the key after a successful sign-in.
    pub fn succeed(&self, account: &str, addr: IpAddr) {
        self.lock().remove(&(account.to_string(), addr));
    }

    /// Entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn locks_after_threshold_doubles_and_caps() {
        let l = Lockout::new(3, Duration::from_secs(15), Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(l.fail("a", ip("1.1.1.1"), t), None);
        assert_eq!(l.fail("a", ip("1.1.1.1"), t), None);
        assert_eq!(l.fail("a", ip("1.1.1.1"), t), Some(Duration::from_secs(15)));
        assert_eq!(l.fail("a", ip("1.1.1.1"), t), Some(Duration::from_secs(30)));
        assert_eq!(l.fail("a", ip("1.1.1.1"), t), Some(Duration::from_secs(60)));
        assert_eq!(l.fail("a", ip("1.1.1.1"), t), Some(Duration::from_secs(60)));
        assert!(l.locked("a", ip("1.1.1.1"), t).is_some());
        // Other address, other account: not locked.
        assert!(l.locked("a", ip("2.2.2.2"), t).is_none());
        assert!(l.locked("b", ip("1.1.1.1"), t).is_none());
        assert!(l.locked("a", ip("1.1.1.1"), t + Duration::from_secs(61)).is_none());
        l.succeed("a", ip("1.1.1.1"));
        assert!(l.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_keeps_locked_entries() {
        let l = Lockout::new(2, Duration::from_secs(60), Duration::from_secs(60));
        let t = Instant::now();
        l.fail("locked", ip("9.9.9.9"), t);
        l.fail("locked", ip("9.9.9.9"), t);
        for i in 0..(CAPACITY + 100) {
            l.fail(&format!("u{i}"), ip("1.1.1.1"), t);
        }
        assert_eq!(l.len(), CAPACITY);
        assert!(l.locked("locked", ip("9.9.9.9"), t).is_some(), "a locked entry is never evicted first");
    }
}
