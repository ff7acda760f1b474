//! Workspaces, integrations and subscriptions, in the seeds' words: a **workspace** is
//! where an organisation manages its integrations; an **integration** joins two systems
//! and groups the connections between them; its **subscription** gives it an item
//! capacity, the number of items under sync across those connections. Each node keeps its
//! own (each side of a sync is managed by its own team); this is the document it keeps.
//! A workspace also says who may act on it: admin API tokens scoped to it, each read-only
//! or operator, kept as SHA-256 digests (the token itself is shown once, at creation).

use crate::CoreError;
use serde::{Deserialize, Serialize};

/// Every workspace of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspaces {
    pub workspaces: Vec<Workspace>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub integrations: Vec<Integration>,
    #[serde(default)]
    pub tokens: Vec<ScopedToken>,
}

/// An admin API token that acts only on one workspace's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedToken {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub digest: String,
}

/// What a workspace token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the workspace's connections, pairs, events and jobs.
    Read,
    /// Also run operations, bulk jobs, Retry, pause and resume, and versions.
    Operator,
}

/// What a call to the admin API does, for the roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Operate,
    /// Node-wide administration: connections made or deleted, secrets, workspaces,
    /// integrations, subscriptions, tokens. Only the node's own admin token does it.
    Administer,
}

impl Role {
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::Operate => self == Role::Operator,
            Action::Administer => false,
        }
    }
}

impl Workspace {
    /// The connections of all its integrations.
    pub fn connections(&self) -> Vec<String> {
        self.integrations
            .iter()
            .flat_map(|i| i.connections.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: String,
    pub name: String,
    /// The connections it groups; a connection is in one integration at most.
    pub connections: Vec<String>,
    pub subscription: Subscription,
}

/// What an integration may do: its plan's name and its item capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub plan: String,
    /// Items under sync the integration may hold, across its connections.
    pub item_capacity: u64,
}

/// Whether one more item may come under sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Full { used: u64, capacity: u64 },
}

/// One more item, with `used` already under sync against `capacity`.
pub fn admit(used: u64, capacity: u64) -> Admission {
    if used < capacity {
        Admission::Admitted
    } else {
        Admission::Full { used, capacity }
    }
}

fn valid_id(kind: &str, id: &str) -> Result<(), CoreError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidConfig(format!(
            "a {kind} id is 1 to 64 letters, digits, - or _, not {id:?}"
        )))
    }
}

impl Workspaces {
    /// The workspace and integration a connection belongs to, if any.
    pub fn integration_of(&self, connection_id: &str) -> Option<(&Workspace, &Integration)> {
        self.workspaces.iter().find_map(|w| {
            w.integrations
                .iter()
                .find(|i| i.connections.iter().any(|c| c == connection_id))
                .map(|i| (w, i))
        })
    }

    pub fn add_workspace(&mut self, id: &str, name: &str) -> Result<(), CoreError> {
        valid_id("workspace", id)?;
        if self.workspaces.iter().any(|w| w.id == id) {
            return Err(CoreError::InvalidConfig(format!("workspace {id} exists")));
        }
        self.workspaces.push(Workspace {
            id: id.into(),
            name: name.into(),
            integrations: Vec::new(),
            tokens: Vec::new(),
        });
        Ok(())
    }

    /// A new integration in `workspace`; integration ids are unique across workspaces.
    pub fn add_integration(
        &mut self,
        workspace: &str,
        id: &str,
        name: &str,
        subscription: Subscription,
    ) -> Result<(), CoreError> {
        valid_id("integration", id)?;
        if self.integration(id).is_some() {
            return Err(CoreError::InvalidConfig(format!("integration {id} exists")));
        }
        let w = self
            .workspaces
            .iter_mut()
            .find(|w| w.id == workspace)
            .ok_or_else(|| CoreError::InvalidConfig(format!("no workspace {workspace}")))?;
        w.integrations.push(Integration {
            id: id.into(),
            name: name.into(),
            connections: Vec::new(),
            subscription,
        });
        Ok(())
    }

    pub fn integration(&self, id: &str) -> Option<&Integration> {
        self.workspaces
            .iter()
            .flat_map(|w| &w.integrations)
            .find(|i| i.id == id)
    }

    fn integration_mut(&mut self, id: &str) -> Result<&mut Integration, CoreError> {
        self.workspaces
            .iter_mut()
            .flat_map(|w| &mut w.integrations)
            .find(|i| i.id == id)
            .ok_or_else(|| CoreError::InvalidConfig(format!("no integration {id}")))
    }

    /// Puts a connection in an integration, taking it out of any other.
    pub fn assign(&mut self, integration: &str, connection_id: &str) -> Result<(), CoreError> {
        self.integration_mut(integration)?;
        for i in self.workspaces.iter_mut().flat_map(|w| &mut w.integrations) {
            i.connections.retain(|c| c != connection_id);
        }
        self.integration_mut(integration)?
            .connections
            .push(connection_id.into());
        Ok(())
    }

    /// A new plan for an integration. A capacity below what is under sync is allowed: no
    /// item leaves sync, but none comes in until the count is below it again.
    pub fn subscribe(
        &mut self,
        integration: &str,
        subscription: Subscription,
    ) -> Result<(), CoreError> {
        self.integration_mut(integration)?.subscription = subscription;
        Ok(())
    }

    /// A token for `workspace` under a name unique in it; `digest` is its SHA-256.
    pub fn add_token(
        &mut self,
        workspace: &str,
        name: &str,
        role: Role,
        digest: &str,
    ) -> Result<(), CoreError> {
        valid_id("token", name)?;
        let w = self
            .workspaces
            .iter_mut()
            .find(|w| w.id == workspace)
            .ok_or_else(|| CoreError::InvalidConfig(format!("no workspace {workspace}")))?;
        if w.tokens.iter().any(|t| t.name == name) {
            return Err(CoreError::InvalidConfig(format!(
                "workspace {workspace} has a token {name}"
            )));
        }
        w.tokens.push(ScopedToken {
            name: name.into(),
            role,
            digest: digest.into(),
        });
        Ok(())
    }

    /// Revokes a token; false if there was none of that name.
    pub fn revoke_token(&mut self, workspace: &str, name: &str) -> bool {
        self.workspaces
            .iter_mut()
            .filter(|w| w.id == workspace)
            .any(|w| {
                let before = w.tokens.len();
                w.tokens.retain(|t| t.name != name);
                w.tokens.len() != before
            })
    }

    /// The workspace and token whose digest this is.
    pub fn find_token(&self, digest: &str) -> Option<(&Workspace, &ScopedToken)> {
        self.workspaces
            .iter()
            .find_map(|w| w.tokens.iter().find(|t| t.digest == digest).map(|t| (w, t)))
    }

    /// Forgets a deleted connection.
    pub fn forget_connection(&mut self, connection_id: &str) -> bool {
        let mut changed = false;
        for i in self.workspaces.iter_mut().flat_map(|w| &mut w.integrations) {
            let before = i.connections.len();
            i.connections.retain(|c| c != connection_id);
            changed |= i.connections.len() != before;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(n: u64) -> Subscription {
        Subscription {
            plan: "team".into(),
            item_capacity: n,
        }
    }

    #[test]
    fn admit_table() {
        let cases = [
            (0, 1, Admission::Admitted),
            (2, 3, Admission::Admitted),
            (
                3,
                3,
                Admission::Full {
                    used: 3,
                    capacity: 3,
                },
            ),
            (
                5,
                3,
                Admission::Full {
                    used: 5,
                    capacity: 3,
                },
            ),
            (
                0,
                0,
                Admission::Full {
                    used: 0,
                    capacity: 0,
                },
            ),
        ];
        for (used, capacity, want) in cases {
            assert_eq!(admit(used, capacity), want, "{used} of {capacity}");
        }
    }

    #[test]
    fn connections_belong_to_one_integration_at_most() {
        let mut w = Workspaces::default();
        w.add_workspace("acme", "Acme").unwrap();
        w.add_integration("acme", "jira-github", "Jira and GitHub", plan(10))
            .unwrap();
        w.add_integration("acme", "zendesk-jira", "Zendesk and Jira", plan(5))
            .unwrap();
        w.assign("jira-github", "c1").unwrap();
        assert_eq!(w.integration_of("c1").unwrap().1.id, "jira-github");
        w.assign("zendesk-jira", "c1").unwrap();
        assert_eq!(w.integration_of("c1").unwrap().1.id, "zendesk-jira");
        assert!(w.integration("jira-github").unwrap().connections.is_empty());
        assert!(w.forget_connection("c1"));
        assert!(w.integration_of("c1").is_none());
    }

    #[test]
    fn roles_table() {
        let cases = [
            (Role::Read, Action::Read, true),
            (Role::Read, Action::Operate, false),
            (Role::Read, Action::Administer, false),
            (Role::Operator, Action::Read, true),
            (Role::Operator, Action::Operate, true),
            (Role::Operator, Action::Administer, false),
        ];
        for (role, action, may) in cases {
            assert_eq!(role.may(action), may, "{role:?} {action:?}");
        }
    }

    #[test]
    fn tokens_are_found_by_digest_and_revoked_by_name() {
        let mut w = Workspaces::default();
        w.add_workspace("acme", "Acme").unwrap();
        w.add_token("acme", "viewer", Role::Read, "d1").unwrap();
        assert!(w.add_token("acme", "viewer", Role::Operator, "d2").is_err());
        assert!(w.add_token("nowhere", "x", Role::Read, "d3").is_err());
        assert_eq!(w.find_token("d1").unwrap().1.role, Role::Read);
        assert!(w.revoke_token("acme", "viewer"));
        assert!(!w.revoke_token("acme", "viewer"));
        assert!(w.find_token("d1").is_none());
    }

    #[test]
    fn bad_names_and_duplicates_are_refused() {
        let mut w = Workspaces::default();
        let cases: [(&str, Result<(), ()>); 4] = [
            ("acme", Ok(())),
            ("acme", Err(())),
            ("", Err(())),
            ("a b", Err(())),
        ];
        for (id, want) in cases {
            assert_eq!(w.add_workspace(id, "x").map_err(|_| ()), want, "{id:?}");
        }
        assert!(w.add_integration("nowhere", "i", "i", plan(1)).is_err());
        assert!(w.assign("nothing", "c1").is_err());
        assert!(w.subscribe("nothing", plan(1)).is_err());
    }
}
