//! Node-to-node bodies on the wire: any body and `Content-Encoding` decode to at most the
//! limit or are refused (a small gzip body never expands past the limit), and a body
//! gzipped by the sender decodes to itself.
#![no_main]

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use twinsync_node::link::body::decode;

fuzz_target!(|data: &[u8]| {
    let Some((&first, wire)) = data.split_first() else {
        return;
    };
    // The first byte picks the limit (up to 64 KiB) and the encoding.
    let limit = u64::from(first & 0x3f) * 1024 + 1;
    let encoding = match first >> 6 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("identity"),
        _ => Some(" GZip "),
    };
    let headers: Vec<(String, String)> = encoding
        .map(|e| vec![("Content-Encoding".to_string(), e.to_string())])
        .unwrap_or_default();
    if let Ok(body) = decode(&headers, wire, limit) {
        assert!(
            body.len() as u64 <= limit,
            "{} bytes past a limit of {limit}",
            body.len()
        );
    }

    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(wire).expect("writing to a Vec");
    let packed = gz.finish().expect("writing to a Vec");
    let gzip = vec![("content-encoding".to_string(), "gzip".to_string())];
    match decode(&gzip, &packed, limit) {
        Ok(body) => assert_eq!(body, wire),
        Err(e) => assert!(wire.len() as u64 > limit, "{e}"),
    }
});
