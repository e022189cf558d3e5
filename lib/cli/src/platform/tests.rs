use super::config::{self, ConfigFile, Profile};
use super::*;

#[test]
fn the_config_file_lives_in_the_config_dir_or_under_home() {
    assert_eq!(config::path(Some("/c"), Some("/h")), Some(PathBuf::from("/c/config.json")));
    assert_eq!(config::path(None, Some("/h")), Some(PathBuf::from("/h/.mcpruntime/config.json")));
    assert_eq!(config::path(Some(""), None), None);
}

#[test]
fn saved_configs_are_private_and_round_trip() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("nested/config.json");
    assert_eq!(config::load(&path).expect("missing is empty"), ConfigFile::default());
    let mut cfg = ConfigFile { current: Some("p".into()), ..ConfigFile::default() };
    cfg.profiles.insert(
        "p".into(),
        Profile { api_url: "http://x".into(), access_token: Some("a".into()), ..Profile::default() },
    );
    config::save(&path, &cfg).expect("save");
    assert_eq!(config::load(&path).expect("load"), cfg);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        // Rewriting keeps it private, and leaves no temporary file behind.
        config::save(&path, &ConfigFile::default()).expect("save again");
        assert_eq!(mode(&path), 0o600);
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(names, ["config.json"]);
    std::fs::write(&path, "{not json").expect("write");
    assert!(matches!(config::load(&path), Err(CliError::Config { .. })));
}

#[test]
fn tables_align_columns() {
    let mut t = Table::new(&["NAME", "STATE"]);
    t.row(vec!["a-long-name".into(), "on".into()]);
    t.row(vec!["b".into(), "-".into()]);
    assert_eq!(t.render(), "NAME         STATE\na-long-name  on\nb            -\n");
}

#[test]
fn fields_of_json_objects() {
    let v = serde_json::json!({"a": {"b": "x", "n": 3, "z": null}});
    assert_eq!(
        (field(&v, "a.b"), field(&v, "a.n"), field(&v, "a.z"), field(&v, "a.q")),
        ("x".into(), "3".into(), String::new(), String::new())
    );
    assert_eq!(cell(""), "-");
}
