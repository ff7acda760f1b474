//! The bulk jobs API: start one on a connection, list, follow, cancel.

use super::ApiResult;
use super::admin::NoArguments;
use crate::{Node, jobs};
use axum::extract::{Path, Query, State};
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

async fn start(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(kind): Json<JobKind>,
) -> ApiResult<impl IntoResponse> {
    let job = jobs::start(&node, &id, kind).await?;
    Ok((StatusCode::CREATED, Json(view(&node, job))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    connection: Option<String>,
}

async fn list(
    State(node): State<Arc<Node>>,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    let list = jobs::list(&node, p.connection.as_deref()).await?;
    Ok(Json(
        list.into_iter().map(|j| view(&node, j)).collect::<Vec<_>>(),
    ))
}

async fn show(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(view(&node, jobs::get(&node, &id).await?)))
}

async fn cancel(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(view(&node, jobs::cancel(&node, &id).await?)))
}
