//! `POST /api/instances/{id}/qr-code` and `…/phone-code`: `watch --remote`'s
//! Connect popup, through the server. The answers carry credentials: they go
//! to the caller alone (`Cache-Control: no-store`), never to the hub's state,
//! SSE, the metrics or a log line.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{Api, IdPath, error, known_instance};
use crate::runner::Backend;
use crate::zapi::{ApiError, QrAnswer, check_phone};

/// The body of `POST …/phone-code`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct PhoneBody {
    phone: String,
}

/// A 200 with a credential in it: not to be stored by any cache.
fn private(body: Value) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A failed Z-API call as the API answers it: 409 for what the server's
/// config lacks, 502 for Z-API's errors (their text, never a token).
fn failed(e: &ApiError) -> Response {
    match e {
        ApiError::Config(m) => error(StatusCode::CONFLICT, m),
        e => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// `POST /api/instances/{id}/qr-code`.
pub(super) async fn qr_code(State(api): State<Api>, id: IdPath) -> Response {
    let id = match known_instance(&api, id).await {
        Ok(id) => id,
        Err(refusal) => return refusal,
    };
    let backend = api.hub.backend();
    if !matches!(&*backend, Backend::Zapi(_)) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this server cannot carry out actions",
        );
    }
    match backend.qr_code(&id).await {
        Ok(QrAnswer::Code(payload)) => {
            private(json!({ "connected": false, "payload": payload.expose() }))
        }
        Ok(QrAnswer::Connected) => private(json!({ "connected": true })),
        Err(e) => failed(&e),
    }
}

/// `POST /api/instances/{id}/phone-code` with `{"phone": "<digits>"}`.
pub(super) async fn phone_code(
    State(api): State<Api>,
    id: IdPath,
    body: Result<Json<PhoneBody>, JsonRejection>,
) -> Response {
    let id = match known_instance(&api, id).await {
        Ok(id) => id,
        Err(refusal) => return refusal,
    };
    let Ok(Json(PhoneBody { phone })) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {\"phone\": \"<digits, country code first>\"}",
        );
    };
    if let Err(e) = check_phone(&phone) {
        return error(StatusCode::BAD_REQUEST, &e);
    }
    let backend = api.hub.backend();
    if !matches!(&*backend, Backend::Zapi(_)) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this server cannot carry out actions",
        );
    }
    match backend.phone_code(&id, &phone).await {
        Ok(code) => private(json!({ "code": code.expose() })),
        Err(e) => failed(&e),
    }
}
