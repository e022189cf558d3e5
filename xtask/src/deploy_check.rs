//! Checks of the deploy manifests (`deploy/base` and every overlay), run by `cargo test -p xtask`.
//!
//! Each tree is rendered with `kubectl kustomize`, split into documents, and every document is
//! parsed into its `k8s-openapi` type. The typed object is serialized again and compared with the
//! input, so a misspelled or unknown field (which serde would silently drop) fails the test with
//! the overlay, the object and the field path. On top of that: every container has resources,
//! probes (Jobs excepted) and a non-root security context; the kind overlay only uses the images
//! `cargo xtask kind up --test-mode` pushes; the EKS overlay uses no `:latest` (or untagged) image.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::process::Command;

    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{
        ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount,
    };
    use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use k8s_openapi::api::scheduling::v1::PriorityClass;
    use k8s_openapi::api::storage::v1::StorageClass;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use crate::util::project_root;

    /// Every kustomize tree under `deploy/` that must render.
    const TREES: &[&str] = &["base", "kind", "k3s", "k3s/https", "eks"];

    /// Images built from this repository (`xtask/src/images.rs`).
    const OWN_IMAGES: &[&str] =
        &["mcp-operator", "mcp-gateway", "mcp-sentinel", "mcp-example-server", "mcp-platform"];

    /// One rendered object.
    struct Doc {
        tree: &'static str,
        value: Value,
    }

    impl Doc {
        fn kind(&self) -> &str {
            self.value.get("kind").and_then(Value::as_str).unwrap_or("<no kind>")
        }

        fn api_version(&self) -> &str {
            self.value.get("apiVersion").and_then(Value::as_str).unwrap_or("<no apiVersion>")
        }

        fn name(&self) -> String {
            let meta = self.value.get("metadata");
            let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("<no name>");
            match meta.and_then(|m| m.get("namespace")).and_then(Value::as_str) {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            }
        }

        fn id(&self) -> String {
            format!("deploy/{}: {} {}", self.tree, self.kind(), self.name())
        }
    }

    fn render(tree: &'static str) -> Vec<Doc> {
        render_in(&project_root().join("deploy"), tree)
    }

    /// [`render`] of the tree `tree` of a copy of `deploy/` at `deploy`.
    fn render_in(deploy: &std::path::Path, tree: &'static str) -> Vec<Doc> {
        let dir = deploy.join(tree);
        let output = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
            Ok(output) => output,
            Err(err) => panic!(
                "cannot run `kubectl kustomize {}`: {err}. These tests need kubectl (with its built-in \
                 kustomize) on PATH; install it from https://kubernetes.io/docs/tasks/tools/",
                dir.display()
            ),
        };
        assert!(
            output.status.success(),
            "`kubectl kustomize deploy/{tree}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("kubectl kustomize prints UTF-8");
        let mut docs = Vec::new();
        let values = mcp_api::yaml::from_multiple::<serde_json::Value>(&text)
            .unwrap_or_else(|err| panic!("deploy/{tree}: a rendered document is not YAML: {err}"));
        for value in values {
            docs.push(Doc { tree, value });
        }
        assert!(!docs.is_empty(), "deploy/{tree} renders no objects");
        docs
    }

    /// Parses `doc` as `T`, serializes it again and reports every field the type did not keep.
    fn strict<T: DeserializeOwned + serde::Serialize>(doc: &Doc, failures: &mut Vec<String>) {
        let typed: T = match serde_path_to_error::deserialize(doc.value.clone()) {
            Ok(typed) => typed,
            Err(err) => {
                failures.push(format!("{}: does not parse at `{}`: {}", doc.id(), err.path(), err.inner()));
                return;
            }
        };
        let again = serde_json::to_value(&typed).expect("k8s-openapi objects serialize");
        diff(&doc.value, &again, "", &doc.id(), failures);
    }

    /// Values k8s-openapi drops or normalizes without changing their meaning.
    fn is_vacuous(value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Object(map) => map.is_empty(),
            Value::Array(items) => items.is_empty(),
            _ => false,
        }
    }

    fn diff(input: &Value, typed: &Value, path: &str, id: &str, failures: &mut Vec<String>) {
        match (input, typed) {
            (Value::Object(a), Value::Object(b)) => {
                for (key, value) in a {
                    let here = format!("{path}.{key}");
                    match b.get(key) {
                        Some(other) => diff(value, other, &here, id, failures),
                        None if is_vacuous(value) => {}
                        None => failures
                            .push(format!("{id}: unknown field `{here}` (dropped by the typed parse)")),
                    }
                }
                for (key, value) in b {
                    if !a.contains_key(key) && !is_vacuous(value) {
                        failures.push(format!("{id}: field `{path}.{key}` appeared in the typed object"));
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    diff(x, y, &format!("{path}[{i}]"), id, failures);
                }
            }
            (a, b) if a == b => {}
            // Numbers may change representation (1.0 vs 1) without changing value.
            (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
            (a, b) => failures.push(format!("{id}: field `{path}` reads {a} but the typed object holds {b}")),
        }
    }

    /// Structural check of a custom resource we have no Rust type for: required paths, and the
    /// keys allowed under `spec` (so a misspelling fails here too).
    fn custom(doc: &Doc, required: &[&str], spec_keys: &[&str], failures: &mut Vec<String>) {
        for path in required {
            let found = path.split('.').try_fold(&doc.value, |v, key| match key.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(key),
            });
            if found.is_none_or(is_vacuous) {
                failures.push(format!("{}: missing required field `.{path}`", doc.id()));
            }
        }
        let allowed: BTreeSet<&str> = ["apiVersion", "kind", "metadata", "spec"].into();
        for key in doc.value.as_object().map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default() {
            if !allowed.contains(key.as_str()) {
                failures.push(format!("{}: unknown field `.{key}`", doc.id()));
            }
        }
        if let Some(spec) = doc.value.get("spec").and_then(Value::as_object) {
            for key in spec.keys() {
                if !spec_keys.contains(&key.as_str()) {
                    failures.push(format!("{}: unknown field `.spec.{key}`", doc.id()));
                }
            }
        }
    }

    fn check_types(doc: &Doc, failures: &mut Vec<String>) {
        match (doc.api_version(), doc.kind()) {
            ("v1", "Namespace") => strict::<Namespace>(doc, failures),
            ("v1", "Service") => strict::<Service>(doc, failures),
            ("v1", "ConfigMap") => strict::<ConfigMap>(doc, failures),
            ("v1", "Secret") => strict::<Secret>(doc, failures),
            ("v1", "ServiceAccount") => strict::<ServiceAccount>(doc, failures),
            ("v1", "PersistentVolumeClaim") => strict::<PersistentVolumeClaim>(doc, failures),
            ("v1", "LimitRange") => strict::<LimitRange>(doc, failures),
            ("apps/v1", "Deployment") => strict::<Deployment>(doc, failures),
            ("apps/v1", "StatefulSet") => strict::<StatefulSet>(doc, failures),
            ("apps/v1", "DaemonSet") => strict::<DaemonSet>(doc, failures),
            ("batch/v1", "Job") => strict::<Job>(doc, failures),
            ("batch/v1", "CronJob") => strict::<CronJob>(doc, failures),
            ("policy/v1", "PodDisruptionBudget") => strict::<PodDisruptionBudget>(doc, failures),
            ("networking.k8s.io/v1", "NetworkPolicy") => strict::<NetworkPolicy>(doc, failures),
            ("networking.k8s.io/v1", "Ingress") => strict::<Ingress>(doc, failures),
            ("networking.k8s.io/v1", "IngressClass") => strict::<IngressClass>(doc, failures),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => strict::<ClusterRole>(doc, failures),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                strict::<ClusterRoleBinding>(doc, failures)
            }
            ("rbac.authorization.k8s.io/v1", "Role") => strict::<Role>(doc, failures),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => strict::<RoleBinding>(doc, failures),
            ("storage.k8s.io/v1", "StorageClass") => strict::<StorageClass>(doc, failures),
            ("scheduling.k8s.io/v1", "PriorityClass") => strict::<PriorityClass>(doc, failures),
            ("coordination.k8s.io/v1", "Lease") => strict::<Lease>(doc, failures),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                strict::<CustomResourceDefinition>(doc, failures)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
                strict::<ValidatingWebhookConfiguration>(doc, failures)
            }
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                strict::<MutatingWebhookConfiguration>(doc, failures)
            }
            ("cert-manager.io/v1", "ClusterIssuer" | "Issuer") => custom(
                doc,
                &[
                    "metadata.name",
                    "spec.acme.server",
                    "spec.acme.email",
                    "spec.acme.privateKeySecretRef.name",
                    "spec.acme.solvers.0",
                ],
                &["acme", "ca", "selfSigned", "vault", "venafi"],
                failures,
            ),
            ("cert-manager.io/v1", "Certificate") => custom(
                doc,
                &[
                    "metadata.name",
                    "metadata.namespace",
                    "spec.secretName",
                    "spec.dnsNames.0",
                    "spec.issuerRef.name",
                ],
                &[
                    "secretName",
                    "secretTemplate",
                    "dnsNames",
                    "ipAddresses",
                    "uris",
                    "emailAddresses",
                    "commonName",
                    "subject",
                    "issuerRef",
                    "privateKey",
                    "duration",
                    "renewBefore",
                    "usages",
                    "isCA",
                    "revisionHistoryLimit",
                    "keystores",
                ],
                failures,
            ),
            (api_version, kind) => failures.push(format!(
                "{}: no typed check for {api_version} {kind}: add it to deploy_check.rs",
                doc.id()
            )),
        }
    }

    /// The pod template of a workload, and whether it runs to completion (a Job).
    fn pod_spec(doc: &Doc) -> Option<(&Value, bool)> {
        let spec = doc.value.get("spec")?;
        match doc.kind() {
            "Deployment" | "StatefulSet" | "DaemonSet" => Some((spec.get("template")?.get("spec")?, false)),
            "Job" => Some((spec.get("template")?.get("spec")?, true)),
            "CronJob" => Some((spec.get("jobTemplate")?.get("spec")?.get("template")?.get("spec")?, true)),
            _ => None,
        }
    }

    fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
        ["initContainers", "containers"]
            .into_iter()
            .filter_map(|key| pod.get(key).and_then(Value::as_array))
            .flatten()
    }

    fn check_workload(doc: &Doc, failures: &mut Vec<String>) {
        let Some((pod, job)) = pod_spec(doc) else { return };
        let pod_ctx = pod.get("securityContext");
        let pod_non_root = pod_ctx.and_then(|c| c.get("runAsNonRoot")) == Some(&Value::Bool(true));
        let pod_root_user = pod_ctx.and_then(|c| c.get("runAsUser")).and_then(Value::as_i64) == Some(0);
        for container in containers(pod) {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("<no name>");
            let at = format!("{} container {name}", doc.id());
            let resources = container.get("resources");
            for field in ["requests.cpu", "requests.memory", "limits.memory"] {
                let (group, key) = field.split_once('.').expect("field names have a dot");
                if resources.and_then(|r| r.get(group)).and_then(|g| g.get(key)).is_none() {
                    failures.push(format!("{at}: no resources.{field}"));
                }
            }
            if !job {
                for probe in ["readinessProbe", "livenessProbe"] {
                    if container.get(probe).is_none() {
                        failures.push(format!("{at}: no {probe}"));
                    }
                }
            }
            let ctx = container.get("securityContext");
            let non_root = match ctx.and_then(|c| c.get("runAsNonRoot")) {
                Some(value) => value == &Value::Bool(true),
                None => pod_non_root,
            };
            let root_user = match ctx.and_then(|c| c.get("runAsUser")) {
                Some(value) => value.as_i64() == Some(0),
                None => pod_root_user,
            };
            if !non_root || root_user {
                failures.push(format!(
                    "{at}: must run as non-root (securityContext.runAsNonRoot: true, no runAsUser 0)"
                ));
            }
            if ctx.and_then(|c| c.get("allowPrivilegeEscalation")) != Some(&Value::Bool(false)) {
                failures.push(format!("{at}: securityContext.allowPrivilegeEscalation must be false"));
            }
            let drops_all = ctx
                .and_then(|c| c.get("capabilities"))
                .and_then(|c| c.get("drop"))
                .and_then(Value::as_array)
                .is_some_and(|drop| drop.iter().any(|d| d == "ALL"));
            if !drops_all {
                failures.push(format!("{at}: securityContext.capabilities.drop must contain ALL"));
            }
        }
    }

    /// Every image reference of a workload: container images and environment values naming one of
    /// our images (the operator's MCP_GATEWAY_PROXY_IMAGE, which `images:` does not rewrite).
    fn images(doc: &Doc) -> Vec<String> {
        let Some((pod, _)) = pod_spec(doc) else { return Vec::new() };
        let mut found = Vec::new();
        for container in containers(pod) {
            if let Some(image) = container.get("image").and_then(Value::as_str) {
                found.push(image.to_string());
            }
            for env in container.get("env").and_then(Value::as_array).into_iter().flatten() {
                if let Some(value) = env.get("value").and_then(Value::as_str)
                    && is_own(value)
                {
                    found.push(value.to_string());
                }
            }
        }
        found
    }

    fn is_own(image: &str) -> bool {
        OWN_IMAGES.iter().any(|own| {
            image.contains(&format!("mcp-runtime/{own}:")) || image.contains(&format!("mcp-runtime/{own}@"))
        })
    }

    /// The tag of an image reference (`None` without one; a digest counts as pinned).
    fn tag(image: &str) -> Option<&str> {
        if image.contains('@') {
            return Some("@digest");
        }
        let last = image.rsplit('/').next().unwrap_or(image);
        last.split_once(':').map(|(_, tag)| tag)
    }

    /// What is wrong with `image` in `tree`, if anything.
    fn image_problem(tree: &str, image: &str) -> Option<&'static str> {
        match tree {
            // kind.rs pushes exactly localhost:5001/mcp-runtime/<name>:test; third-party images
            // are pulled from their public registries by the node.
            // A digest (`@sha256:`, from `cargo xtask images`) pins the same image as the tag.
            "kind"
                if is_own(image)
                    && !(image.starts_with("localhost:5001/mcp-runtime/")
                        && (image.ends_with(":test") || image.contains("@sha256:"))) =>
            {
                Some("is not localhost:5001/mcp-runtime/<name>:test (or @sha256:<digest>)")
            }
            "eks" if matches!(tag(image), None | Some("latest")) => Some("is untagged or :latest"),
            "eks" if is_own(image) && !image.contains(".dkr.ecr.") => {
                Some("is not from the external registry")
            }
            "k3s" | "k3s/https" if is_own(image) && !image.starts_with("registry.local:32000/") => {
                Some("is not from registry.local:32000")
            }
            _ => None,
        }
    }

    fn check_images(tree: &str, docs: &[Doc], failures: &mut Vec<String>) {
        for doc in docs {
            for image in images(doc) {
                if let Some(problem) = image_problem(tree, &image) {
                    failures.push(format!("{}: image {image} {problem}", doc.id()));
                }
            }
        }
    }

    /// Secrets a workload reads (namespace, name) that the tree does not render.
    fn check_generated_secrets(docs: &[Doc], failures: &mut Vec<String>) {
        let rendered: BTreeSet<(String, String)> = docs
            .iter()
            .filter(|d| d.kind() == "Secret")
            .filter_map(|d| {
                let meta = d.value.get("metadata")?;
                Some((meta.get("namespace")?.as_str()?.to_string(), meta.get("name")?.as_str()?.to_string()))
            })
            .collect();
        for doc in docs {
            let Some((pod, _)) = pod_spec(doc) else { continue };
            let ns = doc.value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
            for container in containers(pod) {
                for env in container.get("env").and_then(Value::as_array).into_iter().flatten() {
                    let Some(secret) = env.pointer("/valueFrom/secretKeyRef") else { continue };
                    let optional = secret.get("optional") == Some(&Value::Bool(true));
                    let name = secret.get("name").and_then(Value::as_str).unwrap_or_default();
                    if !optional && !rendered.contains(&(ns.to_string(), name.to_string())) {
                        failures.push(format!(
                            "{}: reads Secret {ns}/{name}, which the overlay does not create",
                            doc.id()
                        ));
                    }
                }
            }
        }
    }

    #[test]
    fn own_images_may_be_pinned_by_tag_or_by_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (tree, by_tag, registry) in [
            ("kind", "localhost:5001/mcp-runtime/mcp-gateway:test", "localhost:5001"),
            (
                "eks",
                "1.dkr.ecr.us-east-1.amazonaws.com/mcp-runtime/mcp-gateway:0.1.0",
                "1.dkr.ecr.us-east-1.amazonaws.com",
            ),
            ("k3s", "registry.local:32000/mcp-runtime/mcp-gateway:0.1.0", "registry.local:32000"),
        ] {
            assert_eq!(image_problem(tree, by_tag), None, "{tree}: {by_tag}");
            let by_digest = format!("{registry}/mcp-runtime/mcp-gateway@{digest}");
            assert_eq!(image_problem(tree, &by_digest), None, "{tree}: {by_digest}");
            assert!(is_own(&by_digest));
            let elsewhere = format!("docker.io/mcp-runtime/mcp-gateway@{digest}");
            assert!(image_problem(tree, &elsewhere).is_some(), "{tree}: {elsewhere}");
        }
        assert!(image_problem("eks", "1.dkr.ecr.us-east-1.amazonaws.com/mcp-runtime/mcp-gateway").is_some());
    }

    /// `cargo xtask dist --write-digests` on a copy of `deploy/`: every own image of the pinned
    /// overlays (containers and the operator's sidecar setting) is then referenced by digest, the
    /// overlays still pass the image rules, and pinning again with other digests replaces them.
    #[test]
    fn overlays_pinned_by_dist_reference_every_own_image_by_digest() {
        let copy = tempfile::tempdir().expect("tempdir");
        let deploy = copy.path().join("deploy");
        let status = Command::new("cp")
            .arg("-r")
            .arg(project_root().join("deploy"))
            .arg(&deploy)
            .status()
            .expect("cp");
        assert!(status.success());
        let pin = |fill: char| {
            let digests: Vec<(String, String)> = OWN_IMAGES
                .iter()
                .enumerate()
                .map(|(i, image)| (image.to_string(), format!("sha256:{i}{}", fill.to_string().repeat(63))))
                .collect();
            let changed = crate::dist::write_digests(copy.path(), &digests).expect("pin");
            (digests, changed)
        };
        let (_, changed) = pin('a');
        assert!(changed.len() >= 4, "changed only {changed:?}");
        let (digests, _) = pin('b');
        for tree in ["kind", "k3s", "eks"] {
            let docs = render_in(&deploy, tree);
            let mut failures = Vec::new();
            check_images(tree, &docs, &mut failures);
            assert!(failures.is_empty(), "deploy/{tree} pinned: {failures:?}");
            let own: Vec<String> = docs.iter().flat_map(images).filter(|i| is_own(i)).collect();
            assert!(own.len() >= 5, "deploy/{tree}: {own:?}");
            for image in own {
                let (_, digest) = digests
                    .iter()
                    .find(|(name, _)| image.contains(&format!("/mcp-runtime/{name}@")))
                    .unwrap_or_else(|| panic!("deploy/{tree}: {image} is not pinned"));
                assert!(image.ends_with(&format!("@{digest}")), "deploy/{tree}: {image}");
            }
        }
        let (_, again) = pin('b');
        assert!(again.is_empty(), "pinning twice with the same digests changed {again:?}");
    }

    #[test]
    fn every_tree_renders_into_strictly_typed_objects() {
        let mut failures = Vec::new();
        for tree in TREES {
            let docs = render(tree);
            let mut seen = BTreeSet::new();
            for doc in &docs {
                if !seen.insert(doc.id()) {
                    failures.push(format!("{}: rendered twice", doc.id()));
                }
                check_types(doc, &mut failures);
                check_workload(doc, &mut failures);
            }
            check_images(tree, &docs, &mut failures);
            if *tree == "kind" {
                // `kind up --test-mode` waits for every Deployment: nothing may wait for a Secret.
                check_generated_secrets(&docs, &mut failures);
            }
        }
        assert!(failures.is_empty(), "{} problem(s) in deploy/:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn the_strict_parse_names_unknown_and_misspelled_fields() {
        let doc = Doc {
            tree: "test",
            value: serde_json::json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "x", "namespace": "y", "labels": {}},
                "spec": {"ports": [{"port": 80, "targetPort": "http", "protocl": "TCP"}], "selector": {"a": "b"}},
                "extra": 1
            }),
        };
        let mut failures = Vec::new();
        strict::<Service>(&doc, &mut failures);
        assert_eq!(
            failures,
            [
                "deploy/test: Service y/x: unknown field `.extra` (dropped by the typed parse)",
                "deploy/test: Service y/x: unknown field `.spec.ports[0].protocl` (dropped by the typed parse)",
            ]
        );
        let mut failures = Vec::new();
        let bad = Doc {
            tree: "test",
            value: serde_json::json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": 3}}),
        };
        strict::<Service>(&bad, &mut failures);
        assert!(failures[0].contains("does not parse at `spec.ports`"), "{failures:?}");
    }

    #[test]
    fn image_rules_per_target() {
        assert_eq!(image_problem("kind", "localhost:5001/mcp-runtime/mcp-gateway:test"), None);
        assert!(image_problem("kind", "mcp-runtime/mcp-gateway:latest").is_some());
        assert!(image_problem("eks", "traefik").is_some());
        assert!(image_problem("eks", "registry.example:5000/traefik:latest").is_some());
        assert_eq!(image_problem("eks", "registry.example:5000/traefik:v3.5.3"), None);
        assert_eq!(image_problem("eks", "traefik@sha256:abc"), None);
        assert!(image_problem("eks", "mcp-runtime/mcp-sentinel:0.1.0").is_some());
        assert!(image_problem("k3s", "mcp-runtime/mcp-sentinel:0.1.0").is_some());
    }

    #[test]
    fn overlays_size_the_platform_for_their_target() {
        let find = |docs: &[Doc], kind: &str, name: &str| -> Value {
            docs.iter()
                .find(|d| d.kind() == kind && d.name() == name)
                .map(|d| d.value.clone())
                .unwrap_or_else(|| panic!("{kind} {name} is not rendered"))
        };
        let env = |workload: &Value, var: &str| -> Option<String> {
            workload.pointer("/spec/template/spec/containers/0/env")?.as_array()?.iter().find_map(|e| {
                (e.get("name")?.as_str()? == var)
                    .then(|| e.get("value").and_then(Value::as_str).map(str::to_string))?
            })
        };

        let kind = render("kind");
        let kafka = find(&kind, "StatefulSet", "mcp-sentinel/kafka");
        assert_eq!(kafka.pointer("/spec/replicas"), Some(&Value::from(1)), "kind runs one Kafka node");
        assert_eq!(env(&kafka, "KAFKA_MIN_INSYNC_REPLICAS").as_deref(), Some("1"));
        let topics = find(&kind, "Job", "mcp-sentinel/kafka-topic-init");
        assert_eq!(env(&topics, "REPLICATION_FACTOR").as_deref(), Some("1"));
        assert!(!kind.iter().any(|d| d.kind() == "PodDisruptionBudget"), "kind has no PodDisruptionBudget");
        let operator = find(&kind, "Deployment", "mcp-runtime/mcp-runtime-operator");
        assert_eq!(env(&operator, "MCP_RUNTIME_TEST_MODE").as_deref(), Some("1"));
        assert_eq!(
            env(&operator, "MCP_SENTINEL_INGEST_URL").as_deref(),
            Some("http://mcp-sentinel-ingest.mcp-sentinel.svc.cluster.local:8081/events"),
            "gateways send their audit events to the ingest Service"
        );
        assert!(!kind.iter().any(|d| d.name() == "mcp-registry/registry"), "kind uses the host registry");

        for tree in ["k3s", "k3s/https", "eks"] {
            let docs = render(tree);
            let kafka = find(&docs, "StatefulSet", "mcp-sentinel/kafka");
            assert_eq!(kafka.pointer("/spec/replicas"), Some(&Value::from(3)), "{tree}: three Kafka nodes");
            assert_eq!(env(&kafka, "KAFKA_MIN_INSYNC_REPLICAS").as_deref(), Some("2"), "{tree}");
            find(&docs, "PodDisruptionBudget", "mcp-sentinel/kafka");
            let operator = find(&docs, "Deployment", "mcp-runtime/mcp-runtime-operator");
            assert_eq!(env(&operator, "MCP_RUNTIME_TEST_MODE"), None, "{tree} is not test mode");
            let class = if tree == "eks" { "gp3" } else { "local-path" };
            for doc in docs.iter().filter(|d| d.kind() == "StatefulSet") {
                assert_eq!(
                    doc.value
                        .pointer("/spec/volumeClaimTemplates/0/spec/storageClassName")
                        .and_then(Value::as_str),
                    Some(class),
                    "{}",
                    doc.id()
                );
            }
            let tls = tree != "k3s";
            assert_eq!(docs.iter().any(|d| d.kind() == "ClusterIssuer"), tls, "{tree}: ClusterIssuer");
            assert_eq!(env(&operator, "MCP_DEFAULT_INGRESS_TLS").is_some(), tls, "{tree}: TLS routes");
            let registry = docs.iter().any(|d| d.name() == "mcp-registry/registry");
            assert_eq!(registry, tree != "eks", "{tree}: in-cluster registry");
        }
    }

    /// Every tree's Traefik delivers replies with the fast proxy (the default proxy truncates
    /// replies from keep-alive backends, Traefik issue #11767) and removes aliasing header names
    /// (`X_MCP_Human_Id`, …) on every entry point, the same as the e2e Traefik.
    #[test]
    fn every_tree_runs_traefik_with_the_fast_proxy_and_without_alias_headers() {
        let mut failures = Vec::new();
        // deploy/base has no ingress of its own (deploy/base/stack pulls it in).
        for tree in ["base/ingress", "kind", "k3s", "k3s/https", "eks"] {
            let docs = render(tree);
            let Some(traefik) =
                docs.iter().find(|d| d.kind() == "Deployment" && d.name() == "mcp-ingress/traefik")
            else {
                failures.push(format!("deploy/{tree}: no Deployment mcp-ingress/traefik"));
                continue;
            };
            let args: Vec<&str> = traefik
                .value
                .pointer("/spec/template/spec/containers/0/args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let entry_points: BTreeSet<&str> = args
                .iter()
                .filter_map(|a| {
                    a.strip_prefix("--entryPoints.")?.split_once(".address=").map(|(name, _)| name)
                })
                .collect();
            let mut wanted = vec![
                "--experimental.fastProxy=true".to_string(),
                "--serversTransport.forwardingTimeouts.idleConnTimeout=5s".to_string(),
            ];
            wanted.extend(
                entry_points.iter().map(|ep| format!("--entryPoints.{ep}.http.aliasHeadersStrategy=delete")),
            );
            for want in wanted {
                if !args.contains(&want.as_str()) {
                    failures.push(format!("{}: lacks `{want}`", traefik.id()));
                }
            }
            if !entry_points.contains("web") || !entry_points.contains("websecure") {
                failures.push(format!("{}: entry points {entry_points:?}", traefik.id()));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The team NetworkPolicies and the platform's RBAC name the cluster's components by the
    /// constants in `mcp_operator_core::{team, install}`; every cluster tree must run them
    /// there: the ingress controller, Prometheus, ingest (and its port), the operator, the
    /// platform's service account, and the operator's trust ConfigMap setting.
    #[test]
    fn team_network_peers_and_platform_names_match_the_manifests() {
        use mcp_operator_core::install::{
            OPERATOR_APP, OPERATOR_NAMESPACE, PLATFORM_NAMESPACE, PLATFORM_SERVICE_ACCOUNT, TRUST_CONFIGMAP,
            TRUST_NAMESPACE,
        };
        use mcp_operator_core::team::{
            INGEST_APP, INGEST_PORT, INGRESS_CONTROLLER_APP, INGRESS_NAMESPACE, OBSERVABILITY_NAMESPACE,
            PROMETHEUS_APP, SENTINEL_NAMESPACE,
        };
        let mut failures = Vec::new();
        for tree in ["kind", "k3s", "k3s/https", "eks"] {
            let docs = render(tree);
            let workload = |namespace: &str, app: &str| {
                docs.iter().find(|d| {
                    matches!(d.kind(), "Deployment" | "StatefulSet" | "DaemonSet")
                        && d.value.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace)
                        && d.value
                            .pointer("/spec/template/metadata/labels/app.kubernetes.io~1name")
                            .and_then(Value::as_str)
                            == Some(app)
                })
            };
            for (namespace, app) in [
                (INGRESS_NAMESPACE, INGRESS_CONTROLLER_APP),
                (OBSERVABILITY_NAMESPACE, PROMETHEUS_APP),
                (SENTINEL_NAMESPACE, INGEST_APP),
                (OPERATOR_NAMESPACE, OPERATOR_APP),
            ] {
                if workload(namespace, app).is_none() {
                    failures
                        .push(format!("deploy/{tree}: no pods app.kubernetes.io/name={app} in {namespace}"));
                }
            }
            if let Some(ingest) = workload(SENTINEL_NAMESPACE, INGEST_APP) {
                let ports: Vec<i64> = pod_spec(ingest)
                    .map(|(pod, _)| {
                        containers(pod).flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                    })
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["containerPort"].as_i64())
                    .collect();
                if !ports.contains(&i64::from(INGEST_PORT)) {
                    failures.push(format!(
                        "{}: ingest does not listen on {INGEST_PORT} ({ports:?})",
                        ingest.id()
                    ));
                }
            }
            let platform = docs.iter().find(|d| {
                d.kind() == "Deployment"
                    && d.value.pointer("/metadata/namespace").and_then(Value::as_str)
                        == Some(PLATFORM_NAMESPACE)
            });
            match platform.and_then(|d| d.value.pointer("/spec/template/spec/serviceAccountName")) {
                Some(Value::String(sa)) if sa == PLATFORM_SERVICE_ACCOUNT => {}
                other => failures.push(format!(
                    "deploy/{tree}: the platform Deployment in {PLATFORM_NAMESPACE} runs as {other:?}, not {PLATFORM_SERVICE_ACCOUNT}"
                )),
            }
            for d in docs.iter().filter(|d| d.kind() == "Deployment") {
                let trust = pod_spec(d)
                    .map(|(pod, _)| {
                        containers(pod).flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
                    })
                    .into_iter()
                    .flatten()
                    .find(|e| e["name"] == "MCP_PLATFORM_TRUST_CONFIGMAP");
                if let Some(value) = trust.as_ref().and_then(|e| e["value"].as_str())
                    && value != format!("{TRUST_NAMESPACE}/{TRUST_CONFIGMAP}")
                {
                    failures.push(format!(
                        "{}: MCP_PLATFORM_TRUST_CONFIGMAP={value}, but the platform's RBAC covers {TRUST_NAMESPACE}/{TRUST_CONFIGMAP}",
                        d.id()
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
