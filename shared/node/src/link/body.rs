//! Node-to-node bodies on the wire: large ones travel gzip-compressed, and every body is
//! held to the receiving node's limit after decompression, so a small compressed body
//! cannot expand into a large one (a "zip bomb").

use super::signed::LinkError;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// Bodies above this are compressed: below it the saving is not worth the CPU.
pub const COMPRESS_OVER: usize = 64 << 10;

/// The most a body of `limit` bytes may take on the wire: gzip's stored blocks add a few
/// bytes per 64 KiB to data that does not compress.
pub fn wire_limit(limit: u64) -> u64 {
    limit + limit / 1024 + 1024
}

/// `json` as it goes on the wire, with its `Content-Encoding` when compressed.
pub fn encode(json: Vec<u8>) -> (Vec<u8>, Option<&'static str>) {
    if json.len() <= COMPRESS_OVER {
        return (json, None);
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    // Writing to a Vec cannot fail; should it, the body goes as it is.
    match gz.write_all(&json).and_then(|()| gz.finish()) {
        Ok(packed) if packed.len() < json.len() => (packed, Some("gzip")),
        _ => (json, None),
    }
}

/// The body a request carried, decompressed as its `Content-Encoding` says, and refused
/// when it is (or expands to) more than `limit` bytes.
pub fn decode(headers: &[(String, String)], wire: &[u8], limit: u64) -> Result<Vec<u8>, LinkError> {
    let encoding = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => {
            if wire.len() as u64 > limit {
                return Err(LinkError::TooLarge(limit));
            }
            Ok(wire.to_vec())
        }
        Some("gzip") => {
            let mut out = Vec::new();
            // One byte past the limit is enough to know it is over.
            GzDecoder::new(wire)
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| LinkError::Malformed(format!("gzip body: {e}")))?;
            if out.len() as u64 > limit {
                return Err(LinkError::TooLarge(limit));
            }
            Ok(out)
        }
        Some(other) => Err(LinkError::Malformed(format!(
            "unsupported Content-Encoding {other:?} (gzip or none)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn gz_header() -> Vec<(String, String)> {
        vec![("Content-Encoding".into(), "gzip".into())]
    }

    #[test]
    fn bodies_round_trip_and_small_ones_stay_plain() {
        let small = b"{\"a\":1}".to_vec();
        assert_eq!(encode(small.clone()), (small.clone(), None));
        assert_eq!(decode(&[], &small, 100).unwrap(), small);

        let text = "the quick brown fox ".repeat(20_000).into_bytes();
        let (wire, encoding) = encode(text.clone());
        assert_eq!(encoding, Some("gzip"));
        assert!(wire.len() < text.len() / 10, "{}", wire.len());
        assert_eq!(decode(&gz_header(), &wire, 1 << 20).unwrap(), text);
    }

    type Case<'a> = (&'a [(String, String)], &'a [u8], u64, Option<&'a str>);

    #[test]
    fn limits_hold_before_and_after_decompression() {
        let text = vec![b'x'; 2 << 20];
        let (wire, _) = encode(text.clone());
        assert!(wire.len() < 64 << 10, "a bomb: small on the wire");
        let cases: [Case; 5] = [
            (&gz_header(), &wire, 1 << 20, Some("over 1048576")),
            (&gz_header(), &wire, 2 << 20, None),
            (&[], &text, 1 << 20, Some("over 1048576")),
            (&gz_header(), b"not gzip", 1 << 20, Some("gzip body")),
            (
                &[("content-encoding".into(), "br".into())],
                b"x",
                10,
                Some("unsupported"),
            ),
        ];
        for (headers, body, limit, refused) in cases {
            match (decode(headers, body, limit), refused) {
                (Ok(out), None) => assert_eq!(out.len(), text.len()),
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{e}"),
                (got, want) => panic!("{:?} / {want:?}", got.map(|b| b.len())),
            }
        }
    }

    #[test]
    fn incompressible_bodies_fit_the_wire_limit() {
        // Bytes that gzip cannot shrink go as they are.
        let mut noise = Vec::with_capacity(200_000);
        let mut x: u32 = 12345;
        for _ in 0..200_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            noise.push((x >> 16) as u8);
        }
        let (wire, encoding) = encode(noise.clone());
        assert!(wire.len() as u64 <= wire_limit(noise.len() as u64));
        if encoding.is_none() {
            assert_eq!(wire, noise);
        }
    }
}
