//! Call budgets (`maxCalls`) and rate limits (`ratePerMinute`) on grants and sessions.
//!
//! The evaluator stays pure: it asks a [`Budgets`] implementation supplied by the caller to
//! admit a call. [`MemoryBudgets`] is the in-process implementation the gateway and the CLI use.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;

/// What a budget is attached to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetKey {
    /// An MCPAccessGrant, by namespace and name, for one caller: a team-wide grant's budget is
    /// counted per human/agent/team, so one member cannot use up the others' calls.
    Grant {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The caller, `human/agent/team` (empty fields stay empty), see [`BudgetKey::subject`].
        subject: String,
    },
    /// An MCPAgentSession, by namespace and name.
    Session {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

impl BudgetKey {
    /// The subject part of a grant key: `human/agent/team` of the caller.
    pub fn subject(human: &str, agent: &str, team: &str) -> String {
        format!("{human}/{agent}/{team}")
    }
}

impl std::fmt::Display for BudgetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetKey::Grant { namespace, name, subject } => {
                write!(f, "grant {namespace}/{name} for {subject}")
            }
            BudgetKey::Session { namespace, name } => write!(f, "session {namespace}/{name}"),
        }
    }
}

/// One call to be counted against one key's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// The grant or session.
    pub key: BudgetKey,
    /// Total calls allowed, if limited.
    pub max_calls: Option<u64>,
    /// Calls per minute allowed, if limited.
    pub rate_per_minute: Option<u32>,
}

/// Why a call was refused by a budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BudgetRefusal {
    /// `maxCalls` reached.
    Exhausted {
        /// The grant or session.
        key: BudgetKey,
        /// The limit.
        max_calls: u64,
    },
    /// `ratePerMinute` exceeded.
    RateLimited {
        /// The grant or session.
        key: BudgetKey,
        /// The limit.
        rate_per_minute: u32,
    },
}

/// Counts calls. `admit` either counts the call against every charge or, when any charge
/// would exceed its limit, counts nothing and says which limit refused it.
pub trait Budgets {
    /// Admits one call against all `charges` atomically.
    fn admit(&self, charges: &[Charge], now: Timestamp) -> Result<(), BudgetRefusal>;

    /// Whether one call against all `charges` would be admitted, counting nothing (used for
    /// messages that must never charge a budget, such as a `tools/call` notification).
    fn check(&self, charges: &[Charge], now: Timestamp) -> Result<(), BudgetRefusal>;
}

#[derive(Clone, Debug)]
struct Counter {
    calls: u64,
    /// Token bucket for the per-minute rate: capacity = rate, refilled at rate/60 per second.
    tokens: f64,
    refilled_at: Timestamp,
}

/// In-memory counters, keyed by grant or session. Counters survive policy reloads because
/// keys are names, not positions in a document.
#[derive(Debug, Default)]
pub struct MemoryBudgets {
    counters: Mutex<HashMap<BudgetKey, Counter>>,
}

impl MemoryBudgets {
    /// Empty counters.
    pub fn new() -> MemoryBudgets {
        MemoryBudgets::default()
    }

    /// Calls counted so far for `key`.
    pub fn calls(&self, key: &BudgetKey) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counters.get(key).map_or(0, |c| c.calls)
    }
}

fn refill(counter: &Counter, rate: u32, now: Timestamp) -> f64 {
    let elapsed = now.duration_since(counter.refilled_at).as_secs_f64().max(0.0);
    (counter.tokens + elapsed * f64::from(rate) / 60.0).min(f64::from(rate))
}

/// Whether every charge fits the counters as they are.
fn fits(
    counters: &HashMap<BudgetKey, Counter>,
    charges: &[Charge],
    now: Timestamp,
) -> Result<(), BudgetRefusal> {
    for charge in charges {
        let counter = counters.get(&charge.key);
        if let Some(max) = charge.max_calls
            && counter.map_or(0, |c| c.calls) >= max
        {
            return Err(BudgetRefusal::Exhausted { key: charge.key.clone(), max_calls: max });
        }
        if let Some(rate) = charge.rate_per_minute {
            let tokens = counter.map_or(f64::from(rate), |c| refill(c, rate, now));
            if tokens < 1.0 {
                return Err(BudgetRefusal::RateLimited { key: charge.key.clone(), rate_per_minute: rate });
            }
        }
    }
    Ok(())
}

impl Budgets for MemoryBudgets {
    fn check(&self, charges: &[Charge], now: Timestamp) -> Result<(), BudgetRefusal> {
        let counters = self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        fits(&counters, charges, now)
    }

    fn admit(&self, charges: &[Charge], now: Timestamp) -> Result<(), BudgetRefusal> {
        let mut counters = self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // First pass: would every charge fit?
        fits(&counters, charges, now)?;
        // Second pass: count the call everywhere.
        for charge in charges {
            let rate = charge.rate_per_minute;
            let counter = counters.entry(charge.key.clone()).or_insert_with(|| Counter {
                calls: 0,
                tokens: rate.map_or(0.0, f64::from),
                refilled_at: now,
            });
            counter.calls += 1;
            if let Some(rate) = rate {
                counter.tokens = refill(counter, rate, now) - 1.0;
            }
            counter.refilled_at = now;
        }
        Ok(())
    }
}
