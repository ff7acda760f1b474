//! The replica/ack decoder: any body on `/v1/transport` (or pulled from a public node)
//! decodes as a transport message or is refused, never a panic; a message that decodes
//! encodes again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_core::TransportMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = serde_json::from_slice::<TransportMessage>(data) else {
        return;
    };
    let _ = (
        message.group_id(),
        message.dedup_id(),
        message.connection_id(),
    );
    let json = serde_json::to_vec(&message).expect("a decoded message encodes");
    let again: TransportMessage =
        serde_json::from_slice(&json).expect("an encoded message decodes");
    assert_eq!(again, message);
    assert_eq!(again.dedup_id(), message.dedup_id());
});
