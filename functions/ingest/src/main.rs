//! The ingest function: tracker webhooks on a function URL, verified and sent to the
//! `outgoing` queue.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_http("ingest").await
}
