//! `mcp-runtime --version`: the git commit and the build date, or `unknown` without git.
//!
//! The date is `SOURCE_DATE_EPOCH` when set (reproducible builds), else the commit's date, so
//! the same commit always builds the same version line.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or(dir);
            // A missing file would rerun this script on every build: packed refs live in one file.
            let loose = std::path::Path::new(&common).join(&reference);
            let watched =
                if loose.is_file() { loose } else { std::path::Path::new(&common).join("packed-refs") };
            if watched.is_file() {
                println!("cargo:rerun-if-changed={}", watched.display());
            }
        }
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = match std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok()) {
        Some(epoch) => civil_date(epoch),
        None => git(&["log", "-1", "--format=%cs"]).unwrap_or_else(|| "unknown".into()),
    };
    println!("cargo:rustc-env=MCP_RUNTIME_COMMIT={commit}");
    println!("cargo:rustc-env=MCP_RUNTIME_BUILD_DATE={date}");
}

/// `YYYY-MM-DD` (UTC) of a Unix time (days-from-civil, inverted).
fn civil_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
