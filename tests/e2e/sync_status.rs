//! The sync status inside the sandbox: each item's sync field says syncing (held while
//! the connection is paused), synced with its twin's key and link, error with the
//! reason, or unlinked; setting it is no change of the item, so nothing echoes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operations::{Pair, synced, twin};
use crate::support::until;
use serde_json::Value;
use twinsync_cli::demo::CONNECTION;
use twinsync_node::{operations, versions};

/// The item as the sandbox API shows it, with its `sync` field.
async fn wire(pair: &Pair, side: &str, key: &str) -> Value {
    pair.http
        .get(format!("{}/api/items/{key}", pair.p.sandbox_urls[side]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_item_shows_its_sync_status_and_twin_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "status-secret-0123456").await;
    let (a_key, b_key) = synced(&pair, 40).await;
    pair.quiet().await;
    let (a, b) = (
        wire(&pair, "a", &a_key).await,
        wire(&pair, "b", &b_key).await,
    );
    assert_eq!(a["sync"]["status"], "synced", "{a}");
    assert_eq!(a["sync"]["twinKey"], b_key.as_str());
    assert!(
        a["sync"]["twinUrl"].as_str().unwrap().ends_with(&b_key),
        "{a}"
    );
    assert_eq!(b["sync"]["status"], "synced", "{b}");
    assert_eq!(b["sync"]["twinKey"], a_key.as_str());
    // The status writes moved neither item on, and nothing was sent back.
    let a_twin = twin(&pair.a, &a_key).await.unwrap();
    assert_eq!(
        (a_twin.out_version, a_twin.in_version),
        (1, 0),
        "{a_twin:?}"
    );
    assert_eq!(a["version"], 1, "{a}");

    // Paused: a change waits, and the item says it is syncing until the ack.
    operations::deactivate(&pair.a, CONNECTION).await.unwrap();
    Pair::edit(&pair.ta, &a_key, "Edited while paused").await;
    let a2 = a_key.clone();
    until("syncing shown", 60, async || {
        wire(&pair, "a", &a2).await["sync"]["status"] == "syncing"
    })
    .await;
    operations::activate(&pair.a, CONNECTION).await.unwrap();
    until("synced again", 60, async || {
        wire(&pair, "a", &a2).await["sync"]["status"] == "synced"
    })
    .await;

    // B's rules refuse a summary: A's item shows the error with B's reason.
    let connection = pair.b.connection(CONNECTION).await.unwrap();
    let mut version = connection.active_version().unwrap().clone();
    version.incoming = format!(
        "if replica.summary == \"boom\" {{ throw \"B refuses boom\"; }}\n{}",
        version.incoming
    );
    let n = versions::save_draft(&pair.b, CONNECTION, version)
        .await
        .unwrap();
    versions::activate_version(&pair.b, CONNECTION, n)
        .await
        .unwrap();
    Pair::edit(&pair.ta, &a_key, "boom").await;
    until("the error shown", 60, async || {
        wire(&pair, "a", &a2).await["sync"]["status"] == "error"
    })
    .await;
    let a = wire(&pair, "a", &a_key).await;
    assert!(
        a["sync"]["reason"]
            .as_str()
            .unwrap()
            .contains("B refuses boom"),
        "{a}"
    );

    // Unlinked on both sides.
    Pair::edit(&pair.ta, &a_key, "Fine again").await;
    until("synced after the fix", 60, async || {
        wire(&pair, "a", &a2).await["sync"]["status"] == "synced"
    })
    .await;
    operations::unlink(&pair.a, CONNECTION, &a_key)
        .await
        .unwrap();
    pair.quiet().await;
    assert_eq!(wire(&pair, "a", &a_key).await["sync"]["status"], "unlinked");
    assert_eq!(wire(&pair, "b", &b_key).await["sync"]["status"], "unlinked");
}
