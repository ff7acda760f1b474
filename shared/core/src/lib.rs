//! The domain of twinsync, in the seeds' words.
//!
//! This crate has no IO and no async runtime: everything here is a pure function of its
//! inputs, so the handlers in `twinsync-node` stay thin and the rules are testable in tables.

pub mod clock;
pub mod connection;
pub mod connector;
mod crossing;
pub mod diff;
pub mod item;
pub mod job;
pub mod marker;
pub mod matching;
pub mod merge;
pub mod message;
pub mod references;
pub mod removal;
mod sent_moves;
pub mod settle;
pub mod timeline;
pub mod trigger;
pub mod twin;
pub mod twin_lease;
pub mod twin_state;
pub mod version;
pub mod workspace;

pub use clock::{Clock, ManualClock, SystemClock};
pub use connection::{
    ConfigVersion, ConflictPolicy, ConflictSettings, Connection, ConnectionKind, ConnectionRoute,
    ConnectionStatus, FileChange, Link, NodeHelperMaps, RotationRecord, Secret, SyncPlan,
    VersionOrigin, VersionStatus,
};
pub use connector::ConnectorKind;
pub use diff::{DiffKind, FieldDiff, replica_diff, same_content};
pub use item::{Attachment, Comment, Item, ItemUpdate, Named, User, UserEntry};
pub use job::{Job, JobCursor, JobKind, JobPage, JobStatus};
pub use matching::MatchOn;
pub use merge::{
    Conflict, MergeContext, MergeOutcome, SentSeen, SinceSent, merge_items, shown_as_written,
};
pub use message::{
    AckMessage, ChangeEvent, ControlAnswer, ControlMessage, ControlOp, DEFAULT_MAX_TRANSPORT_BODY,
    DryRunReplica, DryRunRequest, DryRunResult, MAX_MAX_TRANSPORT_BODY, MIN_MAX_TRANSPORT_BODY,
    ReplicaMessage, TRANSPORT_BATCH_MAX, TransportMessage,
};
pub use removal::{Enrollment, RemovalPolicy, RemovalSettings};
pub use timeline::{RECENT_STEPS, TwinStep, timeline};
pub use trigger::{Filter, Trigger};
pub use twin::{
    ApplyAttempt, CommentLink, EarlierSend, KeySide, RelinkMade, SyncEvent, SyncEventKind, Twin,
    TwinStatus, ViewNotTaken,
};
pub use twin_lease::{ApplyFailure, ApplyHold, RETRY_HOLD_LEASES};
pub use twin_state::{Applied, SendsCounted};
pub use workspace::{
    Action, Admission, Integration, Role, ScopedToken, Subscription, Workspace, Workspaces,
};

/// Errors of the domain layer. None of them is retryable: they describe bad input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    #[error("invalid filter at column {column}: {message}")]
    Filter { column: usize, message: String },
    #[error("connection {connection} cannot go from {from:?} to {to:?}")]
    StatusTransition {
        connection: String,
        from: ConnectionStatus,
        to: ConnectionStatus,
    },
    #[error("version {0} cannot be changed: {1}")]
    Version(u32, &'static str),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl CoreError {
    /// Domain errors come from bad input, so retrying cannot help.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
