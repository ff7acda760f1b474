//! The `twinsync` command.

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twinsync_cli::{admin, bulk_bench, demo, dev_ca, latency, rate, resume, rules_test};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::admin::{AdminToken, TOKEN_ENV};
use twinsync_node::config::ProcessConfig;

/// The embedded node allocates and frees small buffers by the million (JSON, SQL rows,
/// HTTP bodies) from several worker threads: with mimalloc, Bulk Exalate of 10,000 items
/// went from 469 to 553 items/s at about the same peak RSS (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "twinsync",
    version,
    about = "Two-way sync between issue trackers"
)]
struct Cli {
    /// Log level filter (e.g. info, debug, twinsync_node=debug).
    #[arg(long, global = true, env = "TWINSYNC_LOG", default_value = "warn")]
    log: String,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a real two-way sync between two sandbox trackers in this process and show it.
    Demo(demo::DemoArgs),
    /// Time one change at a time through two local nodes: webhook received -> twin
    /// written, p50 and p99 (scripts/bench runs it).
    Latency(latency::LatencyArgs),
    /// Pause a local connection, hold ITEMS x ROUNDS changes, resume it and time the
    /// drain; every twin must end on its last edit (scripts/bench runs it).
    ResumeBench(resume::ResumeArgs),
    /// Sync ITEMS items into a sandbox that allows so many requests a minute and report
    /// the share of that budget used and any 429 that became a failure (scripts/bench).
    RateBench(rate::RateArgs),
    /// Create ITEMS items in sandbox A outside live sync, Bulk Exalate them and time it
    /// until every item has its twin in B (scripts/bench runs it).
    BulkBench(bulk_bench::BulkArgs),
    /// Run the nodes (and sandbox trackers) described by a config file until Ctrl-C.
    Up {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the sandbox tracker alone.
    Sandbox {
        #[arg(long, default_value_t = 7800)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// SQLite file; in memory when absent.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Require `Authorization: Bearer TOKEN`.
        #[arg(long, env = "TWINSYNC_SANDBOX_TOKEN")]
        token: Option<String>,
    },
    /// Write a CA and a certificate for 127.0.0.1 and localhost, to try nodes over HTTPS
    /// on one machine.
    DevCa(dev_ca::DevCaArgs),
    /// Sync rules: `rules test DIR` runs them on fixture cases (CI tests for rules).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Check a config file and say what is wrong, with key and line.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// Also write the checked config as JSON to this file (`-` for stdout), the form
        /// the Lambda functions read from their SSM parameter.
        #[arg(long, value_name = "OUT")]
        json: Option<PathBuf>,
    },
    /// Talk to a running node's admin API.
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Run rules on the cases of a folder (`*.json`: an item and the replica expected,
    /// or a replica and the item expected); exit 1 when one fails.
    Test(rules_test::RulesTestArgs),
}

fn init_tracing(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `twinsync check`: the config's checks, then its JSON where `json` names a file. The
/// JSON goes to a temporary file first, so a failed write leaves no half of it.
fn check(config: &std::path::Path, json: Option<&std::path::Path>) -> Result<ExitCode, String> {
    let text = ProcessConfig::read(config).map_err(|e| e.to_string())?;
    let name = config.display().to_string();
    // The JSON, with where it goes, only when asked for.
    let (checked, written) = match json {
        Some(out) => ProcessConfig::parse_to_json(&text, &name).map(|(c, j)| (c, Some((out, j)))),
        None => ProcessConfig::parse(&text, &name).map(|c| (c, None)),
    }
    .map_err(|e| e.to_string())?;
    let summary = format!(
        "{name}: ok ({} node(s), {} sandbox(es))",
        checked.node.len(),
        checked.sandbox.len()
    );
    let Some((out, converted)) = written else {
        println!("{summary}");
        return Ok(ExitCode::SUCCESS);
    };
    if out == std::path::Path::new("-") {
        println!("{converted}");
        eprintln!("{summary}");
        return Ok(ExitCode::SUCCESS);
    }
    let partial = out.with_extension("json.partial");
    std::fs::write(&partial, format!("{converted}\n"))
        .and_then(|()| std::fs::rename(&partial, out))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            format!("cannot write {}: {e}", out.display())
        })?;
    println!("{summary}; JSON written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_json);
    let result = match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Latency(args) => latency::run(args).await,
        Command::ResumeBench(args) => resume::run(args).await,
        Command::RateBench(args) => rate::run(args).await,
        Command::BulkBench(args) => bulk_bench::run(args).await,
        Command::Up { config } => up(config).await,
        Command::Sandbox {
            port,
            host,
            db,
            token,
        } => sandbox(&host, port, db, token).await,
        Command::Rules(RulesCommand::Test(args)) => rules_test::run(&args),
        Command::Check { config, json } => check(&config, json.as_deref()),
        Command::DevCa(args) => dev_ca::run(&args).map(|paths| {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }),
        Command::Admin(cmd) => admin::run(cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn up(config_path: PathBuf) -> Result<ExitCode, String> {
    let config = ProcessConfig::load(&config_path).map_err(|e| e.to_string())?;
    let base_dir = config_path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let admin_token = admin_token_from_env()?;
    let process = Process::start(
        &config,
        &base_dir,
        ProcessOptions {
            admin_token,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    for (id, url) in &process.sandbox_urls {
        println!("sandbox {id}: {url}");
    }
    print_nodes(&config, &base_dir, &process);
    println!("running; Ctrl-C stops");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    process.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// One token for every node of the process when the environment gives it; else each
/// node keeps its own in its data dir.
fn admin_token_from_env() -> Result<Option<AdminToken>, String> {
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.is_empty() => AdminToken::parse(&t)
            .map(Some)
            .map_err(|e| format!("{}: {e}", TOKEN_ENV)),
        _ => Ok(None),
    }
}

/// Each node's public and admin URLs, where its token is, and how to open its monitor.
fn print_nodes(config: &ProcessConfig, base_dir: &Path, process: &Process) {
    for section in &config.node {
        let id = &section.id;
        let (Some(url), Some(endpoint)) = (process.node_urls.get(id), process.admin.get(id)) else {
            continue;
        };
        let token = match &endpoint.token_file {
            Some(file) => format!("token in {}", file.display()),
            None => format!("token from {}", TOKEN_ENV),
        };
        println!("node {id}: public {url}; admin {} ({token})", endpoint.url);
        let data_dir = base_dir.join(&section.data_dir);
        println!(
            "  monitor: `twinsync monitor --data-dir {}` prints its link",
            data_dir.display()
        );
    }
}

async fn sandbox(
    host: &str,
    port: u16,
    db: Option<PathBuf>,
    token: Option<String>,
) -> Result<ExitCode, String> {
    let running = twinsync_fakes::sandbox::spawn(
        &format!("{host}:{port}"),
        twinsync_fakes::sandbox::SandboxServerConfig {
            db_path: db,
            token,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    println!("sandbox tracker on {}; Ctrl-C stops", running.base_url);
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    running.stop().await;
    Ok(ExitCode::SUCCESS)
}
