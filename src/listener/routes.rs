//! The listener's routes: the axum [`router`] that takes Z-API's webhook calls,
//! [`parse_event`](super::parse::parse_event) that turns one body into a [`model::Event`](crate::model::Event),
//! and the hand-off of accepted events to the dashboard through an mpsc channel.
//!
//! With a [`WebhookSecret`] ([`router_with_secret`]) webhooks are taken only
//! under per-instance secret paths `/hooks/{token}/...`, whose token is derived
//! from the secret and the instance id ([`WebhookSecret::path_token`],
//! [`hook_urls`](super::secret::hook_urls)): Z-API does not sign its calls, so the URL is the only
//! secret it can carry.
//!
//! Every answer is JSON: `{"ok": true}` on success, `{"error": "<what is wrong>"}`
//! otherwise (400 bad body, 401 `z-api-token` header refused, 404 unknown
//! route or wrong path token, 405 wrong method, 408 body not received in
//! time, 413 body too large, 415 not `application/json`, 503 dashboard
//! shutting down).
//!
//! The body parser is in [`super::parse`]; the secret paths in
//! [`super::secret`]; the `z-api-token` check in [`super::token_header`].

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::mask::token_prefix;
use crate::metrics::Metrics;
use crate::model::Event;
use crate::store::{Appended, EventLog};

use super::parse::{Parsed, Route, parse_webhook};
use super::publish::{Outgoing, Publish};
use super::secret::{PATH_TOKEN_LEN, WebhookSecret};
use super::server::BodyTimeout;
use super::token_header::{TokenHeaderCheck, TokenVerdict};

/// Largest body `/hooks` (message traffic, every type) takes: 1 MiB. A
/// text at WhatsApp's 65,536-character limit is a ~75 KB body, and a
/// refused delivery is a failure on Z-API's side.
pub const MAX_MESSAGE_BODY_BYTES: usize = 1024 * 1024;

/// Largest body the state routes (`/hooks/disconnected`, `/hooks/connected`)
/// take: 64 KiB. Z-API's state bodies are a few hundred bytes.
pub const MAX_STATE_BODY_BYTES: usize = 64 * 1024;

/// The body limit of `route`.
pub fn max_body_bytes(route: Route) -> usize {
    match route {
        Route::Any => MAX_MESSAGE_BODY_BYTES,
        Route::Disconnected | Route::Connected => MAX_STATE_BODY_BYTES,
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
    /// (fsync'd); a retry (a body with `momment` identical to one accepted
    /// within [`crate::store::RETRY_WINDOW`]) is answered 200 and not stored
    /// again; a failed write is answered 503 so Z-API retries. The
    /// consumer gets the stored events, in `seq` order, from the log's
    /// [`LogOptions::committed`](crate::store::LogOptions::committed) feed.
    Log(EventLog),
    /// Held elsewhere (`[cluster]`: a JetStream stream) before the 200; a
    /// failed or timed-out publish is answered 503 so Z-API retries. The
    /// consumer gets the events back from there, into its own log.
    Published(Arc<dyn Publish>),
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

    /// Accepted events are held by `publisher` before they are answered.
    pub fn published(publisher: Arc<dyn Publish>) -> Self {
        Self {
            sink: Sink::Published(publisher),
        }
    }
}

impl std::fmt::Debug for ListenerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sink {
            Sink::Channel(_) => f.write_str("ListenerState(channel)"),
            Sink::Log(log) => write!(f, "ListenerState(log {})", log.dir().display()),
            Sink::Published(_) => f.write_str("ListenerState(published)"),
        }
    }
}

/// How the listener checks and reports deliveries, beside where they go.
#[derive(Debug, Clone, Default)]
pub struct HookOptions {
    /// Webhooks only under per-instance secret paths (see [`WebhookSecret`]).
    pub secret: Option<WebhookSecret>,
    /// The `z-api-token` header check (see [`TokenHeaderCheck`]).
    pub token_header: TokenHeaderCheck,
    /// Where ignored fields and `z-api-token` observations are counted.
    pub metrics: Option<Arc<Metrics>>,
}

/// The handlers' state: the caller's [`ListenerState`] and [`HookOptions`]
/// (whose secret decides which routes exist).
#[derive(Debug, Clone)]
struct Shared {
    state: ListenerState,
    secret: Option<WebhookSecret>,
    token_header: TokenHeaderCheck,
    metrics: Option<Arc<Metrics>>,
}

/// The listener's routes without a webhook secret: [`router_with_secret`]
/// with `None`.
pub fn router(state: ListenerState) -> Router {
    router_with_secret(state, None)
}

/// [`router_with`] with only a secret (no `z-api-token` check, no metrics).
pub fn router_with_secret(state: ListenerState, secret: Option<WebhookSecret>) -> Router {
    router_with(
        state,
        HookOptions {
            secret,
            ..HookOptions::default()
        },
    )
}

/// The listener's routes.
///
/// Without a secret:
/// - `POST /hooks/disconnected`, `POST /hooks/connected`, `POST /hooks`: parse
///   the body (see [`parse_event`](super::parse::parse_event)), send the event, answer `{"ok": true}`.
///
/// With a secret, webhooks are taken only under the instance's path token
/// (see [`WebhookSecret`] and [`hook_urls`](super::secret::hook_urls)):
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
/// Bodies: `/hooks` takes up to [`MAX_MESSAGE_BODY_BYTES`], the state routes
/// up to [`MAX_STATE_BODY_BYTES`] (413 beyond).
///
/// The `z-api-token` header (see [`TokenHeaderCheck`]), once the body is
/// parsed and the path token checked: for a configured instance, a missing
/// header is accepted and counted; a header that is not the instance's
/// token is counted, and answered 401 when the check is on.
///
/// Always:
/// - `GET /healthz`: `{"ok": true}`;
/// - anything else: a JSON error (404 unknown route, 405 wrong method).
pub fn router_with(state: ListenerState, opts: HookOptions) -> Router {
    let HookOptions {
        secret,
        token_header,
        metrics,
    } = opts;
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
        .with_state(Arc::new(Shared {
            state,
            secret,
            token_header,
            metrics,
        }))
}

/// `{"ok": true}`, or 503 with the reason when webhooks cannot be held
/// (a [`Publish`] that says so).
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if let Sink::Published(publisher) = &shared.state.sink
        && let Some(reason) = publisher.unhealthy()
    {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, &reason);
    }
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
        Sink::Channel(_) | Sink::Published(_) => None,
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

    let limit = max_body_bytes(route);
    let bytes = match read_body(headers, body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => return body_error(route, e, limit),
    };

    let parsed = match parse_webhook(&bytes, route, received) {
        Ok(parsed) => parsed,
        Err(e) => return reject(StatusCode::BAD_REQUEST, route, &e.to_string()),
    };

    let authorised = match (&shared.secret, token) {
        (None, None) => true,
        (Some(secret), Some(token)) => secret.verify(token, &parsed.event.instance_id),
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
    if let Some(refused) = check_token_header(&shared, route, headers, &parsed.event) {
        return refused;
    }
    report_ignored(&shared, route, &parsed);

    // Only a body with its own `momment` can be told from a new event of
    // the same content: without one, the same event repeated is the same
    // bytes, so it is never taken for a retry.
    let fingerprint = parsed.has_moment.then(|| crate::store::fingerprint(&bytes));
    if let Sink::Published(publisher) = &shared.state.sink {
        return accept_published(publisher.as_ref(), route, parsed.event, fingerprint, bytes).await;
    }
    accept(&shared.state, parsed.event, fingerprint, &bytes, arrival).await
}

/// The last step with a [`Publish`]: 200 once it holds the webhook, 503
/// with its reason if it does not.
async fn accept_published(
    publisher: &dyn Publish,
    route: Route,
    event: Event,
    fingerprint: Option<u64>,
    body: Vec<u8>,
) -> Response {
    let msg = Outgoing {
        instance_id: event.instance_id,
        route,
        received: event.received,
        fingerprint,
        body: body.into(),
    };
    match publisher.publish(msg).await {
        Ok(()) => ok(),
        Err(reason) => {
            tracing::warn!("webhook refused (503): {reason}");
            error_response(StatusCode::SERVICE_UNAVAILABLE, &reason)
        }
    }
}

/// The answer to a body that could not be read.
fn body_error(route: Route, e: BodyError, limit: usize) -> Response {
    match e {
        BodyError::TooLarge => reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            route,
            &format!("body is larger than {limit} bytes"),
        ),
        BodyError::TimedOut(e) => reject(StatusCode::REQUEST_TIMEOUT, route, &e.to_string()),
        BodyError::Read(e) => reject(
            StatusCode::BAD_REQUEST,
            route,
            &format!("could not read the body: {e}"),
        ),
    }
}

/// The `z-api-token` check of a delivery of `event`: counts what it sees,
/// and returns the 401 to answer when the check is on and the header is
/// not the instance's token. The header's value is never logged.
fn check_token_header(
    shared: &Shared,
    route: Route,
    headers: &HeaderMap,
    event: &Event,
) -> Option<Response> {
    let metrics = shared.metrics.as_deref();
    match shared.token_header.verdict(&event.instance_id, headers) {
        TokenVerdict::UnknownInstance | TokenVerdict::Matches => None,
        TokenVerdict::Missing => {
            metrics.inspect(|m| m.webhook_without_token_header());
            None
        }
        TokenVerdict::Mismatch => {
            metrics.inspect(|m| m.webhook_token_header_mismatch());
            let enforce = shared.token_header.enforce();
            // refused: worth a warning each time; only counted (the check is
            // off): the counter says it, and a log line per delivery would
            // flood the log
            if enforce {
                tracing::warn!(
                    instance = %event.instance_id,
                    ?route,
                    "webhook refused (401): z-api-token header is not the instance's token"
                );
            } else {
                tracing::debug!(
                    instance = %event.instance_id,
                    ?route,
                    "webhook: z-api-token header is not the instance's token (accepted: check_token_header is off)"
                );
            }
            enforce.then(|| {
                error_response(
                    StatusCode::UNAUTHORIZED,
                    "the z-api-token header is not this instance's token",
                )
            })
        }
    }
}

/// Counts and logs the fields a parsed body had to leave out.
fn report_ignored(shared: &Shared, route: Route, parsed: &Parsed) {
    if parsed.ignored.is_empty() {
        return;
    }
    if let Some(metrics) = &shared.metrics {
        for field in &parsed.ignored {
            metrics.webhook_bad_field(field);
        }
    }
    tracing::warn!(
        instance = %parsed.event.instance_id,
        ?route,
        fields = ?parsed.ignored,
        "webhook accepted without its unusable fields (an unusable momment is the receipt time)"
    );
}

/// The last step of a webhook that passed every check: hand `event` to the
/// dashboard and answer. This is where the durable log goes: whatever must
/// hold before the 200 happens here. `fingerprint` is that of a body that
/// may be a retry (see [`EventLog::append_arrival`]).
async fn accept(
    state: &ListenerState,
    event: Event,
    fingerprint: Option<u64>,
    body: &[u8],
    arrival: Option<crate::store::Arrival>,
) -> Response {
    match &state.sink {
        Sink::Log(log) => {
            // the original bytes, for the relay's byte-for-byte delivery
            let body = log.keeps_bodies().then(|| body.to_vec());
            accept_logged(log, event, fingerprint, body, arrival).await
        }
        // answered by accept_published before this
        Sink::Published(_) => error_response(StatusCode::SERVICE_UNAVAILABLE, "not held"),
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

/// [`accept`] into the durable log: 200 once synced, 503 if it failed.
async fn accept_logged(
    log: &crate::store::EventLog,
    event: Event,
    fingerprint: Option<u64>,
    body: Option<Vec<u8>>,
    arrival: Option<crate::store::Arrival>,
) -> Response {
    match log.append_body(event, fingerprint, body, arrival).await {
        Ok(Appended::Written { .. } | Appended::Duplicate) => ok(),
        Err(e) => {
            tracing::error!("webhook refused (503): {e}");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be stored; retry later",
            )
        }
    }
}

enum BodyError {
    TooLarge,
    TimedOut(BodyTimeout),
    Read(axum::Error),
}

/// Reads the body, refusing more than `limit` bytes without buffering
/// the excess. A declared `Content-Length` over the limit is refused unread.
/// When [`super::server::serve`] runs the listener, a body that does not
/// arrive in time fails with [`BodyTimeout`] (answered 408).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }

    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match body_timeout_in(&e) {
            Some(timeout) => BodyError::TimedOut(timeout),
            None => BodyError::Read(e),
        })?;
        if buf.len() + chunk.len() > limit {
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
}
