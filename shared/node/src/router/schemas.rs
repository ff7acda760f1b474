//! Schemas of request bodies whose Rust types live in the domain crate, which has no
//! OpenAPI dependency. Each mirrors the serde shape of the type it documents (and derives
//! `Deserialize` with the same attributes, so a mismatch shows in `schemas_parse_alike`),
//! so the description promises exactly what the handler's deserializer accepts.

#![allow(dead_code)] // Read by the OpenAPI derive and the test only.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};

/// This side's key, then the other side's: the serde form of `(String, String)`.
pub struct KeyPair;

impl utoipa::PartialSchema for KeyPair {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some("this side's key, then the other side's"))
            .into()
    }
}

impl ToSchema for KeyPair {}

/// How the two nodes of a connection reach each other (`public` when left out).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKindBody {
    Public,
    Private,
    Local,
}

/// A bulk job to start, by its `kind`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobKindBody {
    /// Every item the connection's active triggers match, under sync now.
    Exalate,
    /// Every twin of the connection, sent again.
    Sync,
    /// Relink of each pair: this side's key, then the other side's.
    Connect {
        #[schema(value_type = Vec<KeyPair>)]
        pairs: Vec<(String, String)>,
    },
    /// Relink of every item the triggers match with the other side's one item carrying
    /// the same value in `field` (`summary`, `key` or `cf.NAME`).
    ConnectByField { field: String },
}

/// The items of a Test Run: one (`item`), several (`items`) or those a trigger query
/// finds; exactly one of the three.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TestRunBody {
    One(TestRunOne),
    Several(TestRunSeveral),
    Query(TestRunQuery),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRunOne {
    item: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRunSeveral {
    #[schema(min_items = 1)]
    items: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRunQuery {
    query: String,
}

/// The maps `nodeHelper` reads: the other side's value name to this side's.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(default)]
pub struct NodeHelperMapsBody {
    statuses: BTreeMap<String, String>,
    priorities: BTreeMap<String, String>,
    /// The other side's email to this side's.
    users: BTreeMap<String, String>,
}

/// How a field changed on both sides since the last sync is resolved. Its schema is
/// written out: each policy is an object of its own with no other members, which the
/// derive does not say for an adjacently tagged enum.
#[derive(Deserialize, Serialize, Default)]
#[serde(
    rename_all = "snake_case",
    tag = "policy",
    content = "node",
    deny_unknown_fields
)]
pub enum ConflictPolicyBody {
    RemoteWins,
    LocalWins,
    #[default]
    NewestWins,
    /// The named node's value wins.
    SideOfTruth(String),
}

impl utoipa::PartialSchema for ConflictPolicyBody {
    fn schema() -> RefOr<Schema> {
        let policy = |name: &str, node: bool| {
            let mut object = ObjectBuilder::new()
                .property(
                    "policy",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([name])),
                )
                .required("policy")
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
            if node {
                let text = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("the node whose value wins"));
                object = object.property("node", text).required("node");
            }
            object
        };
        OneOfBuilder::new()
            .item(policy("remote_wins", false))
            .item(policy("local_wins", false))
            .item(policy("newest_wins", false))
            .item(policy("side_of_truth", true))
            .into()
    }
}

impl ToSchema for ConflictPolicyBody {}

/// A conflict policy per field, and one for the rest.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(default)]
pub struct ConflictSettingsBody {
    default: ConflictPolicyBody,
    fields: BTreeMap<String, ConflictPolicyBody>,
}

/// What happens here to the twin of what the other side removed.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum RemovalPolicyBody {
    #[default]
    Unlink,
    Close,
    Delete,
}

#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RemovalSettingsBody {
    policy: RemovalPolicyBody,
    /// The status a closed twin gets; the tracker's usual closed status when absent.
    close_status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_parse_alike() {
        let jobs = [
            json!({"kind": "exalate"}),
            json!({"kind": "sync"}),
            json!({"kind": "connect", "pairs": [["A-1", "B-1"]]}),
            json!({"kind": "connect_by_field", "field": "summary"}),
        ];
        for body in jobs {
            let mirror = serde_json::from_value::<JobKindBody>(body.clone()).is_ok();
            let real = serde_json::from_value::<twinsync_core::JobKind>(body.clone()).is_ok();
            assert!(mirror && real, "{body}");
        }
        let conflicts = [
            json!({"default": {"policy": "remote_wins"}}),
            json!({"fields": {"summary": {"policy": "side_of_truth", "node": "node-a"}}}),
            json!({}),
        ];
        for body in conflicts {
            let mirror = serde_json::from_value::<ConflictSettingsBody>(body.clone()).is_ok();
            let real =
                serde_json::from_value::<twinsync_core::ConflictSettings>(body.clone()).is_ok();
            assert!(mirror && real, "{body}");
        }
        let removals = [
            json!({"policy": "close", "close_status": "Done"}),
            json!({}),
        ];
        for body in removals {
            let mirror = serde_json::from_value::<RemovalSettingsBody>(body.clone()).is_ok();
            let real =
                serde_json::from_value::<twinsync_core::RemovalSettings>(body.clone()).is_ok();
            assert!(mirror && real, "{body}");
        }
        let maps = json!({"statuses": {"Done": "Closed"}});
        assert!(serde_json::from_value::<NodeHelperMapsBody>(maps.clone()).is_ok());
        assert!(serde_json::from_value::<twinsync_core::NodeHelperMaps>(maps).is_ok());
        let kinds = ["public", "private", "local"];
        for kind in kinds {
            let mirror = serde_json::from_value::<ConnectionKindBody>(json!(kind)).is_ok();
            let real = serde_json::from_value::<twinsync_core::ConnectionKind>(json!(kind)).is_ok();
            assert!(mirror && real, "{kind}");
        }
    }
}
