//! The node config a function reads at cold start: the JSON `twinsync check --json` writes,
//! and a clear refusal for anything else (a TOML file stored as it is, another node's
//! config, a config that does not pass the checks).

use twinsync_lambda::node_section;
use twinsync_node::config::ProcessConfig;

const TOML: &str = "[[node]]\nid = \"node-a\"\ndata_dir = \"unused-on-aws\"\n\n\
    [[node.instance]]\nid = \"jira\"\nconnector = \"sandbox\"\n\
    base_url = \"https://sandbox.example\"\nwebhook_secret = \"s3cret-s3cret-s3cret\"\n";

#[test]
fn a_function_reads_the_config_as_json_only() {
    let (_, json) = ProcessConfig::parse_to_json(TOML, "node.toml").unwrap();
    let section = node_section(&json, "node-a").unwrap();
    assert_eq!(section.id, "node-a");
    assert_eq!(section.instance.len(), 1);

    // The text stored, the node asked for, what the error must say.
    let refused: [(&str, &str, &str); 5] = [
        (
            TOML,
            "node-a",
            "not JSON: store the JSON that `twinsync check",
        ),
        (&json, "node-b", "has no [[node]] node-b"),
        ("{\"node\": []}", "node-a", "at least one [[node]]"),
        (
            "{\"node\": [{\"id\": 7}]}",
            "node-a",
            "invalid type: integer `7`",
        ),
        ("{\"nodes\": []}", "node-a", "unknown field `nodes`"),
    ];
    for (text, node, wants) in refused {
        let e = node_section(text, node).unwrap_err().to_string();
        assert!(e.contains(wants), "{text:?}: {e:?} lacks {wants:?}");
    }
}
