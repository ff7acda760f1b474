//! The tracker client of each instance in a node's config, by connector. Each connector
//! but the sandbox's is a cargo feature of this crate: a deployment builds only the
//! connectors it uses, and a config naming one that is not built in is refused with the
//! feature to add.

use crate::config::InstanceSection;
use crate::{NodeError, NodeResult};
use std::path::Path;
use std::sync::Arc;
use twinsync_core::ConnectorKind;
use twinsync_ports::Tracker;
use twinsync_sandbox::{SandboxConfig, SandboxTracker};

/// The client for `inst`, talking to `base_url` (already resolved). Rule and key files
/// named in the config are read relative to `base_dir`.
pub fn tracker_for(
    inst: &InstanceSection,
    base_url: String,
    base_dir: &Path,
) -> NodeResult<Arc<dyn Tracker>> {
    let ca_file = inst.ca_file.as_ref().map(|f| base_dir.join(f));
    Ok(match inst.connector {
        ConnectorKind::Sandbox => Arc::new(
            SandboxTracker::new(
                inst.id.clone(),
                SandboxConfig {
                    base_url,
                    token: inst.token.clone(),
                    webhook_secret: inst.webhook_secret.clone(),
                    project: None,
                    ca_file,
                    budget: inst.budget,
                },
            )
            .map_err(NodeError::config)?,
        ),
        #[cfg(feature = "redmine")]
        ConnectorKind::Redmine => Arc::new(
            twinsync_redmine::RedmineTracker::new(
                inst.id.clone(),
                twinsync_redmine::RedmineConfig {
                    base_url,
                    api_key: inst.token.clone().unwrap_or_default(),
                    origin_field_id: inst.origin_field_id.unwrap_or_default(),
                    status_field_id: inst.status_field_id,
                    twin_field_id: inst.twin_field_id,
                    tracker: inst.tracker.clone(),
                    project: inst.project.clone(),
                    text_formatting: inst.text_formatting.clone(),
                    attachment_max_bytes: twinsync_redmine::RedmineConfig::DEFAULT_ATTACHMENT_MAX,
                    ca_file,
                },
            )
            .map_err(NodeError::config)?,
        ),
        #[cfg(feature = "github")]
        ConnectorKind::Github => Arc::new(github_tracker(inst, base_url, base_dir, ca_file)?),
        #[cfg(feature = "jira")]
        ConnectorKind::Jira => Arc::new(jira_tracker(inst, base_url, ca_file)?),
        #[cfg(feature = "ado")]
        ConnectorKind::Ado => Arc::new(ado_tracker(inst, base_url, ca_file)?),
        #[cfg(feature = "servicenow")]
        ConnectorKind::ServiceNow => Arc::new(servicenow_tracker(inst, base_url, ca_file)?),
        #[cfg(feature = "zendesk")]
        ConnectorKind::Zendesk => Arc::new(zendesk_tracker(inst, base_url, ca_file)?),
        #[cfg(feature = "salesforce")]
        ConnectorKind::Salesforce => {
            Arc::new(salesforce_tracker(inst, base_url, base_dir, ca_file)?)
        }
        #[allow(unreachable_patterns)]
        other => {
            return Err(NodeError::config(format!(
                "instance {}: the {other} connector is not in this build (cargo feature `{other}`; \
                 `scripts/sam-build --node-config` builds the connectors a config names)",
                inst.id
            )));
        }
    })
}

#[cfg(feature = "github")]
fn github_tracker(
    inst: &InstanceSection,
    api_url: String,
    base_dir: &Path,
    ca_file: Option<std::path::PathBuf>,
) -> NodeResult<twinsync_github::GithubTracker> {
    let section = inst
        .github
        .as_ref()
        .ok_or_else(|| NodeError::config(format!("instance {}: no [github] table", inst.id)))?;
    let app = match &section.app {
        Some(a) => Some(twinsync_github::GithubApp {
            app_id: a.app_id,
            installation_id: a.installation_id,
            private_key_pem: std::fs::read_to_string(base_dir.join(&a.private_key_file)).map_err(
                |e| {
                    NodeError::config(format!(
                        "instance {}: cannot read {}: {e}",
                        inst.id,
                        a.private_key_file.display()
                    ))
                },
            )?,
        }),
        None => None,
    };
    let mut config = twinsync_github::GithubConfig::with_token(&api_url, &section.repo, "");
    config.token = inst.token.clone();
    config.app = app;
    config.webhook_secret = inst.webhook_secret.clone();
    config.users = section.users.clone();
    config.ca_file = ca_file;
    if let Some(r) = section.requests_per_minute {
        config.requests_per_minute = r;
    }
    if let Some(b) = section.burst {
        config.burst = b;
    }
    twinsync_github::GithubTracker::new(inst.id.clone(), config).map_err(NodeError::config)
}

#[cfg(feature = "jira")]
fn jira_tracker(
    inst: &InstanceSection,
    base_url: String,
    ca_file: Option<std::path::PathBuf>,
) -> NodeResult<twinsync_jira::JiraTracker> {
    let section = inst
        .jira
        .as_ref()
        .ok_or_else(|| NodeError::config(format!("instance {}: no [jira] table", inst.id)))?;
    let token = inst.token.clone().unwrap_or_default();
    let mut config = twinsync_jira::JiraConfig::basic(
        &base_url,
        &section.project,
        section.email.as_deref().unwrap_or(""),
        &token,
    );
    if section.email.is_none() {
        config.email = None;
        config.api_token = None;
        config.oauth_token = Some(token);
    }
    config.webhook_secret = inst.webhook_secret.clone();
    config.allow_unsigned = section.allow_unsigned;
    config.ca_file = ca_file;
    if let Some(t) = &section.issue_type {
        config.issue_type = t.clone();
    }
    if let Some(r) = section.requests_per_minute {
        config.requests_per_minute = r;
    }
    if let Some(b) = section.burst {
        config.burst = b;
    }
    if let Some(m) = section.attachment_max_bytes {
        config.attachment_max_bytes = m;
    }
    config.origin_field = section.origin_field.clone();
    if let Some(m) = section.origin_lookback_minutes {
        config.origin_lookback_minutes = m;
    }
    twinsync_jira::JiraTracker::new(inst.id.clone(), config).map_err(NodeError::config)
}

#[cfg(feature = "ado")]
fn ado_tracker(
    inst: &InstanceSection,
    base_url: String,
    ca_file: Option<std::path::PathBuf>,
) -> NodeResult<twinsync_ado::AdoTracker> {
    let section = inst
        .ado
        .as_ref()
        .ok_or_else(|| NodeError::config(format!("instance {}: no [ado] table", inst.id)))?;
    let token = inst.token.clone().unwrap_or_default();
    let mut config = twinsync_ado::AdoConfig::with_pat(&base_url, &section.project, &token);
    if section.oauth {
        config.pat = None;
        config.oauth_token = Some(token);
    }
    config.webhook_secret = inst.webhook_secret.clone();
    config.ca_file = ca_file;
    if let Some(t) = &section.work_item_type {
        config.work_item_type = t.clone();
    }
    if let Some(u) = &section.webhook_user {
        config.webhook_user = u.clone();
    }
    if let Some(r) = section.requests_per_minute {
        config.requests_per_minute = r;
    }
    if let Some(b) = section.burst {
        config.burst = b;
    }
    if let Some(m) = section.attachment_max_bytes {
        config.attachment_max_bytes = m;
    }
    twinsync_ado::AdoTracker::new(inst.id.clone(), config).map_err(NodeError::config)
}

#[cfg(feature = "servicenow")]
fn servicenow_tracker(
    inst: &InstanceSection,
    base_url: String,
    ca_file: Option<std::path::PathBuf>,
) -> NodeResult<twinsync_servicenow::ServiceNowTracker> {
    use twinsync_servicenow::{OAuthConfig, OAuthGrant, ServiceNowConfig};
    let section = inst
        .servicenow
        .as_ref()
        .ok_or_else(|| NodeError::config(format!("instance {}: no [servicenow] table", inst.id)))?;
    let password = inst.token.clone().unwrap_or_default();
    let mut config = ServiceNowConfig::basic(
        &base_url,
        section.username.as_deref().unwrap_or(""),
        &password,
    );
    if section.username.is_none() {
        config.username = None;
        config.password = None;
    }
    if let Some(client_id) = &section.oauth_client_id {
        let grant = match section.oauth_grant.as_deref() {
            None | Some("client_credentials") => OAuthGrant::ClientCredentials,
            Some("password") => OAuthGrant::Password,
            Some(other) => {
                return Err(NodeError::config(format!(
                    "instance {}: oauth_grant {other:?} is not client_credentials or password",
                    inst.id
                )));
            }
        };
        config.oauth = Some(OAuthConfig {
            client_id: client_id.clone(),
            client_secret: section.oauth_client_secret.clone().unwrap_or_default(),
            grant,
        });
    }
    if let Some(t) = &section.table {
        config.table = t.clone();
    }
    config.webhook_secret = inst.webhook_secret.clone();
    config.ca_file = ca_file;
    config.custom_fields = section.custom_fields.clone();
    if let Some(r) = section.requests_per_minute {
        config.requests_per_minute = r;
    }
    if let Some(b) = section.burst {
        config.burst = b;
    }
    if let Some(m) = section.attachment_max_bytes {
        config.attachment_max_bytes = m;
    }
    if let Some(c) = &section.close_code {
        config.close_code = c.clone();
    }
    if let Some(c) = &section.close_notes {
        config.close_notes = c.clone();
    }
    twinsync_servicenow::ServiceNowTracker::new(inst.id.clone(), config).map_err(NodeError::config)
}

#[cfg(feature = "zendesk")]
fn zendesk_tracker(
    inst: &InstanceSection,
    base_url: String,
    ca_file: Option<std::path::PathBuf>,
) -> NodeResult<twinsync_zendesk::ZendeskTracker> {
    let section = inst
        .zendesk
        .as_ref()
        .ok_or_else(|| NodeError::config(format!("instance {}: no [zendesk] table", inst.id)))?;
    let token = inst.token.clone().unwrap_or_default();
    let mut config = match &section.email {
        Some(email) => {
            twinsync_zendesk::ZendeskConfig::api_token(&base_url, &section.group, email, &token)
        }
        None => twinsync_zendesk::ZendeskConfig::oauth(&base_url, &section.group, &token),
    };
    config.webhook_secret = inst.webhook_secret.clone();
    config.ca_file = ca_file;
    config.public_replies = section.public_replies;
    config.sync_field = section.sync_field.clone();
    if let Some(r) = section.requests_per_minute {
        config.requests_per_minute = r;
    }
    if let Some(b) = section.burst {
        config.burst = b;
    }
    if let Some(e) = section.export_per_minute {
        config.export_per_minute = e;
    }
    if let Some(m) = section.attachment_max_bytes {
        config.attachment_max_bytes = m;
    }
    twinsync_zendesk::ZendeskTracker::new(inst.id.clone(), config).map_err(NodeError::config)
}

#[cfg(feature = "salesforce")]
fn salesforce_tracker(
    inst: &InstanceSection,
    login_url: String,
    base_dir: &Path,
    ca_file: Option<std::path::PathBuf>,
) -> NodeResult<twinsync_salesforce::SalesforceTracker> {
    let s = inst
        .salesforce
        .as_ref()
        .ok_or_else(|| NodeError::config(format!("instance {}: no [salesforce] table", inst.id)))?;
    let mut config = twinsync_salesforce::SalesforceConfig::jwt(&login_url, &s.client_id, "", "");
    config.private_key = None;
    config.username = s.username.clone();
    config.private_key_file = s.private_key_file.as_ref().map(|f| base_dir.join(f));
    if config.private_key_file.is_none() {
        config.refresh_token = inst.token.clone();
    }
    config.client_secret = s.client_secret.clone();
    config.organization_id = s.organization_id.clone();
    config.outbound_secret = inst.webhook_secret.clone();
    config.record_type = s.record_type.clone();
    config.labels_field = s.labels_field.clone();
    config.custom_fields = s.custom_fields.clone();
    config.ca_file = ca_file;
    let set = |target: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            *target = v.clone();
        }
    };
    set(&mut config.api_version, &s.api_version);
    set(&mut config.origin_field, &s.origin_field);
    set(&mut config.link_field, &s.link_field);
    set(&mut config.status_field, &s.status_field);
    if let Some(r) = s.requests_per_minute {
        config.requests_per_minute = r;
    }
    if let Some(b) = s.burst {
        config.burst = b;
    }
    if let Some(m) = s.attachment_max_bytes {
        config.attachment_max_bytes = m;
    }
    if let Some(m) = s.session_minutes {
        config.session_minutes = m;
    }
    if let Some(p) = s.slow_down_at_percent {
        config.slow_down_at_percent = p;
    }
    twinsync_salesforce::SalesforceTracker::new(inst.id.clone(), config).map_err(NodeError::config)
}
