//! Names, labels and annotations shared by every object the operator writes, so builders,
//! the controller's watches and the tests agree on them.

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "mcp-operator";

/// `app.kubernetes.io/managed-by`: set on every object the operator writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "mcp-runtime";
/// `app=<server>`: the Service selects both rollout tracks with it.
pub const APP_LABEL: &str = "app";
/// `mcpruntime.org/server=<server>`.
pub const SERVER_LABEL: &str = "mcpruntime.org/server";
/// `mcpruntime.org/rollout-track=stable|canary`.
pub const TRACK_LABEL: &str = "mcpruntime.org/rollout-track";
/// Label selector of everything the operator owns (its watches use it).
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=mcp-runtime";

/// Annotation on the policy ConfigMap carrying the revision of its `policy.json`.
pub const POLICY_REVISION_ANNOTATION: &str = "mcpruntime.org/policy-revision";
/// Key of the rendered policy in its ConfigMap.
pub const POLICY_KEY: &str = "policy.json";
/// Where the gateway container sees the policy ConfigMap.
pub const POLICY_MOUNT: &str = "/var/run/mcp-runtime/policy";
/// Where the gateway spools undelivered audit batches (an `emptyDir`).
pub const SPOOL_MOUNT: &str = "/var/run/mcp-runtime/spool";
/// Where an upstream server's credential (`spec.upstream.credentialSecretRef`) is mounted in the
/// gateway, read-only; the file is [`UPSTREAM_CREDENTIAL_FILE`] (the gateway's `UPSTREAM_TOKEN_FILE`).
pub const UPSTREAM_CREDENTIAL_MOUNT: &str = "/var/run/mcp-runtime/upstream";
/// File name of the upstream credential inside [`UPSTREAM_CREDENTIAL_MOUNT`].
pub const UPSTREAM_CREDENTIAL_FILE: &str = "token";
/// Where the gateway container (only) gets its service-account token for the policy watch.
pub const TOKEN_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Service account of every MCP server pod (token not automounted into the app).
pub const WORKLOAD_SERVICE_ACCOUNT: &str = "mcp-workload";
/// Name of the gateway sidecar container.
pub const GATEWAY_CONTAINER: &str = "mcp-gateway";
/// Service port name of the governed route.
pub const HTTP_PORT_NAME: &str = "http";
/// Container port name of the gateway.
pub const GATEWAY_PORT_NAME: &str = "gateway";
/// Container port name of the gateway's admin listener (`/health`, `/ready`, `/config/status`,
/// `/metrics`): probes, Prometheus and the operator's tool-pin reads go there; the Ingress never
/// does (it routes to the Service's `http` port only).
pub const ADMIN_PORT_NAME: &str = "admin";
/// The gateway's admin port (its `ADMIN_LISTEN_ADDR` is `0.0.0.0:<this>`).
pub const ADMIN_PORT: i32 = mcp_api::GATEWAY_ADMIN_PORT;
/// Service port name Prometheus scrapes; it reaches the gateway's admin port (`/metrics`).
pub const METRICS_PORT_NAME: &str = "metrics";
/// The Service's `metrics` port, the same number as the admin container port (Prometheus's
/// scrape annotation names the pod port).
pub const METRICS_PORT: i32 = ADMIN_PORT;
/// Non-root user and group of every MCP server pod.
pub const RUN_AS_USER: i64 = 65532;

/// Admission webhook path that validates MCPServers.
pub const VALIDATE_SERVER_PATH: &str = "/validate-mcpruntime-org-v1alpha1-mcpserver";
/// Admission webhook path that defaults MCPServers.
pub const MUTATE_SERVER_PATH: &str = "/mutate-mcpruntime-org-v1alpha1-mcpserver";
/// Admission webhook path that validates MCPAccessGrants.
pub const VALIDATE_GRANT_PATH: &str = "/validate-mcpruntime-org-v1alpha1-mcpaccessgrant";
/// Admission webhook path that validates MCPAgentSessions.
pub const VALIDATE_SESSION_PATH: &str = "/validate-mcpruntime-org-v1alpha1-mcpagentsession";

/// `<server>-gateway-policy`: the policy ConfigMap, and the Role and RoleBinding that let the
/// server's gateway watch exactly that ConfigMap.
pub fn policy_name(server: &str) -> String {
    format!("{server}-gateway-policy")
}

/// `<server>-canary`: the canary Deployment.
pub fn canary_name(server: &str) -> String {
    format!("{server}-canary")
}

/// Name of a remote server's egress NetworkPolicy (`spec.upstream`).
pub fn upstream_egress_name(server: &str) -> String {
    format!("{server}-upstream-egress")
}
