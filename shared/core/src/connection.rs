//! Connections, their status machine and their versioned configuration.

use crate::CoreError;
use crate::trigger::Trigger;
use serde::{Deserialize, Serialize};

pub use crate::version::{
    ConfigVersion, ConflictPolicy, ConflictSettings, NodeHelperMaps, SyncPlan, VersionOrigin,
    VersionStatus,
};

/// The statuses of the seeds: Pending until the other side accepts, Active, Deactivated
/// (paused with every change kept), Error (a functional problem stops processing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum ConnectionStatus {
    Pending,
    Active,
    Deactivated,
    Error,
}

impl ConnectionStatus {
    /// Whether the status machine allows `self -> to`.
    pub fn can_become(self, to: ConnectionStatus) -> bool {
        use ConnectionStatus::*;
        matches!(
            (self, to),
            (Pending, Active)
                | (Pending, Deactivated)
                | (Active, Deactivated)
                | (Active, Error)
                | (Deactivated, Active)
                | (Error, Active)
                | (Error, Deactivated)
                | (Error, Error)
        )
    }

    /// Whether changes may leave this node now; otherwise they are held.
    pub fn sends(self) -> bool {
        self == ConnectionStatus::Active
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "Pending",
            ConnectionStatus::Active => "Active",
            ConnectionStatus::Deactivated => "Deactivated",
            ConnectionStatus::Error => "Error",
        }
    }
}

/// How the two nodes of a connection reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// Both nodes are reachable over HTTP.
    Public,
    /// One node is behind a firewall and pulls its messages.
    Private,
    /// Both sides on one node: no network hop.
    Local,
}

/// A shared secret. Debug never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The trust between the two nodes of a connection made by invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub kind: ConnectionKind,
    /// The other node's base URL, once known.
    pub peer_url: Option<String>,
    pub secret: Secret,
    /// For the initiator: until when the invitation code may be accepted.
    #[serde(default)]
    pub invitation_expires_ms: i64,
    /// For the initiator: a code is accepted once.
    #[serde(default)]
    pub invitation_used: bool,
    /// This node cannot be reached (private connection): it pulls its messages from the
    /// other node instead of receiving them.
    #[serde(default)]
    pub pulls: bool,
    /// After a rotation the old secret still verifies messages signed before it, until
    /// `previous_until_ms`: nothing in flight is lost.
    #[serde(default)]
    pub previous_secret: Option<Secret>,
    #[serde(default)]
    pub previous_until_ms: i64,
    /// The last rotation this node answered, so a repeated request gets the same answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation: Option<RotationRecord>,
    /// The largest transport body the other node said it takes (its `max_replica_bytes`),
    /// learnt from the invitation or the handshake; a peer that never said takes
    /// [`crate::DEFAULT_MAX_TRANSPORT_BODY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_max_body: Option<u64>,
    /// The most transport messages the other node said one delivery may carry, learnt
    /// from the invitation or the handshake; a node that never said takes one a request
    /// (an older node reads a list as a malformed message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_batch_max: Option<u32>,
}

/// A rotation answered: its id and our public half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRecord {
    pub id: String,
    pub public: String,
}

impl Link {
    /// A link once the invitation is spent: `kind` and `secret`, no peer URL known, no
    /// rotation under way, the other node's default body limit.
    pub fn established(kind: ConnectionKind, secret: Secret) -> Self {
        Self {
            kind,
            peer_url: None,
            secret,
            invitation_expires_ms: 0,
            invitation_used: true,
            pulls: false,
            previous_secret: None,
            previous_until_ms: 0,
            last_rotation: None,
            peer_max_body: None,
            peer_batch_max: None,
        }
    }

    /// The largest body this node may send the other one.
    pub fn peer_max_body(&self) -> u64 {
        self.peer_max_body
            .unwrap_or(crate::DEFAULT_MAX_TRANSPORT_BODY)
    }

    /// The most messages one delivery to the other node may carry (one, unless it said).
    pub fn peer_batch_max(&self) -> usize {
        self.peer_batch_max
            .map_or(1, |max| max.clamp(1, crate::TRANSPORT_BATCH_MAX) as usize)
    }

    /// Forgets the previous secret once its grace period is over; says whether it did.
    pub fn forget_expired_secret(&mut self, now_ms: i64) -> bool {
        if self.previous_secret.is_some() && now_ms >= self.previous_until_ms {
            self.previous_secret = None;
            self.previous_until_ms = 0;
            return true;
        }
        false
    }
}

/// One side's record of a connection between two nodes. Its triggers and plans belong to
/// its configuration versions (see [`ConfigVersion`]); the active one is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredConnection")]
pub struct Connection {
    pub id: String,
    pub name: String,
    /// This node's id.
    pub local_node: String,
    /// The other node's id.
    pub remote_node: String,
    /// The tracker instance this side syncs with.
    pub local_instance: String,
    /// The project new twins are created in on this side.
    pub target_project: String,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    pub versions: Vec<ConfigVersion>,
    /// Set for connections made by invitation between nodes that do not share a process.
    pub link: Option<Link>,
    /// Bumped by every write; stores use it for conditional updates.
    pub revision: u64,
    pub updated_ms: i64,
}

/// A connection as stores hold it, now and before triggers and plans were versioned:
/// then they sat beside the versions, and every version is given them on reading.
#[derive(Deserialize)]
struct StoredConnection {
    id: String,
    name: String,
    local_node: String,
    remote_node: String,
    local_instance: String,
    target_project: String,
    status: ConnectionStatus,
    status_reason: Option<String>,
    #[serde(default)]
    triggers: Option<Vec<Trigger>>,
    #[serde(default)]
    plans: Option<Vec<SyncPlan>>,
    versions: Vec<ConfigVersion>,
    #[serde(default)]
    link: Option<Link>,
    revision: u64,
    updated_ms: i64,
}

impl From<StoredConnection> for Connection {
    fn from(s: StoredConnection) -> Self {
        let mut versions = s.versions;
        if s.triggers.is_some() || s.plans.is_some() {
            for v in &mut versions {
                v.triggers = s.triggers.clone().unwrap_or_default();
                v.plans = s.plans.clone().unwrap_or_default();
            }
        }
        Connection {
            id: s.id,
            name: s.name,
            local_node: s.local_node,
            remote_node: s.remote_node,
            local_instance: s.local_instance,
            target_project: s.target_project,
            status: s.status,
            status_reason: s.status_reason,
            versions,
            link: s.link,
            revision: s.revision,
            updated_ms: s.updated_ms,
        }
    }
}

/// What a webhook decides on about a connection: whether a change on `local_instance`
/// is queued for it. Stores that pay per byte read keep it beside the connection, so a
/// webhook lists these instead of every connection with every version's scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRoute {
    pub id: String,
    pub local_instance: String,
    pub status: ConnectionStatus,
    /// Whether its active version takes webhooks (true before one is activated).
    pub live: bool,
    /// The connection's revision it was made from.
    pub revision: u64,
}

impl ConnectionRoute {
    pub fn of(connection: &Connection) -> Self {
        ConnectionRoute {
            id: connection.id.clone(),
            local_instance: connection.local_instance.clone(),
            status: connection.status,
            live: connection.active_version().is_none_or(|v| v.live),
            revision: connection.revision,
        }
    }
}

impl Connection {
    /// The version in production, if one was activated.
    pub fn active_version(&self) -> Option<&ConfigVersion> {
        self.versions
            .iter()
            .find(|v| v.status == VersionStatus::Active)
    }

    pub fn version(&self, number: u32) -> Option<&ConfigVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// The triggers in force: the active version's (none before one is activated).
    pub fn triggers(&self) -> &[Trigger] {
        self.active_version().map_or(&[], |v| &v.triggers)
    }

    /// The SynchronizationPlans in force: the active version's.
    pub fn plans(&self) -> &[SyncPlan] {
        self.active_version().map_or(&[], |v| &v.plans)
    }

    /// Moves the status machine, keeping the reason for the monitor.
    pub fn transition(
        &mut self,
        to: ConnectionStatus,
        reason: Option<String>,
    ) -> Result<(), CoreError> {
        if !self.status.can_become(to) {
            return Err(CoreError::StatusTransition {
                connection: self.id.clone(),
                from: self.status,
                to,
            });
        }
        self.status = to;
        self.status_reason = reason;
        Ok(())
    }

    /// Saves a new draft built from `template`; returns its number.
    pub fn add_draft(&mut self, mut template: ConfigVersion, now_ms: i64) -> u32 {
        let number = self.versions.iter().map(|v| v.number).max().unwrap_or(0) + 1;
        template.number = number;
        template.status = VersionStatus::Draft;
        template.created_ms = now_ms;
        self.versions.push(template);
        number
    }

    /// Restores an earlier version (archived or active) as a new draft with its whole
    /// configuration; returns the draft's number. Activating the draft finishes the
    /// rollback, so it can be test-run first.
    pub fn rollback(&mut self, number: u32, now_ms: i64) -> Result<u32, CoreError> {
        let source = self
            .version(number)
            .cloned()
            .ok_or(CoreError::Version(number, "no such version"))?;
        if source.status == VersionStatus::Draft {
            return Err(CoreError::Version(
                number,
                "a draft can be activated as it is; rollback restores an archived version",
            ));
        }
        Ok(self.add_draft(
            ConfigVersion {
                note: format!("rollback to version {number}: {}", source.note),
                origin: VersionOrigin::Rollback,
                ..source
            },
            now_ms,
        ))
    }

    /// Drops a draft; archived and active versions stay on record.
    pub fn discard(&mut self, number: u32) -> Result<(), CoreError> {
        match self.version(number).map(|v| v.status) {
            None => Err(CoreError::Version(number, "no such version")),
            Some(VersionStatus::Draft) => {
                self.versions.retain(|v| v.number != number);
                Ok(())
            }
            Some(_) => Err(CoreError::Version(number, "only a draft can be discarded")),
        }
    }

    /// What a restart does with the configuration the config file describes now.
    pub fn file_change(&self, from_file: &ConfigVersion) -> FileChange {
        let latest_file = self
            .versions
            .iter()
            .filter(|v| v.origin == VersionOrigin::File)
            .max_by_key(|v| v.number);
        match self.active_version() {
            None => FileChange::Activate,
            Some(active) if active.same_config(from_file) => FileChange::None,
            // The file changed nothing since it was last read: what is in force stays.
            _ if latest_file.is_some_and(|v| v.same_config(from_file)) => FileChange::None,
            Some(active) if active.origin == VersionOrigin::File => FileChange::Activate,
            // A version activated since the file was read stays in force.
            Some(active) => FileChange::Draft {
                active: active.number,
            },
        }
    }

    /// Makes a draft the active version; the old active one is archived.
    pub fn activate(&mut self, number: u32) -> Result<(), CoreError> {
        let status = self
            .version(number)
            .map(|v| v.status)
            .ok_or(CoreError::Version(number, "no such version"))?;
        if status != VersionStatus::Draft {
            return Err(CoreError::Version(number, "only a draft can be activated"));
        }
        for v in &mut self.versions {
            if v.status == VersionStatus::Active {
                v.status = VersionStatus::Archived;
            }
            if v.number == number {
                v.status = VersionStatus::Active;
            }
        }
        Ok(())
    }
}

/// See [`Connection::file_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChange {
    /// The file says what is in force, or what it said before: nothing to do.
    None,
    /// The file's configuration becomes a new active version.
    Activate,
    /// The file's configuration is saved as a draft; the version `active` (activated
    /// through the API since) stays in force.
    Draft { active: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_says_what_a_webhook_decides_on() {
        let version = |status, live| ConfigVersion {
            status,
            live,
            ..ConfigVersion::default()
        };
        // (status, versions, live in the route)
        let cases = [
            (ConnectionStatus::Active, vec![], true),
            (
                ConnectionStatus::Pending,
                vec![version(VersionStatus::Active, true)],
                true,
            ),
            (
                ConnectionStatus::Active,
                vec![version(VersionStatus::Active, false)],
                false,
            ),
            (
                ConnectionStatus::Deactivated,
                vec![
                    version(VersionStatus::Archived, false),
                    version(VersionStatus::Active, true),
                ],
                true,
            ),
            (
                ConnectionStatus::Error,
                vec![version(VersionStatus::Draft, false)],
                true,
            ),
        ];
        for (status, versions, live) in cases {
            let connection = Connection {
                id: "c1".into(),
                name: "C".into(),
                local_node: "a".into(),
                remote_node: "b".into(),
                local_instance: "jira".into(),
                target_project: "P".into(),
                status,
                status_reason: None,
                versions,
                link: None,
                revision: 7,
                updated_ms: 0,
            };
            let route = ConnectionRoute::of(&connection);
            assert_eq!(
                route,
                ConnectionRoute {
                    id: "c1".into(),
                    local_instance: "jira".into(),
                    status,
                    live,
                    revision: 7,
                },
                "{status:?} {:?}",
                connection.versions
            );
        }
    }

    #[test]
    fn the_old_secret_is_forgotten_when_its_grace_ends() {
        let link = |previous: Option<&str>, until: i64| Link {
            previous_secret: previous.map(|p| Secret(p.into())),
            previous_until_ms: until,
            ..Link::established(ConnectionKind::Public, Secret("new".into()))
        };
        let cases = [
            (link(Some("old"), 1_000), 999, false),
            (link(Some("old"), 1_000), 1_000, true),
            (link(Some("old"), 1_000), 5_000, true),
            (link(None, 0), 5_000, false),
        ];
        for (mut l, now, forgets) in cases {
            let had = l.previous_secret.is_some();
            assert_eq!(l.forget_expired_secret(now), forgets, "at {now}");
            assert_eq!(l.previous_secret.is_some(), had && !forgets, "at {now}");
        }
    }
    use ConnectionStatus::*;

    #[test]
    fn status_machine_table() {
        let table = [
            (Pending, Active, true),
            (Active, Deactivated, true),
            (Deactivated, Active, true),
            (Active, Error, true),
            (Error, Active, true),
            (Deactivated, Error, false),
            (Active, Pending, false),
            (Deactivated, Pending, false),
        ];
        for (from, to, ok) in table {
            assert_eq!(from.can_become(to), ok, "{from:?} -> {to:?}");
        }
    }

    fn connection() -> Connection {
        Connection {
            id: "c".into(),
            name: "c".into(),
            local_node: "a".into(),
            remote_node: "b".into(),
            local_instance: "i".into(),
            target_project: "P".into(),
            status: Active,
            status_reason: None,
            versions: vec![],
            link: None,
            revision: 0,
            updated_ms: 0,
        }
    }

    fn with_trigger(query: &str) -> ConfigVersion {
        ConfigVersion {
            triggers: vec![Trigger {
                id: "t1".into(),
                query: query.into(),
                active: true,
            }],
            ..ConfigVersion::default()
        }
    }

    #[test]
    fn rollback_restores_an_archived_version_as_a_draft_and_drafts_can_be_discarded() {
        let mut c = connection();
        let v1 = c.add_draft(with_trigger("labels = one"), 1);
        c.activate(v1).unwrap();
        let v2 = c.add_draft(with_trigger("labels = two"), 2);
        c.activate(v2).unwrap();
        let v3 = c.rollback(v1, 3).unwrap();
        let restored = c.version(v3).unwrap();
        assert_eq!(
            (restored.status, restored.origin),
            (VersionStatus::Draft, VersionOrigin::Rollback)
        );
        assert!(restored.same_config(c.version(v1).unwrap()));
        assert!(restored.note.starts_with("rollback to version 1"));
        assert_eq!(
            c.triggers()[0].query,
            "labels = two",
            "in force once activated"
        );
        c.activate(v3).unwrap();
        assert_eq!(c.triggers()[0].query, "labels = one");
        // Rolling back from the active version works too; a draft cannot be rolled back.
        let v4 = c.rollback(v2, 4).unwrap();
        assert!(c.rollback(v4, 5).is_err());
        assert!(c.rollback(99, 5).is_err());
        c.discard(v4).unwrap();
        assert!(c.version(v4).is_none());
        for kept in [v1, v2, v3] {
            assert!(c.discard(kept).is_err(), "version {kept} is not a draft");
        }
    }

    /// What a restart does with the config file's configuration, by where the version in
    /// force came from.
    #[test]
    fn a_restart_never_overrides_a_version_activated_since() {
        let from = |q: &str, origin: VersionOrigin| ConfigVersion {
            origin,
            ..with_trigger(q)
        };
        use VersionOrigin::{Api, File, Rollback};
        // (versions activated in order, the file now, expected)
        let cases: Vec<(Vec<ConfigVersion>, ConfigVersion, FileChange)> = vec![
            (vec![], from("x", File), FileChange::Activate),
            (vec![from("x", File)], from("x", File), FileChange::None),
            (vec![from("x", File)], from("y", File), FileChange::Activate),
            (
                vec![from("x", File), from("y", Api)],
                from("x", File),
                FileChange::None,
            ),
            (
                vec![from("x", File), from("y", Api)],
                from("z", File),
                FileChange::Draft { active: 2 },
            ),
            (
                vec![from("x", File), from("y", Api), from("x", Rollback)],
                from("z", File),
                FileChange::Draft { active: 3 },
            ),
            (vec![from("y", Api)], from("y", File), FileChange::None),
        ];
        for (i, (history, file, expected)) in cases.into_iter().enumerate() {
            let mut c = connection();
            for v in history {
                let n = c.add_draft(v, 1);
                c.activate(n).unwrap();
            }
            assert_eq!(c.file_change(&file), expected, "case {i}");
        }
    }

    #[test]
    fn activating_a_draft_archives_the_old_version() {
        let mut c = connection();
        assert!(
            c.triggers().is_empty(),
            "nothing is in force before a version"
        );
        let v1 = c.add_draft(with_trigger("labels = one"), 1);
        c.activate(v1).unwrap();
        let v2 = c.add_draft(with_trigger("labels = two"), 2);
        assert_eq!(c.active_version().unwrap().number, v1);
        assert_eq!(
            c.triggers()[0].query,
            "labels = one",
            "a draft is not in force"
        );
        c.activate(v2).unwrap();
        assert_eq!(c.active_version().unwrap().number, v2);
        assert_eq!(c.triggers()[0].query, "labels = two");
        assert_eq!(c.version(v1).unwrap().status, VersionStatus::Archived);
        assert_eq!(c.version(v1).unwrap().triggers[0].query, "labels = one");
        assert!(c.activate(v1).is_err(), "archived versions are read-only");
    }

    /// Records written before triggers and plans were versioned are read with them in
    /// every version; records written now keep them in the versions only.
    #[test]
    fn stored_records_old_and_new_read_the_same() {
        let old = serde_json::json!({
            "id": "c", "name": "c", "local_node": "a", "remote_node": "b",
            "local_instance": "i", "target_project": "P", "status": "Active",
            "status_reason": null,
            "triggers": [{"id": "t1", "query": "labels = sync", "active": true}],
            "plans": [{"id": "p1", "cron": "0 * * * *"}],
            "versions": [
                {"number": 1, "status": "Archived", "outgoing": "o1", "incoming": "i1"},
                {"number": 2, "status": "Active", "outgoing": "o2", "incoming": "i2"}
            ],
            "revision": 4, "updated_ms": 9
        });
        let c: Connection = serde_json::from_value(old).unwrap();
        for v in &c.versions {
            assert_eq!(v.triggers[0].query, "labels = sync", "version {}", v.number);
            assert_eq!(v.plans[0].cron, "0 * * * *");
            assert!(v.plans[0].active);
        }
        assert_eq!(c.triggers().len(), 1);
        assert!(c.link.is_none());

        let written = serde_json::to_value(&c).unwrap();
        assert!(written.get("triggers").is_none() && written.get("plans").is_none());
        let back: Connection = serde_json::from_value(written).unwrap();
        assert_eq!(back, c);

        // An old record without plans (before plans existed) reads too.
        let older = serde_json::json!({
            "id": "c", "name": "c", "local_node": "a", "remote_node": "b",
            "local_instance": "i", "target_project": "P", "status": "Pending",
            "status_reason": null, "triggers": [],
            "versions": [{"number": 1, "status": "Active"}],
            "revision": 0, "updated_ms": 0
        });
        let c: Connection = serde_json::from_value(older).unwrap();
        assert!(c.triggers().is_empty() && c.plans().is_empty());
    }
}
