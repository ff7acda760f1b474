//! The incoming function: consumes the `incoming` SQS FIFO queue with partial batch failures.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_sqs(twinsync_lambda::queues::INCOMING).await
}
