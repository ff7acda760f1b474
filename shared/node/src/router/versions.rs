//! The versions API: save a draft, activate, roll back, discard, diff, Test Run.

use super::ApiResult;
use super::admin::NoArguments;
use crate::{Node, NodeError, versions};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use twinsync_core::{
    ConfigVersion, ConflictSettings, NodeHelperMaps, RemovalSettings, SyncPlan, Trigger,
};

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/connections/{id}/versions", post(save_draft))
        .route("/api/connections/{id}/versions/diff", get(diff))
        .route("/api/connections/{id}/versions/{number}", delete(discard))
        .route(
            "/api/connections/{id}/versions/{number}/activate",
            post(activate_version),
        )
        .route(
            "/api/connections/{id}/versions/{number}/rollback",
            post(rollback),
        )
        .route(
            "/api/connections/{id}/versions/{number}/test-run",
            post(test_run),
        )
        .route(
            "/api/connections/{id}/versions/{number}/shadow",
            post(shadow_start),
        )
        .route(
            "/api/connections/{id}/shadow",
            get(shadow_report).delete(shadow_stop),
        )
}

/// A new version of a connection's whole configuration. A field left out keeps the
/// active version's value; `triggers: []` removes every trigger.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DraftRequest {
    outgoing: Option<String>,
    incoming: Option<String>,
    #[schema(value_type = Option<super::schemas::NodeHelperMapsBody>)]
    helper_maps: Option<NodeHelperMaps>,
    #[schema(value_type = Option<super::schemas::ConflictSettingsBody>)]
    conflicts: Option<ConflictSettings>,
    triggers: Option<Vec<TriggerSpec>>,
    plans: Option<Vec<PlanSpec>>,
    live: Option<bool>,
    rewrite_references: Option<bool>,
    #[schema(value_type = Option<super::schemas::RemovalSettingsBody>)]
    removals: Option<RemovalSettings>,
    #[serde(default)]
    note: String,
}

/// A trigger as an operator writes it: the id (`t1`, `t2`, ... by position) and
/// `active` (true) may be left out.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerSpec {
    id: Option<String>,
    query: String,
    active: Option<bool>,
}

/// A SynchronizationPlan as an operator writes it: the id (`p1`, ...) and `active`
/// may be left out.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanSpec {
    id: Option<String>,
    cron: String,
    active: Option<bool>,
}

impl DraftRequest {
    /// The version this request describes, on top of `base` (the active version).
    fn version(self, base: ConfigVersion) -> ConfigVersion {
        let triggers = self.triggers.map(|list| {
            list.into_iter()
                .enumerate()
                .map(|(i, t)| Trigger {
                    id: t.id.unwrap_or_else(|| format!("t{}", i + 1)),
                    query: t.query,
                    active: t.active.unwrap_or(true),
                })
                .collect()
        });
        let plans = self.plans.map(|list| {
            list.into_iter()
                .enumerate()
                .map(|(i, p)| SyncPlan {
                    id: p.id.unwrap_or_else(|| format!("p{}", i + 1)),
                    cron: p.cron,
                    active: p.active.unwrap_or(true),
                })
                .collect()
        });
        ConfigVersion {
            outgoing: self.outgoing.unwrap_or(base.outgoing),
            incoming: self.incoming.unwrap_or(base.incoming),
            helper_maps: self.helper_maps.unwrap_or(base.helper_maps),
            conflicts: self.conflicts.unwrap_or(base.conflicts),
            triggers: triggers.unwrap_or(base.triggers),
            plans: plans.unwrap_or(base.plans),
            live: self.live.unwrap_or(base.live),
            rewrite_references: self.rewrite_references.unwrap_or(base.rewrite_references),
            removals: self.removals.unwrap_or(base.removals),
            note: self.note,
            ..ConfigVersion::default()
        }
    }
}

#[utoipa::path(post, path = "/api/connections/{id}/versions", tag = "versions", params(("id" = String, Path, description = "the connection")), request_body = DraftRequest, responses((status = 201, description = "the draft's number", body = Object)))]
pub(super) async fn save_draft(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<DraftRequest>,
) -> ApiResult<impl IntoResponse> {
    let connection = node.connection(&id).await?;
    let base = connection.active_version().cloned().unwrap_or_default();
    let number = versions::save_draft(&node, &id, req.version(base)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "version": number, "status": "Draft" })),
    ))
}

#[utoipa::path(post, path = "/api/connections/{id}/versions/{number}/activate", tag = "versions", params(("id" = String, Path, description = "the connection"), ("number" = u32, Path, description = "the version")), request_body = NoArguments, responses((status = 200, description = "the version is active", body = Object)))]
pub(super) async fn activate_version(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    versions::activate_version(&node, &id, number).await?;
    Ok(Json(json!({ "version": number, "status": "Active" })))
}

/// The items of a Test Run: one (`item`), several (`items`), or a trigger query.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TestRunRequest {
    item: Option<String>,
    items: Option<Vec<String>>,
    query: Option<String>,
}

#[utoipa::path(post, path = "/api/connections/{id}/versions/{number}/test-run", tag = "versions", params(("id" = String, Path, description = "the connection"), ("number" = u32, Path, description = "the version")), request_body = super::schemas::TestRunBody, responses((status = 200, description = "what the version would send and the other side would do, nothing written", body = Object)))]
pub(super) async fn test_run(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
    Json(req): Json<TestRunRequest>,
) -> ApiResult<impl IntoResponse> {
    let which = match (req.item, req.items, req.query) {
        (Some(item), None, None) => versions::TestRunItems::Keys(vec![item]),
        (None, Some(items), None) => versions::TestRunItems::Keys(items),
        (None, None, Some(query)) => versions::TestRunItems::Query(query),
        _ => {
            return Err(super::ApiError(
                StatusCode::BAD_REQUEST,
                "a Test Run takes one of \"item\", \"items\" or \"query\"".into(),
            ));
        }
    };
    Ok(Json(versions::test_run(&node, &id, number, which).await?))
}

#[utoipa::path(post, path = "/api/connections/{id}/versions/{number}/rollback", tag = "versions", params(("id" = String, Path, description = "the connection"), ("number" = u32, Path, description = "the version")), request_body = NoArguments, responses((status = 201, description = "a new draft holding the archived version, to activate", body = Object)))]
pub(super) async fn rollback(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    let draft = versions::rollback(&node, &id, number).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "version": draft, "status": "Draft", "restores": number })),
    ))
}

#[utoipa::path(delete, path = "/api/connections/{id}/versions/{number}", tag = "versions", params(("id" = String, Path, description = "the connection"), ("number" = u32, Path, description = "the version")), request_body = NoArguments, responses((status = 200, description = "the draft is gone", body = Object)))]
pub(super) async fn discard(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    versions::discard(&node, &id, number).await?;
    Ok(Json(json!({ "version": number, "discarded": true })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct DiffParams {
    from: u32,
    to: u32,
}

/// `text/x-diff`: a unified diff of two versions.
#[utoipa::path(get, path = "/api/connections/{id}/versions/diff", tag = "versions", params(("id" = String, Path, description = "the connection"), DiffParams), responses((status = 200, description = "a unified diff of the two versions", body = String, content_type = "text/x-diff")))]
pub(super) async fn diff(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Query(p): Query<DiffParams>,
) -> ApiResult<impl IntoResponse> {
    let connection = node.connection(&id).await?;
    let text = versions::diff(&connection, p.from, p.to)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/x-diff; charset=utf-8",
        )],
        text,
    ))
}

#[utoipa::path(post, path = "/api/connections/{id}/versions/{number}/shadow", tag = "versions", params(("id" = String, Path, description = "the connection"), ("number" = u32, Path, description = "the version")), request_body = NoArguments, responses((status = 200, description = "the draft runs in shadow", body = Object)))]
pub(super) async fn shadow_start(
    State(node): State<Arc<Node>>,
    Path((id, number)): Path<(String, u32)>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    crate::shadow::start(&node, &id, number).await?;
    Ok(Json(crate::shadow::report(&node, &id).await?))
}

#[utoipa::path(delete, path = "/api/connections/{id}/shadow", tag = "versions", params(("id" = String, Path, description = "the connection")), request_body = NoArguments, responses((status = 200, description = "shadow stopped", body = Object)))]
pub(super) async fn shadow_stop(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    let report = crate::shadow::report(&node, &id).await?;
    crate::shadow::stop(&node, &id).await?;
    Ok(Json(report))
}

/// What the draft in shadow would have sent otherwise, per item.
#[utoipa::path(get, path = "/api/connections/{id}/shadow", tag = "versions", params(("id" = String, Path, description = "the connection")), responses((status = 200, description = "what the shadow draft would have sent differently", body = Object)))]
pub(super) async fn shadow_report(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let report = crate::shadow::report(&node, &id).await?;
    if report.version.is_none() {
        return Err(NodeError::NotFound(format!("no draft of {id} runs in shadow")).into());
    }
    Ok(Json(report))
}
