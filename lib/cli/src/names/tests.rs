use super::*;

#[test]
fn labels() {
    assert!(check_label("github-mcp").is_ok());
    assert!(check_label("a").is_ok());
    assert!(check_label("9lives").is_ok());
    assert!(check_label("").is_err());
    assert!(check_label("GitHub").is_err());
    assert!(check_label("-x").is_err());
    assert!(check_label("x-").is_err());
    assert!(check_label("a.b").is_err());
    assert!(check_label(&"a".repeat(64)).is_err());
    assert!(check_label(&"a".repeat(63)).is_ok());
}

#[test]
fn subdomains() {
    assert!(check_subdomain("srv-alice-example.com").is_ok());
    assert!(check_subdomain("a..b").is_err());
    assert!(check_subdomain(".a").is_err());
    assert!(check_subdomain("a_b").is_err());
}

#[test]
fn sanitising() {
    assert_eq!(sanitize("My Server", false).as_deref(), Some("my-server"));
    assert_eq!(sanitize("--Weird__name!!", false).as_deref(), Some("weird-name"));
    assert_eq!(sanitize("github-agt_01HX", false).as_deref(), Some("github-agt-01hx"));
    assert_eq!(sanitize("srv-alice@example.com", true).as_deref(), Some("srv-alice-example.com"));
    assert_eq!(sanitize("srv-alice@example.com", false).as_deref(), Some("srv-alice-example-com"));
    assert_eq!(sanitize("___", false), None);
    assert_eq!(sanitize("", true), None);
    let long = sanitize(&"ab-".repeat(40), false).unwrap_or_default();
    assert!(long.len() <= MAX_LABEL_LEN && check_label(&long).is_ok(), "{long}");
}

#[test]
fn sanitised_names_always_pass_the_check() {
    for text in ["Ünïcode Dir", "x.y.z", "a--b", "1", "UPPER", "tab\tname", "ends.", ".starts"] {
        if let Some(label) = sanitize(text, false) {
            assert!(check_label(&label).is_ok(), "{text:?} -> {label:?}");
        }
        if let Some(sub) = sanitize(text, true) {
            assert!(check_subdomain(&sub).is_ok(), "{text:?} -> {sub:?}");
        }
    }
}

#[test]
fn long_subdomain_labels_are_cut_to_63() {
    let name = sanitize(&format!("github-{}", "agt_01hx".repeat(20)), true).unwrap_or_default();
    assert!(name.len() <= MAX_LABEL_LEN, "{name}");
    assert!(check_subdomain(&name).is_ok(), "{name}");
}
