//! What a node config says about a Redmine instance.

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedmineConfig {
    pub base_url: String,
    /// The REST API key (`X-Redmine-API-Key`).
    pub api_key: String,
    /// The id of the custom field that holds the origin marker.
    pub origin_field_id: u32,
    /// The id of the text custom field that shows each issue's sync status ("twinsync
    /// status" in `scripts/redmine-up`); without it the status is not shown.
    #[serde(default)]
    pub status_field_id: Option<u32>,
    /// The id of the link custom field that holds the twin's URL ("twinsync twin").
    #[serde(default)]
    pub twin_field_id: Option<u32>,
    /// The tracker new issues get; the first one when absent.
    pub tracker: Option<String>,
    /// Polls only this project (identifier), when set.
    pub project: Option<String>,
    /// The server's text formatting: `common_mark` or `markdown` (stored as is) or
    /// `textile` (converted to and from the domain's Markdown with pandoc).
    #[serde(default)]
    pub text_formatting: Option<String>,
    /// The largest attachment downloaded for this Redmine; Redmine's own default upload
    /// limit is 5 MB (Administration → Settings → Files).
    #[serde(default = "default_attachment_max")]
    pub attachment_max_bytes: u64,
    /// PEM certificates trusted besides the platform's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_attachment_max() -> u64 {
    RedmineConfig::DEFAULT_ATTACHMENT_MAX
}

impl RedmineConfig {
    pub const DEFAULT_ATTACHMENT_MAX: u64 = 5 * 1024 * 1024;
}

// The API key never reaches a log.
impl std::fmt::Debug for RedmineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedmineConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("origin_field_id", &self.origin_field_id)
            .field("status_field_id", &self.status_field_id)
            .field("twin_field_id", &self.twin_field_id)
            .field("tracker", &self.tracker)
            .field("project", &self.project)
            .field("text_formatting", &self.text_formatting)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}
