//! `twinsync job ...`: bulk jobs from the command line. Start one (Bulk Exalate, Bulk
//! Sync, or Bulk Connect from a CSV of key pairs or by a field's value), follow it with a progress bar (or
//! JSON lines with --json, for scripts), list and cancel.

use super::client::{AdminClient, Target};
use clap::{Subcommand, ValueEnum};
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum JobCommand {
    /// Start a bulk job on a connection; with --follow, show its progress until it ends.
    Start {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        connection: String,
        kind: Kind,
        /// Bulk Connect: a CSV file of `local,remote` key pairs (a header row is
        /// skipped when its first cell is `local`).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Bulk Connect by field: pair each item the triggers match with the other
        /// side's one item with the same value in this field (`summary`, `key`,
        /// `cf.NAME`).
        #[arg(long = "match", value_name = "FIELD")]
        match_field: Option<String>,
        #[arg(long)]
        follow: bool,
        /// Print the job as JSON (one line per update with --follow).
        #[arg(long)]
        json: bool,
    },
    /// The node's jobs, newest first.
    List {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        connection: Option<String>,
    },
    /// One job; with --follow, its progress until it ends.
    Show {
        #[command(flatten)]
        node: Target,
        id: String,
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stop a running job; what it did stays done.
    Cancel {
        #[command(flatten)]
        node: Target,
        id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    /// Every item the connection's triggers match.
    Exalate,
    /// Every twin, sent again.
    Sync,
    /// Relink of each pair of the CSV file, or by a field's value (--match).
    Connect,
}

pub async fn run(cmd: JobCommand) -> Result<(), String> {
    match cmd {
        JobCommand::Start {
            node,
            connection,
            kind,
            csv,
            match_field,
            follow,
            json,
        } => {
            let body = match (kind, csv, match_field) {
                (Kind::Exalate, None, None) => json!({"kind": "exalate"}),
                (Kind::Sync, None, None) => json!({"kind": "sync"}),
                (Kind::Connect, Some(file), None) => {
                    json!({"kind": "connect", "pairs": pairs(&file)?})
                }
                (Kind::Connect, None, Some(field)) => {
                    json!({"kind": "connect_by_field", "field": field})
                }
                (Kind::Connect, None, None) => {
                    return Err("connect needs --csv FILE or --match FIELD".into());
                }
                (Kind::Connect, Some(_), Some(_)) => {
                    return Err("connect takes --csv FILE or --match FIELD, not both".into());
                }
                (_, _, _) => return Err("--csv and --match are for connect".into()),
            };
            let admin = node.resolve()?;
            let path = format!("/api/connections/{connection}/jobs");
            let job = admin.send(Method::POST, &path, body).await?;
            show(&admin, job, follow, json).await
        }
        JobCommand::List { node, connection } => {
            let path = match connection {
                Some(c) => format!("/api/jobs?connection={c}"),
                None => "/api/jobs".to_string(),
            };
            let list = node.resolve()?.get(&path).await?;
            println!("{}", table(&list));
            Ok(())
        }
        JobCommand::Show {
            node,
            id,
            follow,
            json,
        } => {
            let admin = node.resolve()?;
            let job = admin.get(&format!("/api/jobs/{id}")).await?;
            show(&admin, job, follow, json).await
        }
        JobCommand::Cancel { node, id } => {
            let path = format!("/api/jobs/{id}/cancel");
            let job = node.resolve()?.send(Method::POST, &path, json!({})).await?;
            println!("{}", summary(&job));
            Ok(())
        }
    }
}

/// Key pairs from a CSV file: two columns, local then remote.
pub fn pairs(file: &Path) -> Result<Vec<(String, String)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("{}: {e}", file.display()))?;
        let (Some(local), Some(remote)) = (row.get(0), row.get(1)) else {
            return Err(format!(
                "{}: line {}: a pair is `local,remote`",
                file.display(),
                i + 1
            ));
        };
        if i == 0 && local.eq_ignore_ascii_case("local") {
            continue;
        }
        if local.is_empty() || remote.is_empty() {
            return Err(format!("{}: line {}: an empty key", file.display(), i + 1));
        }
        out.push((local.to_string(), remote.to_string()));
    }
    Ok(out)
}

async fn show(admin: &AdminClient, mut job: Value, follow: bool, json: bool) -> Result<(), String> {
    let print = |job: &Value| {
        if json {
            println!("{job}");
        }
    };
    if !follow {
        print(&job);
        if !json {
            println!("{}", summary(&job));
        }
        return Ok(());
    }
    let bar = (!json).then(|| {
        let bar = ProgressBar::new(job["total"].as_u64().unwrap_or(0));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(job["kind"].as_str().unwrap_or("job").to_string());
        bar
    });
    let id = job["id"].as_str().unwrap_or("").to_string();
    loop {
        print(&job);
        if let Some(bar) = &bar {
            // Exalate learns its total as it pages: the bar grows with it.
            let done = job["done"].as_u64().unwrap_or(0);
            bar.set_length(job["total"].as_u64().unwrap_or(done).max(done));
            bar.set_position(done);
        }
        if job["status"] != "running" {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
                println!("{}", summary(&job));
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        job = admin.get(&format!("/api/jobs/{id}")).await?;
    }
}

/// One line: kind, status, progress, failures, rate.
fn summary(job: &Value) -> String {
    let total = job["total"]
        .as_u64()
        .map_or_else(|| "?".to_string(), |t| t.to_string());
    let mut line = format!(
        "{} job {}: {}, {}/{total} done, {} failed, {:.1}/s",
        job["kind"].as_str().unwrap_or("?"),
        job["id"].as_str().unwrap_or("?"),
        job["status"].as_str().unwrap_or("?"),
        job["done"],
        job["failed"],
        job["rate_per_s"].as_f64().unwrap_or(0.0)
    );
    for e in job["errors"].as_array().into_iter().flatten() {
        line.push_str(&format!("\n  {}", e.as_str().unwrap_or("")));
    }
    line
}

fn table(list: &Value) -> Table {
    let mut table = Table::new();
    table.set_header([
        "id",
        "connection",
        "kind",
        "status",
        "done",
        "total",
        "failed",
    ]);
    for j in list.as_array().into_iter().flatten() {
        table.add_row([
            j["id"].as_str().unwrap_or("").to_string(),
            j["connection_id"].as_str().unwrap_or("").to_string(),
            j["kind"].as_str().unwrap_or("").to_string(),
            j["status"].as_str().unwrap_or("").to_string(),
            j["done"].to_string(),
            j["total"].to_string(),
            j["failed"].to_string(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bulk_connect_reads_key_pairs_from_csv() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pairs.csv");
        let cases = [
            ("local,remote\nDEMO-1, SUPPORT-7\nDEMO-2,SUPPORT-9\n", Ok(2)),
            ("DEMO-1,SUPPORT-7\n", Ok(1)),
            ("DEMO-1\n", Err("local,remote")),
            ("DEMO-1,\n", Err("an empty key")),
        ];
        for (text, want) in cases {
            std::fs::write(&file, text).unwrap();
            match (pairs(&file), want) {
                (Ok(p), Ok(n)) => {
                    assert_eq!(p.len(), n, "{text}");
                    assert_eq!(p[0], ("DEMO-1".to_string(), "SUPPORT-7".to_string()));
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{text}: {e}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }
}
