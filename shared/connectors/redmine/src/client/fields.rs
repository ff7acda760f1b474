//! Domain fields as Redmine's: status, priority and tracker ids, people by email, custom
//! fields by name, text in the server's format.

use super::RedmineTracker;
use crate::mapping::{IdName, find_user};
use serde_json::{Value, json};
use twinsync_core::User;
use twinsync_ports::{PortError, PortResult};

pub(super) fn find_id(list: &[IdName], what: &str, name: &str) -> PortResult<u64> {
    list.iter()
        .find(|x| x.name.eq_ignore_ascii_case(name))
        .map(|x| x.id)
        .ok_or_else(|| {
            let names: Vec<&str> = list.iter().map(|x| x.name.as_str()).collect();
            PortError::Rejected(format!(
                "unknown {what} {name:?} (Redmine has: {})",
                names.join(", ")
            ))
        })
}
impl RedmineTracker {
    /// The domain's Markdown in the server's formatting.
    pub(super) async fn to_server(&self, markdown: &str) -> PortResult<String> {
        if self.textile() {
            crate::textile::from_markdown(markdown).await
        } else {
            Ok(markdown.to_string())
        }
    }
    /// `assigned_to_id` and `custom_fields` of a write.
    pub(super) async fn people_and_custom(
        &self,
        fields: &mut serde_json::Map<String, Value>,
        assignee: Option<Option<&User>>,
        custom: Option<&std::collections::BTreeMap<String, Value>>,
        origin: Option<&str>,
    ) -> PortResult<()> {
        let l = self.lookups().await?;
        match assignee {
            Some(None) => {
                fields.insert("assigned_to_id".into(), json!(""));
            }
            Some(Some(user)) => match find_user(user, &l.users) {
                Some(u) => {
                    fields.insert("assigned_to_id".into(), json!(u.id));
                }
                None => {
                    tracing::warn!(instance = %self.instance, email = %user.email, "no Redmine user with this email or login; the assignee is left as is")
                }
            },
            None => {}
        }
        let mut values = Vec::new();
        if let Some(o) = origin.filter(|o| !o.is_empty()) {
            values.push(json!({ "id": self.config.origin_field_id, "value": o }));
        }
        for (name, value) in custom.into_iter().flatten() {
            match l.custom_fields.iter().find(|f| f.name == *name) {
                // The connector's own fields take no values from the other side.
                Some(f) if !self.own().contains(f.id, &f.name) => {
                    values.push(json!({ "id": f.id, "value": value }));
                }
                Some(_) => {}
                // Another tracker's own field (GitHub's `state_reason`, a milestone): this
                // Redmine cannot hold it, and the rest of the change must not fail for it.
                None => {
                    tracing::warn!(field = %name, "Redmine has no issue custom field of this name; not written");
                }
            }
        }
        if !values.is_empty() {
            fields.insert("custom_fields".into(), Value::Array(values));
        }
        Ok(())
    }
    /// Fields of an update or create in Redmine's terms.
    pub(super) async fn fields(
        &self,
        summary: Option<&str>,
        description: Option<&str>,
        status: Option<&str>,
        priority: Option<&str>,
    ) -> PortResult<serde_json::Map<String, Value>> {
        let l = self.lookups().await?;
        let mut m = serde_json::Map::new();
        if let Some(s) = summary {
            m.insert("subject".into(), json!(s));
        }
        if let Some(d) = description {
            m.insert("description".into(), json!(self.to_server(d).await?));
        }
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            m.insert(
                "status_id".into(),
                json!(find_id(&l.statuses, "status", s)?),
            );
        }
        if let Some(p) = priority.filter(|p| !p.is_empty()) {
            m.insert(
                "priority_id".into(),
                json!(find_id(&l.priorities, "priority", p)?),
            );
        }
        Ok(m)
    }
}
