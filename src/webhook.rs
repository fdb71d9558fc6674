//! Webhook listener: the axum [`router`] that takes Z-API's webhook calls,
//! [`parse_event`] that turns one body into a [`model::Event`](crate::model::Event),
//! and the hand-off of accepted events to the dashboard through an mpsc channel.
//!
//! With a [`WebhookSecret`] ([`router_with_secret`]) webhooks are taken only
//! under per-instance secret paths `/hooks/{token}/...`, whose token is derived
//! from the secret and the instance id ([`WebhookSecret::path_token`],
//! [`hook_urls`]): Z-API does not sign its calls, so the URL is the only
//! secret it can carry.
//!
//! Every answer is JSON: `{"ok": true}` on success, `{"error": "<what is wrong>"}`
//! otherwise (400 bad body, 404 unknown route or wrong path token, 405 wrong
//! method, 408 body not received in time, 413 body too large, 415 not
//! `application/json`, 503 dashboard shutting down).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;

use crate::model::{Event, EventKind, InstanceId, Secret, moment_from_raw};
use crate::server::BodyTimeout;
use crate::store::{Appended, EventLog};

/// Largest accepted request body, in bytes (64 KiB). Z-API's biggest
/// documented bodies are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which endpoint a body arrived on. It decides what a body without `type`
/// means: Z-API's per-event webhooks (`update-webhook-disconnected`,
/// `update-webhook-connected`) may omit it, the catch-all endpoint cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /hooks/disconnected` (or `/hooks/{token}/disconnected`): a body
    /// without `type` is a disconnect.
    Disconnected,
    /// `POST /hooks/connected` (or `/hooks/{token}/connected`): a body
    /// without `type` is a connect.
    Connected,
    /// `POST /hooks` (or `/hooks/{token}`): every webhook type; `type` is
    /// required.
    Any,
}

/// Why a webhook body was rejected. The `Display` text names the problem and
/// is what the listener sends back in `{"error": ...}`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// The body is not JSON at all (the message is serde_json's, with position).
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but not an object (an array, a string, ...).
    #[error("body must be a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field that must be a non-empty string is empty, blank or not a string.
    #[error("`{0}` must be a non-empty string")]
    NotNonEmptyString(&'static str),
    /// An optional text field holds something other than a string or null.
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    /// `momment` holds something other than a number or null.
    #[error("`momment` must be a number")]
    MomentNotANumber,
    /// `momment` is a number with a fractional part.
    #[error("`momment` must be a whole number of seconds or milliseconds, got {0}")]
    MomentNotWhole(String),
    /// `momment` is a whole number too large or small to be a date.
    #[error("`momment` is out of range: {0}")]
    MomentOutOfRange(String),
}

/// Parses one webhook body received on `route` at `received`.
///
/// The body must be a JSON object with a non-empty string `instanceId`;
/// unknown fields are ignored. `type` decides the kind when present
/// (`DisconnectedCallback`, `ConnectedCallback`, anything else is activity);
/// when absent, `route` decides, and [`Route::Any`] rejects the body.
/// `momment` may be seconds or milliseconds (see [`moment_from_raw`]); when
/// missing or null the event's moment is `received`.
///
/// Never panics, whatever the bytes.
pub fn parse_event(
    body: &[u8],
    route: Route,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(ParseError::NotAnObject);
    };

    let instance_id = match obj.get("instanceId") {
        None | Some(Value::Null) => return Err(ParseError::MissingField("instanceId")),
        Some(Value::String(s)) if !s.trim().is_empty() => InstanceId::new(s.clone()),
        Some(_) => return Err(ParseError::NotNonEmptyString("instanceId")),
    };

    let kind = match obj.get("type") {
        None => match route {
            Route::Disconnected => disconnected(&obj)?,
            Route::Connected => connected(&obj)?,
            Route::Any => return Err(ParseError::MissingField("type")),
        },
        Some(Value::String(t)) => match t.as_str() {
            "DisconnectedCallback" => disconnected(&obj)?,
            "ConnectedCallback" => connected(&obj)?,
            other if !other.trim().is_empty() => EventKind::Activity {
                callback: other.to_owned(),
            },
            _ => return Err(ParseError::NotNonEmptyString("type")),
        },
        Some(_) => return Err(ParseError::NotNonEmptyString("type")),
    };

    let moment = match obj.get("momment") {
        None | Some(Value::Null) => received,
        Some(Value::Number(n)) => moment_from_number(n)?,
        Some(_) => return Err(ParseError::MomentNotANumber),
    };

    Ok(Event {
        instance_id,
        kind,
        moment,
        received,
    })
}

fn disconnected(obj: &Map<String, Value>) -> Result<EventKind, ParseError> {
    Ok(EventKind::Disconnected {
        error: optional_string(obj, "error")?,
    })
}

fn connected(obj: &Map<String, Value>) -> Result<EventKind, ParseError> {
    Ok(EventKind::Connected {
        phone: optional_string(obj, "phone")?,
    })
}

/// A field that may be absent or null, and otherwise must be a string.
fn optional_string(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ParseError::NotAString(field)),
    }
}

fn moment_from_number(n: &serde_json::Number) -> Result<DateTime<Utc>, ParseError> {
    let raw = if let Some(i) = n.as_i64() {
        i
    } else if n.is_u64() {
        // A u64 that does not fit an i64.
        return Err(ParseError::MomentOutOfRange(n.to_string()));
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if !f.is_finite() || f.fract() != 0.0 {
            return Err(ParseError::MomentNotWhole(n.to_string()));
        }
        // i64::MIN and i64::MAX + 1 are exact powers of two in f64.
        if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
            return Err(ParseError::MomentOutOfRange(n.to_string()));
        }
        f as i64
    };
    if raw == i64::MIN {
        // `moment_from_raw` takes `raw.abs()`, which overflows for i64::MIN.
        return Err(ParseError::MomentOutOfRange(n.to_string()));
    }
    moment_from_raw(raw).ok_or_else(|| ParseError::MomentOutOfRange(n.to_string()))
}

/// Shortest accepted webhook secret, in characters.
///
/// The secret keys the HMAC that derives every instance's path token. One
/// leaked webhook URL hands an attacker an (instance id, token) pair to test
/// guesses against offline, so the secret must be long enough that guessing
/// is hopeless; `openssl rand -hex 32` makes a good one.
pub const MIN_SECRET_LEN: usize = 16;

/// Length of a path token: 32 lowercase hex characters (128 bits).
pub const PATH_TOKEN_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The config's `webhook_secret`, ready to derive and check path tokens.
///
/// Z-API does not sign its webhook calls, so a secret in the registered URL
/// is the only way to tell its calls from anyone else's. Each instance gets
/// its own token, [`WebhookSecret::path_token`] = the first 32 hex
/// characters of HMAC-SHA256(secret, instance id): a leaked URL of one
/// instance cannot be used to post events of another.
///
/// `Debug` shows nothing of the secret.
#[derive(Clone)]
pub struct WebhookSecret {
    /// HMAC-SHA256 already keyed with the secret; cloned for each token.
    mac: HmacSha256,
}

/// Why a `webhook_secret` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Fewer than [`MIN_SECRET_LEN`] characters (an empty one included).
    #[error(
        "must be at least {MIN_SECRET_LEN} characters long \
         (generate one with `openssl rand -hex 32`)"
    )]
    TooShort,
}

impl WebhookSecret {
    /// Takes the secret from the config; refuses one shorter than
    /// [`MIN_SECRET_LEN`] characters.
    pub fn new(secret: &Secret) -> Result<Self, SecretError> {
        if secret.expose().chars().count() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort);
        }
        // HMAC takes keys of any length, so this cannot fail; the error arm
        // keeps the no-panic rule without an `expect`.
        let mac = <HmacSha256 as KeyInit>::new_from_slice(secret.expose().as_bytes())
            .map_err(|_| SecretError::TooShort)?;
        Ok(Self { mac })
    }

    /// The path token of instance `id`: HMAC-SHA256(secret, id) in lowercase
    /// hex, cut to [`PATH_TOKEN_LEN`] characters. It is a secret too: log at
    /// most its first four characters ([`token_prefix`]).
    pub fn path_token(&self, id: &InstanceId) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut token = String::with_capacity(PATH_TOKEN_LEN);
        for byte in digest.iter().take(PATH_TOKEN_LEN / 2) {
            // Writing to a String cannot fail.
            let _ = write!(token, "{byte:02x}");
        }
        token
    }

    /// Whether `token` is the path token of instance `id`, compared in
    /// constant time.
    pub fn verify(&self, token: &str, id: &InstanceId) -> bool {
        let expected = self.path_token(id);
        bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// The first four characters of a path token and `…`: all of a token that
/// may appear in a log line.
pub fn token_prefix(token: &str) -> String {
    let head: String = token.chars().take(4).collect();
    format!("{head}…")
}

/// The URLs re-registration must send to Z-API for instance `id`, as
/// `(disconnected, connected)`: `{public_url}/hooks/disconnected` and
/// `{public_url}/hooks/connected` without a secret,
/// `{public_url}/hooks/{token}/disconnected` and
/// `{public_url}/hooks/{token}/connected` with one. A trailing `/` on
/// `public_url` is ignored.
///
/// With a secret the URLs hold the instance's path token: never log them.
pub fn hook_urls(
    public_url: &str,
    secret: Option<&WebhookSecret>,
    id: &InstanceId,
) -> (String, String) {
    let base = hook_base(public_url, secret, id);
    (format!("{base}/disconnected"), format!("{base}/connected"))
}

/// The URL for Z-API's `update-every-webhooks` (every webhook type to one
/// endpoint): `{public_url}/hooks`, or `{public_url}/hooks/{token}` with a
/// secret. Never log it.
pub fn hook_url_every(public_url: &str, secret: Option<&WebhookSecret>, id: &InstanceId) -> String {
    hook_base(public_url, secret, id)
}

fn hook_base(public_url: &str, secret: Option<&WebhookSecret>, id: &InstanceId) -> String {
    let base = public_url.trim_end_matches('/');
    match secret {
        Some(secret) => format!("{base}/hooks/{}", secret.path_token(id)),
        None => format!("{base}/hooks"),
    }
}

/// What the listener's handlers share: where accepted events go.
#[derive(Clone)]
pub struct ListenerState {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    /// Every accepted webhook is sent here; when the receiver is gone the
    /// listener answers 503.
    Channel(mpsc::Sender<Event>),
    /// The durable log: an event is answered 200 only once it is on disk
    /// (fsync'd); an exact duplicate (Z-API retrying) is answered 200 and not
    /// stored again; a failed write is answered 503 so Z-API retries. The
    /// consumer gets the stored events, in `seq` order, from the log's
    /// [`LogOptions::committed`](crate::store::LogOptions::committed) feed.
    Log(EventLog),
}

impl ListenerState {
    /// Accepted events go straight into `events` (no log).
    pub fn channel(events: mpsc::Sender<Event>) -> Self {
        Self {
            sink: Sink::Channel(events),
        }
    }

    /// Accepted events go into the durable log before they are answered.
    pub fn logged(log: EventLog) -> Self {
        Self {
            sink: Sink::Log(log),
        }
    }
}

impl std::fmt::Debug for ListenerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sink {
            Sink::Channel(_) => f.write_str("ListenerState(channel)"),
            Sink::Log(log) => write!(f, "ListenerState(log {})", log.dir().display()),
        }
    }
}

/// The handlers' state: the caller's [`ListenerState`] and the secret that
/// decides which routes exist.
#[derive(Debug, Clone)]
struct Shared {
    state: ListenerState,
    secret: Option<WebhookSecret>,
}

/// The listener's routes without a webhook secret: [`router_with_secret`]
/// with `None`.
pub fn router(state: ListenerState) -> Router {
    router_with_secret(state, None)
}

/// The listener's routes.
///
/// Without a secret:
/// - `POST /hooks/disconnected`, `POST /hooks/connected`, `POST /hooks`: parse
///   the body (see [`parse_event`]), send the event, answer `{"ok": true}`.
///
/// With a secret, webhooks are taken only under the instance's path token
/// (see [`WebhookSecret`] and [`hook_urls`]):
/// - `POST /hooks/{token}/disconnected`, `POST /hooks/{token}/connected`,
///   `POST /hooks/{token}`: as above, and the token must be the path token of
///   the body's `instanceId`. A token that is not 32 lowercase hex characters
///   is refused before the body is read; a well-formed token that does not
///   match is refused after parsing. Both answer 404 `{"error": "not found"}`,
///   exactly like an unknown route, and nothing is sent. Errors that do not
///   depend on the token (415, 413, 408, 400) are answered as without a
///   secret: they tell a caller nothing about the secret. The plain routes do
///   not exist (404).
///
/// Always:
/// - `GET /healthz`: `{"ok": true}`;
/// - anything else: a JSON error (404 unknown route, 405 wrong method).
pub fn router_with_secret(state: ListenerState, secret: Option<WebhookSecret>) -> Router {
    let routes = Router::new();
    let routes = if secret.is_some() {
        routes
            .route("/hooks/{token}/disconnected", post(secret_disconnected))
            .route("/hooks/{token}/connected", post(secret_connected))
            .route("/hooks/{token}", post(secret_any))
    } else {
        routes
            .route("/hooks/disconnected", post(hook_disconnected))
            .route("/hooks/connected", post(hook_connected))
            .route("/hooks", post(hook_any))
    };
    routes
        .route("/healthz", get(healthz))
        // Applies to the routes above, so it must come after them.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(Arc::new(Shared { state, secret }))
}

async fn healthz() -> Response {
    ok()
}

// The handlers take the whole request: extracting `HeaderMap` or `Uri`
// by value clones them, once per webhook.

async fn hook_disconnected(state: State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    hook(state, Route::Disconnected, None, &parts.headers, body).await
}

async fn hook_connected(state: State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    hook(state, Route::Connected, None, &parts.headers, body).await
}

async fn hook_any(state: State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    hook(state, Route::Any, None, &parts.headers, body).await
}

async fn secret_disconnected(state: State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let token = path_token_of(&parts.uri);
    hook(
        state,
        Route::Disconnected,
        Some(token),
        &parts.headers,
        body,
    )
    .await
}

async fn secret_connected(state: State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let token = path_token_of(&parts.uri);
    hook(state, Route::Connected, Some(token), &parts.headers, body).await
}

async fn secret_any(state: State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let token = path_token_of(&parts.uri);
    hook(state, Route::Any, Some(token), &parts.headers, body).await
}

/// The `{token}` segment of `/hooks/{token}[/...]`, raw (not
/// percent-decoded: a real token never needs encoding, so an encoded one is
/// malformed). Empty when the path has no such segment.
fn path_token_of(uri: &Uri) -> &str {
    uri.path().split('/').nth(2).unwrap_or_default()
}

/// 32 lowercase hex characters, the only shape [`WebhookSecret::path_token`]
/// produces.
fn is_well_formed_token(token: &str) -> bool {
    token.len() == PATH_TOKEN_LEN
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

async fn hook(
    State(shared): State<Arc<Shared>>,
    route: Route,
    token: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let received = Utc::now();
    // Tells the log's writer that an append is on its way, so that it waits
    // for it rather than syncing a batch without it (see
    // `EventLog::arrival`); ends when the request is queued or refused.
    let arrival = match &shared.state.sink {
        Sink::Log(log) => Some(log.arrival()),
        Sink::Channel(_) => None,
    };

    if token.is_some_and(|t| !is_well_formed_token(t)) {
        tracing::debug!(
            ?route,
            status = 404,
            "webhook refused: malformed path token"
        );
        return not_found_response();
    }

    if !is_json_content_type(headers) {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            route,
            "`Content-Type` must be `application/json`",
        );
    }

    let bytes = match read_body(headers, body).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                route,
                &format!("body is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(BodyError::TimedOut(e)) => {
            return reject(StatusCode::REQUEST_TIMEOUT, route, &e.to_string());
        }
        Err(BodyError::Read(e)) => {
            return reject(
                StatusCode::BAD_REQUEST,
                route,
                &format!("could not read the body: {e}"),
            );
        }
    };

    let event = match parse_event(&bytes, route, received) {
        Ok(event) => event,
        Err(e) => return reject(StatusCode::BAD_REQUEST, route, &e.to_string()),
    };

    let authorised = match (&shared.secret, token) {
        (None, None) => true,
        (Some(secret), Some(token)) => secret.verify(token, &event.instance_id),
        // Cannot happen: the routes that exist match the secret's presence.
        _ => false,
    };
    if !authorised {
        tracing::debug!(
            ?route,
            status = 404,
            token = token.map(token_prefix),
            "webhook refused: path token does not match the instance"
        );
        return not_found_response();
    }

    accept(&shared.state, event, &bytes, arrival).await
}

/// The last step of a webhook that passed every check: hand `event` (parsed
/// from `body`) to the dashboard and answer. This is where the durable log
/// goes: whatever must hold before the 200 happens here.
async fn accept(
    state: &ListenerState,
    event: Event,
    body: &[u8],
    arrival: Option<crate::store::Arrival>,
) -> Response {
    match &state.sink {
        Sink::Log(log) => match log
            .append_arrival(event, crate::store::fingerprint(body), arrival)
            .await
        {
            Ok(Appended::Written { .. } | Appended::Duplicate) => ok(),
            Err(e) => {
                tracing::error!("webhook refused (503): {e}");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the event could not be stored; retry later",
                )
            }
        },
        Sink::Channel(events) => {
            if events.send(event).await.is_err() {
                tracing::debug!(status = 503, "webhook refused: dashboard is shutting down");
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "dashboard is shutting down",
                );
            }
            ok()
        }
    }
}

enum BodyError {
    TooLarge,
    TimedOut(BodyTimeout),
    Read(axum::Error),
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] without buffering
/// the excess. A declared `Content-Length` over the limit is refused unread.
/// When [`crate::server::serve`] runs the listener, a body that does not
/// arrive in time fails with [`BodyTimeout`] (answered 408).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }

    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match body_timeout_in(&e) {
            Some(timeout) => BodyError::TimedOut(timeout),
            None => BodyError::Read(e),
        })?;
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The [`BodyTimeout`] somewhere in `e`'s chain of sources, if any.
fn body_timeout_in(e: &axum::Error) -> Option<BodyTimeout> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(timeout) = err.downcast_ref::<BodyTimeout>() {
            return Some(timeout.clone());
        }
        source = err.source();
    }
    None
}

/// `application/json`, any case, parameters (`; charset=utf-8`) allowed.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn method_not_allowed(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
) -> Response {
    let path = redact_path(uri.path());
    // With a secret, `/hooks/{anything}` matches a token route; a malformed
    // token gets the same 404 as a POST to it would.
    if shared.secret.is_some()
        && uri.path().starts_with("/hooks/")
        && !is_well_formed_token(path_token_of(&uri))
    {
        tracing::debug!(%method, path, status = 404, "webhook request rejected");
        return not_found_response();
    }
    tracing::debug!(%method, path, status = 405, "webhook request rejected");
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {method} is not allowed on {}", uri.path()),
    )
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let path = redact_path(uri.path());
    tracing::debug!(%method, path, status = 404, "webhook request rejected");
    not_found_response()
}

/// `path` fit for a log line: the segment after `/hooks/` (a path token
/// when a secret is set) cut to its first four characters, and at most 200
/// characters in all.
fn redact_path(path: &str) -> String {
    let shown = match path.strip_prefix("/hooks/") {
        Some(rest) => {
            let (token, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!("/hooks/{}{tail}", token_prefix(token))
        }
        None => path.to_owned(),
    };
    shown.chars().take(200).collect()
}

fn reject(status: StatusCode, route: Route, reason: &str) -> Response {
    tracing::debug!(
        ?route,
        status = status.as_u16(),
        reason,
        "webhook request rejected"
    );
    error_response(status, reason)
}

/// Every 404 is this one answer, so a caller cannot tell an unknown route
/// from a wrong path token.
fn not_found_response() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

fn error_response(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}

/// `{"ok":true}`, the bytes `Json(json!({"ok": true}))` gives, without
/// building and serialising a map per request.
fn ok() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        )],
        "{\"ok\":true}",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
    }

    fn parse(body: &str, route: Route) -> Result<Event, ParseError> {
        parse_event(body.as_bytes(), route, now())
    }

    fn err(body: &str, route: Route) -> String {
        parse(body, route).unwrap_err().to_string()
    }

    const TEST_SECRET: &str = "0123456789abcdef-test-secret";

    fn secret() -> WebhookSecret {
        WebhookSecret::new(&Secret::new(TEST_SECRET)).unwrap()
    }

    #[test]
    fn path_token_is_truncated_hmac_sha256_hex() {
        // Expected values from Python's hmac module, an independent
        // implementation: hmac.new(secret, id, sha256).hexdigest()[:32].
        let s = secret();
        assert_eq!(
            s.path_token(&InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11")),
            "d0496ed481bde2c5597768d114023648"
        );
        assert_eq!(
            s.path_token(&InstanceId::new("instance.id")),
            "39d7668d77d9da750930c14a7a13d0a0"
        );
        let other = WebhookSecret::new(&Secret::new("another secret of enough length")).unwrap();
        assert_ne!(
            other.path_token(&InstanceId::new("instance.id")),
            s.path_token(&InstanceId::new("instance.id"))
        );
    }

    #[test]
    fn verify_takes_only_the_instance_token() {
        let s = secret();
        let a = InstanceId::new("A");
        let b = InstanceId::new("B");
        let token_a = s.path_token(&a);
        assert!(s.verify(&token_a, &a));
        assert!(!s.verify(&token_a, &b));
        assert!(!s.verify(&token_a[..31], &a));
        assert!(!s.verify(&format!("{token_a}0"), &a));
        assert!(!s.verify(&token_a.to_uppercase(), &a));
        assert!(!s.verify("", &a));
    }

    #[test]
    fn short_secrets_are_refused() {
        for short in ["", "x", "fifteen chars!!"] {
            assert_eq!(
                WebhookSecret::new(&Secret::new(short)).unwrap_err(),
                SecretError::TooShort,
                "{short:?}"
            );
        }
        assert!(WebhookSecret::new(&Secret::new("sixteen chars!!!")).is_ok());
    }

    #[test]
    fn secret_is_never_printed() {
        let s = secret();
        let shown = format!("{s:?}");
        assert!(!shown.contains("0123"), "{shown}");
        assert_eq!(shown, "WebhookSecret(…)");
    }

    #[test]
    fn hook_urls_with_and_without_secret() {
        let id = InstanceId::new("instance.id");
        assert_eq!(
            hook_urls("https://dash.example/", None, &id),
            (
                "https://dash.example/hooks/disconnected".to_owned(),
                "https://dash.example/hooks/connected".to_owned()
            )
        );
        assert_eq!(
            hook_urls("https://dash.example", Some(&secret()), &id),
            (
                "https://dash.example/hooks/39d7668d77d9da750930c14a7a13d0a0/disconnected"
                    .to_owned(),
                "https://dash.example/hooks/39d7668d77d9da750930c14a7a13d0a0/connected".to_owned()
            )
        );
        assert_eq!(
            hook_url_every("https://dash.example/", Some(&secret()), &id),
            "https://dash.example/hooks/39d7668d77d9da750930c14a7a13d0a0"
        );
        assert_eq!(
            hook_url_every("https://dash.example", None, &id),
            "https://dash.example/hooks"
        );
    }

    #[test]
    fn paths_are_redacted_for_logs() {
        assert_eq!(
            redact_path("/hooks/39d7668d77d9da750930c14a7a13d0a0/connected"),
            "/hooks/39d7…/connected"
        );
        assert_eq!(
            redact_path("/hooks/39d7668d77d9da750930c14a7a13d0a0"),
            "/hooks/39d7…"
        );
        assert_eq!(redact_path("/healthz"), "/healthz");
        assert_eq!(redact_path(&"/x".repeat(500)).chars().count(), 200);
        assert_eq!(token_prefix("39d7668d"), "39d7…");
    }

    #[test]
    fn token_shape() {
        assert!(is_well_formed_token("39d7668d77d9da750930c14a7a13d0a0"));
        assert!(!is_well_formed_token("39D7668D77D9DA750930C14A7A13D0A0"));
        assert!(!is_well_formed_token("39d7668d77d9da750930c14a7a13d0a"));
        assert!(!is_well_formed_token("disconnected"));
        assert!(!is_well_formed_token("39d7668d77d9da750930c14a7a13d0g0"));
        assert!(!is_well_formed_token(""));
    }

    #[test]
    fn disconnect_from_the_docs() {
        let e = parse(
            r#"{"momment": 1580163342, "error": "Device has been disconnected",
                "disconnected": true, "type": "DisconnectedCallback", "instanceId": "instance.id"}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(e.instance_id, InstanceId::new("instance.id"));
        assert_eq!(
            e.kind,
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into())
            }
        );
        assert_eq!(e.moment, Utc.timestamp_opt(1_580_163_342, 0).unwrap());
        assert_eq!(e.received, now());
    }

    #[test]
    fn connect_with_millis_and_phone() {
        let e = parse(
            r#"{"type": "ConnectedCallback", "connected": true, "momment": 1732400000123,
                "instanceId": "ABC", "phone": "5544999999999"}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::Connected {
                phone: Some("5544999999999".into())
            }
        );
        assert_eq!(
            e.moment,
            Utc.timestamp_millis_opt(1_732_400_000_123).unwrap()
        );
    }

    #[test]
    fn other_types_are_activity() {
        let e = parse(
            r#"{"type": "ReceivedCallback", "instanceId": "X", "phone": 5, "momment": 1632228638000}"#,
            Route::Connected,
        )
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::Activity {
                callback: "ReceivedCallback".into()
            }
        );
    }

    #[test]
    fn type_wins_over_route() {
        let e = parse(
            r#"{"type": "ConnectedCallback", "instanceId": "X"}"#,
            Route::Disconnected,
        )
        .unwrap();
        assert_eq!(e.kind, EventKind::Connected { phone: None });
    }

    #[test]
    fn missing_type_follows_route() {
        let body = r#"{"instanceId": "X", "error": null, "phone": null}"#;
        assert_eq!(
            parse(body, Route::Disconnected).unwrap().kind,
            EventKind::Disconnected { error: None }
        );
        assert_eq!(
            parse(body, Route::Connected).unwrap().kind,
            EventKind::Connected { phone: None }
        );
        assert_eq!(err(body, Route::Any), "missing field `type`");
    }

    #[test]
    fn missing_or_null_moment_is_received() {
        for body in [
            r#"{"instanceId": "X", "type": "T"}"#,
            r#"{"instanceId": "X", "type": "T", "momment": null}"#,
        ] {
            assert_eq!(parse(body, Route::Any).unwrap().moment, now());
        }
    }

    #[test]
    fn integral_float_moment_is_accepted() {
        let e = parse(
            r#"{"instanceId": "X", "type": "T", "momment": 1580163342.0}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(e.moment.timestamp(), 1_580_163_342);
        let e = parse(
            r#"{"instanceId": "X", "type": "T", "momment": 1.632228638e12}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(e.moment.timestamp(), 1_632_228_638);
    }

    #[test]
    fn bad_moments_are_rejected() {
        let cases = [
            (r#""1580163342""#, "`momment` must be a number"),
            ("true", "`momment` must be a number"),
            ("[1]", "`momment` must be a number"),
            ("{}", "`momment` must be a number"),
            ("1.5", "`momment` must be a whole number"),
            ("9223372036854775807", "`momment` is out of range"),
            ("-9223372036854775808", "`momment` is out of range"),
            ("-9223372036854775807", "`momment` is out of range"),
            ("-9.223372036854775808e18", "`momment` is out of range"),
            ("18446744073709551615", "`momment` is out of range"),
            ("1e300", "`momment` is out of range"),
            ("-1e300", "`momment` is out of range"),
            ("9.3e18", "`momment` is out of range"),
        ];
        for (raw, want) in cases {
            let body = format!(r#"{{"instanceId": "X", "type": "T", "momment": {raw}}}"#);
            let got = err(&body, Route::Any);
            assert!(got.starts_with(want), "momment {raw}: got {got:?}");
        }
    }

    #[test]
    fn instance_id_must_be_a_non_empty_string() {
        assert_eq!(
            err(r#"{"type": "T"}"#, Route::Any),
            "missing field `instanceId`"
        );
        assert_eq!(
            err(r#"{"type": "T", "instanceId": null}"#, Route::Any),
            "missing field `instanceId`"
        );
        for bad in ["\"\"", "\"  \"", "42", "true", "[\"a\"]", "{}"] {
            let body = format!(r#"{{"type": "T", "instanceId": {bad}}}"#);
            assert_eq!(
                err(&body, Route::Any),
                "`instanceId` must be a non-empty string",
                "instanceId {bad}"
            );
        }
    }

    #[test]
    fn type_must_be_a_non_empty_string() {
        for bad in ["null", "1", "\"\"", "{}"] {
            let body = format!(r#"{{"instanceId": "X", "type": {bad}}}"#);
            assert_eq!(
                err(&body, Route::Disconnected),
                "`type` must be a non-empty string",
                "type {bad}"
            );
        }
    }

    #[test]
    fn error_and_phone_must_be_strings() {
        assert_eq!(
            err(
                r#"{"instanceId": "X", "type": "DisconnectedCallback", "error": 1}"#,
                Route::Any
            ),
            "`error` must be a string"
        );
        assert_eq!(
            err(
                r#"{"instanceId": "X", "phone": {"n": 1}}"#,
                Route::Connected
            ),
            "`phone` must be a string"
        );
    }

    #[test]
    fn not_json_or_not_an_object() {
        assert_eq!(
            err("", Route::Any),
            "body is not valid JSON: EOF while parsing a value at line 1 column 0"
        );
        assert_eq!(
            err("hello", Route::Any),
            "body is not valid JSON: expected value at line 1 column 1"
        );
        for body in ["[]", "\"x\"", "1", "null"] {
            assert_eq!(err(body, Route::Any), "body must be a JSON object");
        }
    }

    #[test]
    fn connected_example_as_documented_is_rejected() {
        let doc = "{\n  \"type\": 'ConnectedCallback',\n  \"connected\": true,\n  \"instanceId\": instance.id,,\n}";
        assert!(matches!(
            parse(doc, Route::Connected),
            Err(ParseError::InvalidJson(_))
        ));
    }

    #[test]
    fn content_type_check() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            is_json_content_type(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/json;charset=UTF-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json_content_type(&HeaderMap::new()));
    }

    /// xorshift64*: a tiny deterministic generator, so failures reproduce.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ROUTES: [Route; 3] = [Route::Disconnected, Route::Connected, Route::Any];

    #[test]
    fn never_panics_on_random_bytes() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for i in 0..20_000 {
            let len = g.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| g.next() as u8).collect();
            let _ = parse_event(&bytes, ROUTES[i % 3], now());
        }
    }

    #[test]
    fn never_panics_on_mutated_bodies() {
        // Start from valid bodies, so mutations reach the field checks.
        let seeds = [
            r#"{"momment": 1580163342, "error": "Device has been disconnected", "disconnected": true, "type": "DisconnectedCallback", "instanceId": "instance.id"}"#,
            r#"{"type": "ConnectedCallback", "connected": true, "momment": 1732400000000, "instanceId": "A", "phone": "5544999999999"}"#,
            r#"{"instanceId": "X", "momment": -1.0e19, "phone": null}"#,
        ];
        let alphabet = b"{}[]\":,0123456789.eE-+ntrufalsx\\ ";
        let mut g = Gen(0xD1B5_4A32_D192_ED03);
        let mut accepted = 0;
        for i in 0..20_000 {
            let mut body = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..=g.below(4) {
                let at = g.below(body.len() + 1);
                match g.below(3) {
                    0 if at < body.len() => {
                        body.remove(at);
                    }
                    1 if at < body.len() => body[at] = alphabet[g.below(alphabet.len())],
                    _ => body.insert(at, alphabet[g.below(alphabet.len())]),
                }
            }
            if parse_event(&body, ROUTES[g.below(3)], now()).is_ok() {
                accepted += 1;
            }
        }
        // The mutations must not be so destructive that nothing parses.
        assert!(accepted > 100, "only {accepted} mutated bodies parsed");
    }

    #[test]
    fn never_panics_on_any_moment_value() {
        let mut g = Gen(0x2545_F491_4F6C_DD1D);
        let mut raws: Vec<String> = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX]
            .iter()
            .map(i64::to_string)
            .collect();
        for _ in 0..20_000 {
            let bits = g.next();
            raws.push((bits as i64).to_string());
            raws.push(bits.to_string());
            let f = f64::from_bits(bits);
            if f.is_finite() {
                raws.push(format!("{f:e}"));
                raws.push(format!("{:.1}", f.trunc()));
            }
        }
        for raw in raws {
            let body = format!(r#"{{"instanceId": "X", "type": "T", "momment": {raw}}}"#);
            let _ = parse(&body, Route::Any);
        }
    }

    #[test]
    fn never_panics_on_deep_nesting() {
        let deep = format!(
            r#"{{"instanceId": "X", "type": "T", "x": {}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            parse(&deep, Route::Any),
            Err(ParseError::InvalidJson(_))
        ));
    }
}
