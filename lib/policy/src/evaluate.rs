//! The evaluator: an immutable, indexed [`Snapshot`] of a validated document, and the ordered
//! checks that turn a request into a [`Decision`].
//!
//! Every request is first decided as enforcement would decide it; under `policy.mode: observe`
//! that decision is then returned allowed, with [`Decision::observed`] set and its reason kept
//! (an unreadable request, [`Call::Indeterminate`], is denied in every mode).
//!
//! [`Call::Method`] (initialize, ping, notifications, responses, discovery) needs only an
//! identity (`missing_identity`). [`Call::Capability`] needs an identity, passes the session
//! checks of step 3 below, and then needs an enabled, unexpired grant matching the caller
//! (`grant_expired` when only expired ones match, else the default decision with
//! `method_not_granted`).
//!
//! Check order for a tool call (first failing check decides):
//! 1. (observe mode is applied at the end, see above).
//! 2. no human, agent or team → `missing_identity`.
//! 3. session: required and absent → `missing_session`; presented and revoked →
//!    `session_revoked`; presented and expired → `session_expired` (both whether or not sessions
//!    are required); required and unknown → `session_not_found`.
//! 4. tool drifted from its pin under `onToolDrift: deny` → `tool_definition_changed`.
//! 5. no grant matches the caller → default decision, `no_matching_grant`.
//! 6. a `deny` rule in an enabled, unexpired matching grant → `tool_denied`.
//! 7. no enabled, unexpired grant allows the tool → `argument_not_allowed` if an argument
//!    constraint refused it, else `grant_expired` if only expired grants would have, else the
//!    default decision with `tool_not_granted`.
//! 8. undeclared tool → `tool_side_effect_unknown`; side effect not permitted by an allowing grant
//!    → `side_effect_not_allowed`.
//! 9. min(grant trust, consented trust) below the required trust → `trust_too_low`.
//! 10. grant or session budget → `budget_exhausted` / `rate_limited`; else `allowed`.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use mcp_api::{
    PolicyDecision, PolicyMode, RiskLevel, SideEffect, ToolDriftAction, TrustLevel, parse_rfc3339,
};
use serde_json::Value;

use crate::args::CompiledConstraint;
use crate::budget::{BudgetKey, BudgetRefusal, Budgets, Charge};
use crate::document::{Document, Grant, Session};
use crate::error::InvalidDocument;
use crate::reason::Reason;

/// Who is calling, as established by the gateway's identity stage. Empty strings are unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Human the agent acts for.
    pub human: String,
    /// Agent.
    pub agent: String,
    /// Caller's team.
    pub team: String,
    /// Presented session name.
    pub session: String,
}

/// What is being called.
#[derive(Clone, Copy, Debug)]
pub enum Call<'a> {
    /// A `tools/call` (or legacy `call_tool`).
    Tool {
        /// Tool name (`params.name`).
        name: &'a str,
        /// `params.arguments`, when present.
        arguments: Option<&'a Value>,
        /// The gateway saw this tool's definition drift from its pinned hash.
        drifted: bool,
    },
    /// A method that needs only an identity: `initialize`, `ping`, `notifications/*`, a
    /// response (pass `""`), and discovery (`tools/list`, `server/discover`, whose replies the
    /// gateway filters with [`Snapshot::visible_tools`]).
    Method(&'a str),
    /// A method that reaches a server capability (`resources/*`, `prompts/*`,
    /// `completion/complete`, `tasks/*`, `logging/setLevel`, subscriptions, any unknown
    /// method): identity, session checks and at least one enabled, unexpired matching grant.
    Capability(&'a str),
    /// A request that could not be read as JSON-RPC.
    Indeterminate,
}

/// One decision request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The caller.
    pub identity: &'a Identity,
    /// The call.
    pub call: Call<'a>,
    /// The time the decision is made at.
    pub now: Timestamp,
    /// Whether an allowed tool call is charged against its budgets. `false` for a message
    /// without an id (a notification): budgets are still checked (an exhausted budget still
    /// refuses) but never charged.
    pub charge: bool,
}

/// A namespaced object name, for attribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// The argument constraint a call broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentViolation {
    /// The grant whose rule holds the constraint.
    pub grant: ObjectRef,
    /// The argument's name.
    pub argument: String,
    /// The broken rule, `keyword: value` (e.g. `maximum: 1000`).
    pub rule: String,
}

/// The outcome of one request, with everything audit needs to attribute it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may proceed.
    pub allowed: bool,
    /// `policy.mode: observe`: `allowed` is forced to `true`, while `reason` and
    /// [`would_allow`](Self::would_allow) keep what enforcement would have decided.
    pub observed: bool,
    /// What enforcement decides (equals `allowed` unless `observed`).
    pub would_allow: bool,
    /// Why.
    pub reason: Reason,
    /// Trust the tool requires (tool calls).
    pub required_trust: Option<TrustLevel>,
    /// The tool's side effect, when declared.
    pub required_side_effect: Option<SideEffect>,
    /// The tool's risk (declared or derived).
    pub risk_level: Option<RiskLevel>,
    /// Highest trust conferred by the allowing grants.
    pub admin_trust: Option<TrustLevel>,
    /// Trust consented in the session (or the grant's, without a session).
    pub consented_trust: Option<TrustLevel>,
    /// min(admin, consented).
    pub effective_trust: Option<TrustLevel>,
    /// The grant that decided.
    pub matched_grant: Option<ObjectRef>,
    /// The session used.
    pub matched_session: Option<ObjectRef>,
    /// Policy version of the deciding grant (else the document's).
    pub policy_version: String,
    /// The broken argument constraint, for `argument_not_allowed`.
    pub argument: Option<ArgumentViolation>,
    /// The refusing budget, for `budget_exhausted` and `rate_limited`.
    pub budget: Option<BudgetRefusal>,
}

impl Decision {
    fn new(allowed: bool, reason: Reason) -> Decision {
        Decision {
            allowed,
            observed: false,
            would_allow: allowed,
            reason,
            required_trust: None,
            required_side_effect: None,
            risk_level: None,
            admin_trust: None,
            consented_trust: None,
            effective_trust: None,
            matched_grant: None,
            matched_session: None,
            policy_version: String::new(),
            argument: None,
            budget: None,
        }
    }

    /// A denial with no attribution (identity failures, missing policy, unreadable requests).
    pub fn deny(reason: Reason) -> Decision {
        Decision::new(false, reason)
    }

    /// The fail-closed starting point of every request: denied, `undecided`.
    pub fn undecided() -> Decision {
        Decision::deny(Reason::Undecided)
    }

    /// The HTTP status: 200 (pass-through) when allowed, else the reason's status.
    pub fn http_status(&self) -> u16 {
        if self.allowed { 200 } else { self.reason.http_status() }
    }

    /// The decision's fields under the audit payload's names (`decision`, `reason`,
    /// `policy_version`, `matched_grant`, `matched_grant_namespace`, `matched_session`,
    /// `matched_session_namespace`, `required_trust`, `required_side_effect`, `risk_level`,
    /// `admin_trust`, `consented_trust`, `effective_trust`, plus `argument`, `argument_rule` and
    /// `budget`), leaving out what is unset. An observed decision adds
    /// `"enforcement": "observe"` and `would_decision` (`allow` or `deny`).
    pub fn attribution(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                m.insert(key.to_string(), Value::String(v));
            }
        };
        put("decision", Some(if self.allowed { "allow" } else { "deny" }.to_string()));
        if self.observed {
            put("enforcement", Some("observe".to_string()));
            put("would_decision", Some(if self.would_allow { "allow" } else { "deny" }.to_string()));
        }
        put("reason", Some(self.reason.as_str().to_string()));
        put("policy_version", Some(self.policy_version.clone()).filter(|v| !v.is_empty()));
        put("matched_grant", self.matched_grant.as_ref().map(|g| g.name.clone()));
        put("matched_grant_namespace", self.matched_grant.as_ref().map(|g| g.namespace.clone()));
        put("matched_session", self.matched_session.as_ref().map(|s| s.name.clone()));
        put("matched_session_namespace", self.matched_session.as_ref().map(|s| s.namespace.clone()));
        put("required_trust", self.required_trust.map(|t| t.to_string()));
        put("required_side_effect", self.required_side_effect.map(|t| t.to_string()));
        put("risk_level", self.risk_level.map(|t| t.to_string()));
        put("admin_trust", self.admin_trust.map(|t| t.to_string()));
        put("consented_trust", self.consented_trust.map(|t| t.to_string()));
        put("effective_trust", self.effective_trust.map(|t| t.to_string()));
        put("argument", self.argument.as_ref().map(|a| a.argument.clone()));
        put("argument_rule", self.argument.as_ref().map(|a| a.rule.clone()));
        put(
            "budget",
            self.budget.as_ref().map(|b| match b {
                BudgetRefusal::Exhausted { key, max_calls } => format!("{key}: maxCalls {max_calls}"),
                BudgetRefusal::RateLimited { key, rate_per_minute } => {
                    format!("{key}: ratePerMinute {rate_per_minute}")
                }
            }),
        );
        m
    }
}

/// Which tools a caller may see in `tools/list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolVisibility {
    /// Discovery is not filtered.
    All,
    /// Only these tools.
    Only(BTreeSet<String>),
}

impl ToolVisibility {
    /// Whether `tool` may be listed.
    pub fn allows(&self, tool: &str) -> bool {
        match self {
            ToolVisibility::All => true,
            ToolVisibility::Only(set) => set.contains(tool),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Expiry {
    Never,
    At(Timestamp),
    /// Unreadable: treated as already expired.
    Invalid,
}

impl Expiry {
    fn parse(value: Option<&str>) -> Expiry {
        match value {
            None => Expiry::Never,
            Some(v) => parse_rfc3339(v).map_or(Expiry::Invalid, Expiry::At),
        }
    }

    fn is_expired(self, now: Timestamp) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::At(t) => now >= t,
            Expiry::Invalid => true,
        }
    }
}

#[derive(Debug)]
struct CompiledGrant {
    expiry: Expiry,
    /// Tool rule index by tool name.
    rules: HashMap<String, usize>,
    /// Compiled argument constraints per rule, parallel to `tool_rules`.
    constraints: Vec<Vec<(String, CompiledConstraint)>>,
}

/// A validated document with its indexes. Immutable: build a new one on reload.
#[derive(Debug)]
pub struct Snapshot {
    doc: Document,
    tools: HashMap<String, usize>,
    grants: Vec<CompiledGrant>,
    /// Grant positions keyed by the most selective non-empty subject field (human, else agent,
    /// else team). Every grant sits in exactly one list; lists are in (namespace, name) order.
    by_human: HashMap<String, Vec<u32>>,
    by_agent: HashMap<String, Vec<u32>>,
    by_team: HashMap<String, Vec<u32>>,
    sessions_by_name: HashMap<String, Vec<u32>>,
    session_expiry: Vec<Expiry>,
}

fn subject_matches(human: &str, agent: &str, team: &str, id: &Identity) -> bool {
    let any = !human.is_empty() || !agent.is_empty() || !team.is_empty();
    any && (human.is_empty() || human == id.human)
        && (agent.is_empty() || agent == id.agent)
        && (team.is_empty() || team == id.team)
}

fn grant_matches(g: &Grant, id: &Identity) -> bool {
    subject_matches(&g.human_id, &g.agent_id, &g.team_id, id)
}

fn session_matches(s: &Session, id: &Identity) -> bool {
    subject_matches(&s.human_id, &s.agent_id, &s.team_id, id)
}

fn object_ref(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef { namespace: namespace.to_string(), name: name.to_string() }
}

/// Options of the internal decision procedure.
struct Mode<'b> {
    check_arguments: bool,
    budgets: Option<&'b dyn Budgets>,
}

/// Whether the caller has any subject field.
fn has_identity(id: &Identity) -> bool {
    !id.human.is_empty() || !id.agent.is_empty() || !id.team.is_empty()
}

impl Snapshot {
    /// Validates `doc` (revision included) and builds its indexes.
    pub fn new(doc: Document) -> Result<Snapshot, InvalidDocument> {
        doc.validate()?;
        Ok(Snapshot::build(doc))
    }

    /// Parses, verifies and indexes a `policy.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, InvalidDocument> {
        Ok(Snapshot::build(Document::from_json(bytes)?))
    }

    fn build(mut doc: Document) -> Snapshot {
        doc.grants.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let tools = doc.tools.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        let mut by_human: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_agent: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_team: HashMap<String, Vec<u32>> = HashMap::new();
        let mut grants = Vec::with_capacity(doc.grants.len());
        for (i, g) in doc.grants.iter().enumerate() {
            let pos = i as u32;
            if !g.human_id.is_empty() {
                by_human.entry(g.human_id.clone()).or_default().push(pos);
            } else if !g.agent_id.is_empty() {
                by_agent.entry(g.agent_id.clone()).or_default().push(pos);
            } else if !g.team_id.is_empty() {
                by_team.entry(g.team_id.clone()).or_default().push(pos);
            }
            let constraints = g
                .tool_rules
                .iter()
                .map(|r| {
                    r.arguments
                        .iter()
                        // Validation already compiled every constraint successfully.
                        .filter_map(|(arg, c)| CompiledConstraint::compile(c).ok().map(|c| (arg.clone(), c)))
                        .collect()
                })
                .collect();
            grants.push(CompiledGrant {
                expiry: Expiry::parse(g.expires_at.as_deref()),
                rules: g.tool_rules.iter().enumerate().map(|(j, r)| (r.name.clone(), j)).collect(),
                constraints,
            });
        }
        let mut sessions_by_name: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, s) in doc.sessions.iter().enumerate() {
            sessions_by_name.entry(s.name.clone()).or_default().push(i as u32);
        }
        let session_expiry = doc.sessions.iter().map(|s| Expiry::parse(s.expires_at.as_deref())).collect();
        Snapshot { doc, tools, grants, by_human, by_agent, by_team, sessions_by_name, session_expiry }
    }

    /// The document this snapshot was built from.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// Decides one request. `budgets` counts allowed tool calls against `maxCalls` and
    /// `ratePerMinute` of the deciding grant (per caller) and the session (charged only when
    /// `req.charge`). Under `policy.mode: observe` the enforcement decision is returned
    /// allowed and [`Decision::observed`] (except for [`Call::Indeterminate`]).
    pub fn evaluate(&self, req: &Request<'_>, budgets: &dyn Budgets) -> Decision {
        let mut d = self.decide(req, &Mode { check_arguments: true, budgets: Some(budgets) });
        if self.doc.policy.mode == PolicyMode::Observe && !matches!(req.call, Call::Indeterminate) {
            d.would_allow = d.allowed;
            d.allowed = true;
            d.observed = true;
        }
        d
    }

    /// The tools `identity` may call (argument constraints and budgets aside), for filtering
    /// `tools/list`. `All` when discovery filtering is off or the policy only observes.
    pub fn visible_tools(&self, identity: &Identity, now: Timestamp) -> ToolVisibility {
        if !self.doc.policy.filter_discovery || self.doc.policy.mode == PolicyMode::Observe {
            return ToolVisibility::All;
        }
        let mode = Mode { check_arguments: false, budgets: None };
        let visible = self
            .doc
            .tools
            .iter()
            .filter(|tool| {
                let call = Call::Tool { name: &tool.name, arguments: None, drifted: false };
                self.decide(&Request { identity, call, now, charge: false }, &mode).allowed
            })
            .map(|tool| tool.name.clone())
            .collect();
        ToolVisibility::Only(visible)
    }

    /// Positions of the grants whose subject matches `id`, in (namespace, name) order.
    fn matching_grants(&self, id: &Identity) -> Vec<u32> {
        let mut out = Vec::new();
        for (index, key) in
            [(&self.by_human, &id.human), (&self.by_agent, &id.agent), (&self.by_team, &id.team)]
        {
            if key.is_empty() {
                continue;
            }
            if let Some(list) = index.get(key.as_str()) {
                out.extend(list.iter().copied().filter(|&i| grant_matches(&self.doc.grants[i as usize], id)));
            }
        }
        out.sort_unstable();
        out
    }

    /// The session `identity` presents, when it exists for that caller and is neither revoked
    /// nor expired at `now`.
    pub fn active_session(&self, identity: &Identity, now: Timestamp) -> Option<&Session> {
        if identity.session.is_empty() {
            return None;
        }
        let i = self.find_session(identity)?;
        let session = &self.doc.sessions[i];
        (!session.revoked && !self.session_expiry[i].is_expired(now)).then_some(session)
    }

    fn find_session(&self, id: &Identity) -> Option<usize> {
        self.sessions_by_name
            .get(id.session.as_str())?
            .iter()
            .map(|&i| i as usize)
            .find(|&i| session_matches(&self.doc.sessions[i], id))
    }

    /// The session checks shared by tool calls and capability methods: required and absent →
    /// `missing_session`; presented and revoked → `session_revoked`; presented and expired →
    /// `session_expired`; required and unknown → `session_not_found`. Records the session found.
    fn check_session(
        &self,
        id: &Identity,
        now: Timestamp,
        d: &mut Decision,
    ) -> Result<Option<&Session>, Reason> {
        let session_required = self.doc.session.required;
        if id.session.is_empty() {
            return if session_required { Err(Reason::MissingSession) } else { Ok(None) };
        }
        match self.find_session(id) {
            Some(i) => {
                let s = &self.doc.sessions[i];
                d.matched_session = Some(object_ref(&s.namespace, &s.name));
                if s.revoked {
                    return Err(Reason::SessionRevoked);
                }
                if self.session_expiry[i].is_expired(now) {
                    return Err(Reason::SessionExpired);
                }
                Ok(Some(s))
            }
            None if session_required => Err(Reason::SessionNotFound),
            None => Ok(None),
        }
    }

    /// A capability method: identity, session, then an enabled, unexpired matching grant.
    fn decide_capability(&self, req: &Request<'_>) -> Decision {
        let policy = &self.doc.policy;
        let mut d = Decision::new(false, Reason::Undecided);
        d.policy_version = policy.policy_version.clone();
        let finish = |mut d: Decision, allowed: bool, reason: Reason| {
            d.allowed = allowed;
            d.would_allow = allowed;
            d.reason = reason;
            d
        };
        let id = req.identity;
        if !has_identity(id) {
            return finish(d, false, Reason::MissingIdentity);
        }
        if let Err(reason) = self.check_session(id, req.now, &mut d) {
            return finish(d, false, reason);
        }
        let mut expired = false;
        for pos in self.matching_grants(id) {
            let grant = &self.doc.grants[pos as usize];
            if grant.disabled {
                continue;
            }
            if self.grants[pos as usize].expiry.is_expired(req.now) {
                expired = true;
                continue;
            }
            d.matched_grant = Some(object_ref(&grant.namespace, &grant.name));
            if !grant.policy_version.is_empty() {
                d.policy_version = grant.policy_version.clone();
            }
            return finish(d, true, Reason::Allowed);
        }
        if expired {
            return finish(d, false, Reason::GrantExpired);
        }
        finish(d, policy.default_decision == PolicyDecision::Allow, Reason::MethodNotGranted)
    }

    fn decide(&self, req: &Request<'_>, mode: &Mode<'_>) -> Decision {
        let policy = &self.doc.policy;
        let (tool_name, arguments, drifted) = match req.call {
            Call::Method(_) => {
                let allowed = has_identity(req.identity);
                let reason = if allowed { Reason::Allowed } else { Reason::MissingIdentity };
                let mut d = Decision::new(allowed, reason);
                d.policy_version = policy.policy_version.clone();
                return d;
            }
            Call::Capability(_) => return self.decide_capability(req),
            Call::Indeterminate => {
                let mut d = Decision::deny(Reason::RpcInspectionFailed);
                d.policy_version = policy.policy_version.clone();
                return d;
            }
            Call::Tool { name, arguments, drifted } => (name, arguments, drifted),
        };

        // Tool metadata first, so every decision (observe mode included) carries it.
        let tool = self.tools.get(tool_name).map(|&i| &self.doc.tools[i]);
        let mut required = tool.map_or(TrustLevel::Low, |t| t.required_trust);
        let side_effect = tool.and_then(|t| t.side_effect);
        let risk =
            tool.and_then(|t| t.risk_level).unwrap_or_else(|| RiskLevel::derive(side_effect, required));
        let mut d = Decision::new(false, Reason::Undecided);
        d.required_side_effect = side_effect;
        d.risk_level = Some(risk);
        d.policy_version = policy.policy_version.clone();
        let finish = |mut d: Decision, allowed: bool, reason: Reason, required: TrustLevel| {
            d.allowed = allowed;
            d.would_allow = allowed;
            d.reason = reason;
            d.required_trust = Some(required);
            d
        };

        let id = req.identity;
        if !has_identity(id) {
            return finish(d, false, Reason::MissingIdentity, required);
        }

        let session = match self.check_session(id, req.now, &mut d) {
            Ok(session) => session,
            Err(reason) => return finish(d, false, reason, required),
        };

        if drifted && policy.on_tool_drift == ToolDriftAction::Deny {
            return finish(d, false, Reason::ToolDefinitionChanged, required);
        }

        let default_allows = policy.default_decision == PolicyDecision::Allow;
        let matching = self.matching_grants(id);
        if matching.is_empty() {
            return finish(d, default_allows, Reason::NoMatchingGrant, required);
        }

        let mut allowed_by: Option<usize> = None; // first grant that allows the tool
        let mut decisive: Option<usize> = None; // grant with the highest trust permitting the side effect
        let mut admin: Option<TrustLevel> = None;
        let mut expired_would_allow = false;
        let mut violation: Option<ArgumentViolation> = None;
        for &pos in &matching {
            let gi = pos as usize;
            let grant = &self.doc.grants[gi];
            if grant.disabled {
                continue;
            }
            let compiled = &self.grants[gi];
            let rule = compiled.rules.get(tool_name).map(|&j| (j, &grant.tool_rules[j]));
            if compiled.expiry.is_expired(req.now) {
                let would_allow = match rule {
                    None => grant.tool_rules.is_empty(),
                    Some((_, r)) => r.decision == PolicyDecision::Allow,
                };
                expired_would_allow |= would_allow;
                continue;
            }
            let rule_trust = match rule {
                Some((_, r)) if r.decision == PolicyDecision::Deny => {
                    d.matched_grant = Some(object_ref(&grant.namespace, &grant.name));
                    if !grant.policy_version.is_empty() {
                        d.policy_version = grant.policy_version.clone();
                    }
                    return finish(d, false, Reason::ToolDenied, required);
                }
                Some((j, r)) => {
                    if mode.check_arguments {
                        let args = arguments.and_then(Value::as_object);
                        let broken = compiled.constraints[j].iter().find_map(|(arg, c)| {
                            c.check(args.and_then(|a| a.get(arg))).err().map(|b| (arg, b))
                        });
                        if let Some((arg, b)) = broken {
                            violation.get_or_insert_with(|| ArgumentViolation {
                                grant: object_ref(&grant.namespace, &grant.name),
                                argument: arg.clone(),
                                rule: b.rule,
                            });
                            continue;
                        }
                    }
                    Some(r.required_trust)
                }
                None if grant.tool_rules.is_empty() => None,
                None => continue,
            };
            allowed_by.get_or_insert(gi);
            if side_effect.is_some_and(|se| grant.allowed_side_effects.contains(&se)) {
                if admin.is_none_or(|a| grant.max_trust > a) {
                    admin = Some(grant.max_trust);
                    decisive = Some(gi);
                }
                if let Some(t) = rule_trust.filter(|t| *t > required) {
                    required = t;
                }
            }
        }

        let Some(first_allowing) = allowed_by else {
            if let Some(v) = violation {
                d.matched_grant = Some(v.grant.clone());
                d.argument = Some(v);
                return finish(d, false, Reason::ArgumentNotAllowed, required);
            }
            if expired_would_allow {
                return finish(d, false, Reason::GrantExpired, required);
            }
            return finish(d, default_allows, Reason::ToolNotGranted, required);
        };

        let attributed = &self.doc.grants[decisive.unwrap_or(first_allowing)];
        d.matched_grant = Some(object_ref(&attributed.namespace, &attributed.name));
        if !attributed.policy_version.is_empty() {
            d.policy_version = attributed.policy_version.clone();
        }
        if side_effect.is_none() {
            return finish(d, false, Reason::ToolSideEffectUnknown, required);
        }
        let Some(admin) = admin else {
            return finish(d, false, Reason::SideEffectNotAllowed, required);
        };
        let consented = session.map_or(admin, |s| s.consented_trust);
        let effective = admin.min(consented);
        d.admin_trust = Some(admin);
        d.consented_trust = Some(consented);
        d.effective_trust = Some(effective);
        if effective < required {
            return finish(d, false, Reason::TrustTooLow, required);
        }

        if let Some(budgets) = mode.budgets {
            let mut charges = Vec::new();
            if attributed.max_calls.is_some() || attributed.rate_per_minute.is_some() {
                charges.push(Charge {
                    key: BudgetKey::Grant {
                        namespace: attributed.namespace.clone(),
                        name: attributed.name.clone(),
                        subject: BudgetKey::subject(&id.human, &id.agent, &id.team),
                    },
                    max_calls: attributed.max_calls,
                    rate_per_minute: attributed.rate_per_minute,
                });
            }
            if let Some(s) = session.filter(|s| s.max_calls.is_some() || s.rate_per_minute.is_some()) {
                charges.push(Charge {
                    key: BudgetKey::Session { namespace: s.namespace.clone(), name: s.name.clone() },
                    max_calls: s.max_calls,
                    rate_per_minute: s.rate_per_minute,
                });
            }
            let verdict = if charges.is_empty() {
                Ok(())
            } else if req.charge {
                budgets.admit(&charges, req.now)
            } else {
                budgets.check(&charges, req.now)
            };
            if let Err(refusal) = verdict {
                let reason = match refusal {
                    BudgetRefusal::Exhausted { .. } => Reason::BudgetExhausted,
                    BudgetRefusal::RateLimited { .. } => Reason::RateLimited,
                };
                d.budget = Some(refusal);
                return finish(d, false, reason, required);
            }
        }
        finish(d, true, Reason::Allowed, required)
    }
}
