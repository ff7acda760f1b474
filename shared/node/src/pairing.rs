//! What the operations do to this node's twins, whichever node asked: link two existing
//! items, unlink a twin, forget one (Unexalate), and drop its pending messages (Force
//! Unlink). The operations call these for their own side, the control handler for the
//! other node's; neither lives here, so no module cycle runs through.

use crate::{Node, NodeResult};
use twinsync_core::{Connection, KeySide, RelinkMade, SyncEventKind, Twin, TwinStatus};
use twinsync_ports::{PortError, SyncMark, SyncState, queues};

/// What [`link`] does with a live twin that already links the two items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamePair<'a> {
    /// It is the link asked for.
    Keep,
    /// Unless it is this record, which the other node unlinked: a new one replaces it.
    Replace(&'a str),
}

/// Links `local_key` with `remote_key`: a new twin, or the one that already links them
/// when `same_pair` keeps it. An unlinked twin of either item gives way; a live twin with
/// another partner is refused with why.
pub async fn link(
    node: &Node,
    connection: &Connection,
    local_key: &str,
    remote_key: &str,
    same_pair: SamePair<'_>,
) -> NodeResult<Result<Twin, String>> {
    link_for(node, connection, (local_key, remote_key), same_pair, None).await
}

/// [`link`], for the other node's Relink request `ask_id`: a new record notes it in the
/// same write as its insert (`Twin::made_for_relink`), so the request delivered again
/// after a crash before its answer knows the record it made.
pub async fn link_for(
    node: &Node,
    connection: &Connection,
    (local_key, remote_key): (&str, &str),
    same_pair: SamePair<'_>,
    ask_id: Option<&str>,
) -> NodeResult<Result<Twin, String>> {
    let by_local = node.twins.find_by_local(&connection.id, local_key).await?;
    let by_remote = node
        .twins
        .find_by_remote(&connection.id, remote_key)
        .await?;
    for twin in [&by_local, &by_remote].into_iter().flatten() {
        // This request made the record before, and the node stopped before it answered;
        // an operator here has unlinked that record since, and the request asked after
        // it decides the pair. Linked again now, the pair crossed three ways (simulation
        // seed 31916 of V6 at 300 steps).
        if ask_id.is_some_and(|ask| twin.made_for(ask) == RelinkMade::UnlinkedSince) {
            return Ok(Err(format!(
                "{local_key} was unlinked here since this Relink first came"
            )));
        }
        let same = twin.local_key.as_deref() == Some(local_key)
            && twin.remote_key.as_deref() == Some(remote_key);
        if same && twin.status != TwinStatus::Unlinked {
            match same_pair {
                SamePair::Replace(unlinked) if twin.id == unlinked => continue,
                _ => return Ok(Ok(twin.clone())),
            }
        }
        if twin.status != TwinStatus::Unlinked {
            return Ok(Err(format!(
                "{} is linked with {} on this node",
                twin.local_key.as_deref().unwrap_or("(being created)"),
                twin.remote_key.as_deref().unwrap_or("(not known yet)")
            )));
        }
    }
    if by_local.is_none() {
        match crate::workspaces::admit_item(node, &connection.id).await {
            Ok(()) => {}
            Err(crate::NodeError::CapacityReached(reason)) => return Ok(Err(reason)),
            Err(e) => return Err(e),
        }
    }
    // The unlinked twins go in the same write as the new one comes: deleted first, a
    // crash before the insert left the item with no twin, a change read meanwhile brought
    // it under sync as a new item, and that twin refused the Relink's redelivery; the pair
    // stayed apart for good (simulation seed 2473 of V5).
    let gone: Vec<String> = [by_local, by_remote]
        .into_iter()
        .flatten()
        .map(|t| t.id)
        .collect();
    let mut twin = Twin::new(
        uuid::Uuid::now_v7().to_string(),
        connection.id.clone(),
        node.now_ms(),
    );
    twin.local_key = Some(local_key.to_string());
    twin.remote_key = Some(remote_key.to_string());
    twin.made_for_relink = ask_id.map(str::to_string);
    match node.twins.replace(&gone, &twin).await {
        Ok(()) => {
            node.event(
                &connection.id,
                Some(&twin.id),
                SyncEventKind::Operation,
                format!("linked {local_key} <-> {remote_key}"),
            )
            .await;
            Ok(Ok(twin))
        }
        Err(PortError::Conflict(_)) => Ok(Err(format!(
            "{local_key} or {remote_key} was linked meanwhile"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Records that the other node's Relink request `ask_id` made or kept `twin` here.
pub async fn record_relink(
    node: &Node,
    connection_id: &str,
    ask_id: &str,
    twin: &Twin,
) -> NodeResult<()> {
    let key = format!("relinked-by:{connection_id}:{}", twin.id);
    Ok(node.connections.set_meta(&key, ask_id).await?)
}

/// The other node's Relink request that made or kept `twin` here, if one did.
pub async fn relinked_by(
    node: &Node,
    connection_id: &str,
    twin: &Twin,
) -> NodeResult<Option<String>> {
    let key = format!("relinked-by:{connection_id}:{}", twin.id);
    Ok(node.connections.get_meta(&key).await?)
}

/// Records that this node's operator asked the request `ask_id` on `local_key` (a
/// Relink, an Unlink, an Unexalate or a Force Unlink), its latest for the item: only
/// the answer to a Relink asked since may link the pair.
pub async fn record_pair_request(
    node: &Node,
    connection_id: &str,
    local_key: &str,
    ask_id: &str,
) -> NodeResult<()> {
    let key = pair_request_key(connection_id, local_key);
    Ok(node.connections.set_meta(&key, ask_id).await?)
}

/// Records that this node asked the Relink `ask_id` of `local_key`: its answer is
/// awaited (`relink_awaited`) until it comes (`relink_answered`).
pub async fn record_relink_asked(
    node: &Node,
    connection_id: &str,
    local_key: &str,
    ask_id: &str,
) -> NodeResult<()> {
    let key = relink_asked_key(connection_id, local_key);
    Ok(node.connections.set_meta(&key, ask_id).await?)
}

/// The answer to our Relink `ask_id` of `local_key` came: none is awaited any more (an
/// answer to an older Relink leaves a later one awaited).
pub async fn relink_answered(
    node: &Node,
    connection_id: &str,
    local_key: &str,
    ask_id: &str,
) -> NodeResult<()> {
    let key = relink_asked_key(connection_id, local_key);
    if node.connections.get_meta(&key).await?.as_deref() == Some(ask_id) {
        node.connections.set_meta(&key, "").await?;
    }
    Ok(())
}

/// Whether this node's latest request on `local_key` is a Relink whose answer has not
/// come: the other node may have linked the pair already, and its replicas can come
/// before its answer (simulation seed 28772 of V6).
pub async fn relink_awaited(node: &Node, connection_id: &str, local_key: &str) -> NodeResult<bool> {
    let key = relink_asked_key(connection_id, local_key);
    let Some(asked) = node
        .connections
        .get_meta(&key)
        .await?
        .filter(|a| !a.is_empty())
    else {
        return Ok(false);
    };
    let latest = pair_request_key(connection_id, local_key);
    Ok(node.connections.get_meta(&latest).await?.as_deref() == Some(asked.as_str()))
}

fn pair_request_key(connection_id: &str, local_key: &str) -> String {
    format!("pair-request:{connection_id}:{local_key}")
}

fn relink_asked_key(connection_id: &str, local_key: &str) -> String {
    format!("relink-asked:{connection_id}:{local_key}")
}

/// Whether this node asked a Relink of `local_key` after its request `ask_id`: the
/// answer to `ask_id` is then not the one that links the pair. No request on record (one
/// asked before the record was kept) leaves every answer as it was.
pub async fn pair_requested_since(
    node: &Node,
    connection_id: &str,
    local_key: &str,
    ask_id: &str,
) -> NodeResult<bool> {
    let key = pair_request_key(connection_id, local_key);
    let latest = node.connections.get_meta(&key).await?;
    Ok(asked_after(latest.as_deref(), ask_id))
}

/// Whether `latest`, this node's last request, came after its request `ask_id`; one
/// node's request ids are time-ordered UUIDs, so they compare as text.
fn asked_after(latest: Option<&str>, ask_id: &str) -> bool {
    latest.is_some_and(|latest| latest > ask_id)
}

/// Records that the other node's answer to our Relink made or kept `twin` here, and that
/// the request named `replaced`, the other node's record of the pair we had unlinked,
/// which that node replaced before it answered.
pub async fn record_relinked_over(
    node: &Node,
    connection_id: &str,
    twin: &Twin,
    replaced: &str,
) -> NodeResult<()> {
    let key = format!("relinked-over:{connection_id}:{}", twin.id);
    Ok(node.connections.set_meta(&key, replaced).await?)
}

/// The other node's record our answered Relink replaced there, if one made or kept `twin`.
pub async fn relinked_over(
    node: &Node,
    connection_id: &str,
    twin: &Twin,
) -> NodeResult<Option<String>> {
    let key = format!("relinked-over:{connection_id}:{}", twin.id);
    Ok(node.connections.get_meta(&key).await?)
}

/// Whether `twin` was made by a Relink the other node asked after its request
/// `request_id`: a pause there can deliver an older Unlink after the Relink (its held
/// messages go back behind the ones still queued), and that Unlink is about the old
/// pair. The two ids are the same node's time-ordered UUIDs, so they compare as text.
pub async fn relinked_after(
    node: &Node,
    connection_id: &str,
    twin: &Twin,
    request_id: &str,
) -> NodeResult<bool> {
    Ok(relinked_by(node, connection_id, twin)
        .await?
        .is_some_and(|ask| ask.as_str() > request_id))
}

/// The twin of `key` on `side`, read by its id where a message names the record (a
/// change's `twin_id`, an ack's `source_twin`, a replica's `applied_twin`): one read of
/// the twin instead of two, the key's record and then the twin's. The named record
/// stands for the lookup only while it still holds the key; a record gone, re-keyed or of
/// another connection sends the lookup to the key, as without a name.
pub async fn twin_named_or_keyed(
    node: &Node,
    connection_id: &str,
    side: KeySide,
    key: &str,
    named: Option<&str>,
) -> NodeResult<Option<Twin>> {
    if let Some(id) = named.filter(|id| !id.is_empty())
        && let Some(t) = node.twins.get(id).await?
        && t.holds_key(connection_id, side, key)
    {
        return Ok(Some(t));
    }
    Ok(match side {
        KeySide::Local => node.twins.find_by_local(connection_id, key).await?,
        KeySide::Remote => node.twins.find_by_remote(connection_id, key).await?,
    })
}

/// The twin of `local_key`, or of the other node's `remote_key`.
pub async fn find(
    node: &Node,
    connection_id: &str,
    local_key: Option<&str>,
    remote_key: Option<&str>,
) -> NodeResult<Option<Twin>> {
    if let Some(key) = local_key
        && let Some(t) = node.twins.find_by_local(connection_id, key).await?
    {
        return Ok(Some(t));
    }
    match remote_key {
        Some(key) => Ok(node.twins.find_by_remote(connection_id, key).await?),
        None => Ok(None),
    }
}

/// Unlink: the twin stays on record, unlinked; nothing flows either way.
pub async fn unlink(node: &Node, connection: &Connection, mut twin: Twin) -> NodeResult<Twin> {
    for _ in 0..8 {
        twin.status = TwinStatus::Unlinked;
        twin.updated_ms = node.now_ms();
        match node.twins.update(&twin).await {
            Ok(updated) => {
                show_unlinked(node, connection, &updated).await;
                return Ok(updated);
            }
            // A handler wrote the twin meanwhile: unlink what it wrote.
            Err(PortError::Conflict(_)) => match node.twins.get(&twin.id).await? {
                Some(fresh) => twin = fresh,
                None => return Ok(twin),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("twin {} is changing too often", twin.id)).into())
}

/// Forgets the twin (Unexalate). Replicas the other node sent from the same twin record
/// before it followed are dropped when they arrive ([`was_forgotten`]).
pub async fn forget(node: &Node, connection: &Connection, twin: &Twin) -> NodeResult<()> {
    forget_record(node, &connection.id, twin).await?;
    show_unlinked(node, connection, twin).await;
    Ok(())
}

/// Forgets the twin without marking its item, for an item that no longer exists.
pub async fn forget_record(node: &Node, connection_id: &str, twin: &Twin) -> NodeResult<()> {
    if let Some(remote_twin) = &twin.remote_twin {
        node.connections
            .set_meta(&forgotten_key(connection_id, remote_twin), "1")
            .await?;
    }
    delete_record(node, connection_id, twin).await
}

/// Deletes a twin record whose item may live on, stamped with the remote item's origin
/// marker: a later first replica of that remote item looks for it before creating one
/// ([`was_unpaired`]), instead of making a second twin item.
pub async fn delete_record(node: &Node, connection_id: &str, twin: &Twin) -> NodeResult<()> {
    if let Some(remote_key) = &twin.remote_key {
        node.connections
            .set_meta(&unpaired_key(connection_id, remote_key), "1")
            .await?;
    }
    node.twins.delete(&twin.id).await?;
    Ok(())
}

/// Whether a twin record of the remote item `remote_key` was deleted here (Unexalate,
/// Force Unlink, Clean-up, a deleted connection), so an item of ours may carry its
/// origin marker with no twin record linked to it.
pub async fn was_unpaired(node: &Node, connection_id: &str, remote_key: &str) -> NodeResult<bool> {
    noted(node, &unpaired_key(connection_id, remote_key)).await
}

/// Whether the meta record `key` exists: a note that something happened here once.
async fn noted(node: &Node, key: &str) -> NodeResult<bool> {
    Ok(node.connections.get_meta(key).await?.is_some())
}

fn unpaired_key(connection_id: &str, remote_key: &str) -> String {
    format!("unpaired:{connection_id}:{remote_key}")
}

/// Whether the other node's twin record `remote_twin` belongs to a pair forgotten here.
pub async fn was_forgotten(
    node: &Node,
    connection_id: &str,
    remote_twin: &str,
) -> NodeResult<bool> {
    if remote_twin.is_empty() {
        return Ok(false);
    }
    noted(node, &forgotten_key(connection_id, remote_twin)).await
}

fn forgotten_key(connection_id: &str, remote_twin: &str) -> String {
    format!("forgotten:{connection_id}:{remote_twin}")
}

/// Drops every message about the twin still queued on this node: changes and replicas
/// of its item on their way out, the other node's replicas and acks on their way in.
pub async fn purge(node: &Node, connection_id: &str, twin: &Twin) -> NodeResult<u64> {
    let mut dropped = 0;
    if let Some(local) = &twin.local_key {
        let group = format!("{connection_id}:{local}");
        for queue in [
            queues::OUTGOING.to_string(),
            queues::TRANSPORT.to_string(),
            queues::held(connection_id),
        ] {
            dropped += node.queue.purge_group(&queue, &group).await?;
        }
    }
    if let Some(remote) = &twin.remote_key {
        let group = format!("{connection_id}:{remote}");
        dropped += node.queue.purge_group(queues::INCOMING, &group).await?;
        dropped += node
            .queue
            .purge_group(&queues::held(connection_id), &group)
            .await?;
    }
    Ok(dropped)
}

/// Shows a live pair's sync on its item, then looks at the twin again: an Unlink that
/// ran while this write waited out a rate limit has shown "unlinked" already, and a
/// "synced" landing after it must not stay over it. The Unlink wrote the twin before its
/// own status, so a write that lands later reads the unlinked twin here (by `twin_id`, the
/// record the caller wrote, while it still holds the key).
pub async fn show_live(
    node: &Node,
    connection: &Connection,
    key: &str,
    twin_id: &str,
    mark: SyncMark,
) {
    node.show_sync(&connection.local_instance, key, mark).await;
    let again = twin_named_or_keyed(node, &connection.id, KeySide::Local, key, Some(twin_id));
    match again.await {
        Ok(Some(twin)) if twin.status == TwinStatus::Unlinked => {
            show_unlinked(node, connection, &twin).await;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(item = %key, error = %e, "cannot read the twin again after showing its sync");
        }
    }
}

async fn show_unlinked(node: &Node, connection: &Connection, twin: &Twin) {
    if let Some(key) = &twin.local_key {
        let mark = SyncMark {
            state: SyncState::Unlinked,
            twin_key: twin.remote_key.clone(),
            twin_url: twin.remote_url.clone(),
        };
        node.show_sync(&connection.local_instance, key, mark).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_to_a_relink_asked_again_since_links_nothing() {
        let older = "01a23907-0dd5-7388-9906-de4c447c135a";
        let newer = "01a23907-0e24-769c-8a82-5fddd6593e30";
        // (the last Relink this node asked, the request answered, asked since)
        let cases = [
            // No request on record: the answer links, as before.
            (None, older, false),
            // The answer to the last request links the pair.
            (Some(older), older, false),
            (Some(newer), newer, false),
            // Asked again since: the later request's answer links (seed 1524 of V5).
            (Some(newer), older, true),
            // The record written after a later request lost (a crash after the send).
            (Some(older), newer, false),
        ];
        for (latest, answered, expected) in cases {
            assert_eq!(
                asked_after(latest, answered),
                expected,
                "{latest:?} answered {answered}"
            );
        }
    }
}
