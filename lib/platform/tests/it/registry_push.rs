//! `POST /api/v1/runtime/registry/push` and `GET /api/v1/runtime/registry` against a real
//! distribution registry (Debian's `docker-registry`), checked independently with `skopeo`.

use mcp_oci::archive::{self, Entry, Tree};
use mcp_oci::image::{self, Layer, Meta};
use mcp_testkit::registry::Registry;
use serde_json::{Value, json};

use crate::support::{Backend, Harness};

/// An image archive (OCI layout) of a small "binary"; (archive, digest).
pub(crate) fn image_archive(content: &[u8], tag: &str) -> (Vec<u8>, String) {
    let app = image::app_tree("ledger", content);
    let layer = Layer::new(&archive::tar(&app, 1_700_000_000).expect("tar")).expect("layer");
    let reference = format!("example.test/pay/ledger:{tag}");
    let mut meta = Meta::product("ledger", &reference, "abc", 1_700_000_000);
    meta.history.truncate(1);
    let built = image::assemble(&[layer], &meta).expect("assemble");
    (archive::tar(&built.layout, 1_700_000_000).expect("tar"), built.digest)
}

/// The same kind of image as `docker save` writes it.
fn docker_save_archive(content: &[u8]) -> Vec<u8> {
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/ledger"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = archive::tar(&image::app_tree("ledger", content), 0).expect("tar");
    let mut tree = Tree::new();
    let manifest =
        json!([{"Config": "config.json", "RepoTags": ["pay/ledger:saved"], "Layers": ["l1/layer.tar"]}]);
    archive::insert(
        &mut tree,
        "manifest.json",
        Entry::File { data: manifest.to_string().into_bytes(), exec: false },
    );
    archive::insert(&mut tree, "config.json", Entry::File { data: config.to_vec(), exec: false });
    archive::insert(&mut tree, "l1/layer.tar", Entry::File { data: layer, exec: false });
    archive::tar(&tree, 0).expect("tar")
}

pub(crate) async fn people(h: &Harness, team: &str) -> (String, String) {
    let admin = h.admin_token().await;
    let (owner_id, owner) = h.signed_in(&format!("owner-{team}@example.org")).await;
    let (member_id, member) = h.signed_in(&format!("member-{team}@example.org")).await;
    let r = h
        .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": team, "owner_id": owner_id})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = h
        .call(
            "PUT",
            &format!("/api/v1/teams/{team}/members/{member_id}"),
            Some(&owner),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (owner, member)
}

fn skopeo_digest(reference: &str) -> String {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}", &format!("docker://{reference}")])
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A real registry, and a platform (SQLite, embedded events) pushing to it with `settings` on
/// top; the directory holds both (keep it alive as long as they run).
pub(crate) async fn with_registry(settings: &[(&str, &str)]) -> (tempfile::TempDir, Registry, Harness) {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = tokio::task::spawn_blocking({
        let d = dir.path().join("registry");
        move || Registry::start(&d)
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| panic!("{e}"));
    let events = dir.path().join("events.db").display().to_string();
    let (url, host) = (registry.url(), registry.host());
    let mut all = vec![("PLATFORM_REGISTRY_URL", url.as_str()), ("PLATFORM_REGISTRY_HOST", host.as_str())];
    all.push(("PLATFORM_EVENTS_DB", events.as_str()));
    all.extend_from_slice(settings);
    let h = Harness::start(Backend::Sqlite, &all).await;
    (dir, registry, h)
}

#[tokio::test]
async fn a_team_member_pushes_an_archive_into_the_team_path_of_a_real_registry() {
    let (_dir, registry, h) = with_registry(&[("PLATFORM_REGISTRY_PUSH_MAX_BYTES", "1000000")]).await;
    let (_, member) = people(&h, "pay").await;
    let (_, stranger) = people(&h, "other").await;
    let (tar, digest) = image_archive(b"\x7fELF ledger v1", "1.0.0");
    let push = |token: Option<String>, query: &str, body: Vec<u8>| {
        let h = &h;
        let path = format!("/api/v1/runtime/registry/push?{query}");
        async move { h.raw("POST", &path, token.as_deref(), Some(("application/x-tar".into(), body)), &[]).await }
    };

    // The member's push lands under the team's path with the archive's own digest and tag.
    let r = push(Some(member.clone()), "team=pay&name=ledger", tar.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["digest"], digest.as_str());
    assert_eq!(r.body["repository"], "pay/ledger");
    assert_eq!(r.body["tag"], "1.0.0");
    assert_eq!(r.body["image"], format!("{}/pay/ledger@{digest}", registry.host()));
    let reference = r.body["tagged"].as_str().expect("tagged").to_string();
    let inspected = tokio::task::spawn_blocking(move || skopeo_digest(&reference)).await.expect("join");
    assert_eq!(inspected, digest, "skopeo sees the digest the API printed");

    // Sending it again (a restarted upload) is harmless and gives the same digest; an explicit
    // tag wins over the archive's.
    let r = push(Some(member.clone()), "team=pay&name=ledger&tag=stable", tar.clone()).await;
    assert_eq!((r.status, r.body["digest"].as_str()), (201, Some(digest.as_str())), "{:?}", r.body);

    // A docker save archive gets an OCI manifest.
    let r = push(Some(member.clone()), "team=pay&name=saved", docker_save_archive(b"\x7fELF saved")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["tag"], "saved");

    // Another team's member, anonymous callers, bad names, bad archives, too much.
    let r = push(Some(stranger.clone()), "team=pay&name=ledger", tar.clone()).await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
    let r = push(None, "team=pay&name=ledger", tar.clone()).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    let r = push(Some(member.clone()), "team=pay&name=Ledger", tar.clone()).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{:?}", r.body);
    let r = push(Some(member.clone()), "team=pay&name=ledger&tag=a/b", tar.clone()).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{:?}", r.body);
    let r = push(Some(member.clone()), "team=pay&name=junk", b"not an archive".to_vec()).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{:?}", r.body);
    let mut tampered = tar.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0xff;
    let r = push(Some(member.clone()), "team=pay&name=tampered", tampered).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"), "{:?}", r.body);
    let r = push(Some(member.clone()), "team=pay&name=big", vec![0u8; 1_500_000]).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"), "{:?}", r.body);
    assert_eq!(r.body["error"]["details"]["limit_bytes"], 1_000_000);

    // What the registry holds, per caller.
    let r = h.call("GET", "/api/v1/runtime/registry", Some(&member), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["host"], registry.host().as_str());
    let repos: Vec<(String, Value)> = r.body["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|x| (x["repository"].as_str().unwrap_or_default().to_string(), x["tags"].clone()))
        .collect();
    assert_eq!(
        repos,
        vec![
            ("pay/ledger".to_string(), json!(["1.0.0", "stable"])),
            ("pay/saved".to_string(), json!(["saved"]))
        ]
    );
    let r = h.call("GET", "/api/v1/runtime/registry", Some(&stranger), None).await;
    assert_eq!(r.body["repositories"], json!([]), "{:?}", r.body);
    let r = h.call("GET", "/api/v1/runtime/registry?team=pay", Some(&stranger), None).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
}

#[tokio::test]
async fn without_a_registry_the_routes_answer_404_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.db").display().to_string();
    let h = Harness::start(Backend::Sqlite, &[("PLATFORM_EVENTS_DB", &events)]).await;
    let (_, member) = people(&h, "pay").await;
    let (tar, _) = image_archive(b"x", "1");
    let r = h
        .raw(
            "POST",
            "/api/v1/runtime/registry/push?team=pay&name=ledger",
            Some(&member),
            Some(("application/x-tar".into(), tar)),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("PLATFORM_REGISTRY_URL"));
}

/// A team that got no pull secret when it was created (made before the registry was
/// configured) gets one when it publishes a server: its pull account, a viewer of the team,
/// with one active pull credential; publishing again does not replace it.
#[tokio::test]
async fn publishing_a_server_gives_an_older_team_its_pull_secret() {
    let (_dir, _registry, h) = with_registry(&[]).await;
    let admin = h.admin_token().await;
    let admin_id =
        h.state.store.user_by_email(crate::support::ADMIN_EMAIL).await.expect("store").expect("admin").id;
    let team = mcp_platform::store::Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: "older".into(),
        display_name: "Older".into(),
        namespace: "mcp-team-older".into(),
        created_at: mcp_platform::store::now(),
    };
    h.state.store.create_team(&team, &admin_id, &admin_id).await.expect("team");
    let email = mcp_platform::registry_push::pull_account_email("older");
    assert!(h.state.store.user_by_email(&email).await.expect("store").is_none());
    let body = json!({"team": "older", "name": "one", "spec": {"image": "registry.local/example", "tools": [{"name": "echo", "sideEffect": "read"}]}});
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&admin), Some(body.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let account = h.state.store.user_by_email(&email).await.expect("store").expect("the pull account");
    assert_eq!(
        h.state.store.role(&team.id, &account.id).await.expect("store"),
        Some(mcp_platform::store::Role::Viewer)
    );
    let active = |list: Vec<mcp_platform::registry_auth::RegistryCredential>| {
        list.into_iter().filter(|c| c.revoked_at.is_none()).map(|c| c.id).collect::<Vec<_>>()
    };
    let first = active(h.state.store.list_registry_credentials(&account.id).await.expect("store"));
    assert_eq!(first.len(), 1);
    let mut again = body.clone();
    again["name"] = json!("two");
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&admin), Some(again)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(active(h.state.store.list_registry_credentials(&account.id).await.expect("store")), first);
}
