//! How the CLI reaches a node's admin API: its URL and token, from the flags, the
//! environment or the node's data dir (where `twinsync up` keeps both).

use clap::Args;
use reqwest::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use twinsync_node::admin::{AdminToken, TOKEN_FILE, URL_FILE};

/// Which node, and how to prove the right to administer it.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// The node's admin URL (`twinsync up` prints it); read from --data-dir when absent.
    #[arg(long, env = "TWINSYNC_NODE")]
    pub node: Option<String>,
    /// The node's data dir: its admin-token and admin-url are read from there.
    #[arg(long, env = "TWINSYNC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The admin token, instead of the data dir's (a flag shows in the process list:
    /// prefer TWINSYNC_ADMIN_TOKEN).
    #[arg(long, env = "TWINSYNC_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// A node's admin API, ready to call.
pub struct AdminClient {
    url: String,
    token: AdminToken,
    http: reqwest::Client,
}

impl Target {
    pub fn resolve(&self) -> Result<AdminClient, String> {
        let url = match (&self.node, &self.data_dir) {
            (Some(url), _) => url.clone(),
            (None, Some(dir)) => read(dir, URL_FILE)?,
            (None, None) => {
                return Err(
                    "which node? --data-dir DIR (the node's data dir) or --node URL".into(),
                );
            }
        };
        let token = match (&self.token, &self.data_dir) {
            (Some(t), _) => AdminToken::parse(t).map_err(|e| format!("--token: {e}"))?,
            (None, Some(dir)) => AdminToken::parse(&read(dir, TOKEN_FILE)?)
                .map_err(|e| format!("{}: {e}", dir.join(TOKEN_FILE).display()))?,
            (None, None) => {
                return Err(
                    "the admin API needs the node's token: --data-dir DIR (the node's \
                     data dir, where admin-token is) or TWINSYNC_ADMIN_TOKEN"
                        .into(),
                );
            }
        };
        Ok(AdminClient {
            url: url.trim().trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        })
    }
}

fn read(dir: &Path, file: &str) -> Result<String, String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| {
            format!(
                "{}: {e} (is {} the node's data dir? `twinsync up` writes {file} there)",
                path.display(),
                dir.display()
            )
        })
}

impl AdminClient {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The monitor's address with the token in its fragment, which the browser keeps to
    /// itself (no server or proxy log sees it); the page moves it to sessionStorage.
    pub fn monitor_link(&self) -> String {
        format!("{}/monitor#token={}", self.url, self.token.expose())
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(Method::GET, path, None).await
    }

    /// A GET whose answer is text (a diff), not JSON.
    pub async fn get_text(&self, path: &str) -> Result<String, String> {
        let url = format!("{}{path}", self.url);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(format!("{url}: {status}: {reason}"));
        }
        Ok(text)
    }

    /// A call that changes state: always with a JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> Result<Value, String> {
        self.call(method, path, Some(body)).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.url);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let value: Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{url}: {status}: {}",
                value.get("error").and_then(|e| e.as_str()).unwrap_or("")
            ));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn target(node: Option<&str>, dir: Option<&Path>, token: Option<&str>) -> Target {
        Target {
            node: node.map(str::to_string),
            data_dir: dir.map(Path::to_path_buf),
            token: token.map(str::to_string),
        }
    }

    #[test]
    fn the_url_and_token_come_from_flags_or_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let (file_token, flag_token) = ("f".repeat(64), "g".repeat(64));
        std::fs::write(dir.path().join(TOKEN_FILE), format!("{file_token}\n")).unwrap();
        std::fs::write(dir.path().join(URL_FILE), "http://127.0.0.1:7711\n").unwrap();
        let from_dir = target(None, Some(dir.path()), None).resolve().unwrap();
        assert_eq!(from_dir.url(), "http://127.0.0.1:7711");
        assert_eq!(from_dir.token.expose(), file_token);
        let flags = target(Some("http://h:1/"), Some(dir.path()), Some(&flag_token))
            .resolve()
            .unwrap();
        assert_eq!(
            (flags.url(), flags.token.expose()),
            ("http://h:1", &*flag_token)
        );
        assert_eq!(
            flags.monitor_link(),
            format!("http://h:1/monitor#token={flag_token}")
        );
        let errors = [
            (target(None, None, Some(&flag_token)), "--data-dir"),
            (target(Some("http://h:1"), None, None), "token"),
            (target(Some("http://h:1"), None, Some("weak")), "--token"),
            (
                target(None, Some(Path::new("/nonexistent")), None),
                "admin-url",
            ),
        ];
        for (t, want) in errors {
            let e = t.resolve().err().unwrap();
            assert!(e.contains(want), "{e}");
        }
    }
}
