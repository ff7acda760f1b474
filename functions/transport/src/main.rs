//! The transport function: consumes the `transport` SQS FIFO queue (delivering replicas
//! and acks to the other node) and serves `/v1/transport` on its function URL.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_sqs_and_http(twinsync_lambda::queues::TRANSPORT).await
}
