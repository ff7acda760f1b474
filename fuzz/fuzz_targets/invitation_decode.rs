//! Any string given as an invitation code decodes or is refused; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(code) = std::str::from_utf8(data) {
        let _ = twinsync_security::Invitation::decode(code, 0);
    }
});
