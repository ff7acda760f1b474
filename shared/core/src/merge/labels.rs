//! Labels, merged as a set rather than as one value (`merge_items` calls this).

use super::{Merger, same_set};
use crate::item::Item;

/// Labels merge as a set: what the remote added since its previous replica is added,
/// what it removed is removed, and local additions stay. With no previous replica the
/// remote set replaces the local one, unless the local labels changed since the base.
pub(super) fn merge_labels(
    m: &mut Merger<'_>,
    base: Option<&Item>,
    local: &Item,
    remote: &Item,
    remote_prev: Option<&Item>,
) -> Vec<String> {
    let local_changed = base.is_some_and(|b| !same_set(&b.labels, &local.labels));
    // Our own labels coming back are no delta of the remote's.
    let held = m.held_since_ack(
        base.is_some_and(|b| same_set(&b.labels, &remote.labels)),
        |h| same_set(&h.labels, &remote.labels),
    );
    let remote_prev = match held || m.echoes("labels", |s| same_set(&s.labels, &remote.labels)) {
        true => Some(remote),
        false => remote_prev,
    };
    // The view of an ack not taken is newer than `previous`: a name the replica moved
    // since that view is the remote's change too, besides those it moved since
    // `previous`, which the view may already show from a replica missing here
    // (`Merger::moved_since_ack`; simulation seeds 34989 and 22389 of V6 at 300 steps).
    let since_ack = m
        .ctx
        .held_at_ack
        .filter(|_| !held && m.moved_since_ack(|h| same_set(&h.labels, &remote.labels)));
    let in_view = |l: &String, has: bool| since_ack.is_some_and(|h| h.labels.contains(l) == has);
    let out = match remote_prev {
        // The remote's delta needs only its previous replica: a twin that lost its base
        // (a crash before the twin's write) must still keep what people added locally.
        Some(prev) => {
            let removed = |l: &String| {
                !remote.labels.contains(l) && (prev.labels.contains(l) || in_view(l, true))
            };
            let added = |l: &&String| !prev.labels.contains(l) || in_view(l, false);
            let mut out: Vec<String> = local
                .labels
                .iter()
                .filter(|l| !removed(l))
                .cloned()
                .collect();
            for l in remote.labels.iter().filter(added) {
                if !out.contains(l) {
                    out.push(l.clone());
                }
            }
            out
        }
        None if local_changed => {
            let mut all = local.labels.clone();
            for l in &remote.labels {
                if !all.contains(l) {
                    all.push(l.clone());
                }
            }
            all
        }
        None => remote.labels.clone(),
    };
    // As for single fields: labels the other side cannot hold are no news to send back.
    // But when the remote changed its labels and the merge still differs from them, the
    // two sides disagree until one of them sends: a label one side added while the other
    // removed it (seed 274).
    let remote_changed =
        remote_prev.is_none_or(|p| !same_set(&p.labels, &remote.labels)) || since_ack.is_some();
    // The remote holds the labels of our unseen send once it applies it, as for single
    // fields (`Merger::sent_held`, `Changed::sent_over_agreement`). Simulation seed 2553
    // of V5: a label our send added and a person here removed since; seed 20550 of V6 at
    // 300 steps: a label our send removed and a person here added again during the
    // write of their replica, which had it: agreement by chance. Both went unsent once a
    // kept status stopped going out again with them.
    let base_sent = base
        .zip(m.ctx.sent)
        .is_some_and(|(b, s)| same_set(&b.labels, &s.labels));
    let local_unsent = m
        .ctx
        .sent
        .is_some_and(|s| !same_set(&s.labels, &local.labels));
    let by_chance = same_set(&local.labels, &remote.labels)
        && m.sent_over_agreement("labels", remote_changed, local_unsent, base_sent);
    let unsent = m.ctx.sent.is_some_and(|s| !same_set(&s.labels, &out));
    // Where both moved the labels, the remote applies our unseen send after building its
    // replica, and its own set merge may take a label back out that ours took in from
    // the replica: ours must go again (simulation seed 22971 of V6 at 300 steps: its
    // replica added "red", which our unseen sends had added and then removed).
    // Only the node whose id sorts first sends again, as a tie goes to it: both doing so
    // flip the labels between them for good.
    let crossed = remote_changed && unsent && m.moved_unseen("labels") && m.tie_is_ours();
    if m.sent_held("labels", remote_changed, base_sent) || by_chance || crossed {
        m.sent_held.push("labels".into());
    }
    let differs = !same_set(&out, &remote.labels);
    if by_chance || crossed || differs && (local_changed || remote_changed || unsent) {
        m.local_kept.push("labels".into());
    }
    out
}
