//! The transport function: consumes the `transport` SQS FIFO queue (delivering replicas
//! and acks to the other node) and serves `/v1/transport` on its function URL.
//! Run by name where each handler needs its own binary (`cargo lambda watch`); a
//! deployment runs the one artifact, `functions/src/main.rs`, with Handler `transport`.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run(twinsync_lambda::Handler::Transport).await
}
