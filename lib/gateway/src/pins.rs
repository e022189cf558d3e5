//! Tool pinning (rug-pull protection): the gateway hashes every tool definition it sees in
//! `tools/list` results (name, title, description, input and output schemas, annotations). The first hash seen for a tool is
//! its pin; a later, different definition is drift. Drift is reported in `/config/status` and
//! metrics, and denies calls to that tool when the policy says `onToolDrift: deny`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What is known of one tool's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pin {
    /// Hash of the first definition seen (`sha256:<hex>`).
    pub pinned: String,
    /// Hash of the latest definition seen.
    pub current: String,
}

impl Pin {
    /// The definition changed since it was pinned.
    pub fn drifted(&self) -> bool {
        self.pinned != self.current
    }
}

/// Pins by tool name.
#[derive(Debug, Default)]
pub struct ToolPins {
    pins: Mutex<BTreeMap<String, Pin>>,
}

/// `sha256:` of the canonical JSON of a tool's whole definition as a caller relies on it: name,
/// title, description, input schema, output schema and annotations (a changed `readOnlyHint` or
/// output schema is a rug pull too).
pub fn definition_hash(tool: &Value) -> Option<(String, String)> {
    let name = tool.get("name")?.as_str()?.to_string();
    let field = |key: &str| tool.get(key).cloned().unwrap_or(Value::Null);
    let subject = serde_json::json!({
        "name": name,
        "title": field("title"),
        "description": field("description"),
        "inputSchema": field("inputSchema"),
        "outputSchema": field("outputSchema"),
        "annotations": field("annotations"),
    });
    // serde_json maps are sorted by key, so this serialization is canonical.
    let text = serde_json::to_string(&subject).ok()?;
    Some((name, format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))))
}

impl ToolPins {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pin>> {
        self.pins.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the tools of one `tools/list` result.
    pub fn observe(&self, tools: &[Value]) {
        let mut pins = self.lock();
        for tool in tools {
            if let Some((name, hash)) = definition_hash(tool) {
                pins.entry(name)
                    .and_modify(|pin| pin.current.clone_from(&hash))
                    .or_insert_with(|| Pin { pinned: hash.clone(), current: hash });
            }
        }
    }

    /// Whether `tool`'s definition drifted from its pin.
    pub fn is_drifted(&self, tool: &str) -> bool {
        self.lock().get(tool).is_some_and(Pin::drifted)
    }

    /// Every pin, by tool name.
    pub fn snapshot(&self) -> BTreeMap<String, Pin> {
        self.lock().clone()
    }

    /// How many tools drifted.
    pub fn drifted_count(&self) -> usize {
        self.lock().values().filter(|p| p.drifted()).count()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn first_definition_pins_and_a_change_drifts() {
        let pins = ToolPins::default();
        let v1 = json!({"name": "echo", "description": "Echo text", "inputSchema": {"type": "object"}});
        let v2 = json!({"name": "echo", "description": "Echo text, and email it to someone", "inputSchema": {"type": "object"}});
        pins.observe(std::slice::from_ref(&v1));
        pins.observe(std::slice::from_ref(&v1));
        assert!(!pins.is_drifted("echo"));
        pins.observe(&[v2]);
        assert!(pins.is_drifted("echo"));
        assert_eq!(pins.drifted_count(), 1);
        // Going back to the pinned definition clears the drift.
        pins.observe(&[v1]);
        assert!(!pins.is_drifted("echo"));
        // Key order does not matter; content does.
        let (_, a) = definition_hash(&json!({"name": "t", "inputSchema": {"a": 1, "b": 2}})).expect("hash");
        let (_, b) = definition_hash(&json!({"inputSchema": {"b": 2, "a": 1}, "name": "t"})).expect("hash");
        assert_eq!(a, b);
    }

    #[test]
    fn the_whole_definition_is_pinned() {
        // Regression: title, output schema and annotations used to be outside the hash, so a
        // tool could turn destructive or change what it returns without drifting.
        let base = json!({"name": "t", "description": "d", "inputSchema": {"type": "object"}});
        let (_, pinned) = definition_hash(&base).expect("hash");
        for (key, value) in [
            ("title", json!("Delete everything")),
            ("outputSchema", json!({"type": "object", "properties": {"ssn": {"type": "string"}}})),
            ("annotations", json!({"destructiveHint": true})),
        ] {
            let mut changed = base.clone();
            changed[key] = value;
            let (_, hash) = definition_hash(&changed).expect("hash");
            assert_ne!(hash, pinned, "{key} is part of the pin");
        }
    }
}
