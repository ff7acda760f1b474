//! Connections between nodes that do not share a process: invitation and handshake
//! ([`invite`]), the signed transport both ways ([`peer`]), private connections that pull
//! ([`pull`]), secret rotation ([`rotate`]) and Test Run's dry runs ([`dry_run`]), over what every request shares
//! ([`signed`]) and how bodies go on the wire ([`body`]).

pub mod body;
mod dry_run;
mod invite;
mod local;
mod peer;
mod pull;
mod rotate;
mod signed;

pub(crate) use body::wire_limit;
pub use dry_run::serve_dry_run;
pub use invite::{Handshake, LinkRequest, accept, invite, receive_handshake};
pub use local::{LocalRequest, create_local, mirror_id};
pub(crate) use peer::check_size;
pub use peer::{DeliveryAnswer, HttpPeer, Received, Refusal, receive_transport};
pub use pull::{
    PULL_ACK_PATH, PULL_PATH, PullAck, PullRequest, PulledMessage, pull_once, serve_pull,
    serve_pull_ack,
};
pub use rotate::{
    ROTATE_PATH, ROTATION_GRACE_MS, Rotation, RotationAnswer, finish_rotation, receive_rotation,
    rotate_secret,
};
pub use signed::{
    HANDSHAKE_PATH, LinkError, PRODUCT_VERSION, SignedAnswer, TRANSPORT_PATH, peer_refusal,
};
pub(crate) use signed::{header_pairs, signed_post};
