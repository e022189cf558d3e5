//! The registry as deployed: Debian's `docker-registry` behind real Traefik, whose forward-auth
//! middleware asks the platform's `/api/v1/registry/authz`; `skopeo` (an independent client)
//! signs in with a one-time `mcpr_` registry credential, pulls and pushes under its team's
//! path, is refused another team's path and anonymous access, and stops working once the
//! credential is revoked.

use std::process::Command;

use mcp_testkit::registry::Traefik;
use serde_json::json;

use crate::registry_push::{image_archive, people, with_registry};
use crate::support::Harness;

/// Runs skopeo; (success, stdout, stderr).
fn skopeo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("skopeo").args(args).output().expect("run skopeo (apt-get install skopeo)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn credential(h: &Harness, token: &str) -> (String, String) {
    let r = h
        .call("POST", "/api/v1/user/registry-credentials", Some(token), Some(json!({"name": "skopeo"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let value = r.body["value"].as_str().expect("value").to_string();
    assert!(value.starts_with("mcpr_"), "{value}");
    (r.body["id"].as_str().expect("id").to_string(), value)
}

#[tokio::test]
async fn skopeo_through_traefik_and_forward_auth_gets_exactly_its_teams_paths() {
    let (dir, registry, h) = with_registry(&[]).await;
    let authz = format!("{}/api/v1/registry/authz", h.base);
    let traefik = tokio::task::spawn_blocking({
        let (d, url) = (dir.path().join("traefik"), registry.url());
        move || Traefik::forward_auth(&d, &url, &authz)
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| panic!("{e}"));
    let host = traefik.host();
    let (_, member) = people(&h, "pay").await;
    let (_, stranger) = people(&h, "other").await;
    let (tar, digest) = image_archive(b"\x7fELF ledger", "1.0.0");
    let r = h
        .raw(
            "POST",
            "/api/v1/runtime/registry/push?team=pay&name=ledger",
            Some(&member),
            Some(("application/x-tar".into(), tar.clone())),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (member_id, member_cred) = credential(&h, &member).await;
    let (_, stranger_cred) = credential(&h, &stranger).await;
    let archive = dir.path().join("image.tar");
    std::fs::write(&archive, &tar).expect("write");
    let authfile = dir.path().join("auth.json").display().to_string();
    let run = move |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            skopeo(&args)
        })
        .await
        .expect("join")
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let member_creds = format!("member-pay@example.org:{member_cred}");
    let stranger_creds = format!("member-other@example.org:{stranger_cred}");
    // `skopeo inspect` of `<host>/<path>` with `user:password` (none: `--no-creds`), and
    // `skopeo copy` of the test archive to `<host>/<path>`.
    let inspect = |creds: Option<&str>, path: &str| {
        let mut args = s(&["inspect", "--tls-verify=false"]);
        match creds {
            Some(creds) => args.extend(s(&["--creds", creds])),
            None => args.push("--no-creds".into()),
        }
        args.push(format!("docker://{host}/{path}"));
        run(args)
    };
    let push = |creds: &str, path: &str| {
        run(s(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            &format!("oci-archive:{}", archive.display()),
            &format!("docker://{host}/{path}"),
        ]))
    };

    // skopeo login with the credential (the registry's /v2/ check through forward-auth).
    let (ok, _, err) = run(s(&[
        "login",
        "--tls-verify=false",
        "--authfile",
        &authfile,
        "-u",
        "member-pay@example.org",
        "-p",
        &member_cred,
        &host,
    ]))
    .await;
    assert!(ok, "skopeo login: {err}");
    // Pull: inspect by tag gives the digest the API printed; copy to a local archive.
    let (ok, out, err) = run(s(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        &authfile,
        "--format",
        "{{.Digest}}",
        &format!("docker://{host}/pay/ledger:1.0.0"),
    ]))
    .await;
    assert!(ok, "skopeo inspect as the team's member: {err}");
    assert_eq!(out, digest);
    let pulled = dir.path().join("pulled.tar").display().to_string();
    let (ok, _, err) = run(s(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &member_creds,
        &format!("docker://{host}/pay/ledger@{digest}"),
        &format!("oci-archive:{pulled}"),
    ]))
    .await;
    assert!(ok, "skopeo copy (pull) as the team's member: {err}");
    // Push: a member may push under the team's path.
    let (ok, _, err) = push(&member_creds, "pay/copied:1").await;
    assert!(ok, "skopeo copy (push) as the team's member: {err}");

    // Another team's member: neither pull nor push under pay/.
    let (ok, _, err) = inspect(Some(&stranger_creds), "pay/ledger:1.0.0").await;
    assert!(!ok, "another team's member pulled pay/ledger");
    assert!(
        err.contains("403") || err.to_lowercase().contains("denied") || err.contains("unauthorized"),
        "{err}"
    );
    let (ok, _, _) = push(&stranger_creds, "pay/intruder:1").await;
    assert!(!ok, "another team's member pushed under pay/");
    // Their own team's path works for them.
    let (ok, _, err) = push(&stranger_creds, "other/tool:1").await;
    assert!(ok, "a member pushing under their own team's path: {err}");
    // Anonymous: refused.
    let (ok, _, _) = inspect(None, "pay/ledger:1.0.0").await;
    assert!(!ok, "anonymous pull went through");

    // Revoked: the same credential stops working at once.
    let r = h
        .call("DELETE", &format!("/api/v1/user/registry-credentials/{member_id}"), Some(&member), None)
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let (ok, _, _) = inspect(Some(&member_creds), "pay/ledger:1.0.0").await;
    assert!(!ok, "a revoked credential still pulls");

    // The team's pull secret: a pull-only credential of the team's service account.
    let team = h.state.store.team("pay").await.expect("store").expect("team pay");
    let read = |config: Vec<u8>| {
        let v: serde_json::Value = serde_json::from_slice(&config).expect("dockerconfigjson");
        let entry = &v["auths"][registry.host().as_str()];
        format!(
            "{}:{}",
            entry["username"].as_str().expect("username"),
            entry["password"].as_str().expect("password")
        )
    };
    let first = read(mcp_platform::registry_push::pull_config(&h.state, &team).await.expect("pull config"));
    let (ok, _, err) = inspect(Some(&first), "pay/ledger:1.0.0").await;
    assert!(ok, "the pull secret pulls its team's image: {err}");
    let (ok, _, _) = push(&first, "pay/by-pull-secret:1").await;
    assert!(!ok, "the pull secret pushed");
    let (ok, _, _) = inspect(Some(&first), "other/tool:1").await;
    assert!(!ok, "the pull secret pulled another team's image");
    // Writing it again replaces the credential: the old one stops working.
    let second = read(mcp_platform::registry_push::pull_config(&h.state, &team).await.expect("pull config"));
    assert_ne!(first, second);
    let (ok, _, _) = inspect(Some(&first), "pay/ledger:1.0.0").await;
    assert!(!ok, "a replaced pull secret still pulls");

    // What the registry holds now, as the API reports it.
    let r = h.call("GET", "/api/v1/runtime/registry?team=pay", Some(&member), None).await;
    let names: Vec<&str> = r.body["repositories"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|x| x["repository"].as_str())
        .collect();
    assert_eq!(names, ["pay/copied", "pay/ledger"], "{:?}", r.body);
    drop(traefik);
}
