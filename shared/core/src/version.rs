//! A connection's versioned configuration: the rules, the helper maps, the conflict
//! policies, the triggers and the SynchronizationPlans. Activating a version changes all
//! of them at once; an archived version keeps what it had.

use crate::CoreError;
use crate::item::Item;
use crate::removal::RemovalSettings;
use crate::trigger::Trigger;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a field changed on both sides since the last sync is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "snake_case",
    tag = "policy",
    content = "node",
    deny_unknown_fields
)]
pub enum ConflictPolicy {
    RemoteWins,
    LocalWins,
    NewestWins,
    /// The named node's value wins.
    SideOfTruth(String),
}

/// Conflict policy per field, with a default for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConflictSettings {
    pub default: ConflictPolicy,
    pub fields: BTreeMap<String, ConflictPolicy>,
}

impl Default for ConflictSettings {
    fn default() -> Self {
        Self {
            default: ConflictPolicy::NewestWins,
            fields: BTreeMap::new(),
        }
    }
}

impl ConflictSettings {
    pub fn for_field(&self, field: &str) -> &ConflictPolicy {
        self.fields.get(field).unwrap_or(&self.default)
    }
}

/// The maps `nodeHelper` reads: remote value name -> local value name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct NodeHelperMaps {
    pub statuses: BTreeMap<String, String>,
    pub priorities: BTreeMap<String, String>,
    /// Remote email -> local email.
    pub users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionStatus {
    Draft,
    Active,
    Archived,
}

/// Where a version came from. The config file's versions are its initial ones: a
/// restart brings a changed file in force only while no version made otherwise (the API,
/// the CLI, a rollback) has been activated since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VersionOrigin {
    /// Saved through the API or the CLI (and every version saved before origins were kept).
    #[default]
    Api,
    /// Read from the node's config file at start.
    File,
    /// The defaults an invitation or its acceptance set up.
    Invitation,
    /// A copy of an earlier version, restored as a draft.
    Rollback,
}

/// A SynchronizationPlan: at each cron occurrence (seconds optional, UTC) the scheduler
/// runs a Synchronization of every item the connection's triggers match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPlan {
    pub id: String,
    pub cron: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A saved snapshot of a connection's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigVersion {
    pub number: u32,
    pub status: VersionStatus,
    pub outgoing: String,
    pub incoming: String,
    pub helper_maps: NodeHelperMaps,
    pub conflicts: ConflictSettings,
    /// What brings items under sync while this version is active.
    pub triggers: Vec<Trigger>,
    /// When this version re-syncs every item under a trigger.
    pub plans: Vec<SyncPlan>,
    /// Live sync: changes are picked up as they happen (webhooks, polling). Off, the
    /// connection syncs only when a plan, a bulk job or an operation says so (the seeds'
    /// Synchronization and SynchronizationPlan without the LiveSynchronization).
    pub live: bool,
    /// Keys and links of the other side's items in descriptions and comments become
    /// their twins' here.
    pub rewrite_references: bool,
    /// What happens here to the twin of an item or comment the other side removed.
    pub removals: RemovalSettings,
    /// Set while this draft runs in shadow beside the active version (since then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_since_ms: Option<i64>,
    pub created_ms: i64,
    pub note: String,
    pub origin: VersionOrigin,
}

impl Default for ConfigVersion {
    fn default() -> Self {
        Self {
            number: 1,
            status: VersionStatus::Draft,
            outgoing: String::new(),
            incoming: String::new(),
            helper_maps: NodeHelperMaps::default(),
            conflicts: ConflictSettings::default(),
            triggers: Vec::new(),
            plans: Vec::new(),
            live: true,
            rewrite_references: true,
            removals: RemovalSettings::default(),
            shadow_since_ms: None,
            created_ms: 0,
            note: String::new(),
            origin: VersionOrigin::Api,
        }
    }
}

impl ConfigVersion {
    /// Whether two versions configure the same sync, whatever their number, status,
    /// time and note.
    pub fn same_config(&self, other: &ConfigVersion) -> bool {
        self.outgoing == other.outgoing
            && self.incoming == other.incoming
            && self.helper_maps == other.helper_maps
            && self.conflicts == other.conflicts
            && self.triggers == other.triggers
            && self.plans == other.plans
            && self.live == other.live
            && self.rewrite_references == other.rewrite_references
            && self.removals == other.removals
    }

    /// The first active trigger that brings `item` under sync. A trigger that does not
    /// parse matches nothing (saving a version refuses one; older data may hold one).
    pub fn trigger_for(&self, item: &Item) -> Option<&Trigger> {
        self.triggers
            .iter()
            .filter(|t| t.active)
            .find(|t| t.filter().is_ok_and(|f| f.matches(item)))
    }

    /// The checks a version must pass before it is saved that need nothing but the
    /// version: triggers parse, trigger and plan ids are present and unique. (Scripts
    /// and cron patterns are checked where their parsers live.)
    pub fn check(&self) -> Result<(), CoreError> {
        let invalid = |what: String| CoreError::InvalidConfig(what);
        let mut ids = BTreeSet::new();
        for t in &self.triggers {
            if t.id.trim().is_empty() || !ids.insert(t.id.as_str()) {
                return Err(invalid(format!(
                    "trigger ids must be present and unique: {:?}",
                    t.id
                )));
            }
            t.filter()
                .map_err(|e| invalid(format!("trigger {}: {e}", t.id)))?;
        }
        let mut ids = BTreeSet::new();
        for p in &self.plans {
            if p.id.trim().is_empty() || !ids.insert(p.id.as_str()) {
                return Err(invalid(format!(
                    "plan ids must be present and unique: {:?}",
                    p.id
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Named;

    fn trigger(id: &str, query: &str, active: bool) -> Trigger {
        Trigger {
            id: id.into(),
            query: query.into(),
            active,
        }
    }

    fn plan(id: &str) -> SyncPlan {
        SyncPlan {
            id: id.into(),
            cron: "0 * * * *".into(),
            active: true,
        }
    }

    #[test]
    fn check_table() {
        let table: [(Vec<Trigger>, Vec<SyncPlan>, Option<&str>); 6] = [
            (vec![trigger("t1", "labels = sync", true)], vec![], None),
            (
                vec![
                    trigger("t1", "labels = a", true),
                    trigger("t2", "labels = b", false),
                ],
                vec![plan("p1"), plan("p2")],
                None,
            ),
            (vec![trigger("t1", "labels = ", true)], vec![], Some("t1")),
            (
                vec![
                    trigger("t1", "labels = a", true),
                    trigger("t1", "labels = b", true),
                ],
                vec![],
                Some("unique"),
            ),
            (
                vec![trigger(" ", "labels = a", true)],
                vec![],
                Some("present"),
            ),
            (vec![], vec![plan("p1"), plan("p1")], Some("plan ids")),
        ];
        for (triggers, plans, error) in table {
            let v = ConfigVersion {
                triggers: triggers.clone(),
                plans,
                ..ConfigVersion::default()
            };
            match (v.check(), error) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{e}"),
                (got, want) => panic!("{triggers:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn trigger_for_takes_the_first_active_match() {
        let item = Item {
            project: "DEMO".into(),
            labels: vec!["sync".into()],
            status: Some(Named::new("Open")),
            ..Item::default()
        };
        let table = [
            (vec![trigger("t1", "labels = sync", true)], Some("t1")),
            (vec![trigger("t1", "labels = sync", false)], None),
            (
                vec![
                    trigger("bad", "labels = (", true),
                    trigger("t2", "project = OTHER", true),
                    trigger("t3", "status = open", true),
                ],
                Some("t3"),
            ),
            (vec![], None),
        ];
        for (triggers, want) in table {
            let v = ConfigVersion {
                triggers,
                ..ConfigVersion::default()
            };
            assert_eq!(v.trigger_for(&item).map(|t| t.id.as_str()), want);
        }
    }

    #[test]
    fn same_config_ignores_number_status_time_and_note() {
        let a = ConfigVersion {
            outgoing: "o".into(),
            triggers: vec![trigger("t1", "a = 1", true)],
            ..ConfigVersion::default()
        };
        let b = ConfigVersion {
            number: 7,
            status: VersionStatus::Archived,
            created_ms: 9,
            note: "n".into(),
            ..a.clone()
        };
        assert!(a.same_config(&b));
        let changed = [
            ConfigVersion {
                triggers: vec![trigger("t1", "a = 2", true)],
                ..a.clone()
            },
            ConfigVersion {
                plans: vec![plan("p1")],
                ..a.clone()
            },
            ConfigVersion {
                incoming: "i".into(),
                ..a.clone()
            },
        ];
        for c in changed {
            assert!(!a.same_config(&c), "{c:?}");
        }
    }
}
