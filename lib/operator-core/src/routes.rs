//! Route ownership: two servers that resolve to the same host and path cannot both have an
//! Ingress. The older one (by creation time, then namespace and name) keeps the route; the
//! newer one gets phase `Error` naming the owner, and no Ingress.

use mcp_api::MCPServer;

use crate::build::{ServerView, route};
use crate::config::OperatorConfig;

/// A server that claims a route, as far as ownership is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Creation time (RFC 3339; empty sorts first).
    pub created: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// (host, path) of the route.
    pub route: (String, String),
}

impl Claim {
    /// The claim of `server`, or `None` when it has no valid spec (it claims nothing).
    pub fn of(server: &MCPServer, cfg: &OperatorConfig) -> Option<Claim> {
        let view = ServerView::new(server, cfg).ok()?;
        let created =
            server.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
        Some(Claim {
            created,
            namespace: view.namespace.clone(),
            name: view.name.clone(),
            route: route(&view),
        })
    }

    fn order_key(&self) -> (&str, &str, &str) {
        (&self.created, &self.namespace, &self.name)
    }
}

/// The claim that owns `mine`'s route when it is not `mine` (the oldest claimant wins).
pub fn owner_of<'a>(mine: &Claim, all: impl IntoIterator<Item = &'a Claim>) -> Option<&'a Claim> {
    all.into_iter()
        .filter(|c| c.route == mine.route && !(c.namespace == mine.namespace && c.name == mine.name))
        .filter(|c| c.order_key() < mine.order_key())
        .min_by(|a, b| a.order_key().cmp(&b.order_key()))
}

/// The status message of a server that lost its route to `owner`.
pub fn conflict_message(mine: &Claim, owner: &Claim) -> String {
    let (host, path) = &mine.route;
    let shown = if host.is_empty() { format!("(any host){path}") } else { format!("{host}{path}") };
    format!(
        "route {shown} is already owned by MCPServer {}/{}; no Ingress was created",
        owner.namespace, owner.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(created: &str, ns: &str, name: &str, path: &str) -> Claim {
        Claim {
            created: created.into(),
            namespace: ns.into(),
            name: name.into(),
            route: ("mcp.example.com".into(), path.into()),
        }
    }

    #[test]
    fn the_oldest_claimant_owns_a_route() {
        let old = claim("2026-01-01T00:00:00Z", "a", "old", "/x/mcp");
        let new = claim("2026-02-01T00:00:00Z", "b", "new", "/x/mcp");
        let other = claim("2025-01-01T00:00:00Z", "c", "other", "/y/mcp");
        let all = [old.clone(), new.clone(), other];
        assert_eq!(owner_of(&new, &all), Some(&old));
        assert_eq!(owner_of(&old, &all), None);
        assert_eq!(
            conflict_message(&new, &old),
            "route mcp.example.com/x/mcp is already owned by MCPServer a/old; no Ingress was created"
        );
        // Same creation second: namespace, then name, decide.
        let twin = claim("2026-01-01T00:00:00Z", "a", "alpha", "/x/mcp");
        assert_eq!(owner_of(&old, &[twin.clone(), old.clone()]), Some(&twin));
    }
}
