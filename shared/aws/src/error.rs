//! The crate's error: what went wrong with an AWS call, and whether trying again can help.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use twinsync_ports::PortError;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AwsError {
    /// The service asked us to slow down.
    #[error("{what}: throttled ({code})")]
    Throttled { what: String, code: String },
    /// The service could not be reached, timed out or failed on its side.
    #[error("{what}: unavailable: {detail}")]
    Unavailable { what: String, detail: String },
    /// A conditional write lost a race.
    #[error("{what}: condition failed")]
    Conflict { what: String },
    /// The service refused the request for good (validation, permission, a missing queue).
    #[error("{what}: refused ({code}): {detail}")]
    Rejected {
        what: String,
        code: String,
        detail: String,
    },
    /// Configuration that cannot work: a missing variable, a malformed record.
    #[error("{0}")]
    Config(String),
}

impl AwsError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AwsError::Throttled { .. } | AwsError::Unavailable { .. } | AwsError::Conflict { .. }
        )
    }

    /// Classifies an SDK error by its service code; anything without one (a dispatch
    /// failure, a timeout, a 5xx) is the service being unavailable.
    pub fn from_sdk<E, R>(
        what: impl Into<String>,
        e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let what = what.into();
        let code = e.code().unwrap_or_default().to_string();
        let detail = e.message().map(str::to_string).unwrap_or_else(|| {
            format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(e)
            )
        });
        match code.as_str() {
            "" => AwsError::Unavailable { what, detail },
            "ThrottlingException"
            | "Throttling"
            | "RequestThrottled"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "AWS.SimpleQueueService.RequestThrottled"
            | "SlowDown" => AwsError::Throttled { what, code },
            "ConditionalCheckFailedException" => AwsError::Conflict { what },
            "TransactionCanceledException" if detail.contains("ConditionalCheckFailed") => {
                AwsError::Conflict { what }
            }
            "TransactionCanceledException"
            | "TransactionConflictException"
            | "InternalServerError"
            | "InternalError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "AWS.SimpleQueueService.InternalError"
            // A drained held queue was deleted less than a minute ago: SQS lets its name
            // be used again after 60 seconds.
            | "AWS.SimpleQueueService.QueueDeletedRecently"
            | "QueueDeletedRecently" => AwsError::Unavailable { what, detail },
            _ => AwsError::Rejected { what, code, detail },
        }
    }
}

impl AwsError {
    /// The queue named by a request does not exist (any more).
    pub fn is_missing_queue(&self) -> bool {
        matches!(self, AwsError::Rejected { code, .. }
            if code == "AWS.SimpleQueueService.NonExistentQueue" || code == "QueueDoesNotExist")
    }
}

impl From<AwsError> for PortError {
    fn from(e: AwsError) -> Self {
        match e {
            // SQS and DynamoDB back off for about a second; the SDK has retried already.
            AwsError::Throttled { .. } => PortError::RateLimited {
                retry_after_ms: 1_000,
            },
            AwsError::Unavailable { .. } => PortError::Unavailable(e.to_string()),
            AwsError::Conflict { what } => PortError::Conflict(what),
            AwsError::Rejected { .. } | AwsError::Config(_) => PortError::Rejected(e.to_string()),
        }
    }
}
