//! Schema helpers for fields whose shape Kubernetes' structural schemas cannot express directly.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Any JSON value (string, number, boolean, list or object).
pub(crate) fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// A list of arbitrary JSON values.
pub(crate) fn any_value_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "x-kubernetes-preserve-unknown-fields": true }
    })
}
