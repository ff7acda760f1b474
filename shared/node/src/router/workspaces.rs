//! The workspaces API: workspaces, the integrations in them, which connections each
//! integration groups, and each integration's subscription (plan and item capacity).

use super::ApiResult;
use crate::workspaces::{self, WorkspaceView};
use crate::{Node, NodeError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use twinsync_core::Subscription;
use utoipa::ToSchema;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/workspaces", get(list).post(create))
        .route("/api/workspaces/{id}/integrations", post(add_integration))
        .route("/api/integrations/{id}/connections", post(assign))
        .route("/api/integrations/{id}/subscription", post(subscribe))
}

/// Every workspace with its integrations, their connections and items under sync.
#[utoipa::path(get, path = "/api/workspaces", tag = "workspaces",
    responses((status = 200, body = Vec<WorkspaceView>)))]
pub(super) async fn list(State(node): State<Arc<Node>>) -> ApiResult<Json<Vec<WorkspaceView>>> {
    Ok(Json(workspaces::view(&node).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWorkspace {
    /// 1 to 64 letters, digits, - or _.
    id: String,
    name: String,
}

#[utoipa::path(post, path = "/api/workspaces", tag = "workspaces", request_body = NewWorkspace,
    responses((status = 201, body = Vec<WorkspaceView>)))]
pub(super) async fn create(
    State(node): State<Arc<Node>>,
    Json(req): Json<NewWorkspace>,
) -> ApiResult<(StatusCode, Json<Vec<WorkspaceView>>)> {
    workspaces::change(&node, |w| w.add_workspace(&req.id, &req.name)).await?;
    Ok((StatusCode::CREATED, Json(workspaces::view(&node).await?)))
}

/// An integration and its subscription.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewIntegration {
    /// 1 to 64 letters, digits, - or _; unique across workspaces.
    id: String,
    name: String,
    plan: String,
    /// Items under sync the integration may hold.
    #[schema(minimum = 0, maximum = 1000000000)]
    item_capacity: u64,
}

#[utoipa::path(post, path = "/api/workspaces/{id}/integrations", tag = "workspaces",
    params(("id" = String, Path, description = "the workspace")), request_body = NewIntegration,
    responses((status = 201, body = Vec<WorkspaceView>)))]
pub(super) async fn add_integration(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<NewIntegration>,
) -> ApiResult<(StatusCode, Json<Vec<WorkspaceView>>)> {
    let subscription = Subscription {
        plan: req.plan,
        item_capacity: req.item_capacity,
    };
    workspaces::change(&node, |w| {
        w.add_integration(&id, &req.id, &req.name, subscription.clone())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(workspaces::view(&node).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Assignment {
    /// A connection of this node; it leaves any other integration.
    connection: String,
}

#[utoipa::path(post, path = "/api/integrations/{id}/connections", tag = "workspaces",
    params(("id" = String, Path, description = "the integration")), request_body = Assignment,
    responses((status = 200, body = Vec<WorkspaceView>)))]
pub(super) async fn assign(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<Assignment>,
) -> ApiResult<Json<Vec<WorkspaceView>>> {
    node.connection(&req.connection).await?;
    known(&node, &id).await?;
    workspaces::change(&node, |w| w.assign(&id, &req.connection)).await?;
    Ok(Json(workspaces::view(&node).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSubscription {
    plan: String,
    #[schema(minimum = 0, maximum = 1000000000)]
    item_capacity: u64,
}

/// A new plan: items under sync stay; new ones come in only below the capacity.
#[utoipa::path(post, path = "/api/integrations/{id}/subscription", tag = "workspaces",
    params(("id" = String, Path, description = "the integration")), request_body = NewSubscription,
    responses((status = 200, body = Vec<WorkspaceView>)))]
pub(super) async fn subscribe(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<NewSubscription>,
) -> ApiResult<Json<Vec<WorkspaceView>>> {
    known(&node, &id).await?;
    let subscription = Subscription {
        plan: req.plan,
        item_capacity: req.item_capacity,
    };
    workspaces::change(&node, |w| w.subscribe(&id, subscription.clone())).await?;
    Ok(Json(workspaces::view(&node).await?))
}

/// An integration that does not exist is not found (not a bad request).
async fn known(node: &Node, id: &str) -> ApiResult<()> {
    match workspaces::load(node).await?.integration(id) {
        Some(_) => Ok(()),
        None => Err(NodeError::NotFound(format!("no integration {id}")).into()),
    }
}
