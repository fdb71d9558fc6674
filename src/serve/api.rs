//! The HTTP API of `serve`, served beside the webhook routes.
//!
//! Every route needs `Authorization: Bearer <api_token>`; without an
//! `api_token` in the config none of them exists (404, like any unknown
//! route). A missing or wrong token gets 401 with `WWW-Authenticate: Bearer`
//! and is counted in `zapi_api_unauthorized_total`. The token is compared in
//! constant time (SHA-256 digests, so not even its length leaks).
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | the Prometheus exposition: OpenMetrics when `Accept` prefers it, else the text format 0.0.4 ([`crate::metrics::exposition`]) |
//! | `GET /api/instances` | the [`Snapshot`](crate::app::Snapshot): `{"seq": N, "events": N, "instances": [Instance, …]}` |
//! | `GET /api/events` | Server-Sent Events, see below |
//! | `POST /api/instances/{id}/register[?replace=true]` | both webhook PUTs on Z-API: `{"ok": true}`; 409 `{"error", "would_replace": [url, …]}` (masked) when `/me` shows a webhook pointing at another system, unless `?replace=true` |
//! | `POST /api/instances/{id}/status` | `GET …/status` on Z-API: `{"ok": true, "status": Status}` |
//! | `POST /api/instances/{id}/restart` | `GET …/restart`: `{"ok": true}` |
//! | `POST /api/instances/{id}/restore-session` | `GET …/restore-session`: `{"ok": true}` |
//! | `POST /api/instances/{id}/qr-code` | `GET …/qr-code/image`, the payload read out of it: `{"connected": false, "payload": "…"}`, or `{"connected": true}` (no code: connected already) |
//! | `POST /api/instances/{id}/phone-code` | body `{"phone": "<digits>"}`; `GET …/phone-code/{phone}`: `{"code": "…"}`; 400 for a phone that is not 8–15 digits |
//!
//! The QR payload and the pairing code are credentials (whoever holds one can
//! link the number): they are answered with `Cache-Control: no-store` to the
//! caller only, and never go to the state, SSE, the metrics or a log line.
//!
//! Errors are `{"error": "<what>"}`: 401 token, 404 unknown route or
//! instance, 405 wrong method, 409 the instance is not configured, a setting
//! is missing (`client_token`, `public_url`) or the same action is already
//! running for it, 502 Z-API failed (its error text, never a token), 503 the
//! server is stopping. An action's result (register, status) also goes into
//! the server's state, so the rows, the metrics and every watcher see it. An
//! action runs to its end even if the caller hangs up.
//!
//! ## `GET /api/events`
//!
//! | SSE event | `id` | `data` |
//! |---|---|---|
//! | `snapshot` | the snapshot's `seq` | the [`Snapshot`](crate::app::Snapshot) |
//! | `webhook` | the event's `seq` | `{"seq": N, "event": Event}` |
//! | `row` | none | an [`Instance`](crate::fleet::Instance) (a status or registration result changed it) |
//!
//! A fresh connection gets a `snapshot`, then every change after it. With
//! `Last-Event-ID: L` it first gets every stored event with `L < seq ≤ S`
//! from the log (as `webhook` events), then the `snapshot` at `S`, then the
//! changes after it: its history misses nothing and its state ends exactly at
//! `S`. Exactness comes from the hub, which applies every change in one
//! task: the stream subscribes first and then takes the snapshot, which says
//! which `seq` it holds, so live `webhook` events with `seq ≤ S` are dropped
//! and none after it is missed. Rows carry no `seq`; a `row` queued before a
//! webhook the snapshot holds is dropped too (see `settle`), so a row never
//! takes an instance back to a state older than the snapshot's.
//!
//! A watcher too slow for the hub's broadcast buffer (it lagged) is not
//! skipped silently: its backlog is dropped, its subscription renewed and it
//! gets a fresh `snapshot` (in that order, as at the start), then the changes
//! after it. Its state is exact again; only its history misses the events it
//! was too slow for (a `Last-Event-ID` reconnect would replay them).
//!
//! A comment is sent every [`super::events::KEEP_ALIVE`]. The stream ends when the client
//! leaves or the hub stops (noticed within one keep-alive period); a server
//! that shuts down closes it after its grace period, and the watcher resumes
//! with `Last-Event-ID`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::hub::HubHandle;
use crate::app::Msg;
use crate::model::{InstanceId, Secret};
use crate::relay::Relay;
use crate::runner::Backend;
use crate::zapi::ApiError;

use super::events::events;

/// The API's routes; without an `api_token` they answer 404.
pub fn router(hub: HubHandle, api_token: Option<Secret>) -> Router {
    router_with(hub, api_token, None)
}

/// [`router`] with the relay's routes (`/api/forward…`) and series.
pub fn router_with(hub: HubHandle, api_token: Option<Secret>, relay: Option<Relay>) -> Router {
    let Some(token) = api_token.filter(|t| !t.is_empty()) else {
        // As if absent, but answered here: these are not webhook refusals.
        return Router::new()
            .route("/metrics", any(not_found))
            .route("/api", any(not_found))
            .route("/api/{*rest}", any(not_found));
    };
    let auth = Arc::new(Auth {
        digest: Sha256::digest(token.expose().as_bytes()).into(),
        metrics: Arc::clone(&hub.metrics),
    });
    let state = Api {
        hub,
        running: Arc::new(Mutex::new(HashSet::new())),
        relay,
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/instances", get(instances))
        .route("/api/events", get(events))
        .route("/api/instances/{id}/register", post(register))
        .route("/api/instances/{id}/status", post(status))
        .route("/api/instances/{id}/restart", post(restart))
        .route("/api/instances/{id}/restore-session", post(restore_session))
        .route("/api/instances/{id}/history", get(history))
        .route("/api/forward", get(super::forward::targets))
        .route("/api/forward/{name}/retry", post(super::forward::retry))
        .route("/api/instances/{id}/qr-code", post(super::connect::qr_code))
        .route(
            "/api/instances/{id}/phone-code",
            post(super::connect::phone_code),
        )
        .route("/api", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(auth, require_token))
}

/// What the handlers share.
#[derive(Clone)]
pub(super) struct Api {
    pub(super) hub: HubHandle,
    /// Actions running now, one per instance and action.
    running: Arc<Mutex<HashSet<(InstanceId, ApiAction)>>>,
    /// The relay, when `[[forward]]` targets exist.
    pub(super) relay: Option<Relay>,
}

struct Auth {
    /// SHA-256 of the API token.
    digest: [u8; 32],
    metrics: Arc<crate::metrics::Metrics>,
}

impl Auth {
    fn accepts(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// Lets the request through with the right bearer token; 401 otherwise.
async fn require_token(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let refusal = match bearer_token(req.headers()) {
        Some(token) if auth.accepts(token) => return next.run(req).await,
        Some(_) => ("invalid API token", "Bearer error=\"invalid_token\""),
        None => (
            "missing `Authorization: Bearer <api_token>` header",
            "Bearer",
        ),
    };
    auth.metrics.unauthorized();
    tracing::debug!(
        method = %req.method(),
        path = req.uri().path(),
        reason = refusal.0,
        "API request refused"
    );
    let mut resp = error(StatusCode::UNAUTHORIZED, refusal.0);
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(refusal.1),
    );
    resp
}

/// The token of an `Authorization: Bearer <token>` header. A header of
/// another scheme or that is not text counts as missing, except that
/// `Bearer` with non-text bytes is a (wrong) token.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    let bytes = value.as_bytes();
    let scheme_ok =
        bytes.len() > 7 && bytes[..6].eq_ignore_ascii_case(b"bearer") && bytes[6] == b' ';
    if !scheme_ok {
        return None;
    }
    // not text: a token that cannot match
    Some(value.to_str().map_or("\u{0}", |s| s[7..].trim()))
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub(super) fn stopping() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {method} is not allowed on {}", uri.path()),
    )
}

/// The exposition in the format the client prefers (see [`crate::metrics::exposition`]).
async fn metrics(State(api): State<Api>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = crate::metrics::exposition::negotiate(accept);
    if let Some(relay) = &api.relay {
        api.hub.metrics.set_forward(&relay.status());
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::VARY, HeaderValue::from_static("accept")),
        ],
        api.hub.metrics.encode_as(format),
    )
        .into_response()
}

async fn instances(State(api): State<Api>) -> Response {
    match api.hub.snapshot().await {
        Some(snapshot) => Json(snapshot).into_response(),
        None => stopping(),
    }
}

// ---------------------------------------------------------------- actions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ApiAction {
    Register,
    Status,
    Restart,
    RestoreSession,
}

impl ApiAction {
    fn name(self) -> &'static str {
        match self {
            ApiAction::Register => "register",
            ApiAction::Status => "status",
            ApiAction::Restart => "restart",
            ApiAction::RestoreSession => "restore-session",
        }
    }
}

/// `?replace=true`: the caller confirmed replacing another system's URL;
/// `?adopt=true`: it did, and asked to keep that URL fed (adopted as a
/// forward target of this server's relay, then registered: `watch`'s `y`).
#[derive(Debug, serde::Deserialize)]
struct RegisterQuery {
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    adopt: bool,
}

/// What a registration may do to another system's webhook URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replacing {
    /// Nothing: 409 with the URLs instead.
    Refuse,
    /// Replace it (`?replace=true`).
    Overwrite,
    /// Adopt it as a forward target, then replace it (`?adopt=true`).
    Adopt,
}

async fn register(
    state: State<Api>,
    id: IdPath,
    query: Result<Query<RegisterQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad query: the parameters are replace=true|false and adopt=true|false",
        );
    };
    let replacing = match (query.adopt, query.replace) {
        (true, _) => Replacing::Adopt,
        (false, true) => Replacing::Overwrite,
        (false, false) => Replacing::Refuse,
    };
    act_with(state, id, ApiAction::Register, replacing).await
}

async fn status(state: State<Api>, id: IdPath) -> Response {
    act(state, id, ApiAction::Status).await
}

async fn restart(state: State<Api>, id: IdPath) -> Response {
    act(state, id, ApiAction::Restart).await
}

async fn restore_session(state: State<Api>, id: IdPath) -> Response {
    act(state, id, ApiAction::RestoreSession).await
}

/// What an action came to.
enum ApiOutcome {
    Done(Option<crate::model::Status>),
    /// Not sent: the webhooks point at another system (these URLs, masked).
    WouldReplace(Vec<String>),
    Failed(ApiError),
    /// The server runs with a backend that cannot act (a bug).
    NoBackend,
}

/// Removes its (instance, action) from the running set when dropped.
struct Running {
    set: Arc<Mutex<HashSet<(InstanceId, ApiAction)>>>,
    key: (InstanceId, ApiAction),
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// `GET /api/instances/{id}/history`: the instance's newest events from the
/// event log, newest first (at most [`crate::app::DETAIL_HISTORY`]): `watch`'s detail pane.
async fn history(State(api): State<Api>, id: IdPath) -> Response {
    let id = match known_instance(&api, id).await {
        Ok(id) => id,
        Err(refusal) => return refusal,
    };
    match crate::runner::read_history(api.hub.log_dir.clone(), id).await {
        Ok(events) => Json(events).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "API: history cannot be read");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the event log cannot be read",
            )
        }
    }
}

/// The `{id}` of an action's path; a path that cannot be decoded names no
/// instance (404).
pub(super) type IdPath = Result<Path<String>, axum::extract::rejection::PathRejection>;

/// The instance a path names, if the server knows it; else the answer to
/// give (404, or 503 while stopping).
pub(super) async fn known_instance(api: &Api, id: IdPath) -> Result<InstanceId, Response> {
    let Ok(Path(id)) = id else {
        return Err(error(StatusCode::NOT_FOUND, "no such instance"));
    };
    let id = InstanceId::new(id);
    let Some(snapshot) = api.hub.snapshot().await else {
        return Err(stopping());
    };
    if snapshot.instances.iter().any(|i| i.id == id) {
        Ok(id)
    } else {
        Err(error(StatusCode::NOT_FOUND, "no such instance"))
    }
}

async fn act(state: State<Api>, id: IdPath, action: ApiAction) -> Response {
    act_with(state, id, action, Replacing::Refuse).await
}

/// `replacing`: what a registration may do to another system's webhook URL.
async fn act_with(
    State(api): State<Api>,
    id: IdPath,
    action: ApiAction,
    replacing: Replacing,
) -> Response {
    let id = match known_instance(&api, id).await {
        Ok(id) => id,
        Err(refusal) => return refusal,
    };
    let key = (id.clone(), action);
    if !api
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key.clone())
    {
        return error(
            StatusCode::CONFLICT,
            &format!("{} is already running for this instance", action.name()),
        );
    }
    let running = Running {
        set: Arc::clone(&api.running),
        key,
    };
    // On its own task: it finishes (and its result reaches the state) even
    // if the caller hangs up.
    let (hub, relay) = (api.hub.clone(), api.relay.clone());
    let task = tokio::spawn(async move {
        let _running = running;
        carry_out(&hub, relay.as_ref(), &id, action, replacing).await
    });
    let outcome = match task.await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(action = action.name(), error = %e, "API action failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the action failed");
        }
    };
    match outcome {
        ApiOutcome::Done(None) => Json(json!({ "ok": true })).into_response(),
        ApiOutcome::Done(Some(status)) => {
            Json(json!({ "ok": true, "status": status })).into_response()
        }
        ApiOutcome::WouldReplace(urls) => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": format!(
                    "nothing sent: registering would replace another system's webhook URL ({}); call again with ?replace=true to replace it",
                    urls.join(", ")
                ),
                "would_replace": urls,
            })),
        )
            .into_response(),
        ApiOutcome::Failed(ApiError::Config(m)) => error(StatusCode::CONFLICT, &m),
        ApiOutcome::Failed(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
        ApiOutcome::NoBackend => {
            tracing::error!("API action on a server without a Z-API backend");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this server cannot carry out actions",
            )
        }
    }
}

/// Calls Z-API and hands register and status results to the hub. A call
/// that could not be made (`ApiError::Config`: not configured, a setting
/// missing) changes nothing.
async fn carry_out(
    hub: &HubHandle,
    relay: Option<&Relay>,
    id: &InstanceId,
    action: ApiAction,
    replacing: Replacing,
) -> ApiOutcome {
    let backend = hub.backend();
    let Backend::Zapi(services) = &*backend else {
        return ApiOutcome::NoBackend;
    };
    let outcome = match action {
        ApiAction::Register => {
            if replacing == Replacing::Refuse
                && let Err(refusal) = check_foreign(hub, services, id).await
            {
                return refusal;
            }
            let result = match (replacing, relay) {
                (Replacing::Adopt, Some(relay)) => services.adopt_and_register(id, relay).await,
                (Replacing::Adopt, None) => Err(ApiError::Config(
                    "this server has no relay to adopt the URL: replace=true overwrites it".into(),
                )),
                _ => services.register(id).await,
            };
            let outcome = match &result {
                Ok(()) => ApiOutcome::Done(None),
                Err(e) => ApiOutcome::Failed(e.clone()),
            };
            if !matches!(result, Err(ApiError::Config(_))) {
                hub.apply(Msg::RegisterResult {
                    id: id.clone(),
                    result,
                })
                .await;
            }
            outcome
        }
        ApiAction::Status => {
            let result = services.status(id).await;
            let outcome = match &result {
                Ok(status) => ApiOutcome::Done(Some(status.clone())),
                Err(e) => ApiOutcome::Failed(e.clone()),
            };
            if !matches!(result, Err(ApiError::Config(_))) {
                hub.apply(Msg::StatusResult {
                    id: id.clone(),
                    result,
                })
                .await;
            }
            outcome
        }
        ApiAction::Restart => match services.restart(id).await {
            Ok(()) => ApiOutcome::Done(None),
            Err(e) => ApiOutcome::Failed(e),
        },
        ApiAction::RestoreSession => match services.restore_session(id).await {
            Ok(()) => ApiOutcome::Done(None),
            Err(e) => ApiOutcome::Failed(e),
        },
    };
    if let ApiOutcome::Failed(e) = &outcome {
        tracing::info!(action = action.name(), error = %e, "API action failed");
    }
    outcome
}

/// Before a registration without `?replace=true`: asks `/me` now (its
/// answer goes into the row too) and refuses when a webhook points at
/// another system. A check that cannot be made refuses as well: nothing
/// is replaced unseen.
async fn check_foreign(
    hub: &HubHandle,
    services: &crate::runner::Services,
    id: &InstanceId,
) -> Result<(), ApiOutcome> {
    let result = services.hooks(id).await;
    let checked = match &result {
        Ok(hooks) if hooks.foreign.is_empty() => Ok(()),
        Ok(hooks) => Err(ApiOutcome::WouldReplace(hooks.foreign.clone())),
        Err(e) => Err(ApiOutcome::Failed(e.clone())),
    };
    if let Err(e) = &result
        && !matches!(e, ApiError::Config(_))
    {
        // Z-API refused the check: the registration failed with its error
        hub.apply(Msg::RegisterResult {
            id: id.clone(),
            result: Err(e.clone()),
        })
        .await;
    }
    if !matches!(result, Err(ApiError::Config(_))) {
        hub.apply(Msg::HooksResult {
            id: id.clone(),
            result,
        })
        .await;
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::fleet::Instance;
    use crate::model::Event;
    use crate::serve::events::{Out, STREAM_BUFFER, feed, settle};
    use crate::serve::hub::HubEvent;
    use tokio::sync::{broadcast, mpsc};

    fn headers(auth: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(auth).unwrap(),
        );
        h
    }

    #[test]
    fn bearer_token_parsing() {
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        assert_eq!(bearer_token(&headers(b"Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers(b"bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers(b"Basic YWJj")), None);
        assert_eq!(bearer_token(&headers(b"Bearer")), None);
        assert_eq!(bearer_token(&headers(b"Bearerabc")), None);
        assert_eq!(bearer_token(&headers(b"Bearer \xff")), Some("\u{0}"));
    }

    #[test]
    fn token_comparison() {
        let auth = Auth {
            digest: Sha256::digest(b"0123456789abcdef").into(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
        };
        assert!(auth.accepts("0123456789abcdef"));
        assert!(!auth.accepts("0123456789abcdeF"));
        assert!(!auth.accepts("0123456789abcdef0"));
        assert!(!auth.accepts(""));
    }

    fn activity(seq: u64) -> Event {
        let at = chrono::Utc::now();
        Event {
            instance_id: InstanceId::new("A"),
            kind: crate::model::EventKind::Activity {
                callback: "ReceivedCallback".into(),
            },
            moment: at,
            received: at + chrono::Duration::milliseconds(seq as i64),
        }
    }

    /// A running hub fed by the test: `committed` is its log feed, `tap`
    /// tells when an event was applied.
    struct TestHub {
        handle: HubHandle,
        committed: mpsc::Sender<(u64, Event)>,
        tap: mpsc::Receiver<(u64, Event)>,
        _dir: tempfile::TempDir,
    }

    impl TestHub {
        fn start(instances: Vec<(InstanceId, Option<String>)>) -> TestHub {
            use crate::fleet::Fleet;
            use crate::runner::Services;
            use crate::serve::hub::{Hub, HubOptions, HubSettings};

            let dir = tempfile::tempdir().unwrap();
            let services = Services {
                client: None,
                tokens: Default::default(),
                public_url: None,
                secret: None,
                concurrency: 1,
                accounts: Default::default(),
                all_types: false,
            };
            let (hub, handle) = Hub::new(
                Backend::Zapi(Box::new(services)),
                Arc::new(crate::metrics::Metrics::new()),
                dir.path().to_path_buf(),
            );
            let (committed, feed) = mpsc::channel(1024);
            let (tap_tx, tap) = mpsc::channel(1024);
            drop(hub.spawn(
                Fleet::with_configured(&instances, chrono::Utc::now()),
                HubSettings {
                    rules: Default::default(),
                    alerts: (false, false),
                    can_check_hooks: false,
                    can_query_status: false,
                },
                feed,
                HubOptions {
                    poll_interval: Duration::ZERO,
                    last_seq: 0,
                    tap: Some(tap_tx),
                },
            ));
            TestHub {
                handle,
                committed,
                tap,
                _dir: dir,
            }
        }
    }

    /// The race the settle step closes: a row result, then a webhook that
    /// changes the same instance, both before the snapshot is taken but
    /// after the stream subscribed. The stale row must not follow the
    /// snapshot (it would put the instance back to the older state).
    #[tokio::test]
    async fn a_row_older_than_the_snapshot_is_not_sent_after_it() {
        let x = InstanceId::new("X");
        let TestHub {
            handle,
            committed,
            mut tap,
            ..
        } = TestHub::start(vec![(x.clone(), None)]);

        let changes = handle.subscribe(); // the stream's subscription
        let mut watch = handle.subscribe();
        handle
            .apply(Msg::StatusResult {
                id: x.clone(),
                result: Ok(crate::model::Status {
                    connected: true,
                    error: None,
                    smartphone_connected: Some(true),
                }),
            })
            .await;
        assert!(matches!(watch.recv().await.unwrap(), HubEvent::Row(_)));
        let at = chrono::Utc::now();
        let down = Event {
            instance_id: x.clone(),
            kind: crate::model::EventKind::Disconnected { error: None },
            moment: at,
            received: at,
        };
        committed.send((1, down)).await.unwrap();
        assert_eq!(tap.recv().await.unwrap().0, 1);
        let snapshot = handle.snapshot().await.unwrap();
        assert_eq!(snapshot.seq, 1);

        let (tx, mut rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(feed(handle.clone(), changes, snapshot, None, tx));
        let Some(Out::Snapshot(first)) = rx.recv().await else {
            panic!("the stream starts with a snapshot")
        };
        assert_eq!(
            first.instances[0].state,
            crate::model::ConnState::Disconnected
        );
        committed.send((2, activity(2))).await.unwrap();
        match rx.recv().await.unwrap() {
            Out::Webhook(2, _) => {}
            other => panic!("the stale row or webhook 1 was sent: {other:?}"),
        }
    }

    /// A client that reads nothing while more than the broadcast buffer
    /// goes by gets a fresh snapshot, then the live events after it.
    #[tokio::test]
    async fn a_lagging_stream_gets_a_fresh_snapshot() {
        use crate::serve::hub::BROADCAST_CAPACITY;

        let TestHub {
            handle,
            committed: committed_tx,
            mut tap,
            ..
        } = TestHub::start(Vec::new());
        let changes = handle.subscribe();
        let snapshot = handle.snapshot().await.unwrap();
        let (tx, mut rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(feed(handle.clone(), changes, snapshot, None, tx));

        let n = BROADCAST_CAPACITY as u64 + 500;
        let producer = tokio::spawn(async move {
            for seq in 1..=n {
                committed_tx.send((seq, activity(seq))).await.unwrap();
            }
            committed_tx // the hub stops when its feed ends
        });
        while tap.recv().await.unwrap().0 < n {}
        let committed_tx = producer.await.unwrap();
        // answered after the broadcast of the last event
        assert_eq!(handle.snapshot().await.unwrap().seq, n);

        let Some(Out::Snapshot(first)) = rx.recv().await else {
            panic!("the stream starts with a snapshot")
        };
        assert_eq!(first.seq, 0);
        let mut next = 1;
        let fresh = loop {
            match rx.recv().await.unwrap() {
                Out::Webhook(seq, _) => {
                    assert_eq!(seq, next, "in order, none skipped silently");
                    next += 1;
                }
                Out::Snapshot(s) => break s,
                Out::Row(_) => panic!("no row changed"),
            }
        };
        assert!(next < n, "the client lagged ({next} events read)");
        assert_eq!(fresh.seq, n, "the fresh snapshot holds every event so far");
        assert_eq!(fresh.events, n);

        committed_tx.send((n + 1, activity(n + 1))).await.unwrap();
        match rx.recv().await.unwrap() {
            Out::Webhook(seq, _) => assert_eq!(seq, n + 1, "live again after the snapshot"),
            other => panic!("expected the next webhook, got {other:?}"),
        }
    }

    fn row(id: &str, phone: &str) -> HubEvent {
        let mut inst: Instance = serde_json::from_value(json!({
            "id": id, "name": null, "configured": true, "state": "unknown",
            "source": null, "last_error": null, "last_change": null,
            "last_webhook_moment": null, "last_activity": null, "phone": phone,
            "registration": {"state": "never"}, "status": {"state": "never"},
        }))
        .unwrap();
        inst.history.clear();
        HubEvent::Row(Box::new(inst))
    }

    fn describe(c: &HubEvent) -> String {
        match c {
            HubEvent::Webhook { seq, .. } => format!("w{seq}"),
            HubEvent::Row(i) => format!("r{}", i.phone.as_deref().unwrap_or("")),
        }
    }

    #[test]
    fn settle_drops_what_the_snapshot_holds() {
        let (tx, mut rx) = broadcast::channel(16);
        for c in [
            row("X", "1"),
            HubEvent::Webhook {
                seq: 5,
                event: activity(5),
            },
            row("X", "2"),
            HubEvent::Webhook {
                seq: 6,
                event: activity(6),
            },
            row("Y", "3"),
        ] {
            tx.send(c).unwrap();
        }
        let kept: Vec<String> = settle(&mut rx, 5).unwrap().iter().map(describe).collect();
        assert_eq!(kept, ["r2", "w6", "r3"]);
        // nothing queued: nothing to drop
        assert!(settle(&mut rx, 6).unwrap().is_empty());
        // overflow is reported, not skipped
        for seq in 0..20 {
            tx.send(HubEvent::Webhook {
                seq,
                event: activity(seq),
            })
            .unwrap();
        }
        assert_eq!(settle(&mut rx, 0).unwrap_err(), 4);
    }
}
