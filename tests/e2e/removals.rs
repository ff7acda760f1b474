//! Removals across two nodes: an item deleted on A, or moved out of A's every trigger,
//! and a comment deleted on A; B follows its own removal policy (unlink, close, delete),
//! and says so in its events. Both nodes' twins and both trackers are checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operations::{Pair, events, synced, twin};
use crate::support::until;
use twinsync_cli::demo::CONNECTION;
use twinsync_core::{ItemUpdate, RemovalPolicy, RemovalSettings, TwinStatus};
use twinsync_node::Node;

/// Makes `policy` B's removal policy, in a new active version.
async fn set_policy(node: &Node, policy: RemovalPolicy) {
    // B's sandbox project calls it Closed; the sandbox's usual name is Done.
    let removals = RemovalSettings {
        policy,
        close_status: Some("Closed".into()),
    };
    crate::support::set_removals(node, CONNECTION, removals).await;
}

/// For each policy: A's item is deleted; A forgets the pair, and B's item is unlinked,
/// closed or deleted. An edit on B afterwards creates nothing on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_deleted_on_one_side_follows_the_other_sides_policy() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "removal-secret-012345").await;
    let cases = [
        (RemovalPolicy::Unlink, Some("To Do"), "unlinked"),
        (
            RemovalPolicy::Close,
            Some("Closed"),
            "closed as Closed, unlinked",
        ),
        (RemovalPolicy::Delete, None, "deleted"),
    ];
    for (i, (policy, b_status, said)) in cases.into_iter().enumerate() {
        set_policy(&pair.b, policy).await;
        let (a_key, b_key) = synced(&pair, 10 + i).await;
        pair.quiet().await;
        pair.ta.delete_item(&a_key).await.unwrap();
        let node = pair.b.clone();
        let key = b_key.clone();
        until("B followed the deletion", 60, async || {
            events(&node)
                .await
                .iter()
                .any(|e| e.starts_with(&format!("{key} {said}")))
        })
        .await;
        pair.quiet().await;
        assert!(
            twin(&pair.a, &a_key).await.is_none(),
            "{policy:?}: A forgot"
        );
        let b_item = pair.tb.get_item(&b_key).await.unwrap();
        assert_eq!(
            b_item
                .as_ref()
                .and_then(|i| i.status_name().map(str::to_string)),
            b_status.map(str::to_string),
            "{policy:?}: B's item"
        );
        let b_twin = twin(&pair.b, &b_key).await;
        match policy {
            RemovalPolicy::Delete => assert!(b_twin.is_none(), "B forgot"),
            _ => assert_eq!(b_twin.unwrap().status, TwinStatus::Unlinked),
        }
        if b_item.is_some() {
            let before = pair.count(&pair.ta).await;
            Pair::edit(&pair.tb, &b_key, "Edited on B after the removal").await;
            pair.quiet().await;
            assert_eq!(
                pair.count(&pair.ta).await,
                before,
                "{policy:?}: nothing made on A"
            );
        }
        let said_a = events(&pair.a).await;
        assert!(
            said_a
                .iter()
                .any(|e| e.contains(&format!("{a_key} was deleted here"))),
            "{said_a:?}"
        );
    }
}

/// A comment deleted on A: B keeps, marks or deletes its twin comment by its policy, and
/// the comment is never written back to A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_comment_deleted_on_one_side_follows_the_other_sides_policy() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "removal-secret-comments").await;
    let cases = [
        (RemovalPolicy::Unlink, Some("Kept on B")),
        (
            RemovalPolicy::Close,
            Some("*(Deleted on the other side.)*\n\nKept on B"),
        ),
        (RemovalPolicy::Delete, None),
    ];
    for (i, (policy, b_body)) in cases.into_iter().enumerate() {
        set_policy(&pair.b, policy).await;
        let (a_key, b_key) = synced(&pair, 20 + i).await;
        let comment = pair
            .ta
            .add_comment(&a_key, "Kept on B", None, None)
            .await
            .unwrap();
        let tb = pair.tb.clone();
        let key = b_key.clone();
        until("the comment reached B", 60, async || {
            tb.get_item(&key).await.unwrap().unwrap().comments.len() == 1
        })
        .await;
        pair.quiet().await;
        pair.ta.delete_comment(&a_key, &comment.id).await.unwrap();
        let node = pair.b.clone();
        until("B followed the comment's deletion", 60, async || {
            events(&node).await.iter().any(|e| {
                e.contains(&format!("of {b_key} ")) && e.contains("deleted on the other side")
            })
        })
        .await;
        // An edit on B sends B's replica back; A must not get the comment again.
        Pair::edit(&pair.tb, &b_key, &format!("Edited on B, policy {policy:?}")).await;
        let (ta, a) = (pair.ta.clone(), a_key.clone());
        until("B's edit reached A", 60, async || {
            Pair::summary(&ta, &a).await.starts_with("Edited on B")
        })
        .await;
        pair.quiet().await;
        let on_b: Vec<String> = pair
            .tb
            .get_item(&b_key)
            .await
            .unwrap()
            .unwrap()
            .comments
            .into_iter()
            .map(|c| c.body)
            .collect();
        assert_eq!(
            on_b,
            b_body.into_iter().map(str::to_string).collect::<Vec<_>>(),
            "{policy:?}"
        );
        let on_a = pair.ta.get_item(&a_key).await.unwrap().unwrap().comments;
        assert!(on_a.is_empty(), "{policy:?}: written back to A: {on_a:?}");
    }
}

/// An item a trigger brought in that moves to a project no trigger takes is unlinked on
/// both sides (B's policy closes its twin). Taking the trigger's label off is no move: the
/// pair goes on syncing. An item an operator synced goes on syncing outside the triggers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_moved_out_of_every_trigger_is_unlinked_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "removal-secret-moved01").await;
    set_policy(&pair.b, RemovalPolicy::Close).await;
    let (a_key, b_key) = synced(&pair, 30).await;
    let by_hand = pair.item('a', 31, "later").await;
    twinsync_node::bulk::sync(&pair.a, CONNECTION, &by_hand)
        .await
        .unwrap();
    let node = pair.a.clone();
    let key = by_hand.clone();
    until("the operator's item synced", 60, async || {
        twin(&node, &key)
            .await
            .is_some_and(|t| t.status == TwinStatus::Synced)
    })
    .await;
    pair.quiet().await;

    // The label off and a new summary: still synced.
    let no_labels = ItemUpdate {
        labels: Some(vec![]),
        summary: Some("No label, still synced".into()),
        ..ItemUpdate::default()
    };
    pair.ta.update_item(&a_key, &no_labels).await.unwrap();
    let (tb, b) = (pair.tb.clone(), b_key.clone());
    until("the edit without the label reached B", 60, async || {
        Pair::summary(&tb, &b).await == "No label, still synced"
    })
    .await;
    pair.quiet().await;
    assert_eq!(
        twin(&pair.a, &a_key).await.unwrap().status,
        TwinStatus::Synced
    );

    // Moved to a project no trigger takes: unlinked on both sides, B's twin closed.
    let sandbox = &pair.p.sandbox_urls["a"];
    let made = pair
        .http
        .post(format!("{sandbox}/api/projects"))
        .json(&serde_json::json!({"key": "OPS", "name": "Operations"}))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    let moved = pair
        .http
        .patch(format!("{sandbox}/api/items/{a_key}"))
        .json(&serde_json::json!({"project": "OPS"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success(), "{}", moved.status());
    let node = pair.b.clone();
    let key = b_key.clone();
    until("B followed the move", 60, async || {
        twin(&node, &key)
            .await
            .is_some_and(|t| t.status == TwinStatus::Unlinked)
    })
    .await;
    pair.quiet().await;
    assert_eq!(
        twin(&pair.a, &a_key).await.unwrap().status,
        TwinStatus::Unlinked
    );
    let b_item = pair.tb.get_item(&b_key).await.unwrap().unwrap();
    assert_eq!(b_item.status_name(), Some("Closed"));
    assert!(
        events(&pair.b)
            .await
            .iter()
            .any(|e| e.contains("left every trigger on the other side"))
    );

    // The operator's item matches no trigger and still syncs.
    Pair::edit(&pair.ta, &by_hand, "Operator's item edited").await;
    let b_twin = twin(&pair.a, &by_hand).await.unwrap().remote_key.unwrap();
    let tb = pair.tb.clone();
    until("the operator's item's edit reached B", 60, async || {
        Pair::summary(&tb, &b_twin).await == "Operator's item edited"
    })
    .await;
    // The edit reaches B's tracker before B's ack reaches A: wait for the ack.
    let node = pair.a.clone();
    until(
        "A's twin of the operator's item is synced",
        60,
        async || {
            twin(&node, &by_hand)
                .await
                .is_some_and(|t| t.status == TwinStatus::Synced)
        },
    )
    .await;
}
