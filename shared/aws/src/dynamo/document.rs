//! A record's document: the JSON of a twin, a replica record, a connection, a cursor or
//! an event, in one attribute of its DynamoDB item.
//!
//! A write unit is 1 KB of item, so the document's size is most of what a write costs.
//! Three forms are read; the first two are written:
//! - `doc`: the JSON as text, for documents of up to [`COMPRESS_ABOVE`] bytes, which
//!   take one unit whatever their form;
//! - `docd`: a byte naming the dictionary, then the JSON deflated (raw, best compression)
//!   with that preset dictionary. Version 1 is `document-dictionary-v1.json`: blanked
//!   copies of a connection, a replica record and two twins from `twinsync demo`, so the
//!   keys and the shape of our documents cost a back-reference instead of their text. A
//!   demo twin of 970 bytes in `docz` takes 665 here, which keeps a twin with a few
//!   comments and its five near-copies of the item under one write unit;
//! - `docz`: the JSON gzip-compressed, as written before 2026-12-07.
//!
//! A dictionary never changes once written with: a new one is a new version byte, and the
//! old ones stay to read what they wrote (the fixture test below decodes a stored v1
//! document).

use super::{Attr, Record, get_s};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io::Read as _;
use twinsync_ports::{PortError, PortResult};

/// Documents up to this size are stored as text; larger ones compressed.
const COMPRESS_ABOVE: usize = 400;

/// The dictionary `docd` documents are written with, and its version byte.
const DICTIONARY_V1: &[u8] = include_bytes!("document-dictionary-v1.json");
const WRITTEN_VERSION: u8 = 1;

/// No document of ours inflates to more than this; a record that does is damaged.
const MAX_DOCUMENT: usize = 16 << 20;

fn unreadable(e: impl std::fmt::Display) -> PortError {
    PortError::Storage(format!("unreadable record: {e}"))
}

/// A record's document, in whichever form it was stored.
pub(crate) fn doc<T: serde::de::DeserializeOwned>(r: &Record) -> PortResult<T> {
    let json = match (r.get("docd"), r.get("docz")) {
        (Some(Attr::B(d)), _) => inflate(d).map_err(unreadable)?,
        (_, Some(Attr::B(z))) => {
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(z.as_slice())
                .read_to_end(&mut json)
                .map_err(unreadable)?;
            json
        }
        _ => {
            let body =
                get_s(r, "doc").ok_or_else(|| PortError::Storage("record without a doc".into()))?;
            return serde_json::from_str(body).map_err(unreadable);
        }
    };
    serde_json::from_slice(&json).map_err(unreadable)
}

/// Puts `v` into `record` as its document (see [`doc`]).
pub(crate) fn put_doc<T: serde::Serialize>(record: &mut Record, v: &T) -> PortResult<()> {
    let json = serde_json::to_vec(v).map_err(|e| PortError::Storage(e.to_string()))?;
    if json.len() <= COMPRESS_ABOVE {
        let text = String::from_utf8(json).map_err(|e| PortError::Storage(e.to_string()))?;
        record.insert("doc".into(), Attr::S(text));
        return Ok(());
    }
    let bytes =
        deflate(&json).map_err(|e| PortError::Storage(format!("cannot compress a record: {e}")))?;
    record.insert("docd".into(), Attr::B(bytes));
    Ok(())
}

/// The version byte, then `json` deflated with that version's dictionary.
fn deflate(json: &[u8]) -> Result<Vec<u8>, String> {
    let mut z = Compress::new(Compression::best(), false);
    z.set_dictionary(DICTIONARY_V1).map_err(|e| e.to_string())?;
    // Deflate's worst case is a few bytes per 16 KB block over its input.
    let mut out = Vec::with_capacity(json.len() + json.len() / 1_000 + 64);
    out.push(WRITTEN_VERSION);
    match z
        .compress_vec(json, &mut out, FlushCompress::Finish)
        .map_err(|e| e.to_string())?
    {
        Status::StreamEnd => Ok(out),
        status => Err(format!("deflate stopped early ({status:?})")),
    }
}

/// The JSON of a `docd` attribute.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let (version, stream) = bytes.split_first().ok_or("an empty docd")?;
    let dictionary = match version {
        1 => DICTIONARY_V1,
        v => {
            return Err(format!(
                "docd written with dictionary {v}, which this build lacks"
            ));
        }
    };
    let mut z = Decompress::new(false);
    z.set_dictionary(dictionary).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(stream.len() * 4);
    loop {
        let read = z.total_in() as usize;
        let status = z
            .decompress_vec(&stream[read..], &mut out, FlushDecompress::Finish)
            .map_err(|e| e.to_string())?;
        match status {
            Status::StreamEnd => return Ok(out),
            _ if out.len() >= MAX_DOCUMENT => return Err("a docd over 16 MB".into()),
            _ if z.total_in() as usize == stream.len() && out.len() < out.capacity() => {
                return Err("a docd that ends early".into());
            }
            _ => out.reserve(out.capacity().max(4_096)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::io::Write as _;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/aws/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn round_trip(v: &Value) -> (Record, Value) {
        let mut r = Record::new();
        put_doc(&mut r, v).unwrap();
        let back: Value = doc(&r).unwrap();
        (r, back)
    }

    #[test]
    fn documents_come_back_as_they_were_put_in_each_form() {
        let long = fixture("long-description.md");
        let cases = [
            ("small", json!({"id": "c1", "status": "active"}), "doc"),
            (
                "a demo twin",
                serde_json::from_str(&fixture("twin-document.json")).unwrap(),
                "docd",
            ),
            (
                "unicode",
                json!({"summary": "Überweisung schlägt fehl ✓ ".repeat(40)}),
                "docd",
            ),
            ("1.7 KB description", json!({"description": long}), "docd"),
            ("large", json!({"description": long.repeat(300)}), "docd"),
        ];
        for (what, v, form) in cases {
            let (r, back) = round_trip(&v);
            assert_eq!(back, v, "{what}");
            assert!(r.contains_key(form), "{what}: {:?}", r.keys());
            assert_eq!(r.len(), 1, "{what}: one attribute");
        }
    }

    #[test]
    fn the_dictionary_keeps_a_demo_twin_well_under_a_write_unit() {
        let twin: Value = serde_json::from_str(&fixture("twin-document.json")).unwrap();
        let json = serde_json::to_vec(&twin).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&json).unwrap();
        let gzip = gz.finish().unwrap().len();
        let (r, _) = round_trip(&twin);
        let Some(Attr::B(docd)) = r.get("docd") else {
            panic!("no docd")
        };
        // Measured 1,140 gzip and 830 docd bytes for this twin when the dictionary was made.
        assert!(
            docd.len() * 10 < gzip * 8,
            "docd {} vs gzip {gzip}",
            docd.len()
        );
        assert!(docd.len() < 900, "docd {}", docd.len());
    }

    #[test]
    fn a_document_written_with_dictionary_v1_still_reads() {
        let stored = std::fs::read(format!(
            "{}/../../tests/fixtures/aws/twin-document.docd-v1",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let r = Record::from([("docd".to_string(), Attr::B(stored))]);
        let twin: Value = doc(&r).unwrap();
        let expected: Value = serde_json::from_str(&fixture("twin-document.json")).unwrap();
        assert_eq!(twin, expected);
    }

    #[test]
    fn gzip_documents_written_before_the_dictionary_still_read() {
        let v = json!({"summary": "x".repeat(2_000)});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&serde_json::to_vec(&v).unwrap()).unwrap();
        let r = Record::from([("docz".to_string(), Attr::B(gz.finish().unwrap()))]);
        assert_eq!(doc::<Value>(&r).unwrap(), v);
    }

    #[test]
    fn damaged_documents_are_refused_with_a_reason() {
        let (mut r, _) = round_trip(&json!({"description": "y".repeat(3_000)}));
        let Some(Attr::B(good)) = r.remove("docd") else {
            panic!("no docd")
        };
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("empty", vec![], "an empty docd"),
            (
                "unknown dictionary",
                [&[9u8][..], &good[1..]].concat(),
                "dictionary 9",
            ),
            ("cut short", good[..good.len() / 2].to_vec(), "ends early"),
            (
                "not deflate",
                vec![1, 0xff, 0xff, 0xff, 0xff],
                "unreadable record",
            ),
        ];
        for (what, bytes, says) in cases {
            let r = Record::from([("docd".to_string(), Attr::B(bytes))]);
            let e = doc::<Value>(&r).unwrap_err().to_string();
            assert!(e.contains(says), "{what}: {e}");
        }
        assert!(
            doc::<Value>(&Record::new())
                .unwrap_err()
                .to_string()
                .contains("without a doc")
        );
    }
}
