//! `twinsync-aws-console`: the operator API of a node deployed on AWS, served on the
//! operator's machine (see `twinsync_lambda::run_console`). `scripts/aws-console` sets
//! its environment from the stack's outputs.

use clap::Parser;

/// Serve the operator API of a twinsync node on AWS, on loopback.
#[derive(Parser)]
#[command(name = "twinsync-aws-console", version)]
struct Args {
    /// Address to serve the operator API on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: String,
}

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    let args = Args::parse();
    twinsync_lambda::run_console(&args.listen).await
}
