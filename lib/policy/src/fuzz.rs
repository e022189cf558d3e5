//! Entry point of the `policy_document` fuzz target (`fuzz/`) and of the corpus replay test:
//! one function, so the committed corpus is replayed exactly as it was fuzzed.
//!
//! The input is tried as a `policy.json` as written (which the revision check almost always
//! refuses), and — when it is a JSON object — once more with a correct `revision` stamped in
//! (and `schema_version` defaulted to `v1`), so the fuzzer reaches validation and evaluation.
//! An optional top-level `fuzz_arguments` member (removed before stamping) becomes the
//! arguments of the evaluated tool calls.

use jiff::Timestamp;
use serde_json::Value;

use crate::{Call, Document, Identity, MemoryBudgets, Request, SCHEMA_VERSION, Snapshot, revision_of_value};

/// Parses, validates and evaluates one fuzz input, checking invariants: no panic;
/// `Snapshot::from_json` accepts exactly what `Document::from_json` accepts; every decision's status agrees with
/// `allowed`. Panics when an invariant breaks. Returns whether a (stamped) document was
/// verified and evaluated.
pub fn document_input(data: &[u8]) -> bool {
    let _ = Snapshot::from_json(data);
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(data) else {
        return false;
    };
    let arguments = object.remove("fuzz_arguments");
    object.entry("schema_version").or_insert_with(|| Value::String(SCHEMA_VERSION.into()));
    let mut value = Value::Object(object);
    let revision = revision_of_value(&value);
    if let Value::Object(object) = &mut value {
        object.insert("revision".into(), Value::String(revision));
    }
    let Ok(bytes) = serde_json::to_vec(&value) else { return false };
    let Ok(doc) = Document::from_json(&bytes) else {
        assert!(Snapshot::from_json(&bytes).is_err(), "a snapshot of a document that does not verify");
        return false;
    };
    let snapshot =
        Snapshot::from_json(&bytes).unwrap_or_else(|e| panic!("a verified document must index: {e}"));
    evaluate_all(&snapshot, &doc, arguments.as_ref());
    true
}

/// Evaluates the first tools, a capability and an identity-only method for the first grants'
/// and sessions' subjects (and an anonymous caller), charged and not, at a fixed time.
fn evaluate_all(snapshot: &Snapshot, doc: &Document, arguments: Option<&Value>) {
    let now: Timestamp = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let budgets = MemoryBudgets::new();
    let mut identities = vec![Identity::default()];
    for g in doc.grants.iter().take(3) {
        let session = doc.sessions.first().map(|s| s.name.clone()).unwrap_or_default();
        identities.push(Identity {
            human: g.human_id.clone(),
            agent: g.agent_id.clone(),
            team: g.team_id.clone(),
            session,
        });
    }
    for s in doc.sessions.iter().take(2) {
        identities.push(Identity {
            human: s.human_id.clone(),
            agent: s.agent_id.clone(),
            team: s.team_id.clone(),
            session: s.name.clone(),
        });
    }
    let mut calls: Vec<Call<'_>> =
        doc.tools.iter().take(6).map(|t| Call::Tool { name: &t.name, arguments, drifted: false }).collect();
    calls.push(Call::Tool { name: "undeclared", arguments, drifted: true });
    calls.extend([Call::Capability("resources/read"), Call::Method("initialize"), Call::Indeterminate]);
    for identity in &identities {
        for call in &calls {
            for charge in [true, false] {
                let d = snapshot.evaluate(&Request { identity, call: *call, now, charge }, &budgets);
                assert_eq!(d.allowed, d.http_status() == 200, "{d:?}");
                assert!(!d.observed || d.allowed, "{d:?}");
                assert!(d.observed || d.allowed == d.would_allow, "{d:?}");
                let _ = d.attribution();
            }
        }
        let _ = snapshot.visible_tools(identity, now);
        let _ = snapshot.active_session(identity, now);
    }
}
