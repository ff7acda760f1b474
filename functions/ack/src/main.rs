//! The ack function: consumes the `ack` SQS FIFO queue with partial batch failures.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_sqs(twinsync_lambda::queues::ACK).await
}
