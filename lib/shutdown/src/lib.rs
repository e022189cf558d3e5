//! The shutdown request every MCP Runtime binary waits for: Ctrl-C (SIGINT) or, on Unix,
//! SIGTERM (what Kubernetes sends a pod before killing it). Each main passes [`requested`] to
//! its server or controller, which then drains and returns.

/// Resolves on the first SIGINT or SIGTERM. If the SIGTERM handler cannot be installed, only
/// SIGINT ends the wait.
pub async fn requested() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
