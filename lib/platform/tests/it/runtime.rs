//! The runtime backend contract on the Local backend, on SQLite and on PostgreSQL.

use std::sync::Arc;

use mcp_platform::runtime::RuntimeBackend;
use mcp_platform::runtime::local::{LocalBackend, LocalSettings};
use mcp_platform::store::Store;

use crate::runtime_contract::{Expect, contract, team};
use crate::support::Backend;

/// A Local backend on a fresh, migrated store of `backend`, writing policies under `dir`.
pub async fn local_backend(backend: Backend, dir: &std::path::Path) -> LocalBackend {
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("platform.db").display()),
        Backend::Postgres => {
            tokio::task::spawn_blocking(crate::support::fresh_postgres_database).await.expect("create db")
        }
    };
    let store = Store::connect(&url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    LocalBackend::new(
        store,
        LocalSettings {
            policy_dir: dir.join("policies"),
            cluster: "local".into(),
            ..LocalSettings::default()
        },
    )
}

crate::both!(local_backend_keeps_the_contract, local_policies_are_files_rewritten_only_on_change);

async fn local_backend_keeps_the_contract(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let local: Arc<dyn RuntimeBackend> = Arc::new(local_backend(backend, dir.path()).await);
    contract(local, team("alpha"), team("beta"), Expect { renders_policy: true }).await;
}

async fn local_policies_are_files_rewritten_only_on_change(backend: Backend) {
    use crate::runtime_contract::{grant, server};
    let dir = tempfile::tempdir().expect("tempdir");
    let local = local_backend(backend, dir.path()).await;
    let t = team("files");
    local.provision_team(&t).await.expect("provision");
    local.apply_server(server(&t, "tools")).await.expect("server");
    let path = mcp_platform::runtime::local::policy_path(local.policy_dir(), &t.namespace, "tools");
    let first = std::fs::read_to_string(&path).expect("policy file");
    let doc = mcp_policy::Document::from_json(first.as_bytes()).expect("valid document");
    assert!(doc.generated_at.is_some());
    let inode = std::fs::metadata(&path).expect("meta").modified().expect("mtime");
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Re-applying the same objects renders the same revision: the file is left alone (byte
    // for byte, generated_at included).
    local.apply_server(server(&t, "tools")).await.expect("again");
    assert_eq!(std::fs::read_to_string(&path).expect("policy"), first);
    assert_eq!(std::fs::metadata(&path).expect("meta").modified().expect("mtime"), inode);
    // A new grant changes it; no temporary file is left behind.
    local.apply_grant(grant(&t, "g", "tools", "agt_1")).await.expect("grant");
    let second = std::fs::read_to_string(&path).expect("policy");
    assert_ne!(second, first);
    let names: Vec<String> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["tools.json"]);
    // Deleting the server removes its file.
    local.delete_server(&t.namespace, "tools").await.expect("delete");
    assert!(!path.exists());
}
