//! The `load` step: many `tools/call`s through the ingress from concurrent clients, each
//! holding one MCP session on one keep-alive connection. Every reply must arrive whole (no
//! transport error: refused, reset or truncated body) and carry the tool's result. This is the
//! regression test of the ingress truncation (Traefik's default proxy cut ~2% of replies from
//! keep-alive backends; see docs/deploy.md, "The ingress").

use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use crate::client::Client;
use crate::scenario::Load;
use crate::stack::Stack;

/// What one client saw.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    /// Calls whose request or response body failed (message of the first few).
    transport: Vec<String>,
    transport_count: usize,
    /// Calls answered, but not with the tool's result.
    wrong: Vec<String>,
    wrong_count: usize,
    /// Latency of each successful call, in microseconds.
    latencies: Vec<u64>,
}

const KEPT: usize = 5;

/// Runs the load; `Ok(Some(..))` is a failed expectation (with the counts).
pub async fn run(stack: &Stack, load: &Load, token: Option<String>) -> Result<Option<String>> {
    let url = stack.mcp_url(&load.server)?;
    let route = stack.route_headers(&load.server);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..load.clients {
        // Spread the remainder over the first clients.
        let calls = load.calls / load.clients + usize::from(worker < load.calls % load.clients);
        let (url, token, route, load) = (url.clone(), token.clone(), route.clone(), load.clone());
        workers.push(tokio::spawn(async move { client(&url, token.as_deref(), &route, &load, calls).await }));
    }
    let mut all = Tally::default();
    for worker in workers {
        let tally = match worker.await {
            Ok(Ok(tally)) => tally,
            Ok(Err(err)) => return Ok(Some(format!("a client could not open its session: {err:#}"))),
            Err(err) => return Ok(Some(format!("a client task failed: {err}"))),
        };
        all.ok += tally.ok;
        all.transport_count += tally.transport_count;
        all.wrong_count += tally.wrong_count;
        all.transport.extend(tally.transport);
        all.wrong.extend(tally.wrong);
        all.latencies.extend(tally.latencies);
    }
    let took = started.elapsed();
    all.latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        let n = all.latencies.len();
        if n == 0 {
            return 0.0;
        }
        let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
        all.latencies[i] as f64 / 1000.0
    };
    let summary = format!(
        "{} calls from {} keep-alive clients in {:.1} s ({:.0}/s): {} ok, {} transport errors, {} wrong answers; \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        load.calls,
        load.clients,
        took.as_secs_f64(),
        load.calls as f64 / took.as_secs_f64().max(f64::EPSILON),
        all.ok,
        all.transport_count,
        all.wrong_count,
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
    println!("           {summary}");
    if all.transport_count == 0 && all.wrong_count == 0 && all.ok == load.calls {
        return Ok(None);
    }
    let mut why = vec![format!("expected every call answered whole with {:?}; {summary}", load.text)];
    why.extend(all.transport.iter().map(|e| format!("transport: {e}")));
    why.extend(all.wrong.iter().map(|e| format!("wrong: {e}")));
    Ok(Some(why.join("\n")))
}

/// One client: its own connection and MCP session, `calls` calls one after the other.
async fn client(
    url: &str,
    token: Option<&str>,
    route: &[(String, String)],
    load: &Load,
    calls: usize,
) -> Result<Tally> {
    let client = Client::keep_alive();
    let headers = match client.open_session(url, token, route).await? {
        Ok(headers) => headers,
        Err(refused) => anyhow::bail!("initialize refused: HTTP {} {}", refused.status, refused.excerpt()),
    };
    let arguments = load.arguments.clone().unwrap_or(json!({}));
    let mut tally = Tally { latencies: Vec::with_capacity(calls), ..Tally::default() };
    for i in 0..calls {
        let id = i64::try_from(i).unwrap_or(i64::MAX - 1) + 10;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": load.tool, "arguments": arguments}})
        .to_string();
        let sent = Instant::now();
        match client.send("POST", url, &headers, Some(&body), false).await {
            Err(err) => {
                tally.transport_count += 1;
                if tally.transport.len() < KEPT {
                    tally.transport.push(format!("call {i}: {err:#}"));
                }
            }
            Ok(answer) => {
                let text = answer
                    .reply(id)
                    .and_then(|r| r["result"]["content"][0]["text"].as_str().map(str::to_string));
                if answer.status == 200 && text.as_deref() == Some(load.text.as_str()) {
                    tally.ok += 1;
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tally.latencies.push(micros);
                } else {
                    tally.wrong_count += 1;
                    if tally.wrong.len() < KEPT {
                        tally.wrong.push(format!("call {i}: HTTP {} {}", answer.status, answer.excerpt()));
                    }
                }
            }
        }
    }
    Ok(tally)
}
