//! The ingest function: tracker webhooks on a function URL, verified and sent to the
//! `outgoing` queue.
//! Run by name where each handler needs its own binary (`cargo lambda watch`); a
//! deployment runs the one artifact, `functions/src/main.rs`, with Handler `ingest`.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run(twinsync_lambda::Handler::Ingest).await
}
