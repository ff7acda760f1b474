//! The tables of the trackers that need more than a base URL and a token: Jira, Azure
//! DevOps, ServiceNow and GitHub.

use serde::Deserialize;
use std::path::PathBuf;

/// A Jira site: the instance's `token` is the API token (Basic auth with `email`) or,
/// without `email`, an OAuth 2.0 access token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraSection {
    /// The project key the triggers poll and new issues go to by default.
    pub project: String,
    pub email: Option<String>,
    pub issue_type: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
    /// Take unsigned webhook deliveries (registered by an OAuth app) as change signals.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// A "Short text" custom field (id or name) holding a searchable token of each
    /// issue's origin, so issues are found again at any age; without it, only among
    /// those this account created in the last `origin_lookback_minutes`.
    #[serde(default)]
    pub origin_field: Option<String>,
    #[serde(default)]
    pub origin_lookback_minutes: Option<u32>,
}

/// An Azure DevOps organization (`base_url` is `https://dev.azure.com/ORG`): the
/// instance's `token` is a personal access token or, with `oauth = true`, a Microsoft
/// Entra access token; `webhook_secret` is what the service hook subscriptions send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoSection {
    /// The project the triggers poll and new work items go to by default.
    pub project: String,
    /// The type of new work items (Task unless set).
    pub work_item_type: Option<String>,
    /// The token is a Microsoft Entra bearer token, not a PAT.
    #[serde(default)]
    pub oauth: bool,
    /// The Basic user name the subscriptions send (`twinsync` unless set).
    pub webhook_user: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
}

/// A ServiceNow instance: the instance's `token` is the integration user's password
/// (Basic auth, and the OAuth password grant); `webhook_secret` is the key the push
/// business rule signs with (none: polling only).
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowSection {
    /// The table items live in (`incident` when not set).
    pub table: Option<String>,
    pub username: Option<String>,
    /// OAuth 2.0 instead of Basic: the Application Registry client, and `client_credentials`
    /// (the default) or `password`.
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<String>,
    pub oauth_grant: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
    /// Custom (`u_`) fields read and written by name.
    #[serde(default)]
    pub custom_fields: Vec<String>,
    /// What a resolve writes into `close_code` and `close_notes` when the rules give none.
    pub close_code: Option<String>,
    pub close_notes: Option<String>,
}

/// A Salesforce org (Cases): the instance's `base_url` is the login URL, `token` a
/// refresh token (the refresh-token flow) when there is no `private_key_file` (the JWT
/// bearer flow), and `webhook_secret` the secret at the end of the Outbound Message
/// endpoint URL (none: polling only).
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSection {
    /// The connected app's consumer key, and its secret where the refresh flow needs it.
    pub client_id: String,
    pub client_secret: Option<String>,
    /// JWT bearer flow: the integration user and the app's private key (PEM), relative to
    /// the config file.
    pub username: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub api_version: Option<String>,
    /// The org's Id, which Outbound Messages name.
    #[serde(default)]
    pub organization_id: String,
    /// The record type new Cases get (DeveloperName).
    pub record_type: Option<String>,
    /// The one-time setup's fields (defaults: Twinsync_Origin__c, Twinsync_Link__c,
    /// Twinsync_Status__c) and an optional labels multi-select picklist.
    pub origin_field: Option<String>,
    pub link_field: Option<String>,
    pub status_field: Option<String>,
    pub labels_field: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
    /// The org's session timeout in minutes (120 when not set), and the share of the
    /// daily API allocation past which the connector slows down (90 when not set).
    pub session_minutes: Option<u32>,
    pub slow_down_at_percent: Option<u8>,
    /// Custom fields (`…__c`) read and written by API name.
    #[serde(default)]
    pub custom_fields: Vec<String>,
}

impl std::fmt::Debug for SalesforceSection {
    // The client secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceSection")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("username", &self.username)
            .field("private_key_file", &self.private_key_file)
            .field("organization_id", &self.organization_id)
            .field("record_type", &self.record_type)
            .field("custom_fields", &self.custom_fields)
            .finish()
    }
}

impl std::fmt::Debug for ServiceNowSection {
    // The client secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowSection")
            .field("table", &self.table)
            .field("username", &self.username)
            .field("oauth_client_id", &self.oauth_client_id)
            .field(
                "oauth_client_secret",
                &self.oauth_client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("oauth_grant", &self.oauth_grant)
            .field("custom_fields", &self.custom_fields)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    /// `owner/name`, the repository the triggers poll.
    pub repo: String,
    /// A GitHub App instead of the instance's `token`.
    pub app: Option<GithubAppSection>,
    #[serde(default)]
    pub users: Vec<twinsync_core::UserEntry>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubAppSection {
    pub app_id: u64,
    pub installation_id: u64,
    /// The app's private key (PEM), relative to the config file.
    pub private_key_file: PathBuf,
}

/// A Zendesk Support instance: the instance's `token` is the API token (with `email`)
/// or, without `email`, an OAuth access token. `webhook_secret` is the webhook's signing
/// secret; left empty, the node reads it when it registers the webhook at start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskSection {
    /// The group (by name) new tickets go to when a connection names none.
    #[serde(default)]
    pub group: String,
    pub email: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    /// The incremental export's own budget (Zendesk allows 10 a minute).
    pub export_per_minute: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
    /// Comments from the other side become public replies instead of internal notes.
    #[serde(default)]
    pub public_replies: bool,
    /// A text ticket field (by title) that shows the sync state and the twin's link.
    #[serde(default)]
    pub sync_field: Option<String>,
}
