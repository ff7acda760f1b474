//! Textile <-> Markdown for Redmine servers whose text formatting is Textile (Redmine's
//! default). The conversion is pandoc's (`-f gfm -t textile` and back), run as a child
//! process: pandoc is the tool made for it, and `scripts/redmine-up` installs it.

use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use twinsync_ports::{PortError, PortResult};

/// Whether pandoc can be run here.
pub fn available() -> bool {
    std::process::Command::new("pandoc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn pandoc(text: &str, from: &str, to: &str) -> PortResult<String> {
    if text.trim().is_empty() {
        return Ok(text.to_string());
    }
    let mut child = tokio::process::Command::new("pandoc")
        .args(["-f", from, "-t", to, "--wrap=none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PortError::Rejected(format!("cannot run pandoc for Textile: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| PortError::Rejected(format!("pandoc: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| PortError::Rejected(format!("pandoc: {e}")))?;
    if !out.status.success() {
        return Err(PortError::Rejected(format!(
            "pandoc could not convert {from} to {to}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

pub async fn from_markdown(markdown: &str) -> PortResult<String> {
    // Headings get no generated ids: Redmine makes its own anchors.
    pandoc(markdown, "gfm-gfm_auto_identifiers", "textile").await
}

pub async fn to_markdown(textile: &str) -> PortResult<String> {
    pandoc(textile, "textile", "gfm").await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs pandoc (the test command installs it with Redmine).
    #[tokio::test]
    async fn markdown_goes_to_textile_and_back() {
        assert!(
            available(),
            "pandoc is not installed: scripts/redmine-up installs it"
        );
        let table = [
            ("## Steps", "h2. Steps"),
            ("Pay with **card**", "Pay with *card*"),
            ("`HTTP 502` from `/pay`", "@HTTP 502@ from @/pay@"),
            (
                "A [link](https://x.example)",
                "A \"link\":https://x.example",
            ),
        ];
        for (md, textile) in table {
            assert_eq!(from_markdown(md).await.unwrap(), textile, "{md}");
            assert_eq!(to_markdown(textile).await.unwrap(), md, "{textile}");
        }
        assert_eq!(from_markdown("").await.unwrap(), "");
    }
}
