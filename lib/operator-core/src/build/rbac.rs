//! Per-server RBAC for fast policy delivery, and the namespace's workload service account.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

use super::ServerView;
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL, WORKLOAD_SERVICE_ACCOUNT, policy_name};

/// The Role `<name>-gateway-policy`: read and watch exactly the server's policy ConfigMap
/// (`resourceNames`; list and watch are allowed because the gateway asks with a
/// `metadata.name` field selector).
pub fn gateway_role(view: &ServerView) -> Role {
    Role {
        metadata: view.child_meta(policy_name(&view.name)),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".to_string()]),
            resource_names: Some(vec![policy_name(&view.name)]),
            verbs: vec!["get".to_string(), "list".to_string(), "watch".to_string()],
            non_resource_urls: None,
        }]),
    }
}

/// Binds [`gateway_role`] to the namespace's workload service account.
pub fn gateway_role_binding(view: &ServerView) -> RoleBinding {
    RoleBinding {
        metadata: view.child_meta(policy_name(&view.name)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "Role".to_string(),
            name: policy_name(&view.name),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: WORKLOAD_SERVICE_ACCOUNT.to_string(),
            namespace: Some(view.namespace.clone()),
            api_group: None,
        }]),
    }
}

/// The shared `mcp-workload` service account of a namespace: no automounted token. It is
/// namespace infrastructure (also shipped as a template in `deploy/base`), owned by no single
/// server, so deleting one server never removes it from under the others.
pub fn workload_service_account(namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(WORKLOAD_SERVICE_ACCOUNT.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
            ..ObjectMeta::default()
        },
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}
