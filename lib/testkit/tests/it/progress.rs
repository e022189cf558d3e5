use std::time::Duration;

use mcp_testkit::ExampleServer;
use rmcp::ClientHandler;
use rmcp::RoleClient;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::NotificationContext;
use serde_json::json;
use tokio::sync::mpsc;

use crate::support::{args, call_text, connect_with};

/// A client that forwards every progress notification to a channel.
struct ProgressRecorder(mpsc::UnboundedSender<ProgressNotificationParam>);

impl ClientHandler for ProgressRecorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params);
    }
}

#[tokio::test]
async fn progress_sends_one_notification_per_step() {
    let server = ExampleServer::start("/mcp").await.expect("server starts");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = connect_with(&server, ProgressRecorder(tx), &[]).await;

    let answer = call_text(&client, "progress", Some(args(json!({"steps": 4})))).await;
    assert_eq!(answer, "completed 4 steps");

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let note = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("progress notification within 2 s")
            .expect("channel open");
        seen.push(note);
    }
    let progress: Vec<f64> = seen.iter().map(|n| n.progress).collect();
    assert_eq!(progress, [1.0, 2.0, 3.0, 4.0]);
    assert!(seen.iter().all(|n| n.total == Some(4.0)), "{seen:?}");
    assert_eq!(seen[0].message.as_deref(), Some("step 1 of 4"));
    // rmcp gives every request its own token; all four carry the same one.
    assert!(seen.iter().all(|n| n.progress_token == seen[0].progress_token), "{seen:?}");

    client.cancel().await.expect("client closes");
    server.shutdown().await;
}
