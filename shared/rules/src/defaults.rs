//! The default rules: one set per connector, and the helper maps a pair of connectors
//! needs on top.

use std::collections::BTreeMap;
use twinsync_core::{ConfigVersion, ConnectorKind, NodeHelperMaps};

pub const OUTGOING: &str = include_str!("../defaults/sandbox-sandbox/outgoing.rhai");
pub const INCOMING: &str = include_str!("../defaults/sandbox-sandbox/incoming.rhai");

/// GitHub: open/closed, priority as a label, attachments as links, attributed comments.
pub const GITHUB_OUTGOING: &str = include_str!("../defaults/github/outgoing.rhai");
pub const GITHUB_INCOMING: &str = include_str!("../defaults/github/incoming.rhai");

/// Redmine: statuses and priorities mapped by meaning when no map names them; no labels.
pub const REDMINE_OUTGOING: &str = include_str!("../defaults/redmine/outgoing.rhai");
pub const REDMINE_INCOMING: &str = include_str!("../defaults/redmine/incoming.rhai");

/// Jira: workflow statuses and priorities by meaning, attributed comments.
pub const JIRA_OUTGOING: &str = include_str!("../defaults/jira/outgoing.rhai");
pub const JIRA_INCOMING: &str = include_str!("../defaults/jira/incoming.rhai");

/// Azure DevOps: states and priorities 1-4 by meaning, attributed comments.
pub const ADO_OUTGOING: &str = include_str!("../defaults/ado/outgoing.rhai");
pub const ADO_INCOMING: &str = include_str!("../defaults/ado/incoming.rhai");
/// ServiceNow: states and priorities by meaning, work notes kept inside, attributed
/// comments.
pub const SERVICENOW_OUTGOING: &str = include_str!("../defaults/servicenow/outgoing.rhai");
pub const SERVICENOW_INCOMING: &str = include_str!("../defaults/servicenow/incoming.rhai");
/// Zendesk: statuses and priorities by meaning, attributed comments as internal notes.
pub const ZENDESK_OUTGOING: &str = include_str!("../defaults/zendesk/outgoing.rhai");
pub const ZENDESK_INCOMING: &str = include_str!("../defaults/zendesk/incoming.rhai");
/// Salesforce: Case statuses and priorities by meaning, private comments kept inside,
/// attributed comments.
pub const SALESFORCE_OUTGOING: &str = include_str!("../defaults/salesforce/outgoing.rhai");
pub const SALESFORCE_INCOMING: &str = include_str!("../defaults/salesforce/incoming.rhai");

/// The default rules for a connector's side of a connection.
pub fn for_connector(connector: ConnectorKind) -> ConfigVersion {
    match connector {
        ConnectorKind::Github => ConfigVersion {
            outgoing: GITHUB_OUTGOING.to_string(),
            incoming: GITHUB_INCOMING.to_string(),
            note: "default rules for GitHub".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::Jira => ConfigVersion {
            outgoing: JIRA_OUTGOING.to_string(),
            incoming: JIRA_INCOMING.to_string(),
            note: "default rules for Jira".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::Redmine => ConfigVersion {
            outgoing: REDMINE_OUTGOING.to_string(),
            incoming: REDMINE_INCOMING.to_string(),
            note: "default rules for Redmine".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::Ado => ConfigVersion {
            outgoing: ADO_OUTGOING.to_string(),
            incoming: ADO_INCOMING.to_string(),
            note: "default rules for Azure DevOps".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::ServiceNow => ConfigVersion {
            outgoing: SERVICENOW_OUTGOING.to_string(),
            incoming: SERVICENOW_INCOMING.to_string(),
            note: "default rules for ServiceNow".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::Zendesk => ConfigVersion {
            outgoing: ZENDESK_OUTGOING.to_string(),
            incoming: ZENDESK_INCOMING.to_string(),
            note: "default rules for Zendesk".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::Salesforce => ConfigVersion {
            outgoing: SALESFORCE_OUTGOING.to_string(),
            incoming: SALESFORCE_INCOMING.to_string(),
            note: "default rules for Salesforce".into(),
            ..ConfigVersion::default()
        },
        ConnectorKind::Sandbox => version(),
    }
}

/// The default rules as a draft version 1.
pub fn version() -> ConfigVersion {
    ConfigVersion {
        outgoing: OUTGOING.to_string(),
        incoming: INCOMING.to_string(),
        note: "default rules".into(),
        ..ConfigVersion::default()
    }
}

/// The trackers with comments only the team sees (`Comment::internal`).
pub const INTERNAL_COMMENTS: [ConnectorKind; 3] = [
    ConnectorKind::ServiceNow,
    ConnectorKind::Salesforce,
    ConnectorKind::Zendesk,
];

/// The default configuration of this side of a connection whose other side runs
/// `remote`: the local connector's rules, with the helper maps the pair needs. The
/// Jira, GitHub and Redmine rules judge other trackers' names by their meaning; the
/// sandbox's apply names as they come, so a sandbox side maps the other tracker's names
/// to the sandbox's default statuses (Open, In Progress, Done) and priorities (Low,
/// Medium, High, Highest).
pub fn for_pair(local: ConnectorKind, remote: ConnectorKind) -> ConfigVersion {
    let mut version = ConfigVersion {
        helper_maps: pair_maps(local, remote),
        note: format!("default rules for {local} with {remote}"),
        ..for_connector(local)
    };
    // Work notes, private CaseComments and Zendesk's internal notes are internal: only
    // the same tracker on the other side has a place to keep them so.
    if local == remote && INTERNAL_COMMENTS.contains(&local) {
        version.outgoing = version
            .outgoing
            .replace("let share_internal = false;", "let share_internal = true;");
    }
    version
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(from, to)| (from.to_string(), to.to_string()))
        .collect()
}

fn pair_maps(local: ConnectorKind, remote: ConnectorKind) -> NodeHelperMaps {
    use ConnectorKind::*;
    if remote == ServiceNow && local != ServiceNow {
        return servicenow_maps(local);
    }
    if remote == Salesforce && local != Salesforce {
        return salesforce_maps(local);
    }
    let statuses: &[(&str, &str)] = match (local, remote) {
        (Sandbox, Jira) => &[("To Do", "Open")],
        (Sandbox, Github) => &[("open", "Open"), ("closed", "Done")],
        (Sandbox, Redmine) => &[
            ("New", "Open"),
            ("Feedback", "Open"),
            ("Resolved", "Done"),
            ("Closed", "Done"),
            ("Rejected", "Done"),
        ],
        // Azure DevOps sends its own state names (Removed as Rejected).
        (Sandbox, Ado) => &[
            ("New", "Open"),
            ("Active", "In Progress"),
            ("Resolved", "Done"),
            ("Closed", "Done"),
            ("Rejected", "Done"),
        ],
        (Sandbox, Zendesk) => &[
            ("new", "Open"),
            ("open", "Open"),
            ("pending", "In Progress"),
            ("hold", "In Progress"),
            ("solved", "Done"),
            ("closed", "Done"),
        ],
        _ => return NodeHelperMaps::default(),
    };
    // Priorities may have passed through the other tracker from a third one (a GitHub
    // label "priority: urgent" that came from Redmine), so every known name is mapped.
    let priorities = [
        ("Lowest", "Low"),
        ("Trivial", "Low"),
        ("Minor", "Low"),
        ("Normal", "Medium"),
        ("Major", "High"),
        ("Urgent", "Highest"),
        ("Critical", "Highest"),
        ("Blocker", "Highest"),
        ("Immediate", "Highest"),
        ("Moderate", "Medium"),
        ("Planning", "Low"),
        // Zendesk's names are lower case.
        ("low", "Low"),
        ("normal", "Medium"),
        ("high", "High"),
        ("urgent", "Highest"),
    ];
    NodeHelperMaps {
        statuses: map(statuses),
        priorities: map(&priorities),
        users: BTreeMap::new(),
    }
}

/// A side whose other side is a ServiceNow: the states and priorities that are
/// ServiceNow's alone, by meaning. The Jira, GitHub and Redmine rules know the rest
/// (Resolved, Closed, Canceled, Critical, High, Low); the sandbox takes names as they
/// come, so it gets every one.
/// Names and what they become.
type Names = &'static [(&'static str, &'static str)];

fn servicenow_maps(local: ConnectorKind) -> NodeHelperMaps {
    use ConnectorKind::*;
    let (statuses, priorities): (Names, Names) = match local {
        Sandbox => (
            &[
                ("New", "Open"),
                ("On Hold", "In Progress"),
                ("Resolved", "Done"),
                ("Closed", "Done"),
                ("Canceled", "Done"),
            ],
            &[
                ("Critical", "Highest"),
                ("Moderate", "Medium"),
                ("Planning", "Low"),
            ],
        ),
        Redmine => (
            &[("On Hold", "In Progress")],
            &[("Moderate", "Normal"), ("Planning", "Low")],
        ),
        Jira => (
            &[("On Hold", "In Progress")],
            &[("Moderate", "Medium"), ("Planning", "Lowest")],
        ),
        // GitHub and trackers added later: names by meaning in their own rules, and a
        // priority a tracker lacks as its nearest common name.
        _ => (&[], &[("Moderate", "Medium"), ("Planning", "Lowest")]),
    };
    NodeHelperMaps {
        statuses: map(statuses),
        priorities: map(priorities),
        users: BTreeMap::new(),
    }
}

/// A side whose other side is a Salesforce: Case statuses that are Salesforce's alone
/// (Working, Escalated), by meaning; its priorities (Low, Medium, High) every tracker's
/// rules know. The sandbox takes names as they come, so it gets the statuses too.
fn salesforce_maps(local: ConnectorKind) -> NodeHelperMaps {
    let statuses: Names = match local {
        ConnectorKind::Sandbox => &[
            ("New", "Open"),
            ("Working", "In Progress"),
            ("Escalated", "In Progress"),
            ("Closed", "Done"),
        ],
        _ => &[("Working", "In Progress"), ("Escalated", "In Progress")],
    };
    NodeHelperMaps {
        statuses: map(statuses),
        priorities: BTreeMap::new(),
        users: BTreeMap::new(),
    }
}
