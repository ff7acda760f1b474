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
}

impl ConnectorKind {
    pub const ALL: [ConnectorKind; 4] = [
        ConnectorKind::Sandbox,
        ConnectorKind::Redmine,
        ConnectorKind::Github,
        ConnectorKind::Jira,
    ];

    /// The name in configs, webhook paths and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Sandbox => "sandbox",
            ConnectorKind::Redmine => "redmine",
            ConnectorKind::Github => "github",
            ConnectorKind::Jira => "jira",
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
    }
}
