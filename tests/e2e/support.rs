//! Waiting helpers the end-to-end modules share: a test waits on a condition, never on a
//! guessed stretch of time.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use twinsync_ports::TwinQuery;

/// Checks `check` every 100 ms for at most `secs` seconds; panics naming `what`.
pub async fn until(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..secs * 10 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// How many twins of `connection` on `node` are synced.
pub async fn synced_twins(node: &twinsync_node::Node, connection: &str) -> usize {
    node.twins
        .list(&TwinQuery {
            connection_id: Some(connection.into()),
            status: Some("synced".into()),
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}
