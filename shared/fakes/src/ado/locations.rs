//! The location service Microsoft's clients (azure-devops-node-api and the .NET client)
//! ask first: `GET _apis/ResourceAreas` says where each area lives, and `OPTIONS
//! _apis/{area}` lists the area's resources with their route templates and versions, from
//! which the client builds every URL and negotiates the `api-version`.

use super::ORG;
use super::state::Fake;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The work item tracking area's id.
const WIT_AREA: &str = "5264459e-e5e0-4bd8-b118-0985e68a4ec5";

/// (location id, resource name, route template, released version, resource version)
const WIT: [(&str, &str, &str, &str, u32); 6] = [
    (
        "62d3d110-0047-428c-ad3c-4fe872c91c74",
        "workitems",
        "{project}/_apis/{area}/{resource}/${type}",
        "7.1",
        3,
    ),
    (
        "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b",
        "workitems",
        "{project}/_apis/{area}/{resource}/{id}",
        "7.1",
        3,
    ),
    // The comments API is a preview: no released version.
    (
        "608aac0a-32e1-4493-a863-b9cf4566d257",
        "comments",
        "{project}/_apis/{area}/workItems/{workItemId}/{resource}/{commentId}",
        "0.0",
        4,
    ),
    (
        "1a9c53f7-f243-4447-b110-35ef023636e4",
        "wiql",
        "{project}/{team}/_apis/{area}/{resource}/{id}",
        "7.1",
        2,
    ),
    (
        "908509b6-4248-4475-a1cd-829139ba419f",
        "workitemsbatch",
        "{project}/_apis/{area}/{resource}",
        "7.1",
        1,
    ),
    (
        "7c9d7a76-4a09-43e8-b5df-bd792f4ac6aa",
        "states",
        "{project}/_apis/{area}/workitemtypes/{type}/{resource}",
        "7.1",
        1,
    ),
];

/// (location id, resource name, route template) of the location area itself.
const LOCATION: [(&str, &str, &str); 1] = [(
    "e81700f7-3be2-46de-8624-2eb35882fcaa",
    "ResourceAreas",
    "_apis/{resource}/{areaId}",
)];

fn location(
    area: &str,
    id: &str,
    resource: &str,
    template: &str,
    released: &str,
    version: u32,
) -> Value {
    json!({
        "id": id,
        "area": area,
        "resourceName": resource,
        "routeTemplate": template,
        "resourceVersion": version,
        "minVersion": "1.0",
        "maxVersion": "7.2",
        "releasedVersion": released,
    })
}

/// `OPTIONS {org}/_apis/{area}`.
pub(super) async fn area_locations(Path((_, area)): Path<(String, String)>) -> Response {
    let value: Vec<Value> = if area.eq_ignore_ascii_case("wit") {
        WIT.iter()
            .map(|(id, r, t, released, v)| location("wit", id, r, t, released, *v))
            .collect()
    } else if area.eq_ignore_ascii_case("location") {
        LOCATION
            .iter()
            .map(|(id, r, t)| location("Location", id, r, t, "0.0", 1))
            .collect()
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    axum::Json(json!({ "count": value.len(), "value": value })).into_response()
}

/// `GET {org}/_apis/ResourceAreas`: every area lives at the organization's URL.
pub(super) async fn resource_areas(State(fake): State<Arc<Fake>>) -> Response {
    let url = format!("{}/{ORG}/", fake.base);
    axum::Json(json!({
        "count": 1,
        "value": [{ "id": WIT_AREA, "name": "wit", "locationUrl": url }],
    }))
    .into_response()
}
