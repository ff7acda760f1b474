//! Helpers for tests in other crates: a sandbox on a free loopback port.

use super::{RunningSandbox, SandboxServerConfig, ServerError, spawn};
use twinsync_sandbox::{SandboxConfig, SandboxError, SandboxTracker};

/// Starts an in-memory sandbox with one project per key in `projects`.
pub async fn start(projects: &[&str]) -> Result<RunningSandbox, ServerError> {
    start_with(projects, SandboxServerConfig::default()).await
}

pub async fn start_with(
    projects: &[&str],
    config: SandboxServerConfig,
) -> Result<RunningSandbox, ServerError> {
    let token = config.token.clone();
    let running = spawn("127.0.0.1:0", config).await?;
    let http = reqwest::Client::new();
    for p in projects {
        let mut req = http
            .post(format!("{}/api/projects", running.base_url))
            .json(&serde_json::json!({ "key": p, "name": p }));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .map_err(|e| ServerError::Http(e.to_string()))?;
    }
    Ok(running)
}

/// A connector for a running sandbox.
pub fn tracker(
    instance: &str,
    running: &RunningSandbox,
    secret: &str,
    token: Option<&str>,
) -> Result<SandboxTracker, SandboxError> {
    SandboxTracker::new(
        instance,
        SandboxConfig {
            base_url: running.base_url.clone(),
            token: token.map(str::to_string),
            webhook_secret: secret.to_string(),
            project: None,
            ca_file: None,
            budget: None,
        },
    )
}
