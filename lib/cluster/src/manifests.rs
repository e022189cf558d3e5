//! The objects of an installation: a `deploy/` overlay rendered by `kubectl kustomize` (the
//! overlays use kustomize patches and generators; we do not reimplement kustomize), or a file of
//! already rendered YAML documents; put in the order the API server needs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The shipped overlays (`deploy/<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A local Kind cluster for tests (generated test secrets, local registry images).
    Kind,
    /// A single k3s node.
    K3s,
    /// Amazon EKS.
    Eks,
}

impl Target {
    /// Every target, in `--help` order.
    pub const ALL: [Target; 3] = [Target::Kind, Target::K3s, Target::Eks];

    /// The overlay directory under `deploy/`.
    pub fn dir(self) -> &'static str {
        match self {
            Target::Kind => "kind",
            Target::K3s => "k3s",
            Target::Eks => "eks",
        }
    }

    /// Whether this overlay may only be installed with `--test-mode` (it carries test secrets).
    pub fn test_only(self) -> bool {
        self == Target::Kind
    }
}

/// Why the objects could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The overlay directory has no `kustomization.yaml`.
    #[error(
        "{0}: not a kustomize overlay (no kustomization.yaml); pass --deploy-dir <checkout>/deploy or -f <rendered.yaml>"
    )]
    NotAnOverlay(PathBuf),
    /// `kubectl` could not be started.
    #[error("cannot run `kubectl kustomize` ({0}); install kubectl or pass -f <rendered.yaml>")]
    NoKubectl(std::io::Error),
    /// `kubectl kustomize` failed.
    #[error("kubectl kustomize {dir}: {message}")]
    Kustomize {
        /// The overlay.
        dir: PathBuf,
        /// Its first error line.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not YAML or not a Kubernetes object.
    #[error("{origin}: document {index}: {message}")]
    Invalid {
        /// File or overlay.
        origin: String,
        /// 1-based document number.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// Renders the overlay in `dir` with `kubectl kustomize`.
pub fn render(dir: &Path) -> Result<Vec<Value>, ManifestError> {
    if !dir.join("kustomization.yaml").is_file() {
        return Err(ManifestError::NotAnOverlay(dir.to_path_buf()));
    }
    let out = Command::new("kubectl").arg("kustomize").arg(dir).output().map_err(ManifestError::NoKubectl)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim().to_string();
        return Err(ManifestError::Kustomize { dir: dir.to_path_buf(), message });
    }
    parse(&String::from_utf8_lossy(&out.stdout), &dir.display().to_string())
}

/// Reads a file of rendered YAML documents.
pub fn read(path: &Path) -> Result<Vec<Value>, ManifestError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
    parse(&text, &path.display().to_string())
}

/// Splits YAML documents into objects; empty documents are skipped, anything without
/// `apiVersion`, `kind` and `metadata.name` is an error naming the document.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Value>, ManifestError> {
    let mut objects = Vec::new();
    // YAML 1.2 untyped scalars (`namespace: n` stays a string; YAML 1.1 reads `false`), as in
    // `mcp_api::yaml`, which this crate does not depend on.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    };
    let docs = serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        ManifestError::Invalid {
            origin: origin.to_string(),
            index: document_at(text, line),
            message: e.to_string(),
        }
    })?;
    for (i, value) in docs.into_iter().enumerate() {
        let invalid =
            |message: String| ManifestError::Invalid { origin: origin.to_string(), index: i + 1, message };
        if value.is_null() {
            continue;
        }
        for field in ["/apiVersion", "/kind", "/metadata/name"] {
            if !value.pointer(field).is_some_and(Value::is_string) {
                return Err(invalid(format!("no {} (not a Kubernetes object)", &field[1..])));
            }
        }
        objects.push(value);
    }
    Ok(objects)
}

/// Apply order: definitions and namespaces before what lives in them, RBAC before workloads,
/// webhooks last (they point at the operator, which must exist first). Stable within a rank.
pub fn order(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|o| rank(o["kind"].as_str().unwrap_or_default()));
    objects
}

fn rank(kind: &str) -> u8 {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "PriorityClass" | "StorageClass" | "IngressClass" => 2,
        "ServiceAccount" | "ClusterRole" | "Role" => 3,
        "ClusterRoleBinding" | "RoleBinding" => 4,
        "Secret" | "ConfigMap" | "LimitRange" | "ResourceQuota" | "PersistentVolumeClaim" => 5,
        "Service" | "NetworkPolicy" => 6,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => 9,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "CronJob"
        | "Ingress"
        | "PodDisruptionBudget" => 7,
        _ => 8,
    }
}

/// Whether objects of `kind` live outside namespaces.
pub fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "CustomResourceDefinition"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "IngressClass"
            | "StorageClass"
            | "PriorityClass"
            | "PersistentVolume"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "APIService"
    )
}

/// `Kind namespace/name` (or `Kind name`), as shown to people.
pub fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or("?");
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The 1-based number of the document that holds `line` (1-based): document markers (`---`)
/// after the first content start a new one.
fn document_at(text: &str, line: u64) -> usize {
    let mut document = 1;
    let mut content = false;
    for l in text.lines().take(usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX)) {
        if l == "---" || l.starts_with("--- ") {
            if content {
                document += 1;
            }
            content = true;
        } else if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            content = true;
        }
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_checked_and_ordered() {
        let text = "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: d, namespace: n}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: w}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: c}\n";
        let objects = order(parse(text, "x.yaml").expect("parse"));
        let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap_or_default()).collect();
        assert_eq!(
            kinds,
            ["CustomResourceDefinition", "Namespace", "Deployment", "ValidatingWebhookConfiguration"]
        );
        assert_eq!(describe(&objects[2]), "Deployment n/d");
        let err = parse("apiVersion: v1\nkind: ConfigMap\n", "bad.yaml").expect_err("no name");
        assert_eq!(err.to_string(), "bad.yaml: document 1: no metadata/name (not a Kubernetes object)");
        let err = parse("a: [", "broken.yaml").expect_err("not yaml");
        assert!(err.to_string().starts_with("broken.yaml: document 1: "), "{err}");
        let err = parse("a: 1\n---\nb: [\n", "broken.yaml").expect_err("not yaml");
        assert!(err.to_string().starts_with("broken.yaml: document 2: "), "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(cluster_scoped("Namespace") && !cluster_scoped("Deployment"));
        assert_eq!(describe(&json!({"kind": "Namespace", "metadata": {"name": "n"}})), "Namespace n");
    }
}
