//! The kinds of tracker a node can talk to, named once.

use serde::{Deserialize, Serialize};

/// A connector: how a node reaches one kind of tracker. Configs name it in lower case
/// (`connector = "jira"`); an unknown name is refused when the config is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// The sandbox tracker that ships with twinsync.
    Sandbox,
    Redmine,
    Github,
    Jira,
    /// Azure DevOps Services (`connector = "ado"`).
    Ado,
    /// ServiceNow: incidents or another task table.
    ServiceNow,
    /// Zendesk Support tickets.
    Zendesk,
    /// Salesforce Service Cloud: Cases.
    Salesforce,
}

impl ConnectorKind {
    pub const ALL: [ConnectorKind; 8] = [
        ConnectorKind::Sandbox,
        ConnectorKind::Redmine,
        ConnectorKind::Github,
        ConnectorKind::Jira,
        ConnectorKind::Ado,
        ConnectorKind::ServiceNow,
        ConnectorKind::Zendesk,
        ConnectorKind::Salesforce,
    ];

    /// The name in configs, webhook paths and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Sandbox => "sandbox",
            ConnectorKind::Redmine => "redmine",
            ConnectorKind::Github => "github",
            ConnectorKind::Jira => "jira",
            ConnectorKind::Ado => "ado",
            ConnectorKind::ServiceNow => "servicenow",
            ConnectorKind::Zendesk => "zendesk",
            ConnectorKind::Salesforce => "salesforce",
        }
    }

    /// The connector named `name` in configs, invitations and handshakes; `None` for one
    /// this build does not know (a newer node's).
    pub fn parse(name: &str) -> Option<ConnectorKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// How text in this tracker refers to item `key`: `#45` where keys are numbers
    /// (Redmine, Azure DevOps, Zendesk), the key itself elsewhere (`DEMO-7`,
    /// `acme/shop#12`).
    pub fn reference(self, key: &str) -> String {
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_digit()) {
            format!("#{key}")
        } else {
            key.to_string()
        }
    }

    /// The status a tracker of this kind calls closed, which the `close` removal policy
    /// writes unless the connection names another. (Zendesk agents solve tickets; Zendesk
    /// closes solved ones itself.)
    pub fn closed_status(self) -> &'static str {
        match self {
            ConnectorKind::Sandbox | ConnectorKind::Jira => "Done",
            ConnectorKind::Github => "closed",
            ConnectorKind::Zendesk => "solved",
            ConnectorKind::Redmine
            | ConnectorKind::Ado
            | ConnectorKind::ServiceNow
            | ConnectorKind::Salesforce => "Closed",
        }
    }

    /// Whether `project` is written the way this connector's projects are: the sandbox's
    /// keys are upper-case letters and digits, Jira's an upper-case letter then upper-case
    /// letters, digits or `_`, GitHub's `owner/repo`, Redmine's identifiers lower-case
    /// letters, digits, `-` and `_` starting with a letter (or a numeric id). The error
    /// says what was expected.
    pub fn check_project(self, project: &str) -> Result<(), String> {
        let all = |s: &str, ok: fn(char) -> bool| !s.is_empty() && s.chars().all(ok);
        let (fits, expected) = match self {
            ConnectorKind::Sandbox => (
                all(project, |c| c.is_ascii_uppercase() || c.is_ascii_digit()),
                "upper-case letters and digits, like DEMO",
            ),
            ConnectorKind::Jira => (
                project.len() >= 2
                    && project.starts_with(|c: char| c.is_ascii_uppercase())
                    && all(project, |c| {
                        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
                    }),
                "a Jira project key, like DEMO",
            ),
            ConnectorKind::Github => (
                project.split_once('/').is_some_and(|(owner, repo)| {
                    all(owner, |c| c.is_ascii_alphanumeric() || c == '-')
                        && all(repo, |c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                        && repo != "."
                        && repo != ".."
                }),
                "owner/repo, like octo/demo",
            ),
            ConnectorKind::Redmine => (
                all(project, |c| c.is_ascii_digit())
                    || (project.starts_with(|c: char| c.is_ascii_lowercase())
                        && all(project, |c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c)
                        })),
                "a Redmine project identifier, like ops",
            ),
            // Azure DevOps project names: at most 64 characters, none of its reserved
            // ones, not starting with `_` or `.` nor ending with `.`.
            ConnectorKind::Ado => (
                !project.trim().is_empty()
                    && project.chars().count() <= 64
                    && !project.starts_with(['_', '.'])
                    && !project.ends_with('.')
                    && !project
                        .chars()
                        .any(|c| c.is_control() || "\\/:*?\"<>|;#$%{},+=[]&~".contains(c)),
                "an Azure DevOps project name, like Fabrikam Fiber",
            ),
            // A ServiceNow "project" is the table items live in (`incident`, `u_ticket`).
            ConnectorKind::ServiceNow => (
                project.starts_with(|c: char| c.is_ascii_lowercase())
                    && all(project, |c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
                    }),
                "a ServiceNow table name, like incident",
            ),
            // A Zendesk group's name: any printable text of up to 100 characters.
            ConnectorKind::Zendesk => (
                !project.trim().is_empty()
                    && project.chars().count() <= 100
                    && !project.chars().any(char::is_control),
                "a Zendesk group's name, like Support",
            ),
            // A Salesforce "project" is a Case record type's DeveloperName, or `Case`.
            ConnectorKind::Salesforce => (
                project.starts_with(|c: char| c.is_ascii_alphabetic())
                    && all(project, |c| c.is_ascii_alphanumeric() || c == '_')
                    && !project.ends_with('_')
                    && !project.contains("__"),
                "a Case record type's API name, like Support, or Case",
            ),
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "{project:?} is not a {self} project: expected {expected}"
            ))
        }
    }
}

impl std::fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for kind in ConnectorKind::ALL {
            let json = format!("\"{kind}\"");
            assert_eq!(
                serde_json::from_str::<ConnectorKind>(&json).ok(),
                Some(kind)
            );
            assert_eq!(serde_json::to_string(&kind).ok(), Some(json));
        }
        let err = serde_json::from_str::<ConnectorKind>("\"jria\"")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("unknown variant `jria`")));
        for kind in ConnectorKind::ALL {
            assert_eq!(ConnectorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ConnectorKind::parse("linear"), None);
    }

    #[test]
    fn project_syntax_table() {
        use ConnectorKind::*;
        let table = [
            (Sandbox, "DEMO", true),
            (Sandbox, "OPS2", true),
            (Sandbox, "X", true),
            (Sandbox, "demo", false),
            (Sandbox, "", false),
            (Sandbox, "DE MO", false),
            (Jira, "DEMO", true),
            (Jira, "SUP_2", true),
            (Jira, "D", false),
            (Jira, "2DEMO", false),
            (Jira, "Demo", false),
            (Jira, "acme/demo", false),
            (Github, "acme/demo", true),
            (Github, "octo-org/my.repo_2", true),
            (Github, "acme", false),
            (Github, "acme/", false),
            (Github, "/demo", false),
            (Github, "acme/demo/x", false),
            (Github, "acme/..", false),
            (Github, "ac me/demo", false),
            (Redmine, "ops", true),
            (Redmine, "jg1700000000000", true),
            (Redmine, "web-app_2", true),
            (Redmine, "42", true),
            (Redmine, "Ops", false),
            (Redmine, "-ops", false),
            (Redmine, "", false),
            (Ado, "Fabrikam Fiber", true),
            (Ado, "Demo", true),
            (Ado, "web-app_2", true),
            (Ado, "_hidden", false),
            (Ado, "a/b", false),
            (Ado, "ends.", false),
            (Ado, "", false),
            (ServiceNow, "incident", true),
            (ServiceNow, "sc_req_item", true),
            (ServiceNow, "u_ticket2", true),
            (ServiceNow, "Incident", false),
            (ServiceNow, "_incident", false),
            (ServiceNow, "inc ident", false),
            (Zendesk, "Support", true),
            (Zendesk, "Tier 2 / EMEA", true),
            (Zendesk, " ", false),
            (Zendesk, "a\nb", false),
            (Salesforce, "Case", true),
            (Salesforce, "Support_Request", true),
            (Salesforce, "Support Request", false),
            (Salesforce, "_Support", false),
            (Salesforce, "Bad__c", false),
        ];
        for (kind, project, ok) in table {
            let got = kind.check_project(project);
            assert_eq!(got.is_ok(), ok, "{kind} {project:?}: {got:?}");
            if let Err(e) = got {
                assert!(e.contains("expected"), "{e}");
            }
        }
    }
}
