//! The egress NetworkPolicy of a remote server (`spec.upstream`): its gateway must reach the
//! remote URL, which a team namespace's default-deny and `platform-mcp-servers` policies do not
//! allow. NetworkPolicies add up, so this one opens exactly the URL's TCP port for this server's
//! pods and nothing else.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ServerView;
use crate::names::{APP_LABEL, upstream_egress_name};

/// The policy `<name>-upstream-egress`, or `None` for a server with an app container (or an
/// upstream URL that does not parse, which validation has already refused).
pub fn upstream_egress(view: &ServerView) -> Option<NetworkPolicy> {
    let upstream = view.spec.upstream.as_ref()?;
    let url = mcp_api::parse_upstream_url(upstream.url.trim()).ok()?;
    let anywhere = |cidr: &str| NetworkPolicyPeer {
        ip_block: Some(IPBlock { cidr: cidr.to_string(), except: None }),
        ..NetworkPolicyPeer::default()
    };
    Some(NetworkPolicy {
        metadata: view.child_meta(upstream_egress_name(&view.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(APP_LABEL.to_string(), view.name.clone())])),
                match_expressions: None,
            }),
            policy_types: Some(vec!["Egress".to_string()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![anywhere("0.0.0.0/0"), anywhere("::/0")]),
                ports: Some(vec![NetworkPolicyPort {
                    protocol: Some("TCP".to_string()),
                    port: Some(IntOrString::Int(i32::from(url.port))),
                    end_port: None,
                }]),
            }]),
            ingress: None,
        }),
    })
}
