//! Runs scenarios step by step against the stack and reports: one line per step, a summary
//! table, and a JUnit XML file in the artifacts directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::client::{Answer, Client};
use crate::scenario::{Action, Api, CliStep, Events, Expect, Scenario, Step};
use crate::stack::Stack;

/// The outcome of one step.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Step name.
    pub name: String,
    /// None: passed; Some: why it failed (step, expected and actual).
    pub failure: Option<String>,
    /// How long it took.
    pub took: Duration,
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Its steps.
    pub steps: Vec<StepResult>,
}

impl ScenarioResult {
    fn failed(&self) -> usize {
        self.steps.iter().filter(|s| s.failure.is_some()).count()
    }
}

/// Where `cli` steps find the `mcp-runtime` binary and keep their files.
#[derive(Debug, Clone)]
pub struct CliEnv {
    /// The `mcp-runtime` binary.
    pub bin: PathBuf,
    /// Each scenario gets `<dir>/<scenario>/{home,work}` (credentials, working directory) and
    /// the logs of its background runs.
    pub dir: PathBuf,
}

/// What `cli` steps of one scenario share: its directories and its background runs (stopped
/// by PID when the scenario ends).
struct CliScenario<'a> {
    env: &'a CliEnv,
    home: PathBuf,
    work: PathBuf,
    logs: PathBuf,
    background: Vec<(String, Child)>,
}

impl CliScenario<'_> {
    fn stop(&mut self) {
        for (_, child) in &mut self.background {
            mcp_testkit::services::terminate(child);
        }
        self.background.clear();
    }
}

impl Drop for CliScenario<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `scenarios` in order, each from the baseline fixtures.
pub async fn run_all(stack: &mut Stack, scenarios: &[Scenario], cli: &CliEnv) -> Vec<ScenarioResult> {
    let client = Client::new();
    let total: usize = scenarios.iter().map(|s| s.steps.len()).sum();
    let mut done = 0;
    let mut results = Vec::new();
    for scenario in scenarios {
        println!("\n== {} — {}", scenario.name, scenario.description.trim());
        let mut steps = Vec::new();
        if let Err(err) = stack.reset().await {
            steps.push(StepResult {
                name: "reset to the baseline fixtures".into(),
                failure: Some(format!("{err:#}")),
                took: Duration::ZERO,
            });
        }
        // Values `api` and `cli` steps saved, for the later steps of this scenario.
        let mut vars = builtin_vars(stack);
        let root = cli.dir.join(&scenario.name);
        let mut shell = CliScenario {
            env: cli,
            home: root.join("home"),
            work: root.join("work"),
            logs: root.join("logs"),
            background: Vec::new(),
        };
        let _ = std::fs::remove_dir_all(&root);
        for dir in [&shell.home, &shell.work, &shell.logs] {
            if let Err(err) = std::fs::create_dir_all(dir) {
                eprintln!("mcp-e2e: create {}: {err}", dir.display());
            }
        }
        for step in &scenario.steps {
            let started = Instant::now();
            let failure = match run_step(stack, &client, step, &mut vars, &mut shell).await {
                Ok(failure) => failure,
                Err(err) => Some(format!("error: {err:#}")),
            };
            let failure = failure.or_else(|| stack.check_alive().err().map(|e| format!("{e:#}")));
            done += 1;
            let mark = if failure.is_none() { "ok  " } else { "FAIL" };
            println!("{} {mark} {}{}", progress(done, total), step.name, took(started.elapsed()));
            if let Some(why) = &failure {
                for line in why.lines() {
                    println!("           {line}");
                }
            }
            steps.push(StepResult { name: step.name.clone(), failure, took: started.elapsed() });
        }
        shell.stop();
        results.push(ScenarioResult { name: scenario.name.clone(), steps });
    }
    results
}

/// The values every scenario knows: `platform_url`, `ingress`, `mcp_url:<server>`,
/// `route_host:<server>`, `example_server_bin` (the example MCP server's binary) and, with a
/// registry, `registry_host` (the host image references name).
fn builtin_vars(stack: &Stack) -> Vars {
    let mut vars = Vars::new();
    if let Some(platform) = &stack.platform {
        vars.insert("platform_url".into(), platform.url.clone());
        if let Some((_, registry)) = &platform.registry {
            vars.insert("registry_host".into(), registry.host());
        }
    }
    vars.insert("example_server_bin".into(), stack.example_server_bin.display().to_string());
    vars.insert("ingress".into(), stack.ingress.clone());
    for (name, served) in &stack.servers {
        if let Ok(url) = stack.mcp_url(name) {
            vars.insert(format!("mcp_url:{name}"), url);
        }
        // The `Host` the route answers to: the server's own on a cluster (the ingress routes by
        // host), the ingress address locally (routed by path).
        vars.insert(
            format!("route_host:{name}"),
            served.host.clone().unwrap_or_else(|| stack.ingress.clone()),
        );
    }
    vars
}

/// One run of `mcp-runtime`: to completion (checked against `expect`, again until it holds
/// when `within` is set), or left running in the background until its `ready` URL answers.
async fn run_cli(
    stack: &Stack,
    client: &Client,
    step: &CliStep,
    expect: &Expect,
    vars: &mut Vars,
    shell: &mut CliScenario<'_>,
) -> Result<Option<String>> {
    let platform = stack.platform.as_ref().context("the platform is not running")?;
    if let Some(name) = &step.port {
        let port = mcp_testkit::services::free_port().map_err(|e| anyhow::anyhow!("{e}"))?;
        vars.insert(name.clone(), port.to_string());
    }
    for (path, content) in &step.files {
        let file = shell.work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, substitute(content, vars)?)
            .with_context(|| format!("write {}", file.display()))?;
    }
    let args: Vec<String> = step.args.iter().map(|a| substitute(a, vars)).collect::<Result<_>>()?;
    let stdin = step.stdin.as_deref().map(|s| substitute(s, vars)).transpose()?;
    let command = || {
        let mut cmd = Command::new(&shell.env.bin);
        cmd.args(&args)
            .current_dir(&shell.work)
            .env("MCP_RUNTIME_CONFIG_DIR", &shell.home)
            .env("MCP_PLATFORM_API_URL", &platform.url)
            .env_remove("MCP_PLATFORM_API_TOKEN")
            .env_remove("MCP_PLATFORM_API_PROFILE")
            .env("NO_COLOR", "1");
        cmd
    };
    let shown = format!("mcp-runtime {}", shell_words(&args));
    if let Some(name) = &step.background {
        let log = shell.logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = command()
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("start {shown}"))?;
        shell.background.push((name.clone(), child));
        let ready = substitute(step.ready.as_deref().unwrap_or_default(), vars)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some((_, child)) = shell.background.last_mut()
                && let Some(status) = child.try_wait()?
            {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Ok(Some(format!("{shown} exited ({status}) before it was ready:\n{}", text.trim())));
            }
            if let Ok((status, _)) = client.get(&ready).await
                && (200..300).contains(&status)
            {
                println!("           {name} ready ({shown})");
                return Ok(None);
            }
            if Instant::now() >= deadline {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Ok(Some(format!("{shown}: {ready} not ready within 30 s:\n{}", text.trim())));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut expect = expect.clone();
    expect.json =
        expect.json.iter().map(|(k, v)| Ok((k.clone(), substitute_json(v, vars)?))).collect::<Result<_>>()?;
    let deadline = Instant::now() + Duration::from_secs(step.within.unwrap_or(0));
    loop {
        let mut cmd = command();
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let input = stdin.clone().unwrap_or_default();
        let out = tokio::task::spawn_blocking(move || -> std::io::Result<std::process::Output> {
            let mut child = cmd.spawn()?;
            if let Some(mut pipe) = child.stdin.take() {
                pipe.write_all(input.as_bytes())?;
            }
            child.wait_with_output()
        })
        .await?
        .with_context(|| format!("run {shown}"))?;
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let failure = check_cli(&expect, code, &stdout, &stderr);
        if failure.is_none() {
            if !step.save.is_empty() {
                let json: Value = serde_json::from_str(&stdout).with_context(|| {
                    format!("save: the output of {shown} is not JSON: {}", excerpt(&stdout))
                })?;
                for (name, pointer) in &step.save {
                    let value = json.pointer(pointer).with_context(|| {
                        format!("save {name}: the output has no {pointer}: {}", excerpt(&stdout))
                    })?;
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    vars.insert(name.clone(), text);
                }
            }
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Ok(failure.map(|f| format!("{shown}\n{f}")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(600) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Compares a finished `mcp-runtime` run with the expectation.
fn check_cli(expect: &Expect, code: i32, stdout: &str, stderr: &str) -> Option<String> {
    let mut problems = Vec::new();
    if let Some(exit) = expect.exit
        && exit != code
    {
        problems.push(format!("exit: expected {exit}, got {code}"));
    }
    for text in expect.stdout_contains.iter().chain(expect.body_contains.iter()) {
        if !stdout.contains(text.as_str()) {
            problems.push(format!("stdout: expected to contain {text:?}"));
        }
    }
    for text in &expect.body_lacks {
        if stdout.contains(text.as_str()) || stderr.contains(text.as_str()) {
            problems.push(format!("output: expected not to contain {text:?}"));
        }
    }
    for text in &expect.stderr_contains {
        if !stderr.contains(text.as_str()) {
            problems.push(format!("stderr: expected to contain {text:?}"));
        }
    }
    if let Some(lines) = expect.stderr_lines {
        let got = stderr.lines().filter(|l| !l.trim().is_empty()).count();
        if got != lines {
            problems.push(format!("stderr: expected {lines} line(s), got {got}"));
        }
    }
    if !expect.json.is_empty() {
        let json: Value = serde_json::from_str(stdout).unwrap_or(Value::Null);
        for (pointer, wanted) in &expect.json {
            match json.pointer(pointer) {
                Some(actual) if actual == wanted => {}
                Some(actual) => problems.push(format!("json {pointer}: expected {wanted}, got {actual}")),
                None => problems.push(format!("json {pointer}: expected {wanted}, got nothing")),
            }
        }
    }
    if problems.is_empty() {
        return None;
    }
    problems.push(format!("stdout: {}", excerpt(stdout)));
    problems.push(format!("stderr: {}", excerpt(stderr)));
    Some(problems.join("\n"))
}

/// The commands `--keep-running` prints, run for real: `try.sh` (written by
/// [`Stack::write_try_kit`]) makes governed calls through the ingress with curl, from the
/// baseline fixtures. Reported like a scenario, `try-kit`.
pub async fn check_try_kit(stack: &mut Stack, artifacts: &Path) -> ScenarioResult {
    println!("\n== try-kit — the hand-made calls --keep-running suggests");
    let mut steps = Vec::new();
    let script = match stack.reset().await {
        Ok(()) => stack.write_try_kit(artifacts).await,
        Err(err) => Err(err),
    };
    let script = match script {
        Ok(script) => script,
        Err(err) => {
            let failure = Some(format!("write the try kit: {err:#}"));
            println!("FAIL write the try kit");
            steps.push(StepResult { name: "write the try kit".into(), failure, took: Duration::ZERO });
            return ScenarioResult { name: "try-kit".into(), steps };
        }
    };
    for (args, wanted) in TRY_KIT_CHECKS {
        let started = Instant::now();
        let name = format!("try.sh {}", args.join(" "));
        let out = std::process::Command::new("bash").arg(&script).args(*args).output();
        let failure = match out {
            Ok(out) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                (!text.contains(wanted))
                    .then(|| format!("expected output containing {wanted:?}, got:\n{}", text.trim()))
            }
            Err(err) => Some(format!("run bash {}: {err}", script.display())),
        };
        let mark = if failure.is_none() { "ok  " } else { "FAIL" };
        println!("{mark} {name}{}", took(started.elapsed()));
        if let Some(why) = &failure {
            for line in why.lines() {
                println!("           {line}");
            }
        }
        steps.push(StepResult { name, failure, took: started.elapsed() });
    }
    ScenarioResult { name: "try-kit".into(), steps }
}

/// `try.sh` arguments and what its output must contain (baseline fixtures).
const TRY_KIT_CHECKS: &[(&[&str], &str)] = &[
    (&["ops", "aaa-ping"], r#""text":"pong""#),
    (&["ops", "add", r#"{"a": 7, "b": 5}"#], "tool_not_granted"),
    (&["ops", "upper", r#"{"text": "hi"}"#], "trust_too_low"),
    (&["ops-no-session", "aaa-ping"], "missing_session"),
    (&["bob", "aaa-ping"], "session_not_found"),
];

fn progress(done: usize, total: usize) -> String {
    const WIDTH: usize = 20;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!("[{}{}] {done:>3}/{total}", "#".repeat(filled), "-".repeat(WIDTH - filled))
}

fn took(d: Duration) -> String {
    if d >= Duration::from_millis(100) { format!(" ({} ms)", d.as_millis()) } else { String::new() }
}

/// Values saved by `api` steps: name → text.
type Vars = BTreeMap<String, String>;

/// The token for `caller` on `server`: `$name` is a token an `api` step saved, any other name
/// an identity of stack.yaml.
async fn token(stack: &Stack, vars: &Vars, caller: &str, server: &str) -> Result<Option<String>> {
    match caller.strip_prefix('$') {
        Some(name) => vars
            .get(name)
            .cloned()
            .map(Some)
            .with_context(|| format!("no value saved as {name:?} by an earlier step")),
        None => stack.token(caller, server).await,
    }
}

/// Replaces `${name}` in `text` by saved values; an unknown name is an error.
fn substitute(text: &str, vars: &Vars) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').with_context(|| format!("unclosed ${{ in {text:?}"))? + start;
        let name = &rest[start + 2..end];
        out.push_str(
            vars.get(name).with_context(|| format!("no value saved as {name:?} by an earlier step"))?,
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`substitute`] in every string of a JSON value.
fn substitute_json(value: &Value, vars: &Vars) -> Result<Value> {
    Ok(match value {
        Value::String(s) => Value::String(substitute(s, vars)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_json(v, vars)).collect::<Result<_>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute_json(v, vars)?))).collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

/// One request to the platform API, asked again until the expectation holds when `within` is
/// set; the values to save are taken from the answer that met it.
async fn run_api(
    stack: &Stack,
    client: &Client,
    api: &Api,
    expect: &Expect,
    vars: &mut Vars,
) -> Result<Option<String>> {
    let platform = stack.platform.as_ref().context("the platform is not running")?;
    let url = format!("{}{}", platform.url, substitute(&api.path, vars)?);
    let mut headers = vec![("accept".to_string(), "application/json".to_string())];
    if let Some(name) = &api.bearer {
        let token =
            vars.get(name).with_context(|| format!("no value saved as {name:?} by an earlier step"))?;
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let body = match &api.body {
        Some(body) => {
            headers.push(("content-type".into(), "application/json".into()));
            Some(serde_json::to_string(&substitute_json(body, vars)?)?)
        }
        None => None,
    };
    let mut expect = expect.clone();
    expect.json =
        expect.json.iter().map(|(k, v)| Ok((k.clone(), substitute_json(v, vars)?))).collect::<Result<_>>()?;
    let deadline = Instant::now() + Duration::from_secs(api.within.unwrap_or(0));
    loop {
        let answer = client.send(&api.method, &url, &headers, body.as_deref(), false).await?;
        let failure = check(&expect, &answer);
        if failure.is_none() {
            let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            for (name, pointer) in &api.save {
                let value = json.pointer(pointer).with_context(|| {
                    format!("save {name}: the answer has no {pointer}: {}", answer.excerpt())
                })?;
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                vars.insert(name.clone(), text);
            }
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Ok(failure);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs one step; `Ok(Some(..))` is a failed expectation.
async fn run_step(
    stack: &mut Stack,
    client: &Client,
    step: &Step,
    vars: &mut Vars,
    shell: &mut CliScenario<'_>,
) -> Result<Option<String>> {
    let answer = match &step.action {
        Action::Api(api) => return run_api(stack, client, api, &step.expect, vars).await,
        Action::Cli(cli) => return run_cli(stack, client, cli, &step.expect, vars, shell).await,
        Action::Patch(p) => {
            stack.fixtures.patch(&p.kind, &p.namespace, &p.name, &p.merge)?;
            let took = stack.apply().await?;
            println!("           policy re-rendered; every gateway serves it after {} ms", took.as_millis());
            return Ok(None);
        }
        Action::Events(events) => return check_events(stack, events).await,
        Action::Load(load) => {
            let token = token(stack, vars, &load.caller, &load.server).await?;
            return crate::load::run(stack, load, token).await;
        }
        Action::Call(call) => {
            let audience = call.audience_of.as_deref().unwrap_or(&call.server);
            let token = token(stack, vars, &call.caller, audience).await?;
            // A local adapter picks the route itself.
            let mut headers = if call.url.is_some() { Vec::new() } else { stack.route_headers(&call.server) };
            headers.extend(call.headers.clone());
            let params = json!({"name": call.tool, "arguments": call.arguments.clone().unwrap_or(json!({}))});
            let url = match &call.url {
                Some(url) => substitute(url, vars)?,
                None => stack.mcp_url(&call.server)?,
            };
            let started = Instant::now();
            let within = Duration::from_secs_f64(call.within.unwrap_or(0.0).max(0.0));
            loop {
                let answer = client
                    .mcp_request(&url, token.as_deref(), &headers, "tools/call", params.clone())
                    .await?;
                let failure = check(&step.expect, &answer);
                if failure.is_none() || started.elapsed() >= within {
                    if failure.is_none() && call.within.is_some() {
                        println!("           held after {} ms", started.elapsed().as_millis());
                    }
                    return Ok(failure);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Action::Rpc(rpc) => {
            let token = token(stack, vars, &rpc.caller, &rpc.server).await?;
            let mut headers = stack.route_headers(&rpc.server);
            headers.extend(rpc.headers.clone());
            let id = rpc.id.clone().unwrap_or(json!(2));
            client
                .mcp_request_with_id(
                    &stack.mcp_url(&rpc.server)?,
                    token.as_deref(),
                    &headers,
                    &rpc.method,
                    rpc.params.clone().unwrap_or(json!({})),
                    id,
                )
                .await?
        }
        Action::Http(h) => {
            let mut headers = stack.route_headers(&h.server);
            let has = |name: &str| h.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
            if !has("content-type") && h.body.is_some() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            if !has("accept") {
                headers.push(("accept".into(), "application/json, text/event-stream".into()));
            }
            if let Some(caller) = &h.caller
                && let Some(token) = token(stack, vars, caller, &h.server).await?
            {
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
            if has("host") {
                // The step's own Host (a DNS-rebinding case) replaces the route's.
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case("host"));
            }
            // `${name}` in header values and the path: values saved by earlier steps.
            for (name, value) in &h.headers {
                headers.push((name.clone(), substitute(value, vars)?));
            }
            let url = match &h.path {
                Some(path) => format!("http://{}{}", stack.ingress, substitute(path, vars)?),
                None => stack.mcp_url(&h.server)?,
            };
            client.send(&h.method, &url, &headers, h.body.as_deref(), h.chunked).await?
        }
    };
    Ok(check(&step.expect, &answer))
}

/// Asks ClickHouse (through lib/sentinel's query library) until the events expectation holds.
async fn check_events(stack: &Stack, events: &Events) -> Result<Option<String>> {
    let pipeline = stack.analytics.as_ref().context("the analytics pipeline is not running")?;
    // One exact match per filterable column (mcp_events::columns); any other name is an error.
    let mut filter = mcp_sentinel::query::EventFilter::default();
    for (k, v) in &events.filter {
        filter.set(k, v.clone()).with_context(|| format!("events.where: `{k}`"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(events.within);
    loop {
        let mut found = Vec::new();
        let mut cursor = None;
        for _ in 0..20 {
            let query = mcp_sentinel::query::EventQuery { filter: filter.clone(), limit: Some(1000), cursor };
            let page = pipeline.analytics.events(&query).await?;
            found.extend(page.events.into_iter().map(|e| e.payload));
            match page.meta.next_cursor {
                Some(next) if page.meta.has_more => cursor = Some(next),
                _ => break,
            }
        }
        let problems = events_problems(events, &found);
        if problems.is_empty() {
            println!("           {} matching events", found.len());
            return Ok(None);
        }
        if Instant::now() > deadline {
            return Ok(Some(format!("after {} s: {}", events.within, problems.join("\n"))));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the found payloads lack.
fn events_problems(events: &Events, found: &[serde_json::Value]) -> Vec<String> {
    let mut problems = Vec::new();
    if found.len() < events.min {
        problems.push(format!("events: expected at least {}, found {}", events.min, found.len()));
    }
    if !events.payload.is_empty() && !found.iter().any(|p| events.payload.iter().all(|(k, v)| &p[k] == v)) {
        problems.push(format!(
            "payload: expected an event with {}, none of {} has it",
            serde_json::to_string(&events.payload).unwrap_or_default(),
            found.len()
        ));
    }
    for field in &events.nonnegative {
        if let Some(bad) = found.iter().find(|p| !p[field].as_f64().is_some_and(|v| v >= 0.0)) {
            problems.push(format!("{field}: expected a number >= 0 in every event, got {}", bad[field]));
        }
    }
    for (field, wanted) in &events.includes {
        let seen: std::collections::BTreeSet<&str> = found.iter().filter_map(|p| p[field].as_str()).collect();
        let missing: Vec<&String> = wanted.iter().filter(|w| !seen.contains(w.as_str())).collect();
        if !missing.is_empty() {
            problems.push(format!("{field}: expected {missing:?} among the events, saw {seen:?}"));
        }
    }
    problems
}

/// Compares an answer with the expectation; the message names expected and actual values.
pub fn check(expect: &Expect, answer: &Answer) -> Option<String> {
    let mut problems = Vec::new();
    if let Some(status) = expect.status
        && status != answer.status
    {
        problems.push(format!("status: expected {status}, got {}", answer.status));
    }
    if let Some(reason) = &expect.reason {
        let actual = answer.reason();
        if actual.as_deref() != Some(reason.as_str()) {
            problems.push(format!("reason: expected {reason:?}, got {}", shown(actual.as_deref())));
        }
    }
    if let Some(text) = &expect.text {
        let actual =
            answer.reply(2).and_then(|r| r["result"]["content"][0]["text"].as_str().map(str::to_string));
        if actual.as_deref() != Some(text.as_str()) {
            problems.push(format!("text: expected {text:?}, got {}", shown(actual.as_deref())));
        }
    }
    if let Some(text) = &expect.body_contains
        && !String::from_utf8_lossy(&answer.body).contains(text.as_str())
    {
        problems.push(format!("body: expected to contain {text:?}"));
    }
    let body = String::from_utf8_lossy(&answer.body);
    for text in &expect.body_lacks {
        if body.contains(text.as_str()) {
            problems.push(format!("body: expected not to contain {text:?}"));
        }
    }
    if let Some(wanted) = &expect.tools {
        let listed: Option<Vec<String>> = answer.messages().into_iter().find_map(|m| {
            let tools = m["result"]["tools"].as_array()?.clone();
            Some(tools.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect())
        });
        let mut wanted = wanted.clone();
        wanted.sort();
        match listed {
            Some(mut listed) => {
                listed.sort();
                if listed != wanted {
                    problems.push(format!("tools: expected {wanted:?}, got {listed:?}"));
                }
            }
            None => problems.push(format!("tools: expected {wanted:?}, got no tools/list result")),
        }
    }
    for (name, text) in &expect.header_contains {
        let actual = answer.headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if !actual.is_some_and(|v| v.contains(text.as_str())) {
            problems.push(format!("header {name}: expected to contain {text:?}, got {}", shown(actual)));
        }
    }
    if !expect.json.is_empty() {
        let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        for (pointer, wanted) in &expect.json {
            match json.pointer(pointer) {
                Some(actual) if actual == wanted => {}
                Some(actual) => problems.push(format!("json {pointer}: expected {wanted}, got {actual}")),
                None => problems.push(format!("json {pointer}: expected {wanted}, got nothing")),
            }
        }
    }
    if problems.is_empty() {
        return None;
    }
    problems.push(format!("body: {}", answer.excerpt()));
    Some(problems.join("\n"))
}

fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "nothing".into(), |v| format!("{v:?}"))
}

/// Prints the summary table; returns the number of failed steps.
pub fn summary(results: &[ScenarioResult]) -> usize {
    println!("\n{:<16} {:>6} {:>6} {:>6}", "scenario", "steps", "passed", "failed");
    let (mut steps, mut failed) = (0, 0);
    for r in results {
        println!("{:<16} {:>6} {:>6} {:>6}", r.name, r.steps.len(), r.steps.len() - r.failed(), r.failed());
        steps += r.steps.len();
        failed += r.failed();
    }
    println!("{:<16} {:>6} {:>6} {:>6}", "total", steps, steps - failed, failed);
    println!("{} passed, {} failed", steps - failed, failed);
    for r in results {
        for s in r.steps.iter().filter(|s| s.failure.is_some()) {
            println!("FAILED {} / {}", r.name, s.name);
        }
    }
    failed
}

/// Writes `junit.xml`.
pub fn write_junit(path: &Path, results: &[ScenarioResult]) -> Result<()> {
    let esc =
        |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mcp-e2e\">\n");
    for r in results {
        let time: f64 = r.steps.iter().map(|s| s.took.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{time:.3}\">",
            esc(&r.name),
            r.steps.len(),
            r.failed()
        );
        for s in &r.steps {
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                esc(&r.name),
                esc(&s.name),
                s.took.as_secs_f64()
            );
            match &s.failure {
                None => xml.push_str("/>\n"),
                Some(why) => {
                    let first = why.lines().next().unwrap_or_default();
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        esc(first),
                        esc(why)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    std::fs::write(path, xml)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;

    fn answer(status: u16, body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, "application/json".parse().expect("header"));
        Answer { status, headers, body: Bytes::from(body.to_string()) }
    }

    #[test]
    fn a_broken_expectation_names_expected_and_actual() {
        let denied = answer(
            401,
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32001,"message":"m","data":{"reason":"session_revoked"}}}"#,
        );
        let expect = Expect {
            status: Some(200),
            reason: Some("allowed".into()),
            text: Some("hi".into()),
            header_contains: [("www-authenticate".to_string(), "Bearer".to_string())].into(),
            ..Expect::default()
        };
        let why = check(&expect, &denied).expect("must fail");
        assert!(why.contains("status: expected 200, got 401"), "{why}");
        assert!(why.contains(r#"reason: expected "allowed", got "session_revoked""#), "{why}");
        assert!(why.contains(r#"text: expected "hi", got nothing"#), "{why}");
        assert!(
            why.contains(r#"header www-authenticate: expected to contain "Bearer", got nothing"#),
            "{why}"
        );
        let ok =
            answer(200, r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hi"}]}}"#);
        let text = Expect { status: Some(200), text: Some("hi".into()), ..Expect::default() };
        assert_eq!(check(&text, &ok), None);
        let plain = answer(403, r#"{"error":"origin_not_allowed"}"#);
        let reason =
            Expect { status: Some(403), reason: Some("origin_not_allowed".into()), ..Expect::default() };
        assert_eq!(check(&reason, &plain), None);
    }
}
