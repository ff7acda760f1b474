//! `twinsync-aws-console`: the operator API of a node deployed on AWS, served on the
//! operator's machine (see `twinsync_lambda::run_console`). `scripts/aws-console` sets
//! its environment from the stack's outputs.

use clap::Parser;
use std::path::PathBuf;

/// Serve the operator API of a twinsync node on AWS, on loopback, behind an admin token.
#[derive(Parser)]
#[command(name = "twinsync-aws-console", version)]
struct Args {
    /// Address to serve the operator API on (loopback unless the node's config has
    /// admin_allow_remote = true).
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: String,
    /// Where the admin token (mode 0600, made at the first start) and the admin URL are
    /// kept; `TWINSYNC_ADMIN_TOKEN` gives the token instead.
    #[arg(long, default_value = ".twinsync/console")]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    let args = Args::parse();
    twinsync_lambda::run_console(&twinsync_lambda::ConsoleOptions {
        listen: args.listen,
        data_dir: args.data_dir,
    })
    .await
}
