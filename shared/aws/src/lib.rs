//! AWS implementations of the ports: SQS FIFO queues (`SqsQueue`), DynamoDB twin and
//! connection stores (`DynamoTwinStore`, `DynamoConnectionStore`), S3 for message bodies
//! over SQS's limit (`PayloadStore`) and the node's configuration from an SSM SecureString.
//! Handlers see only the ports; the Lambda functions build a node from these.

pub mod capacity;
pub mod cost;
pub mod count;
pub mod dynamo;
pub mod env;
pub mod error;
#[cfg(feature = "credential-chain")]
pub mod http;
pub mod json;
pub mod payload;
pub mod signed;
pub mod sqs;

pub use count::OperationCounter;
pub use dynamo::{DynamoConnectionStore, DynamoTwinStore};
pub use error::AwsError;
pub use payload::PayloadStore;
pub use sqs::SqsQueue;
