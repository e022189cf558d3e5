//! The policy document (`policy.json`): what the operator renders and the gateway enforces.

use std::collections::BTreeMap;

use mcp_api::{
    ArgumentConstraint, AuthMode, PolicyDecision, PolicyMode, RiskLevel, SideEffect, ToolDriftAction,
    TrustLevel,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::InvalidDocument;

/// The document schema this crate reads and writes.
pub const SCHEMA_VERSION: &str = "v1";

fn is_false(v: &bool) -> bool {
    !*v
}

/// A rendered policy for one server. Field names are snake_case on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Document {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// `sha256:<hex>` of the canonical JSON with `revision` blanked and `generated_at` removed.
    #[serde(default)]
    pub revision: String,
    /// When the document was rendered; not covered by the revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    /// The server this policy governs.
    pub server: ServerInfo,
    /// How callers are identified.
    #[serde(default)]
    pub auth: AuthSettings,
    /// How calls are decided.
    #[serde(default)]
    pub policy: PolicySettings,
    /// Session requirements.
    #[serde(default)]
    pub session: SessionSettings,
    /// Declared tools.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Grants for this server, sorted by (namespace, name).
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Sessions for this server, sorted by (namespace, name).
    #[serde(default)]
    pub sessions: Vec<Session>,
}

/// Identity of the governed server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerInfo {
    /// MCPServer name.
    pub name: String,
    /// MCPServer namespace.
    #[serde(default)]
    pub namespace: String,
    /// Owning team (`spec.teamID`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id: String,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Public MCP URL, when the route has a host; the audience of platform session tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

/// Caller identification settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuthSettings {
    /// Identity mode.
    #[serde(default)]
    pub mode: AuthMode,
    /// Human id header (`trusted-headers`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub human_id_header: String,
    /// Agent id header (`trusted-headers`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_id_header: String,
    /// Team id header (`trusted-headers`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id_header: String,
    /// Session header (`trusted-headers`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_id_header: String,
    /// Bearer token header.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_header: String,
    /// External issuer (`oauth`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_url: String,
    /// Expected audience of external tokens (`oauth`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// Scopes advertised in protected-resource metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Keys and issuer of platform session tokens (`platform-session`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformTrust>,
}

/// What a gateway needs to verify platform-issued session tokens offline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformTrust {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Public verification keys.
    pub jwks: Jwks,
}

/// A JSON Web Key Set (RFC 7517) of public keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One public JSON Web Key: Ed25519 (`kty: OKP`) or P-256 (`kty: EC`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Jwk {
    /// Key type: `OKP` or `EC`.
    pub kty: String,
    /// Curve: `Ed25519` or `P-256`.
    pub crv: String,
    /// Public key (base64url).
    pub x: String,
    /// Second coordinate for `EC` keys (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Key id, matched against a token's `kid` header.
    pub kid: String,
    /// Algorithm: `EdDSA` or `ES256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use (`sig`).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// Decision settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicySettings {
    /// `allow-list` or `observe`.
    pub mode: PolicyMode,
    /// Outcome when no grant matches or allows.
    pub default_decision: PolicyDecision,
    /// What is enforced (informational).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enforce_on: String,
    /// Default policy version for attribution.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_version: String,
    /// Filter `tools/list` to callable tools.
    #[serde(default = "default_true")]
    pub filter_discovery: bool,
    /// Drift behaviour.
    #[serde(default = "default_drift")]
    pub on_tool_drift: ToolDriftAction,
}

fn default_true() -> bool {
    true
}

fn default_drift() -> ToolDriftAction {
    ToolDriftAction::Report
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            mode: PolicyMode::AllowList,
            default_decision: PolicyDecision::Deny,
            enforce_on: String::new(),
            policy_version: String::new(),
            filter_discovery: true,
            on_tool_drift: ToolDriftAction::Report,
        }
    }
}

/// Session settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSettings {
    /// Whether tool calls need a valid session.
    #[serde(default)]
    pub required: bool,
    /// Session store (informational).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub store: String,
    /// Session header (`trusted-headers`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header_name: String,
    /// Longest session lifetime (informational).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub max_lifetime: String,
    /// Idle timeout (informational).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idle_timeout: String,
    /// Header the upstream credential goes in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub upstream_token_header: String,
}

/// A declared tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    /// Tool name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Trust required to call it.
    #[serde(default)]
    pub required_trust: TrustLevel,
    /// Side effect; `None` when undeclared (calls then fail `tool_side_effect_unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_effect: Option<SideEffect>,
    /// Risk, declared or derived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<RiskLevel>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A grant, flattened for evaluation. Empty subject fields are wildcards; a grant whose
/// subject is entirely empty matches nobody.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    /// Grant name.
    pub name: String,
    /// Grant namespace.
    #[serde(default)]
    pub namespace: String,
    /// Subject human.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub human_id: String,
    /// Subject agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_id: String,
    /// Subject team.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id: String,
    /// Highest trust conferred.
    #[serde(default)]
    pub max_trust: TrustLevel,
    /// Side effects permitted.
    #[serde(default)]
    pub allowed_side_effects: Vec<SideEffect>,
    /// Policy version for attribution.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_version: String,
    /// Disabled grants allow nothing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// RFC 3339 expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Total call budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// Calls per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<u32>,
    /// Per-tool rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_rules: Vec<ToolRule>,
}

/// A per-tool rule of a grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolRule {
    /// Tool name.
    pub name: String,
    /// `allow` or `deny`.
    pub decision: PolicyDecision,
    /// Trust this rule requires.
    #[serde(default)]
    pub required_trust: TrustLevel,
    /// Argument constraints (JSON-Schema keywords: `const`, `enum`, `pattern`, `minimum`,
    /// `maximum`, `maxLength`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, ArgumentConstraint>,
}

/// A session, flattened for evaluation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Session {
    /// Session name (what callers present).
    pub name: String,
    /// Session namespace.
    #[serde(default)]
    pub namespace: String,
    /// Subject human.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub human_id: String,
    /// Subject agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_id: String,
    /// Subject team.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id: String,
    /// Consented trust.
    #[serde(default)]
    pub consented_trust: TrustLevel,
    /// Revoked sessions deny every call that presents them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoked: bool,
    /// RFC 3339 expiry (UTC); unreadable means expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Policy version for attribution.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_version: String,
    /// `secret/key` of the upstream credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_token_ref: Option<String>,
    /// The grant that authorised the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_name: Option<String>,
    /// Total call budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// Calls per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<u32>,
}

impl Document {
    /// Computes the revision of this document's content.
    pub fn compute_revision(&self) -> String {
        // Serializing these plain data types cannot fail; fall back to a value that never
        // verifies rather than panicking.
        match serde_json::to_value(self) {
            Ok(value) => revision_of_value(&value),
            Err(_) => String::from("sha256:unavailable"),
        }
    }

    /// Sets `schema_version` and `revision` from the content.
    pub fn stamp(&mut self) {
        self.schema_version = SCHEMA_VERSION.to_string();
        self.revision = self.compute_revision();
    }

    /// Parses a document, verifying its revision against the bytes as written (before any
    /// defaults are applied) and validating it.
    pub fn from_json(bytes: &[u8]) -> Result<Document, InvalidDocument> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| InvalidDocument::single("", format!("not valid JSON: {e}")))?;
        let doc: Document = serde_json::from_value(value.clone())
            .map_err(|e| InvalidDocument::single("", format!("not a policy document: {e}")))?;
        if doc.schema_version != SCHEMA_VERSION {
            return Err(InvalidDocument::single(
                "schema_version",
                format!("unsupported schema version {:?} (expected {SCHEMA_VERSION:?})", doc.schema_version),
            ));
        }
        let expected = revision_of_value(&value);
        if doc.revision != expected {
            return Err(InvalidDocument::single(
                "revision",
                format!("{:?} does not match the content ({expected})", doc.revision),
            ));
        }
        doc.validate_content()?;
        Ok(doc)
    }

    /// Pretty-printed JSON (2-space indent), as written to the ConfigMap.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The revision of a document given as JSON: `sha256:` + hex of its canonical form with
/// `revision` blanked and `generated_at` removed.
pub fn revision_of_value(value: &Value) -> String {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        map.insert("revision".to_string(), Value::String(String::new()));
        map.remove("generated_at");
    }
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    format!("sha256:{}", hex::encode(Sha256::digest(canonical.as_bytes())))
}

/// Canonical JSON: object keys sorted, no insignificant whitespace.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
