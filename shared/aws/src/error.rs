//! The crate's error: what went wrong with an AWS call, and whether trying again can help.

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

    /// Classifies a service error by its code; an answer without one (a dispatch
    /// failure, a timeout, a 5xx without a body) is the service being unavailable.
    pub fn from_code(what: impl Into<String>, code: &str, detail: String) -> Self {
        let what = what.into();
        let code = code.to_string();
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
                refused: twinsync_ports::Refusal::Whole,
            },
            AwsError::Unavailable { .. } => PortError::Unavailable(e.to_string()),
            AwsError::Conflict { what } => PortError::Conflict(what),
            AwsError::Rejected { .. } | AwsError::Config(_) => PortError::Rejected(e.to_string()),
        }
    }
}
