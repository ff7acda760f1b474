//! The workspaces API: workspaces, the integrations in them, which connections each
//! integration groups, and each integration's subscription (plan and item capacity).

use super::ApiResult;
use super::admin::NoArguments;
use super::scope::Scope;
use crate::workspaces::{self, WorkspaceView};
use crate::{Node, NodeError};
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use twinsync_core::{Role, Subscription};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/workspaces", get(list).post(create))
        .route("/api/workspaces/{id}/integrations", post(add_integration))
        .route("/api/integrations/{id}/connections", post(assign))
        .route("/api/integrations/{id}/subscription", post(subscribe))
        .route("/api/workspaces/{id}/tokens", post(add_token))
        .route("/api/workspaces/{id}/tokens/{name}", delete(revoke_token))
}

/// Every workspace with its integrations, their connections and items under sync.
#[utoipa::path(get, path = "/api/workspaces", tag = "workspaces",
    responses((status = 200, body = Vec<WorkspaceView>)))]
pub(super) async fn list(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
) -> ApiResult<Json<Vec<WorkspaceView>>> {
    Ok(Json(workspaces::view(&node, &scope).await?))
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
    Ok((
        StatusCode::CREATED,
        Json(workspaces::view(&node, &Scope::Node).await?),
    ))
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
    #[serde(deserialize_with = "super::whole_number")]
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
    Ok((
        StatusCode::CREATED,
        Json(workspaces::view(&node, &Scope::Node).await?),
    ))
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
    Ok(Json(workspaces::view(&node, &Scope::Node).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSubscription {
    plan: String,
    #[schema(minimum = 0, maximum = 1000000000)]
    #[serde(deserialize_with = "super::whole_number")]
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
    Ok(Json(workspaces::view(&node, &Scope::Node).await?))
}

/// An integration that does not exist is not found (not a bad request).
async fn known(node: &Node, id: &str) -> ApiResult<()> {
    match workspaces::load(node).await?.integration(id) {
        Some(_) => Ok(()),
        None => Err(NodeError::NotFound(format!("no integration {id}")).into()),
    }
}

/// The role of a new workspace token.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum RoleBody {
    Read,
    Operator,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// 1 to 64 letters, digits, - or _; unique in the workspace.
    name: String,
    role: RoleBody,
}

/// A new token: shown this once; the node keeps only its digest.
#[derive(Serialize, ToSchema)]
pub(super) struct IssuedToken {
    workspace: String,
    name: String,
    role: String,
    token: String,
}

/// An admin API token scoped to the workspace: read-only, or operator.
#[utoipa::path(post, path = "/api/workspaces/{id}/tokens", tag = "workspaces",
    params(("id" = String, Path, description = "the workspace")), request_body = NewToken,
    responses((status = 201, body = IssuedToken)))]
pub(super) async fn add_token(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(req): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let role = match req.role {
        RoleBody::Read => Role::Read,
        RoleBody::Operator => Role::Operator,
    };
    if !workspaces::load(&node)
        .await?
        .workspaces
        .iter()
        .any(|w| w.id == id)
    {
        return Err(NodeError::NotFound(format!("no workspace {id}")).into());
    }
    let (token, digest) = super::scope::new_token()?;
    workspaces::change(&node, |w| w.add_token(&id, &req.name, role, &digest)).await?;
    let issued = IssuedToken {
        workspace: id,
        name: req.name,
        role: format!("{role:?}").to_lowercase(),
        token,
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revokes a workspace token at once.
#[utoipa::path(delete, path = "/api/workspaces/{id}/tokens/{name}", tag = "workspaces",
    params(("id" = String, Path, description = "the workspace"), ("name" = String, Path, description = "the token's name")),
    request_body = NoArguments, responses((status = 200, body = Vec<WorkspaceView>)))]
pub(super) async fn revoke_token(
    State(node): State<Arc<Node>>,
    Path((id, name)): Path<(String, String)>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<Json<Vec<WorkspaceView>>> {
    if !workspaces::change(&node, |w| Ok(w.revoke_token(&id, &name))).await? {
        return Err(NodeError::NotFound(format!("workspace {id} has no token {name}")).into());
    }
    Ok(Json(workspaces::view(&node, &Scope::Node).await?))
}
