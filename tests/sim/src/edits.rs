//! People's edits of one field: made at once, or (from `Generator::V5`) waiting for
//! sync's next write of the item, so that they land between a handler's read and its
//! write, as a person's edit does when it races an apply.

use crate::oracle::{Field, SEVERITY, value};
use crate::run::Sim;
use crate::tracker::{SimTracker, found};
use crate::world::CONNECTION;
use rand::Rng;
use rand::seq::IndexedRandom;
use twinsync_core::{Item, ItemUpdate};
use twinsync_ports::PortResult;

/// A person's edit of one field, as the simulation draws it.
#[derive(Debug, Clone)]
pub enum PersonEdit {
    Update(ItemUpdate),
    /// The label added if the item lacks it, else removed: read when the edit lands.
    ToggleLabel(String),
    /// One custom field set (or cleared, with null), the others kept as they are when
    /// the edit lands.
    SetCustom(String, serde_json::Value),
}

impl SimTracker {
    /// A person edits `key` just before sync's next write of it (after sync's read):
    /// the edit a handler's write meets mid-apply. Replaces one of `key` not yet made.
    pub fn ambush(&self, key: &str, edit: PersonEdit) {
        self.state().ambush.insert(key.to_string(), edit);
    }

    /// No edit is waiting for a write any more.
    pub fn disarm(&self) {
        self.state().ambush.clear();
    }

    /// The items as the edits that met a write left them, since the last call.
    pub fn take_sprung(&self) -> Vec<Item> {
        std::mem::take(&mut self.state().sprung)
    }

    /// The waiting edit of `key`, if one waits, made now as a person would.
    pub(crate) fn spring(&self, key: &str) {
        let edit = self.state().ambush.remove(key);
        if let Some(edit) = edit
            && let Ok(after) = self.person_edit(key, &edit)
        {
            self.state().sprung.push(after);
        }
    }

    /// A person's edit of `key`.
    pub fn person_edit(&self, key: &str, edit: &PersonEdit) -> PortResult<Item> {
        match edit {
            PersonEdit::Update(u) => self.update(key, u),
            PersonEdit::SetCustom(name, v) => {
                let mut fields = found(&self.state(), key)?.custom_fields;
                match v {
                    serde_json::Value::Null => fields.remove(name),
                    v => fields.insert(name.clone(), v.clone()),
                };
                let update = ItemUpdate {
                    custom_fields: Some(fields),
                    ..ItemUpdate::default()
                };
                self.update(key, &update)
            }
            PersonEdit::ToggleLabel(label) => {
                let mut labels = found(&self.state(), key)?.labels;
                match labels.iter().position(|l| l == label) {
                    Some(i) => {
                        labels.remove(i);
                    }
                    None => labels.push(label.clone()),
                }
                let update = ItemUpdate {
                    labels: Some(labels),
                    ..ItemUpdate::default()
                };
                self.update(key, &update)
            }
        }
    }
}

impl Sim {
    /// A person's edit of one field of `item` on `side`, as drawn.
    fn draw_edit(&mut self, side: usize) -> (Field, PersonEdit) {
        let field = *self
            .generator
            .edited_fields()
            .choose(&mut self.rng)
            .unwrap_or(&Field::Summary);
        let n = self.next();
        let s = &self.world.sides[side];
        let mut update = ItemUpdate::default();
        match field {
            Field::Summary => update.summary = Some(format!("summary {n} on {}", s.name)),
            Field::Description => {
                update.description = Some(format!("description {n} on {}", s.name))
            }
            Field::Status => {
                update.status = s.project.statuses.choose(&mut self.rng).cloned();
            }
            Field::Priority => {
                update.priority = s.project.priorities.choose(&mut self.rng).cloned();
            }
            Field::Assignee => update.assignee = Some(self.user()),
            Field::Labels => {
                // The trigger's label stays: leaving the trigger is a removal, which
                // this schedule does not make.
                let extra = ["red", "blue"]
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("red");
                return (field, PersonEdit::ToggleLabel(extra.into()));
            }
            Field::Severity => {
                // 1 to 3, or cleared.
                let v = match self.rng.random_range(0..4u32) {
                    0 => serde_json::Value::Null,
                    n => serde_json::Value::from(n),
                };
                return (field, PersonEdit::SetCustom(SEVERITY.into(), v));
            }
        }
        (field, PersonEdit::Update(update))
    }

    pub(crate) fn edit(&mut self, side: usize) {
        let Some(item) = self.pick_item(side) else {
            return;
        };
        let (field, edit) = self.draw_edit(side);
        let s = &self.world.sides[side];
        match s.tracker.person_edit(&item.key, &edit) {
            Ok(after) => self.record_edit(side, &after, field, ""),
            Err(e) => self.log(format!("{} edit refused: {e}", s.name)),
        }
    }

    /// A person's edit that waits for sync's next write of the item and lands just
    /// before it.
    pub(crate) fn edit_mid_write(&mut self, side: usize) {
        // An item with a twin: sync writes it when the twin changes.
        let paired: Vec<(Item, String)> = self.world.sides[side]
            .tracker
            .items()
            .into_iter()
            .filter_map(|i| self.twin_of(side, &i).map(|t| (i, t)))
            .collect();
        let Some((item, twin)) = paired.choose(&mut self.rng).cloned() else {
            return;
        };
        let (field, edit) = self.draw_edit(side);
        let s = &self.world.sides[side];
        s.tracker.ambush(&item.key, edit);
        let name = s.name;
        self.log(format!(
            "{name} person will set {field:?} of {} during sync's next write of it",
            item.key
        ));
        self.armed_edits[side].insert(item.key.clone(), field);
        // Someone edits its twin too, so that sync has a write of it to make.
        let other = 1 - side;
        let (field, edit) = self.draw_edit(other);
        let s = &self.world.sides[other];
        match s.tracker.person_edit(&twin, &edit) {
            Ok(after) => self.record_edit(other, &after, field, ""),
            Err(e) => self.log(format!("{} edit refused: {e}", s.name)),
        }
    }

    /// The key of `item`'s twin on the other side, by origin marker.
    fn twin_of(&self, side: usize, item: &Item) -> Option<String> {
        let prefix = twinsync_node::Node::origin_prefix(CONNECTION);
        if let Some(key) = item.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
            return Some(key.to_string());
        }
        let origin = format!("{prefix}{}", item.key);
        self.world.sides[1 - side]
            .tracker
            .items()
            .into_iter()
            .find(|i| i.origin.as_deref() == Some(origin.as_str()))
            .map(|i| i.key)
    }

    /// Records the edits that met a write during the last step, in the order they were
    /// made: each is the latest edit of its field.
    pub(crate) fn record_sprung(&mut self) {
        for side in 0..self.world.sides.len() {
            for after in self.world.sides[side].tracker.take_sprung() {
                if let Some(field) = self.armed_edits[side].remove(&after.key) {
                    self.report.faults.mid_write_edits += 1;
                    self.record_edit(side, &after, field, " during a sync write");
                }
            }
        }
    }

    /// A person's edit as made: the latest value people gave the field.
    fn record_edit(&mut self, side: usize, after: &Item, field: Field, when: &str) {
        let v = value(after, field, side);
        let name = self.world.sides[side].name;
        self.log(format!(
            "{name} person sets {field:?} of {} to {v:?}{when}",
            after.key
        ));
        self.record
            .last_edit
            .insert((side, after.key.clone(), field), v);
    }
}
