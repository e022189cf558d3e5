//! Validation of a policy document's content (shared by the renderer and the gateway).

use std::collections::BTreeSet;

use crate::args::CompiledConstraint;
use crate::document::{Document, Jwk, SCHEMA_VERSION};
use crate::error::{InvalidDocument, Problem};
use mcp_api::AuthMode;

struct Collector(Vec<Problem>);

impl Collector {
    fn add(&mut self, field: String, message: impl Into<String>) {
        self.0.push(Problem { field, message: message.into() });
    }
}

impl Document {
    /// Validates the whole document, revision included.
    pub fn validate(&self) -> Result<(), InvalidDocument> {
        if self.revision.is_empty() {
            return Err(InvalidDocument::single("revision", "is empty"));
        }
        let expected = self.compute_revision();
        if self.revision != expected {
            return Err(InvalidDocument::single(
                "revision",
                format!("{:?} does not match the content ({expected})", self.revision),
            ));
        }
        self.validate_content()
    }

    /// Validates everything but the revision.
    pub fn validate_content(&self) -> Result<(), InvalidDocument> {
        let mut c = Collector(Vec::new());
        if self.schema_version != SCHEMA_VERSION {
            c.add(
                "schema_version".into(),
                format!("unsupported schema version {:?} (expected {SCHEMA_VERSION:?})", self.schema_version),
            );
        }
        if self.server.name.trim().is_empty() {
            c.add("server.name".into(), "is required");
        }
        if self.auth.mode == AuthMode::Oauth && self.auth.issuer_url.trim().is_empty() {
            c.add("auth.issuer_url".into(), "is required when auth.mode is oauth");
        }
        if let Some(platform) = &self.auth.platform {
            if platform.issuer.trim().is_empty() {
                c.add("auth.platform.issuer".into(), "is required");
            }
            let mut kids = BTreeSet::new();
            for (i, key) in platform.jwks.keys.iter().enumerate() {
                let at = format!("auth.platform.jwks.keys[{i}]");
                check_jwk(&mut c, &at, key);
                if !kids.insert(key.kid.as_str()) {
                    c.add(format!("{at}.kid"), format!("duplicate key id {:?}", key.kid));
                }
            }
        }

        let mut tools = BTreeSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            if tool.name.trim().is_empty() {
                c.add(format!("tools[{i}].name"), "is required");
            } else if !tools.insert(tool.name.as_str()) {
                c.add(format!("tools[{i}].name"), format!("duplicate tool {:?}", tool.name));
            }
        }

        let mut grants = BTreeSet::new();
        for (i, grant) in self.grants.iter().enumerate() {
            let at = format!("grants[{i}]");
            if grant.name.trim().is_empty() {
                c.add(format!("{at}.name"), "is required");
            } else if !grants.insert((grant.namespace.as_str(), grant.name.as_str())) {
                c.add(format!("{at}.name"), format!("duplicate grant {}/{}", grant.namespace, grant.name));
            }
            let mut effects = BTreeSet::new();
            for effect in &grant.allowed_side_effects {
                if !effects.insert(*effect) {
                    c.add(format!("{at}.allowed_side_effects"), format!("duplicate side effect {effect}"));
                }
            }
            if grant.max_calls == Some(0) {
                c.add(format!("{at}.max_calls"), "must be at least 1");
            }
            if grant.rate_per_minute == Some(0) {
                c.add(format!("{at}.rate_per_minute"), "must be at least 1");
            }
            let mut rules = BTreeSet::new();
            for (j, rule) in grant.tool_rules.iter().enumerate() {
                let rat = format!("{at}.tool_rules[{j}]");
                if rule.name.trim().is_empty() {
                    c.add(format!("{rat}.name"), "is required");
                } else if !rules.insert(rule.name.as_str()) {
                    c.add(format!("{rat}.name"), format!("duplicate tool rule {:?}", rule.name));
                }
                for (arg, constraint) in &rule.arguments {
                    if let Err(message) = CompiledConstraint::compile(constraint) {
                        c.add(format!("{rat}.arguments.{arg}"), message);
                    }
                }
            }
        }

        let mut sessions = BTreeSet::new();
        for (i, session) in self.sessions.iter().enumerate() {
            let at = format!("sessions[{i}]");
            if session.name.trim().is_empty() {
                c.add(format!("{at}.name"), "is required");
            } else if !sessions.insert((session.namespace.as_str(), session.name.as_str())) {
                c.add(
                    format!("{at}.name"),
                    format!("duplicate session {}/{}", session.namespace, session.name),
                );
            }
            if session.human_id.is_empty() && session.agent_id.is_empty() && session.team_id.is_empty() {
                c.add(at.to_string(), "has an empty subject");
            }
            if session.max_calls == Some(0) {
                c.add(format!("{at}.max_calls"), "must be at least 1");
            }
            if session.rate_per_minute == Some(0) {
                c.add(format!("{at}.rate_per_minute"), "must be at least 1");
            }
        }

        if c.0.is_empty() { Ok(()) } else { Err(InvalidDocument { problems: c.0 }) }
    }
}

fn is_base64url(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_jwk(c: &mut Collector, at: &str, key: &Jwk) {
    if key.kid.trim().is_empty() {
        c.add(format!("{at}.kid"), "is required");
    }
    match (key.kty.as_str(), key.crv.as_str()) {
        ("OKP", "Ed25519") => {
            if key.alg.as_deref().is_some_and(|a| a != "EdDSA") {
                c.add(format!("{at}.alg"), "must be EdDSA for an Ed25519 key");
            }
        }
        ("EC", "P-256") => {
            if key.alg.as_deref().is_some_and(|a| a != "ES256") {
                c.add(format!("{at}.alg"), "must be ES256 for a P-256 key");
            }
            if !key.y.as_deref().is_some_and(is_base64url) {
                c.add(format!("{at}.y"), "must be base64url");
            }
        }
        (kty, crv) => c.add(
            format!("{at}.kty"),
            format!("unsupported key {kty}/{crv} (expected OKP/Ed25519 or EC/P-256)"),
        ),
    }
    if !is_base64url(&key.x) {
        c.add(format!("{at}.x"), "must be base64url");
    }
}
