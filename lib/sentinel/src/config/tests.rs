use super::*;

#[test]
fn database_names_must_be_plain_identifiers() {
    for ok in ["mcp", "_x", "a1_b2", "MCP"] {
        assert!(Database::new(ok).is_ok(), "{ok}");
    }
    for bad in ["", "1mcp", "mcp.events", "a-b", "a b", "x;DROP", &"a".repeat(65)] {
        assert!(matches!(Database::new(bad), Err(ConfigError::BadDatabase(_))), "{bad}");
    }
}

#[test]
fn durations_take_units() {
    let ms = |s| parse_duration("X", s).map(|d| d.as_millis());
    assert_eq!(ms("250"), Ok(250));
    assert_eq!(ms("250ms"), Ok(250));
    assert_eq!(ms("1s"), Ok(1000));
    assert_eq!(ms("1.5s"), Ok(1500));
    assert_eq!(ms("2m"), Ok(120_000));
    assert_eq!(ms("1h"), Ok(3_600_000));
    for bad in ["", "s", "1d", "-1s", "1 sec"] {
        assert!(parse_duration("X", bad).is_err(), "{bad}");
    }
}

#[test]
fn oidc_settings_go_together() {
    assert_eq!(OidcConfig::from_parts(None, None, None), Ok(None));
    assert_eq!(OidcConfig::from_parts(Some(" ".into()), None, None), Ok(None));
    let full = OidcConfig::from_parts(Some("iss".into()), Some("aud".into()), Some("http://idp/jwks".into()));
    assert_eq!(full.expect("complete").expect("configured").audience, "aud");
    assert_eq!(
        OidcConfig::from_parts(Some("iss".into()), None, Some("http://idp/jwks".into())),
        Err(ConfigError::PartialOidc("OIDC_AUDIENCE".into()))
    );
    assert!(matches!(
        OidcConfig::from_parts(Some("iss".into()), Some("aud".into()), Some("ftp://x".into())),
        Err(ConfigError::BadUrl { .. })
    ));
}

#[test]
fn configs_validate_their_ranges() {
    let mut p = ProcessorConfig::new("127.0.0.1:9092", "http://127.0.0.1:8123");
    assert_eq!(p.validate(), Ok(()));
    p.batch_size = 0;
    assert!(matches!(p.validate(), Err(ConfigError::OutOfRange { name: "BATCH_SIZE", .. })));
    let mut i = IngestConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), "b:1");
    assert_eq!(i.validate(), Ok(()));
    i.kafka.brokers = String::new();
    assert_eq!(i.validate(), Err(ConfigError::Empty("KAFKA_BROKERS")));
    let mut c = ClickHouseConfig::new("clickhouse:8123");
    assert!(matches!(c.validate(), Err(ConfigError::BadUrl { .. })));
    c.url = "https://ch.example:8443".into();
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut i = IngestConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), "b:1");
    i.api_keys = vec!["super-secret-key".into()];
    let mut c = ClickHouseConfig::new("http://ch:8123");
    c.password = "hunter2".into();
    let text = format!("{i:?} {c:?}");
    assert!(!text.contains("super-secret-key") && !text.contains("hunter2"), "{text}");
    assert!(text.contains("<1 redacted>") && text.contains("<redacted>"));
}
