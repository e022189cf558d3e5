//! Authorize: every message is judged by the policy according to its method class (one
//! function for single messages and batch elements alike), and MCP sessions and tasks are
//! checked against their owners.
//!
//! | class | methods | checks |
//! |---|---|---|
//! | tool call | `tools/call` | the full tool check sequence (`mcp_policy::evaluate`) |
//! | capability | `resources/*`, `prompts/*`, `completion/complete`, `tasks/*`, `logging/setLevel`, unknown methods | identity, session, at least one matching grant |
//! | discovery | `tools/list` | identity; the reply is filtered to the caller's tools |
//! | session | `initialize`, `ping`, `notifications/*`, responses | identity |
//!
//! A single message that is denied refuses the request; in a batch, denied elements are
//! answered by the gateway and the rest go on. Notifications never charge a budget.

use jiff::Timestamp;
use mcp_policy::{Call, Decision, Identity, Reason, Request as PolicyRequest};
use mcp_protocol::{Message, MethodClass, method_class};

use super::Exchange;
use crate::error::{GatewayError, Refusal};
use crate::server::Gateway;

/// Judges every message of the exchange; `Err` refuses the whole request.
pub fn authorize(gw: &Gateway, ex: &mut Exchange) -> Result<(), GatewayError> {
    let Some(active) = ex.active.clone() else {
        return Err(Reason::PolicyUnavailable.into());
    };
    let observing = ex.observing();
    if let Some(session) = &ex.mcp_session
        && !gw.owners.claim_session(session, &ex.identity)
        && !observing
    {
        return Err(Refusal::NotOwner.into());
    }
    let now = Timestamp::now();
    if !idle_ok(gw, &active.snapshot.document().session.idle_timeout, &ex.identity, now) && !observing {
        let mut d = Decision::deny(Reason::SessionExpired);
        d.policy_version = active.snapshot.document().policy.policy_version.clone();
        return Err(d.into());
    }
    let mut refused = Vec::new();
    for (i, message) in ex.messages.iter().enumerate() {
        let verdict = judge(gw, &active.snapshot, &ex.identity, message, now, observing);
        gw.metrics
            .decision(&verdict, mcp_protocol::method_label(message.method.as_deref().unwrap_or_default()));
        match verdict {
            Ok(d) => ex.decisions[i] = Some(d),
            Err(err) if ex.batch => refused.push((i, err)),
            Err(err) => {
                if let Some(d) = err.decision() {
                    ex.decisions[i] = Some(d.clone());
                }
                return Err(err);
            }
        }
    }
    ex.refused = refused;
    Ok(())
}

/// One message's verdict.
pub fn judge(
    gw: &Gateway,
    snapshot: &mcp_policy::Snapshot,
    identity: &Identity,
    message: &Message,
    now: Timestamp,
    observing: bool,
) -> Result<Decision, GatewayError> {
    let method = message.method.as_deref();
    let call = match method_class(method) {
        MethodClass::ToolCall => Call::Tool {
            name: message.tool.as_deref().unwrap_or_default(),
            arguments: message.arguments.as_ref(),
            drifted: message.tool.as_deref().is_some_and(|t| gw.pins.is_drifted(t)),
        },
        MethodClass::Capability => Call::Capability(method.unwrap_or_default()),
        MethodClass::Discovery | MethodClass::Session | MethodClass::Response => {
            Call::Method(method.unwrap_or("response"))
        }
    };
    // Notifications (no id) are judged but never charge a budget.
    let request = PolicyRequest { identity, call, now, charge: message.id.is_some() };
    let d = snapshot.evaluate(&request, &gw.budgets);
    if !d.allowed {
        return Err(d.into());
    }
    if let Some(task) = message.task_id.as_deref()
        && !gw.owners.claim_task(task, identity)
        && !observing
    {
        return Err(Refusal::NotOwner.into());
    }
    Ok(d)
}

/// `session.idleTimeout`: a presented session unused for longer is expired (per replica).
fn idle_ok(gw: &Gateway, idle: &str, identity: &Identity, now: Timestamp) -> bool {
    if identity.session.is_empty() {
        return true;
    }
    let Some(idle) = super::identify::parse_duration(idle) else {
        return true;
    };
    let key = format!("{}\u{0}{}", identity.session, crate::owners::owner_key(identity));
    gw.owners.touch(&key, now.as_second(), idle)
}
