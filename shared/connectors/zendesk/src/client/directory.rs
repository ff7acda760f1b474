//! What ids mean on this instance, learned as the connector goes: people (sideloaded
//! with `include=users`, or searched by email), groups (a ticket's project, by name) and
//! ticket fields (custom fields, by title).

use super::ZendeskTracker;
use crate::mapping::Directory;
use serde_json::Value;
use twinsync_core::User;
use twinsync_ports::{PortError, PortResult};

fn user(u: &Value) -> Option<(u64, User)> {
    Some((
        u["id"].as_u64()?,
        User {
            email: u["email"].as_str().unwrap_or("").to_string(),
            display_name: u["name"].as_str().unwrap_or("").to_string(),
        },
    ))
}

impl ZendeskTracker {
    /// Remembers the users and groups an answer sideloads.
    pub(super) async fn learn(&self, page: &Value) {
        let mut dir = self.directory.lock().await;
        for u in page["users"].as_array().into_iter().flatten() {
            if let Some((id, user)) = user(u) {
                dir.users.insert(id, user);
            }
        }
        for g in page["groups"].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (g["id"].as_u64(), g["name"].as_str()) {
                dir.groups.insert(id, name.to_string());
            }
        }
    }

    /// The directory, with the groups and ticket fields loaded once.
    pub(super) async fn directory(&self) -> PortResult<Directory> {
        if !self.loaded.load(std::sync::atomic::Ordering::Relaxed) {
            self.load_groups().await?;
            let fields = self
                .list_all("/ticket_fields.json", &[], "ticket_fields")
                .await?;
            let mut dir = self.directory.lock().await;
            for f in fields {
                if let (Some(id), Some(title)) = (f["id"].as_u64(), f["title"].as_str()) {
                    dir.fields.insert(id, title.to_string());
                }
            }
            self.loaded
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(self.directory.lock().await.clone())
    }

    async fn load_groups(&self) -> PortResult<Vec<(u64, String)>> {
        let groups = self.list_all("/groups.json", &[], "groups").await?;
        let list: Vec<(u64, String)> = groups
            .iter()
            .filter_map(|g| Some((g["id"].as_u64()?, g["name"].as_str()?.to_string())))
            .collect();
        let mut dir = self.directory.lock().await;
        dir.groups.extend(list.iter().cloned());
        Ok(list)
    }

    /// The id of the group named `name` (case-insensitively), read fresh when unknown.
    pub(super) async fn group_id(&self, name: &str) -> PortResult<Option<u64>> {
        let find = |groups: &[(u64, String)]| {
            groups
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
                .map(|(id, _)| *id)
        };
        let known: Vec<(u64, String)> = {
            let dir = self.directory.lock().await;
            dir.groups.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        if let Some(id) = find(&known) {
            return Ok(Some(id));
        }
        Ok(find(&self.load_groups().await?))
    }

    /// The id of the custom field titled `title`.
    pub(super) async fn field_id(&self, title: &str) -> PortResult<u64> {
        let dir = self.directory().await?;
        dir.fields
            .iter()
            .find(|(_, t)| t.eq_ignore_ascii_case(title))
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                PortError::Rejected(format!("Zendesk has no ticket field titled {title:?}"))
            })
    }

    /// The user with `email`, searched once (`GET /api/v2/users/search.json?query=email:`).
    pub(super) async fn user_id(&self, email: &str) -> PortResult<Option<u64>> {
        let email = email.trim().to_ascii_lowercase();
        if email.is_empty() {
            return Ok(None);
        }
        if let Some(known) = self.emails.lock().await.get(&email) {
            return Ok(*known);
        }
        let query = format!("email:{email}");
        let found = self
            .send(
                self.http
                    .get(self.api("/users/search.json"))
                    .query(&[("query", query.as_str())]),
            )
            .await?;
        let id = found["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(user)
            .find(|(_, u)| u.email.eq_ignore_ascii_case(&email));
        let mut dir = self.directory.lock().await;
        if let Some((id, u)) = &id {
            dir.users.insert(*id, u.clone());
        }
        let id = id.map(|(id, _)| id);
        self.emails.lock().await.insert(email, id);
        Ok(id)
    }
}
