//! Tests of rendering, validation and evaluation. Scenario tables mirror the reference E2E
//! suite (smoke-auth, governance, trust, multitenancy) but run on rendered documents.

mod arguments;
mod methods;
mod props;
mod reasons;
mod render;
mod scenarios;

use jiff::Timestamp;
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use serde_json::Value;

use crate::{Call, Decision, Identity, MemoryBudgets, RenderContext, Request, Snapshot};

/// A fixed "now" for deterministic expiry checks.
pub(crate) fn now() -> Timestamp {
    "2026-11-26T12:00:00Z".parse().expect("valid timestamp")
}

/// Custom resources parsed from a multi-document YAML fixture.
#[derive(Clone, Debug, Default)]
pub(crate) struct World {
    pub servers: Vec<MCPServer>,
    pub grants: Vec<MCPAccessGrant>,
    pub sessions: Vec<MCPAgentSession>,
    pub budgets: std::sync::Arc<MemoryBudgets>,
}

impl World {
    pub fn from_yaml(text: &str) -> World {
        let mut world = World::default();
        for value in mcp_api::yaml::from_multiple::<serde_json::Value>(text).expect("fixture YAML") {
            if value.is_null() {
                continue;
            }
            let kind = value.get("kind").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
            match kind.as_str() {
                "MCPServer" => world.servers.push(serde_json::from_value(value).expect("MCPServer")),
                "MCPAccessGrant" => world.grants.push(serde_json::from_value(value).expect("MCPAccessGrant")),
                "MCPAgentSession" => {
                    world.sessions.push(serde_json::from_value(value).expect("MCPAgentSession"))
                }
                other => panic!("unexpected kind {other:?} in fixture"),
            }
        }
        world
    }

    pub fn workspace_assistant() -> World {
        World::from_yaml(include_str!("fixtures/workspace-assistant.yaml"))
    }

    pub fn server(&mut self, name: &str) -> &mut MCPServer {
        self.servers.iter_mut().find(|s| s.metadata.name.as_deref() == Some(name)).expect("server")
    }

    pub fn grant(&mut self, name: &str) -> &mut MCPAccessGrant {
        self.grants.iter_mut().find(|g| g.metadata.name.as_deref() == Some(name)).expect("grant")
    }

    pub fn session(&mut self, name: &str) -> &mut MCPAgentSession {
        self.sessions.iter_mut().find(|s| s.metadata.name.as_deref() == Some(name)).expect("session")
    }

    pub fn snapshot(&self, server: &str) -> Snapshot {
        let server =
            self.servers.iter().find(|s| s.metadata.name.as_deref() == Some(server)).expect("server");
        let ctx = RenderContext { cluster: "local".into(), ..RenderContext::default() };
        let doc = crate::render(server, &self.grants, &self.sessions, &ctx).expect("render");
        Snapshot::new(doc).expect("valid snapshot")
    }

    /// Calls `tool` on `server` as `who`; budgets persist across calls on the same world.
    pub fn call(&self, server: &str, who: &Identity, tool: &str, args: Option<Value>) -> Decision {
        let snapshot = self.snapshot(server);
        let call = Call::Tool { name: tool, arguments: args.as_ref(), drifted: false };
        snapshot.evaluate(&Request { identity: who, call, now: now(), charge: true }, self.budgets.as_ref())
    }
}

/// The two-tenant fixture of the multitenancy scenario.
pub(crate) fn scenarios_fixture() -> &'static str {
    scenarios::TENANTS
}

/// An identity; `""` leaves a field unset.
pub(crate) fn who(human: &str, agent: &str, team: &str, session: &str) -> Identity {
    Identity { human: human.into(), agent: agent.into(), team: team.into(), session: session.into() }
}

/// The E2E suite's primary identity: `user-123` / `ops-agent` with session `sess-ops-agent`.
pub(crate) fn ops() -> Identity {
    who("user-123", "ops-agent", "team-a", "sess-ops-agent")
}
