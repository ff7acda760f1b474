//! The ack function: consumes the `ack` SQS FIFO queue with partial batch failures.
//! Run by name where each handler needs its own binary (`cargo lambda watch`); a
//! deployment runs the one artifact, `functions/src/main.rs`, with Handler `ack`.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run(twinsync_lambda::Handler::Ack).await
}
