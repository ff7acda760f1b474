//! ADF ↔ Markdown against fixture documents (`tests/fixtures/jira/adf/*.json`): each has
//! an ADF document shaped like Atlassian's documented examples and the Markdown it must
//! become; `lossless` ones must also come back from that Markdown unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use twinsync_jira::adf;

fn fixtures() -> Vec<(String, Value)> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures/jira/adf");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 4, "fixtures missing in {}", dir.display());
    out
}

#[test]
fn adf_becomes_the_expected_markdown() {
    for (name, f) in fixtures() {
        let md = adf::to_markdown(&f["adf"]);
        assert_eq!(md, f["markdown"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn lossless_documents_round_trip() {
    for (name, f) in fixtures() {
        let md = f["markdown"].as_str().unwrap();
        let back = adf::from_markdown(md);
        // Markdown → ADF → Markdown is a fixed point for every fixture.
        assert_eq!(adf::to_markdown(&back), md, "{name}: markdown round trip");
        if f["lossless"] == true {
            assert_eq!(back, f["adf"], "{name}: ADF round trip");
        }
    }
}

#[test]
fn markdown_the_domain_writes_becomes_valid_adf() {
    let table = [
        ("", 0),
        ("plain", 1),
        (
            "## Steps\n\n1. Add item 1 to the cart\n2. Pay with **card**\n\n`HTTP 502` from `/pay`.",
            3,
        ),
        ("- tight\n- list", 1),
        ("> quote\n\ntext", 2),
    ];
    for (md, blocks) in table {
        let doc = adf::from_markdown(md);
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
        let content = doc["content"].as_array().unwrap();
        assert_eq!(content.len(), blocks, "{md:?}: {doc}");
        // Inline content never sits directly under a block that only takes blocks.
        fn check(v: &Value) {
            let kind = v["type"].as_str().unwrap_or("");
            for c in v["content"].as_array().into_iter().flatten() {
                if ["doc", "listItem", "blockquote", "tableCell", "tableHeader"].contains(&kind) {
                    assert!(
                        !["text", "hardBreak", "mention"]
                            .contains(&c["type"].as_str().unwrap_or("")),
                        "inline {c} under {kind}"
                    );
                }
                check(c);
            }
        }
        check(&doc);
        assert_eq!(
            adf::to_markdown(&adf::from_markdown(&adf::to_markdown(&doc))),
            adf::to_markdown(&doc)
        );
    }
    assert_eq!(
        adf::plain_text(&adf::from_markdown("**Bold** text\n\nnext")),
        "Bold text\nnext"
    );
}
