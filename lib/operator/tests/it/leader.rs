//! Leader election on a Lease in the in-memory API: one holder at a time, release on stop,
//! takeover after expiry.

use std::time::Duration;

use mcp_operator::leader::{Elector, LeaseSettings};
use mcp_testkit::kube_api::FakeApiServer;
use tokio::sync::watch;

use crate::support::assert_rbac_allows;

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(700),
        retry_period: Duration::from_millis(100),
        ..LeaseSettings::new("mcp-runtime", "mcp-runtime-operator", identity)
    }
}

#[tokio::test]
async fn one_holder_at_a_time_and_release_on_stop() {
    let api = FakeApiServer::start().await.expect("fake API");
    let a = Elector::new(api.client(), settings("a"));
    let b = Elector::new(api.client(), settings("b"));
    assert!(a.try_acquire_or_renew().await.expect("a"));
    assert!(!b.try_acquire_or_renew().await.expect("b"), "the lease is held");
    assert!(a.try_acquire_or_renew().await.expect("renew"));
    a.release().await.expect("release");
    assert!(b.try_acquire_or_renew().await.expect("b after release"));
    let lease = api.get("leases", "mcp-runtime", "mcp-runtime-operator").expect("lease");
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert_rbac_allows(&api.requests());
}

fn campaign(
    api: &FakeApiServer,
    identity: &str,
) -> (watch::Receiver<bool>, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (leading_tx, leading) = watch::channel(false);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(Elector::new(api.client(), settings(identity)).run(leading_tx, stop));
    (leading, stop_tx, task)
}

async fn leads(leading: &mut watch::Receiver<bool>, within: Duration) {
    tokio::time::timeout(within, leading.wait_for(|l| *l))
        .await
        .expect("became the leader in time")
        .expect("leading");
}

#[tokio::test]
async fn a_replica_takes_over_when_the_leader_dies_or_stops() {
    let api = FakeApiServer::start().await.expect("fake API");
    let (mut a, _a_stop, a_task) = campaign(&api, "a");
    leads(&mut a, Duration::from_secs(5)).await;
    let (mut b, b_stop, b_task) = campaign(&api, "b");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!*b.borrow(), "b waits while a renews");

    // a dies without releasing: b takes over once the 1 s lease expires.
    a_task.abort();
    leads(&mut b, Duration::from_secs(3)).await;

    // b stops gracefully and releases: c takes over at its next attempt, not after expiry.
    let (mut c, _c_stop, _c_task) = campaign(&api, "c");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!*c.borrow());
    let _ = b_stop.send(true);
    b_task.await.expect("b stops");
    leads(&mut c, Duration::from_millis(700)).await;
    assert!(!*b.borrow(), "a stopped replica no longer claims to lead");
    assert_rbac_allows(&api.requests());
}
