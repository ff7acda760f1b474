//! The one artifact of the six Lambda functions: each function runs the handler its
//! `Handler` property names (ingest, outgoing, transport, incoming, ack, scheduler).

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_from_env().await
}
