//! The bulk jobs API: start one on a connection, list, follow, cancel.

use super::ApiResult;
use super::admin::NoArguments;
use crate::{Node, jobs};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use twinsync_core::{Job, JobKind};

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/connections/{id}/jobs", post(start))
        .route("/api/jobs", get(list))
        .route("/api/jobs/{id}", get(show))
        .route("/api/jobs/{id}/cancel", post(cancel))
}

/// A job as the API shows it: the record and its rate.
#[derive(Serialize)]
pub struct JobView {
    #[serde(flatten)]
    job: Job,
    rate_per_s: f64,
}

fn view(node: &Node, job: Job) -> JobView {
    JobView {
        rate_per_s: job.rate_per_s(node.now_ms()),
        job,
    }
}

#[utoipa::path(post, path = "/api/connections/{id}/jobs", tag = "jobs", params(("id" = String, Path, description = "the connection")), request_body = super::schemas::JobKindBody, responses((status = 201, description = "the job", body = Object)))]
pub(super) async fn start(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(kind): Json<JobKind>,
) -> ApiResult<impl IntoResponse> {
    let job = jobs::start(&node, &id, kind).await?;
    Ok((StatusCode::CREATED, Json(view(&node, job))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    connection: Option<String>,
}

#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(ListParams), responses((status = 200, description = "jobs, newest first", body = Vec<Object>)))]
pub(super) async fn list(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<super::scope::Scope>,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    super::seen_connection(&scope, p.connection.as_deref())?;
    let list = jobs::list(&node, p.connection.as_deref()).await?;
    let seen = list.into_iter().filter(|j| scope.sees(&j.connection_id));
    Ok(Json(seen.map(|j| view(&node, j)).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "the job")), responses((status = 200, description = "the job and its progress", body = Object)))]
pub(super) async fn show(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(view(&node, jobs::get(&node, &id).await?)))
}

#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path, description = "the job")), request_body = NoArguments, responses((status = 200, description = "the job, cancelled", body = Object)))]
pub(super) async fn cancel(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(view(&node, jobs::cancel(&node, &id).await?)))
}
