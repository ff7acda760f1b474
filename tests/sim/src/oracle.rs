//! What the end state must be, from the edits people made: the invariants every seed is
//! checked against once the world has settled.
//!
//! Field values are kept in side A's terms (B's statuses mapped). For each pair of twins
//! and each field: untouched after creation, both sides show the creation value; edited
//! on one side only, both show that side's last edit; edited on both, both show the
//! same one of the two last edits (which one is the conflict policy's choice).

use crate::world::{CONNECTION, STATUSES_A, STATUSES_B, World, map_status};
use std::collections::{BTreeMap, BTreeSet};
use twinsync_core::{Item, TwinStatus};
use twinsync_node::Node;
use twinsync_ports::TwinQuery;

/// The fields people edit, each as one comparable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Summary,
    Description,
    Status,
    Priority,
    Assignee,
    Labels,
    /// The custom field `severity` (a number; empty when cleared).
    Severity,
}

/// Every field the oracle checks; people edit the first [`FIELDS_BEFORE_V6`] of them
/// until generator V6.
pub const FIELDS: [Field; 7] = [
    Field::Summary,
    Field::Description,
    Field::Status,
    Field::Priority,
    Field::Assignee,
    Field::Labels,
    Field::Severity,
];

pub const FIELDS_BEFORE_V6: usize = 6;

/// The custom field people edit from generator V6.
pub const SEVERITY: &str = "severity";

/// `field` of `item` on side `side`, in A's terms.
pub fn value(item: &Item, field: Field, side: usize) -> String {
    match field {
        Field::Summary => item.summary.clone(),
        Field::Description => item.description.clone(),
        Field::Status => {
            let s = item.status_name().unwrap_or_default();
            if side == 0 {
                s.to_string()
            } else {
                map_status(&STATUSES_B, &STATUSES_A, s)
            }
        }
        Field::Priority => item.priority_name().unwrap_or_default().to_string(),
        Field::Assignee => item.assignee_email().unwrap_or_default().to_string(),
        Field::Severity => match item.custom_fields.get(SEVERITY) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(v) => v.to_string(),
        },
        Field::Labels => {
            let mut l = item.labels.clone();
            l.sort();
            l.join(",")
        }
    }
}

/// What people did, recorded as they did it.
#[derive(Debug, Default)]
pub struct Record {
    /// Items people created: (side, key) → the item as created.
    pub created: BTreeMap<(usize, String), Item>,
    /// The last value people gave each field: (side, key, field) → value.
    pub last_edit: BTreeMap<(usize, String, Field), String>,
    /// Comment bodies and attachment names people added: (side, key) → texts.
    pub children: BTreeMap<(usize, String), Vec<String>>,
    /// Items an operator unlinked and relinked: (side, key).
    pub relinked: std::collections::BTreeSet<(usize, String)>,
}

/// Checks every invariant; returns what is broken, in words.
pub async fn check(world: &World, record: &Record) -> Vec<String> {
    let mut broken = Vec::new();
    let items: Vec<Vec<Item>> = world.sides.iter().map(|s| s.tracker.items()).collect();
    let pairs = pair(&items, &mut broken);
    for (ka, kb) in &pairs {
        let (a, b) = (find(&items[0], ka), find(&items[1], kb));
        let (Some(a), Some(b)) = (a, b) else { continue };
        check_fields(record, a, b, &mut broken);
        check_children(record, a, b, &mut broken);
    }
    for (i, side) in world.sides.iter().enumerate() {
        check_node(&side.node, i, record, &mut broken).await;
    }
    broken
}

fn find<'a>(items: &'a [Item], key: &str) -> Option<&'a Item> {
    items.iter().find(|i| i.key == key)
}

/// Pairs items by origin marker: every item a person made under a trigger has exactly
/// one twin on the other side, and no twin has a twin of its own.
fn pair(items: &[Vec<Item>], broken: &mut Vec<String>) -> Vec<(String, String)> {
    let prefix = Node::origin_prefix(CONNECTION);
    let mut pairs = Vec::new();
    for side in 0..2 {
        let other = 1 - side;
        for item in &items[side] {
            let twins: Vec<&Item> = items[other]
                .iter()
                .filter(|i| {
                    i.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) == Some(&item.key)
                })
                .collect();
            let made_by_sync = item.origin.is_some();
            match (made_by_sync, twins.len()) {
                (true, 0) | (false, 1) => {}
                (false, 0) => broken.push(format!("{}: no twin on the other side", item.key)),
                (true, n) => broken.push(format!(
                    "{}: a twin made by sync has {n} twins of its own (echo)",
                    item.key
                )),
                (false, n) => broken.push(format!("{}: {n} twins (duplicates)", item.key)),
            }
            if let Some(t) = twins.first() {
                let (ka, kb) = if side == 0 {
                    (&item.key, &t.key)
                } else {
                    (&t.key, &item.key)
                };
                pairs.push((ka.clone(), kb.clone()));
            }
        }
    }
    pairs
}

fn check_fields(record: &Record, a: &Item, b: &Item, broken: &mut Vec<String>) {
    let origin_side = if a.origin.is_none() { 0 } else { 1 };
    let origin_key = if origin_side == 0 { &a.key } else { &b.key };
    let Some(created) = record.created.get(&(origin_side, origin_key.clone())) else {
        broken.push(format!("{origin_key}: made by no person the record knows"));
        return;
    };
    for field in FIELDS {
        let (va, vb) = (value(a, field, 0), value(b, field, 1));
        if va != vb {
            broken.push(format!(
                "{} <-> {}: {field:?} differs: {va:?} vs {vb:?}",
                a.key, b.key
            ));
            continue;
        }
        // A Relink syncs the relinking side's item over the other's, so edits made on
        // the other side while the pair was unlinked may be overwritten: a relinked
        // pair only has to agree.
        if record.relinked.contains(&(0, a.key.clone()))
            || record.relinked.contains(&(1, b.key.clone()))
        {
            continue;
        }
        let edit_a = record.last_edit.get(&(0, a.key.clone(), field));
        let edit_b = record.last_edit.get(&(1, b.key.clone(), field));
        let allowed: Vec<String> = match (edit_a, edit_b) {
            (None, None) => vec![value(created, field, origin_side)],
            (Some(x), None) | (None, Some(x)) => vec![x.clone()],
            // Labels merge as sets (each side's additions and removals): any result
            // both sides agree on is the merge's to choose.
            (Some(_), Some(_)) if field == Field::Labels => continue,
            (Some(x), Some(y)) => vec![x.clone(), y.clone()],
        };
        if !allowed.contains(&va) {
            broken.push(format!(
                "{} <-> {}: {field:?} is {va:?}, people left it at one of {allowed:?}",
                a.key, b.key
            ));
        }
    }
}

/// Every comment and attachment people added is on both sides, once.
fn check_children(record: &Record, a: &Item, b: &Item, broken: &mut Vec<String>) {
    let texts = |i: &Item| -> Vec<String> {
        i.comments
            .iter()
            .map(|c| c.body.clone())
            .chain(i.attachments.iter().map(|x| x.filename.clone()))
            .collect()
    };
    let (ta, tb) = (texts(a), texts(b));
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for (side, key) in [(0, &a.key), (1, &b.key)] {
        wanted.extend(
            record
                .children
                .get(&(side, key.clone()))
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    for (item, texts) in [(a, &ta), (b, &tb)] {
        for w in &wanted {
            let n = texts.iter().filter(|t| *t == w).count();
            if n != 1 {
                broken.push(format!("{}: {w:?} is there {n} times", item.key));
            }
        }
        for t in texts.iter().filter(|t| !wanted.contains(*t)) {
            broken.push(format!("{}: {t:?} was added by nobody", item.key));
        }
    }
}

/// Nothing is left in a node's queues but dead letters with a reason on their twin, and
/// replica versions grow strictly per twin (and, for what it applied, per twin record of
/// the sender: after a Relink the other side's new record counts from 1 again, as
/// `replica_order` in the incoming handler expects).
async fn check_node(node: &Node, side: usize, record: &Record, broken: &mut Vec<String>) {
    let names = node.queue.queue_names().await.unwrap_or_default();
    for name in &names {
        let depth = node.queue.depth(name).await.map(|d| d.total()).unwrap_or(0);
        if depth > 0 && !name.ends_with("-dlq") {
            broken.push(format!("{}: {depth} messages left in {name}", node.id));
        }
    }
    let twins = node
        .twins
        .list(&TwinQuery {
            connection_id: Some(CONNECTION.into()),
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let dead = names.iter().filter(|n| n.ends_with("-dlq")).count();
    for twin in &twins {
        let key = twin.local_key.as_deref().unwrap_or(&twin.id);
        if twin.status != TwinStatus::Synced && dead == 0 {
            broken.push(format!(
                "{}: twin {key} is {:?} with no dead letter",
                node.id, twin.status
            ));
        }
        let replicas = node.twins.replicas(&twin.id).await.unwrap_or_default();
        for direction in ["out", "in"] {
            let mine: Vec<_> = replicas
                .iter()
                .filter(|r| r.direction == direction)
                .collect();
            let relinked = record
                .relinked
                .contains(&(side, twin.local_key.clone().unwrap_or_default()))
                || record
                    .relinked
                    .contains(&(1 - side, twin.remote_key.clone().unwrap_or_default()));
            for w in mine.windows(2) {
                let restarted = relinked && direction == "in" && w[1].version == 1;
                if w[1].version <= w[0].version && !restarted {
                    broken.push(format!(
                        "{}: twin {} {direction} replica versions {} then {}",
                        node.id, key, w[0].version, w[1].version
                    ));
                }
            }
        }
    }
}

/// The replicas each twin has sent, by node and twin, oldest first.
pub async fn replicas_sent(world: &World) -> BTreeMap<(String, String), Vec<serde_json::Value>> {
    let mut out = BTreeMap::new();
    for side in &world.sides {
        let twins = side
            .node
            .twins
            .list(&TwinQuery {
                connection_id: Some(CONNECTION.into()),
                limit: 100_000,
                ..Default::default()
            })
            .await
            .unwrap_or_default();
        for twin in twins {
            let replicas = side.node.twins.replicas(&twin.id).await.unwrap_or_default();
            let key = twin.local_key.clone().unwrap_or(twin.id);
            out.insert(
                (side.node.id.clone(), key),
                replicas
                    .into_iter()
                    .filter(|r| r.direction == "out")
                    .map(|r| r.replica)
                    .collect(),
            );
        }
    }
    out
}

/// The replicas sent after `before` was taken, with the fields each changed.
pub fn sent_since(
    before: &BTreeMap<(String, String), Vec<serde_json::Value>>,
    after: &BTreeMap<(String, String), Vec<serde_json::Value>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (twin, replicas) in after {
        let old = before.get(twin).map_or(0, Vec::len);
        for i in old..replicas.len() {
            let previous = i.checked_sub(1).map(|p| &replicas[p]);
            let fields: Vec<String> = previous
                .map(|p| twinsync_core::replica_diff(p, &replicas[i]))
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.field)
                .collect();
            out.push(format!(
                "{} {}: a replica at rest, changing {fields:?}",
                twin.0, twin.1
            ));
        }
    }
    out
}
