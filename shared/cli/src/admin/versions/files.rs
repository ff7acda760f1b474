//! Version files: a version exported as TOML or JSON, a directory of them imported, and
//! a file read into the admin API's request.

use super::Format;
use crate::admin::client::Target;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

/// The keys of a version file, as the admin API takes them.
const CONFIG_KEYS: [&str; 10] = [
    "outgoing",
    "incoming",
    "helper_maps",
    "conflicts",
    "triggers",
    "plans",
    "live",
    "rewrite_references",
    "removals",
    "note",
];

/// A version of `connection` as a version file.
pub(super) fn export(
    connection: &Value,
    number: Option<u32>,
    format: Format,
) -> Result<String, String> {
    let versions = connection["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let version = versions
        .iter()
        .find(|v| match number {
            Some(n) => v["number"] == json!(n),
            None => v["status"] == "Active",
        })
        .ok_or_else(|| match number {
            Some(n) => format!("no version {n}"),
            None => "no active version".to_string(),
        })?;
    let mut file = serde_json::Map::new();
    for key in CONFIG_KEYS {
        if let Some(v) = version.get(key) {
            file.insert(key.to_string(), v.clone());
        }
    }
    match format {
        Format::Json => serde_json::to_string_pretty(&file)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Toml => toml::to_string_pretty(&file).map_err(|e| e.to_string()),
    }
}

/// Writes every version of `connection` into `dir` as `version-NNN.toml` (or `.json`).
pub(super) fn export_dir(
    connection: &Value,
    dir: &Path,
    format: Format,
) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ext = match format {
        Format::Toml => "toml",
        Format::Json => "json",
    };
    let mut written = Vec::new();
    for v in connection["versions"].as_array().into_iter().flatten() {
        let Some(n) = v["number"].as_u64().and_then(|n| u32::try_from(n).ok()) else {
            continue;
        };
        let mut text = export(connection, Some(n), format)?;
        if let (Format::Toml, Some(note)) = (format, v["note"].as_str()) {
            // The note and status travel as a comment: a file saved again is a new draft.
            let status = v["status"].as_str().unwrap_or("");
            text = format!("# version {n} ({status}): {note}\n{text}");
        }
        let path = dir.join(format!("version-{n:03}.{ext}"));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Saves each version file of `dir` (name order) as a draft unless a version of the
/// connection already has its configuration.
pub(super) async fn import_dir(node: &Target, id: &str, dir: &Path) -> Result<Vec<String>, String> {
    let admin = node.resolve()?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let body = read_version_file(&file)?;
        let connection = admin.get(&format!("/api/connections/{id}")).await?;
        let versions = connection["versions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(same) = versions.iter().find(|v| same_config(&body, v)) {
            out.push(format!(
                "{}: the same as version {}; skipped",
                file.display(),
                same["number"]
            ));
            continue;
        }
        let r = admin
            .send(
                Method::POST,
                &format!("/api/connections/{id}/versions"),
                body,
            )
            .await?;
        out.push(format!(
            "{}: saved as draft {}",
            file.display(),
            r["version"]
        ));
    }
    Ok(out)
}

/// Whether a version file says what a stored version has (the keys it names).
pub(super) fn same_config(file: &Value, version: &Value) -> bool {
    CONFIG_KEYS
        .iter()
        .filter(|k| **k != "note")
        .filter_map(|k| file.get(*k).map(|v| (k, v)))
        .all(|(k, v)| version.get(*k) == Some(v))
}

/// Reads a version file into the admin API's request: TOML or JSON by the name, the
/// scripts named by `outgoing_file` / `incoming_file` read in.
pub fn read_version_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json_file = path.extension().is_some_and(|e| e == "json");
    let mut value: Value = if json_file {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let obj = value
        .as_object_mut()
        .ok_or_else(|| format!("{}: a version file is a table of keys", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for script in ["outgoing", "incoming"] {
        let key = format!("{script}_file");
        if let Some(file) = obj.remove(&key) {
            let name = file
                .as_str()
                .ok_or_else(|| format!("{}: {key} must be a path", path.display()))?;
            let full = dir.join(name);
            let body = std::fs::read_to_string(&full)
                .map_err(|e| format!("{}: {key}: {}: {e}", path.display(), full.display()))?;
            obj.insert(script.to_string(), json!(body));
        }
    }
    if let Some(unknown) = obj.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "{}: unknown key {unknown:?}; a version file has {}, outgoing_file, incoming_file",
            path.display(),
            CONFIG_KEYS.join(", ")
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn version_files_read_as_toml_or_json_with_script_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("out.rhai"),
            "replica.summary = issue.summary;",
        )
        .unwrap();
        let toml_file = dir.path().join("v.toml");
        std::fs::write(
            &toml_file,
            r#"
note = "map To Do"
outgoing_file = "out.rhai"
[helper_maps.statuses]
"To Do" = "Open"
[conflicts]
default = { policy = "remote_wins" }
[[triggers]]
query = "labels = sync"
[[plans]]
cron = "0 */15 * * * *"
"#,
        )
        .unwrap();
        let v = read_version_file(&toml_file).unwrap();
        assert_eq!(v["outgoing"], "replica.summary = issue.summary;");
        assert_eq!(v["helper_maps"]["statuses"]["To Do"], "Open");
        assert_eq!(v["conflicts"]["default"]["policy"], "remote_wins");
        assert_eq!(v["triggers"][0]["query"], "labels = sync");
        assert_eq!(v["plans"][0]["cron"], "0 */15 * * * *");

        let json_file = dir.path().join("v.json");
        std::fs::write(&json_file, r#"{"triggers": [], "note": "none"}"#).unwrap();
        assert_eq!(
            read_version_file(&json_file).unwrap(),
            json!({"triggers": [], "note": "none"})
        );

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "trigger = \"labels = sync\"\n").unwrap();
        let e = read_version_file(&bad).err().unwrap();
        assert!(e.contains("unknown key \"trigger\""), "{e}");
        std::fs::write(&bad, "incoming_file = \"missing.rhai\"\n").unwrap();
        let e = read_version_file(&bad).err().unwrap();
        assert!(e.contains("missing.rhai"), "{e}");
    }

    #[test]
    fn an_exported_version_reads_back_as_the_same_request() {
        let connection = json!({"versions": [
            {"number": 1, "status": "Archived", "outgoing": "a", "note": "old"},
            {"number": 2, "status": "Active", "outgoing": "// two\nreplica.key = issue.key;\n",
             "incoming": "issue.summary = replica.summary;",
             "helper_maps": {"statuses": {"To Do": "Open"}, "priorities": {}, "users": {}},
             "conflicts": {"default": {"policy": "side_of_truth", "node": "node-a"}, "fields": {}},
             "triggers": [{"id": "t1", "query": "labels = sync", "active": true}],
             "plans": [], "created_ms": 5, "note": "mine"}
        ]});
        let dir = tempfile::tempdir().unwrap();
        for (format, name) in [(Format::Toml, "v.toml"), (Format::Json, "v.json")] {
            let text = export(&connection, None, format).unwrap();
            let file = dir.path().join(name);
            std::fs::write(&file, &text).unwrap();
            let back = read_version_file(&file).unwrap();
            let mut want = connection["versions"][1].clone();
            for gone in ["number", "status", "created_ms"] {
                want.as_object_mut().unwrap().remove(gone);
            }
            assert_eq!(back, want, "{text}");
        }
        assert!(
            export(&connection, Some(1), Format::Json)
                .unwrap()
                .contains("old")
        );
        assert!(export(&connection, Some(9), Format::Json).is_err());
    }
}
