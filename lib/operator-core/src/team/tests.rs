//! Golden tests of a team's objects, and the properties the NetworkPolicies must keep.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::{NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mcp_api::MCPServer;

use super::*;
use crate::build::{ServerView, Track, deployment};
use crate::config::OperatorConfig;

#[test]
fn team_objects_snapshot() {
    let objects = team_objects("payments", &TeamNetwork::default()).expect("valid slug");
    insta::assert_yaml_snapshot!("team_payments", objects.all());
}

#[test]
fn api_server_cidrs_replace_the_any_address_rule() {
    let network =
        TeamNetwork { api_server_cidrs: vec!["172.18.0.2/32".to_string()], ..TeamNetwork::default() };
    let policy = servers_policy("mcp-team-a", &network);
    insta::assert_yaml_snapshot!("servers_policy_api_cidr", policy.spec.expect("spec").egress);
}

#[test]
fn slugs_are_dns_labels_that_fit_a_namespace() {
    for good in ["a", "payments", "team-7", &"x".repeat(MAX_SLUG_LEN)] {
        assert_eq!(validate_slug(good), Ok(()), "{good}");
        assert_eq!(team_slug(&team_namespace(good)), Some(good));
        assert!(team_namespace(good).len() <= 63);
    }
    for bad in ["", "A", "-a", "a-", "a_b", "a.b", "ü", &"x".repeat(MAX_SLUG_LEN + 1)] {
        assert!(validate_slug(bad).is_err(), "{bad:?}");
        assert!(team_objects(bad, &TeamNetwork::default()).is_err());
    }
    assert_eq!(team_slug("mcp-servers"), None);
    assert_eq!(team_slug("mcp-team-"), None);
}

fn ports_reach(ports: &Option<Vec<NetworkPolicyPort>>, number: i32, name: &str) -> bool {
    let Some(ports) = ports else { return true };
    ports.iter().any(|p| match &p.port {
        None => true,
        Some(IntOrString::String(n)) => n == name,
        Some(IntOrString::Int(start)) => {
            p.protocol.as_deref() == Some("TCP") && *start <= number && number <= p.end_port.unwrap_or(*start)
        }
    })
}

fn peer_namespace(peer: &NetworkPolicyPeer) -> Option<String> {
    peer.namespace_selector.as_ref()?.match_labels.as_ref()?.get("kubernetes.io/metadata.name").cloned()
}

/// The admin port (9103) is reached only by Prometheus and the operator: no other rule of
/// either policy admits TCP 9103 (the same-namespace rule goes around it).
#[test]
fn only_prometheus_and_the_operator_reach_the_admin_port() {
    let objects = team_objects("a", &TeamNetwork::default()).expect("valid");
    let mut admitted = Vec::new();
    for policy in &objects.network_policies {
        for rule in policy.spec.as_ref().and_then(|s| s.ingress.as_ref()).into_iter().flatten() {
            if ports_reach(&rule.ports, ADMIN_PORT, crate::names::ADMIN_PORT_NAME) {
                for peer in rule.from.iter().flatten() {
                    admitted.push(peer_namespace(peer).unwrap_or_else(|| "same namespace".to_string()));
                }
            }
        }
    }
    assert_eq!(admitted, [OBSERVABILITY_NAMESPACE, OPERATOR_NAMESPACE]);
}

/// The ingress controller reaches the gateway's port and nothing else; the port name is the
/// one the deployment builder gives the gateway container, and the servers policy selects the
/// pods that builder labels.
#[test]
fn the_servers_policy_matches_what_the_builders_make() {
    let server: MCPServer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s", "namespace": "mcp-team-a", "uid": "u"},
        "spec": {"image": "example/app:1", "gateway": {"enabled": true, "port": 9000}},
    }))
    .expect("server");
    let cfg = OperatorConfig { gateway_image: Some("gw:1".to_string()), ..OperatorConfig::default() };
    let view = ServerView::new(&server, &cfg).expect("view");
    let d: Deployment = deployment(&view, &cfg, Track::Stable);
    let pod = d.spec.expect("spec").template;
    let labels = pod.metadata.and_then(|m| m.labels).expect("pod labels");
    let gateway_port = pod
        .spec
        .expect("pod spec")
        .containers
        .iter()
        .flat_map(|c| c.ports.clone().unwrap_or_default())
        .find(|p| p.container_port == 9000)
        .and_then(|p| p.name)
        .expect("gateway port");

    let policy = servers_policy("mcp-team-a", &TeamNetwork::default()).spec.expect("spec");
    let selected = policy.pod_selector.and_then(|s| s.match_labels).expect("selector");
    assert!(selected.iter().all(|(k, v)| labels.get(k) == Some(v)), "{selected:?} vs {labels:?}");
    let ingress = policy.ingress.expect("ingress");
    let from_controller: Vec<_> = ingress
        .iter()
        .filter(|r| r.from.iter().flatten().any(|p| peer_namespace(p).as_deref() == Some(INGRESS_NAMESPACE)))
        .collect();
    assert_eq!(from_controller.len(), 1);
    assert_eq!(
        from_controller[0].ports.as_deref(),
        Some(
            &[NetworkPolicyPort {
                protocol: Some("TCP".to_string()),
                port: Some(IntOrString::String(gateway_port)),
                end_port: None
            }][..]
        )
    );
}

#[test]
fn bindings_name_the_platform_and_the_operator() {
    let bindings = role_bindings("mcp-team-a");
    let shown: Vec<(String, String, String)> = bindings
        .iter()
        .map(|b| {
            let s = &b.subjects.as_ref().expect("subjects")[0];
            (b.role_ref.name.clone(), s.namespace.clone().unwrap_or_default(), s.name.clone())
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                PLATFORM_TEAM_ROLE.to_string(),
                PLATFORM_NAMESPACE.to_string(),
                PLATFORM_SERVICE_ACCOUNT.to_string()
            ),
            (OPERATOR_TEAM_ROLE.to_string(), OPERATOR_NAMESPACE.to_string(), OPERATOR_NAME.to_string()),
        ]
    );
}
