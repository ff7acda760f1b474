//! ADF ↔ Markdown against fixture documents (`tests/fixtures/jira/adf/*.json`): each has
//! an ADF document shaped like Atlassian's documented examples and the Markdown it must
//! become; `lossless` ones must also come back from that Markdown unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
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
        let back = adf::from_markdown(md).unwrap();
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
        let doc = adf::from_markdown(md).unwrap();
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
            adf::to_markdown(&adf::from_markdown(&adf::to_markdown(&doc)).unwrap()),
            adf::to_markdown(&doc)
        );
    }
    assert_eq!(
        adf::plain_text(&adf::from_markdown("**Bold** text\n\nnext").unwrap()),
        "Bold text\nnext"
    );
}

/// The deepest quote nesting of a Markdown text (`>` markers at a line's start).
fn quote_depth(markdown: &str) -> usize {
    markdown
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_whitespace())
                .take_while(|c| *c == '>')
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Markdown nested deeper than `adf::MAX_DEPTH` is refused with a clear error (Jira
/// could not take it either); shallower text converts. Never a stack overflow.
#[test]
fn markdown_nested_too_deep_is_refused() {
    let lists = |levels: usize| {
        (0..levels)
            .map(|i| format!("{}- level {i}", "  ".repeat(i)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // (what, markdown, refused)
    let table = [
        ("quotes at 20", format!("{}deep", "> ".repeat(20)), false),
        ("lists at 10", lists(10), false),
        (
            "quotes at 100,000",
            format!("{}deep", "> ".repeat(100_000)),
            true,
        ),
        ("lists at 200", lists(200), true),
        // Emphasis and brackets are marks and text, not nesting.
        ("stars", "*".repeat(100_000), false),
        ("brackets", "[".repeat(100_000), false),
    ];
    for (what, markdown, refused) in table {
        match adf::from_markdown(&markdown) {
            Ok(doc) => {
                assert!(!refused, "{what}: converted");
                assert!(!adf::to_markdown(&doc).is_empty(), "{what}");
            }
            Err(e) => {
                assert!(refused, "{what}: {e}");
                let message = e.to_string();
                assert!(
                    message.contains("too deep for a Jira document")
                        && message.contains(&format!("more than {} levels", adf::MAX_DEPTH)),
                    "{what}: {message}"
                );
            }
        }
    }
}

/// ADF nested deeper than `adf::MAX_DEPTH` (a document from Jira, or built in code)
/// becomes Markdown whose deepest part is flattened to its text: every word is kept,
/// the nesting stops at the limit.
#[test]
fn adf_nested_too_deep_is_flattened_to_text() {
    let quotes = |levels: usize| {
        let mut v = json!({"type": "paragraph", "content": [{"type": "text", "text": "bottom"}]});
        for _ in 0..levels {
            v = json!({"type": "blockquote", "content": [v]});
        }
        json!({"type": "doc", "version": 1, "content": [v]})
    };
    // (what, levels of quotes, quote depth of the Markdown)
    let table = [
        ("shallow", 3, 3),
        ("at the limit", adf::MAX_DEPTH - 2, adf::MAX_DEPTH - 2),
        ("past the limit", 200, adf::MAX_DEPTH - 1),
        ("far past the limit", 400, adf::MAX_DEPTH - 1),
    ];
    for (what, levels, depth) in table {
        let markdown = adf::to_markdown(&quotes(levels));
        assert!(markdown.contains("bottom"), "{what}: {markdown}");
        assert_eq!(quote_depth(&markdown), depth, "{what}");
        assert_eq!(adf::plain_text(&quotes(levels)), "bottom", "{what}");
    }

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../tests/fixtures/jira/adf-deep/lists-28.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let markdown = adf::to_markdown(&fixture["adf"]);
    for text in fixture["contains"].as_array().unwrap() {
        assert!(
            markdown.contains(text.as_str().unwrap()),
            "{text}: {markdown}"
        );
    }
}

/// Found by fuzzing (`fuzz/fuzz_targets/adf_from_markdown.rs`): the parser splits one run
/// of text at an entity or an escape, and two nodes with the same marks came back as two
/// emphasised pieces (`*i&*` became `*i*_&amp;_`), so the Markdown changed on every trip.
#[test]
fn text_the_parser_splits_is_one_node() {
    assert_eq!(
        adf::from_markdown("*i&*").unwrap()["content"][0]["content"],
        json!([{"type": "text", "text": "i&", "marks": [{"type": "em"}]}])
    );
    for md in [
        "*i&*",
        "**Tom &amp; Jerry** \\*not emphasis\\*",
        "a &copy; b `c` d",
    ] {
        let once = adf::to_markdown(&adf::from_markdown(md).unwrap());
        let twice = adf::to_markdown(&adf::from_markdown(&once).unwrap());
        assert_eq!(twice, once, "{md:?}");
    }
}
