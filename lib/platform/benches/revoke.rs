//! `cargo bench -p mcp-platform --bench revoke` (run by `cargo xtask bench platform`): the
//! time from a revoke call on the platform API to the first `401 session_revoked` of a real
//! gateway reading the Local backend's policy file, over `MCP_BENCH_REVOKE_CYCLES` (default 50)
//! revoke → deny → unrevoke cycles.
//!
//! Writes JSON to `$MCP_BENCH_OUT` (default: stdout).

#[path = "../tests/it/revocation.rs"]
#[allow(dead_code)]
mod revocation;

use std::time::Duration;

use serde_json::json;

fn main() {
    let cycles: usize =
        std::env::var("MCP_BENCH_REVOKE_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let report = rt.block_on(async move {
        let rig = revocation::Rig::start().await;
        let first = rig.call("echo").await;
        assert_eq!(first.status, 200, "{}", first.body);
        let mut samples = Vec::with_capacity(cycles);
        for _ in 0..cycles {
            samples.push(rig.revoke_to_deny(Duration::from_secs(10)).await);
            rig.unrevoke(Duration::from_secs(10)).await;
        }
        samples.sort();
        let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_nanos() as f64;
        json!({"revoke_to_deny": {
            "samples": samples.len(), "median_ns": pick(0.5), "p99_ns": pick(0.99), "max_ns": pick(1.0)
        }})
    });
    let text = serde_json::to_string_pretty(&report).expect("json");
    match std::env::var_os("MCP_BENCH_OUT") {
        Some(path) => std::fs::write(path, text).expect("write results"),
        None => println!("{text}"),
    }
}
