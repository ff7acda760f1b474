//! The README's "Connect two nodes over HTTPS" walk-through, run as written: its shell
//! block (the one after `<!-- tested: readme_https_walkthrough -->`) runs in bash from a
//! copy of `examples/https`, with this build's `twinsync` first on PATH. Two real
//! `twinsync up` processes serve HTTPS with a CA from `twinsync dev-ca`, connect by
//! invitation over TLS, and sync an item; the admin API takes the token and refuses a
//! request without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_twinsync");
const MARKER: &str = "<!-- tested: readme_https_walkthrough -->";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of the first `sh` code block after `marker` in `markdown`.
fn block_after(markdown: &str, marker: &str) -> Option<String> {
    let mut seen = false;
    let mut inside = false;
    let mut text = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) if h.contains(marker) => seen = true,
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if seen => {
                inside = lang.as_ref() == "sh";
            }
            Event::Text(t) if inside => text.push_str(&t),
            Event::End(_) if inside => return Some(text),
            _ => {}
        }
    }
    None
}

#[test]
fn readme_https_walkthrough() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = block_after(&readme, MARKER).expect("the README's walk-through block");
    let dir = tempfile::tempdir().unwrap();
    let https = dir.path().join("examples/https");
    std::fs::create_dir_all(&https).unwrap();
    for f in ["node-a.toml", "node-b.toml"] {
        std::fs::copy(repo().join("examples/https").join(f), https.join(f)).unwrap();
    }
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Whatever happens, the two nodes the block starts in the background are stopped.
    let script = format!("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{block}");
    let out = Command::new("timeout")
        .args(["180", "bash", "-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("TWINSYNC_ADMIN_TOKEN")
        .env_remove("TWINSYNC_NODE")
        .env_remove("TWINSYNC_DATA_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logs = ["node-a.log", "node-b.log"]
        .map(|f| std::fs::read_to_string(https.join(f)).unwrap_or_default());
    assert!(
        out.status.success(),
        "the walk-through failed: {}\nstdout:\n{stdout}\nstderr:\n{}\nlogs:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        logs.join("\n---\n")
    );
    for (what, needle) in [
        ("the pair is synced", "| DEMO-1 | SUPPORT-1 | synced"),
        (
            "B is reached over HTTPS",
            "\"peer_url\":\"https://127.0.0.1:7722\"",
        ),
    ] {
        assert!(stdout.contains(needle), "{what}: {stdout}");
    }
    assert!(
        stdout.trim_end().ends_with("401"),
        "no token, no admin API: {stdout}"
    );
}

#[test]
fn the_marker_finds_the_block() {
    let md = "# x\n\n```sh\nnot this\n```\n\n<!-- tested: t -->\n```sh\necho one\necho two\n```\n";
    assert_eq!(
        block_after(md, "<!-- tested: t -->").as_deref(),
        Some("echo one\necho two\n")
    );
    assert_eq!(block_after(md, "<!-- tested: other -->"), None);
}
