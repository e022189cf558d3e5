//! The policy ConfigMap `<name>-gateway-policy` and the decision whether to write it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use mcp_policy::Document;

use super::ServerView;
use crate::names::{POLICY_KEY, POLICY_REVISION_ANNOTATION, policy_name};

/// The ConfigMap holding `policy.json` (pretty-printed) and its revision as an annotation.
pub fn policy_config_map(view: &ServerView, doc: &Document) -> ConfigMap {
    let mut meta = view.child_meta(policy_name(&view.name));
    meta.annotations = Some(BTreeMap::from([(POLICY_REVISION_ANNOTATION.to_string(), doc.revision.clone())]));
    ConfigMap {
        metadata: meta,
        data: Some(BTreeMap::from([(POLICY_KEY.to_string(), doc.to_json_pretty())])),
        ..ConfigMap::default()
    }
}

/// What to do with the policy ConfigMap.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyPlan {
    /// The ConfigMap already holds this revision, verified: leave it byte for byte (so
    /// `generated_at` does not churn and gateways do not reload).
    Unchanged,
    /// Write this ConfigMap; `previous` is the revision it replaces, if any.
    Write {
        /// The ConfigMap to apply.
        config_map: Box<ConfigMap>,
        /// The revision found before, if one was readable.
        previous: Option<String>,
    },
}

/// The revision stored in an existing policy ConfigMap, when its `policy.json` verifies
/// (parses, and its revision matches its content) and agrees with the annotation.
pub fn verified_revision(existing: &ConfigMap) -> Option<String> {
    let annotated = existing.metadata.annotations.as_ref()?.get(POLICY_REVISION_ANNOTATION)?;
    let text = existing.data.as_ref()?.get(POLICY_KEY)?;
    let doc = Document::from_json(text.as_bytes()).ok()?;
    (&doc.revision == annotated).then_some(doc.revision)
}

/// Decides whether `doc` must be written over `existing`. `verified` is the already verified
/// revision of `existing` when the caller has it cached (see [`verified_revision`]).
pub fn plan_policy(
    view: &ServerView,
    existing: Option<&ConfigMap>,
    verified: Option<String>,
    doc: &Document,
) -> PolicyPlan {
    let previous = existing.and_then(|cm| verified.or_else(|| verified_revision(cm)));
    let owned = existing.is_some_and(|cm| {
        cm.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == view.owner.uid && r.controller == Some(true))
    });
    if owned && previous.as_deref() == Some(doc.revision.as_str()) {
        return PolicyPlan::Unchanged;
    }
    PolicyPlan::Write { config_map: Box::new(policy_config_map(view, doc)), previous }
}
