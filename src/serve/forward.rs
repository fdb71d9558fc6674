//! The relay's routes: `GET /api/forward` (targets, cursors, lag, dead
//! letters) and `POST /api/forward/{name}/retry`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::api::{Api, error};

/// Every target's numbers with its dead letters; no targets, an empty list.
pub(super) async fn targets(State(api): State<Api>) -> Response {
    let Some(relay) = &api.relay else {
        return Json(json!({ "targets": [] })).into_response();
    };
    let targets: Vec<serde_json::Value> = relay
        .status()
        .into_iter()
        .map(|status| {
            let dead = relay.dead_letters(&status.name).unwrap_or_default();
            let mut value = json!(status);
            if let Some(object) = value.as_object_mut() {
                object.insert("dead".into(), json!(dead));
            }
            value
        })
        .collect();
    Json(json!({ "targets": targets })).into_response()
}

/// Queues a target's dead letters again: `{"queued": n}`.
pub(super) async fn retry(State(api): State<Api>, Path(name): Path<String>) -> Response {
    let queued = match &api.relay {
        Some(relay) => relay.retry(&name).await,
        None => None,
    };
    match queued {
        Some(queued) => Json(json!({ "target": name, "queued": queued })).into_response(),
        None => error(StatusCode::NOT_FOUND, "no forward target of that name"),
    }
}
