//! The Item Sync Monitor's API: the overview, the search, a sync pair, a diff between two
//! replicas, Retry and the dead letters. The page's script renders what these return.

use super::ApiResult;
use super::admin::NoArguments;
use super::scope::Scope;
use crate::Node;
use crate::monitor::diff::{self, DiffParams, ReplicaDiff};
use crate::monitor::views::{
    self, DeadLetter, Overview, PairView, Retried, SearchPage, SearchParams,
};
use axum::extract::{Extension, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/api/monitor", get(overview))
        .route("/api/search", get(search))
        .route("/api/twins/{id}/pair", get(pair))
        .route("/api/twins/{id}/diff", get(diff))
        .route("/api/twins/{id}/retry", post(retry))
        .route("/api/dead-letters", get(dead_letters))
}

/// Connections, the newest errors, bulk jobs and queue depths.
#[utoipa::path(get, path = "/api/monitor", tag = "monitor",
    responses((status = 200, body = Overview)))]
pub(super) async fn overview(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
) -> ApiResult<Json<Overview>> {
    Ok(Json(views::overview(&node, &scope).await?))
}

/// Sync pairs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/search", tag = "monitor", params(SearchParams),
    responses((status = 200, body = SearchPage)))]
pub(super) async fn search(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<SearchPage>> {
    super::seen_connection(&scope, p.connection.as_deref())?;
    Ok(Json(views::search(&node, &scope, &p).await?))
}

/// One sync pair: both items field by field, its replica history and its events.
#[utoipa::path(get, path = "/api/twins/{id}/pair", tag = "monitor", params(("id" = String, Path, description = "the twin")),
    responses((status = 200, body = PairView)))]
pub(super) async fn pair(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<Json<PairView>> {
    Ok(Json(views::pair(&node, &id).await?))
}

/// The fields that differ between two replicas of a pair's history.
#[utoipa::path(get, path = "/api/twins/{id}/diff", tag = "monitor",
    params(("id" = String, Path, description = "the twin"), DiffParams),
    responses((status = 200, body = ReplicaDiff)))]
pub(super) async fn diff(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Query(p): Query<DiffParams>,
) -> ApiResult<Json<ReplicaDiff>> {
    Ok(Json(diff::diff(&node, &id, &p).await?))
}

/// Retry an errored pair: its dead letters go back to their queues, or its item is sent
/// again.
#[utoipa::path(post, path = "/api/twins/{id}/retry", tag = "monitor",
    params(("id" = String, Path, description = "the twin")), request_body = NoArguments,
    responses((status = 200, body = Retried)))]
pub(super) async fn retry(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Json(NoArguments {}): Json<NoArguments>,
) -> ApiResult<Json<Retried>> {
    Ok(Json(views::retry(&node, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct DeadLetterParams {
    /// At most this many per queue (100 when not given).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Messages that gave up, per queue, with the pair each is about and why.
#[utoipa::path(get, path = "/api/dead-letters", tag = "monitor", params(DeadLetterParams),
    responses((status = 200, body = Vec<DeadLetter>)))]
pub(super) async fn dead_letters(
    State(node): State<Arc<Node>>,
    Extension(scope): Extension<Scope>,
    Query(p): Query<DeadLetterParams>,
) -> ApiResult<Json<Vec<DeadLetter>>> {
    let limit = super::bounded("limit", p.limit, 1..=1000, 100)?;
    let mut list = views::dead_letters(&node, limit).await?;
    list.retain(|d| scope.sees(&d.connection_id));
    Ok(Json(list))
}
