//! `cargo xtask fuzz`: builds the libFuzzer targets in `fuzz/` and runs each one in turn.
//!
//! Stable Rust has no `-Zsanitizer`, so the targets are built with plain cargo and the
//! SanitizerCoverage pass libFuzzer needs (`-Cpasses=sancov-module` plus inline 8-bit counters,
//! the PC table and comparison tracing), `--cfg fuzzing`, in release mode with debug
//! assertions and overflow checks. `--target <host>` keeps the flags off build scripts and
//! proc macros. The build goes to `<target dir>/fuzz`; each run reads the committed seed corpus
//! `fuzz/corpus/<target>` and writes new inputs to `<target dir>/fuzz/corpus/<target>` and
//! crashes to `<target dir>/fuzz/artifacts/<target>/`. Runs are niced and sequential.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use duct::cmd;

use crate::util::{project_root, target_dir};

/// Every target, in run order.
const TARGETS: &[&str] = &["inspect", "policy_document", "discovery"];

/// Targets that need the `gateway` feature of the fuzz crate.
const GATEWAY_TARGETS: &[&str] = &["discovery"];

const RUSTFLAGS: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
     -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
     -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Stop a target after this many executions (whichever of time and runs comes first).
    #[arg(long)]
    runs: Option<u64>,
    /// Only this target (repeatable): inspect, policy_document, discovery.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Build the targets, run nothing.
    #[arg(long)]
    build_only: bool,
}

/// One target's result.
#[derive(Debug)]
struct Outcome {
    target: String,
    executions: u64,
    crashes: usize,
    seconds: f64,
}

pub fn run(args: &Args) -> Result<()> {
    let targets: Vec<&str> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &args.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("unknown fuzz target {t:?} (known: {})", TARGETS.join(", "));
            }
        }
        TARGETS.iter().copied().filter(|t| args.targets.iter().any(|a| a == t)).collect()
    };
    let out = target_dir()?.join("fuzz");
    let host = host_triple()?;
    let bins = build(&targets, &out, &host)?;
    if args.build_only {
        return Ok(());
    }
    let mut outcomes = Vec::new();
    for (target, bin) in targets.iter().zip(bins) {
        outcomes.push(fuzz_one(target, &bin, &out, args)?);
    }
    println!("\n{:<16} {:>14} {:>8} {:>9} {:>12}", "target", "executions", "crashes", "seconds", "exec/s");
    for o in &outcomes {
        let rate = if o.seconds > 0.0 { o.executions as f64 / o.seconds } else { 0.0 };
        println!("{:<16} {:>14} {:>8} {:>9.0} {:>12.0}", o.target, o.executions, o.crashes, o.seconds, rate);
    }
    let crashed: Vec<&str> = outcomes.iter().filter(|o| o.crashes > 0).map(|o| o.target.as_str()).collect();
    if !crashed.is_empty() {
        bail!("crashes in {} (inputs under {})", crashed.join(", "), out.join("artifacts").display());
    }
    Ok(())
}

fn host_triple() -> Result<String> {
    let info = cmd!("rustc", "-vV").read().context("rustc -vV")?;
    info.lines().find_map(|l| l.strip_prefix("host: ")).map(str::to_string).context("rustc -vV names no host")
}

/// Builds the targets; returns their binaries in order.
fn build(targets: &[&str], out: &Path, host: &str) -> Result<Vec<PathBuf>> {
    let fuzz_dir = project_root().join("fuzz");
    let mut argv: Vec<String> = ["build", "--release", "--target", host].map(String::from).to_vec();
    argv.push("--target-dir".into());
    argv.push(out.display().to_string());
    if targets.iter().any(|t| GATEWAY_TARGETS.contains(t)) {
        argv.extend(["--features".into(), "gateway".into()]);
    }
    for t in targets {
        argv.extend(["--bin".into(), (*t).to_string()]);
    }
    println!("building fuzz targets: {}", targets.join(", "));
    cmd("cargo", &argv)
        .dir(&fuzz_dir)
        .env("RUSTFLAGS", RUSTFLAGS)
        .env("CARGO_INCREMENTAL", "0")
        .run()
        .context("build the fuzz targets")?;
    Ok(targets.iter().map(|t| out.join(host).join("release").join(t)).collect())
}

/// Runs one target under `nice`; reads executions from libFuzzer's final stats.
fn fuzz_one(target: &str, bin: &Path, out: &Path, args: &Args) -> Result<Outcome> {
    let seeds = project_root().join("fuzz/corpus").join(target);
    let corpus = out.join("corpus").join(target);
    let artifacts = out.join("artifacts").join(target);
    for dir in [&seeds, &corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let before = count_files(&artifacts);
    let mut argv = vec![
        "-n".to_string(),
        "10".to_string(),
        bin.display().to_string(),
        format!("-max_total_time={}", args.time),
        "-print_final_stats=1".to_string(),
        "-max_len=8192".to_string(),
        format!("-artifact_prefix={}/", artifacts.display()),
    ];
    if let Some(runs) = args.runs {
        argv.push(format!("-runs={runs}"));
    }
    argv.push(corpus.display().to_string());
    argv.push(seeds.display().to_string());
    println!("fuzzing {target} for up to {} s", args.time);
    let started = Instant::now();
    let output = cmd("nice", &argv).stderr_to_stdout().stdout_capture().unchecked().run()?;
    let seconds = started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stdout);
    let executions = text
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let crashes = count_files(&artifacts).saturating_sub(before);
    if !output.status.success() || crashes > 0 {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
    let crashes = if output.status.success() { crashes } else { crashes.max(1) };
    Ok(Outcome { target: target.to_string(), executions, crashes, seconds })
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.flatten().count()).unwrap_or(0)
}
