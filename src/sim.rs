//! A simulated Z-API, used by `zapi-dash demo` and by the tests.
//!
//! [`Sim::start`] serves the REST calls of the reference (status, me,
//! webhook registration, restart, restore-session) on `127.0.0.1`, with
//! Z-API's errors; [`spawn_fleet`] makes instances drop and come back and
//! POSTs the matching webhooks to a listener, as Z-API would.
//!
//! Error answers, checked in this order:
//!
//! | case | status | body |
//! |---|---|---|
//! | injected with [`Sim::fail_next`] | as injected | as injected |
//! | path not `/instances/{id}/token/{token}/{action}` or unknown action | 404 | `{"error": "Not found"}` |
//! | known action, wrong method | 405 (with `Allow`) | `{"error": "Method not allowed"}` |
//! | no (or empty) `Client-Token` header | 400 | `{"error": "null not allowed"}` |
//! | wrong `Client-Token` | 400 | `{"error": "Client-Token ABCD… not allowed"}` (masked) |
//! | unknown instance id, or wrong instance token | 400 | `{"error": "Instance not found"}` |
//! | PUT without `Content-Type: application/json` | 415 | `{"error": "Content-Type must be application/json"}` |
//! | PUT body not `{"value": "<string>"}` | 400 | `{"error": "…"}` |
//! | webhook URL not `https://` | 400 | `{"error": "Invalid URL: …"}` |
//!
//! A wrong instance token answers exactly like an unknown id, so the sim
//! does not reveal which ids exist (Z-API's own answer to both is an
//! "instance not found" error). All state lives behind one `std` mutex that
//! is never held across an `.await`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// `status` error of an instance that is not connected.
pub const ERR_NOT_CONNECTED: &str = "You are not connected.";
/// `status` "error" of a connected instance: real Z-API sends it with
/// `connected: true`, where it is no error.
pub const ERR_ALREADY_CONNECTED: &str = "You are already connected.";
/// `status` error of an instance whose session must be restored.
pub const ERR_RESTORE_SESSION: &str = "You need to restore the session.";
/// `DisconnectedCallback` error when the phone dropped the session.
pub const ERR_DEVICE_DISCONNECTED: &str = "Device has been disconnected";
/// The errors the fleet picks from when it disconnects an instance.
pub const DISCONNECT_ERRORS: [&str; 3] = [
    ERR_DEVICE_DISCONNECTED,
    ERR_NOT_CONNECTED,
    ERR_RESTORE_SESSION,
];

const MAX_BODY: usize = 64 * 1024;

/// One simulated instance: its id, token and panel name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInstance {
    /// Instance id (Z-API's are 32 upper-case hex characters).
    pub id: String,
    /// Instance token.
    pub token: String,
    /// Name shown by `GET …/me`.
    pub name: String,
}

/// How to start a [`Sim`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The account token every call must carry in `Client-Token`.
    pub client_token: String,
    /// The instances it knows; all start connected.
    pub instances: Vec<SimInstance>,
    /// Delay added before each answer (default zero).
    pub latency: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            client_token: "sim-client-token".to_owned(),
            instances: Vec::new(),
            latency: Duration::ZERO,
        }
    }
}

/// One request the sim received, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCall {
    /// `GET`, `PUT`...
    pub method: String,
    /// The raw (still percent-encoded) path, without the query.
    pub path: String,
    /// The `Client-Token` header, if any.
    pub client_token: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
}

/// A snapshot of one simulated instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInstanceState {
    /// Instance id.
    pub id: String,
    /// Panel name.
    pub name: String,
    /// The instance's own phone number.
    pub phone: String,
    /// Connected to WhatsApp.
    pub connected: bool,
    /// Why not (`None` when connected).
    pub error: Option<String>,
    /// The phone itself is online.
    pub smartphone_connected: bool,
    /// URL registered for `DisconnectedCallback`.
    pub disconnected_url: Option<String>,
    /// URL registered for `ConnectedCallback`.
    pub connected_url: Option<String>,
    /// URL registered for `ReceivedCallback` (set by `update-every-webhooks`).
    pub received_url: Option<String>,
    /// `notifySentByMe` of the last `update-every-webhooks`.
    pub notify_sent_by_me: bool,
}

/// Options of [`spawn_fleet`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Time between two changes (default 1 s).
    pub interval: Duration,
    /// Seed of the fleet's choices.
    pub seed: u64,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            seed: 0,
        }
    }
}

/// A running simulated Z-API. Dropping it (or [`Sim::shutdown`]) stops the
/// server and any fleet attached to it.
pub struct Sim {
    /// Where it listens (`127.0.0.1`, a free port).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("addr", &self.addr).finish()
    }
}

struct Shared {
    client_token: String,
    latency: Duration,
    state: Mutex<SimState>,
    /// Signalled after each recorded call.
    calls_changed: Notify,
    /// Signalled when a REST call queued a webhook for the fleet to send.
    hooks_pending: Notify,
}

#[derive(Default)]
struct SimState {
    instances: HashMap<String, Inst>,
    /// Instance ids in creation order (for seeded, reproducible picks).
    order: Vec<String>,
    calls: Vec<SimCall>,
    failures: Vec<Injected>,
    /// Webhooks caused by REST calls (restart...), sent by the fleet.
    pending_hooks: Vec<Post>,
    fleet_attached: bool,
}

#[derive(Debug, Clone)]
struct Inst {
    token: String,
    name: String,
    phone: String,
    connected: bool,
    error: String,
    smartphone_connected: bool,
    disconnected_url: Option<String>,
    connected_url: Option<String>,
    received_url: Option<String>,
    delivery_url: Option<String>,
    message_status_url: Option<String>,
    presence_url: Option<String>,
    notify_sent_by_me: bool,
}

impl Inst {
    /// A new instance, connected, with no webhook registered.
    fn new(i: SimInstance) -> Self {
        Inst {
            phone: phone_for(&i.id),
            token: i.token,
            name: i.name,
            connected: true,
            error: String::new(),
            smartphone_connected: true,
            disconnected_url: None,
            connected_url: None,
            received_url: None,
            delivery_url: None,
            message_status_url: None,
            presence_url: None,
            notify_sent_by_me: false,
        }
    }
}

struct Injected {
    suffix: String,
    status: StatusCode,
    body: String,
    remaining: usize,
    retry_after: Option<u64>,
}

/// A webhook to POST: path under the listener base, and body.
#[derive(Debug, Clone, PartialEq)]
struct Post {
    path: &'static str,
    body: Value,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sim {
    /// Starts the server on `127.0.0.1` (a free port) with all instances
    /// connected.
    pub async fn start(opts: SimOptions) -> std::io::Result<Sim> {
        let mut state = SimState::default();
        for i in opts.instances {
            let id = i.id.clone();
            if state.instances.insert(id.clone(), Inst::new(i)).is_none() {
                state.order.push(id);
            }
        }
        let shared = Arc::new(Shared {
            client_token: opts.client_token,
            latency: opts.latency,
            state: Mutex::new(state),
            calls_changed: Notify::new(),
            hooks_pending: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Resolves on `true` and when the `Sim` (the sender) is dropped.
                let _ = stopped.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulated Z-API stopped");
            }
        });
        Ok(Sim { addr, shared, stop })
    }

    /// `http://127.0.0.1:PORT`, the API base to give a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<SimCall> {
        self.shared.lock().calls.clone()
    }

    /// Waits until the calls received satisfy `pred`, at most `timeout`.
    /// `Ok` with the calls when they do, `Err` with the calls seen when time
    /// ran out. Wakes on each new call; never polls.
    pub async fn wait_for_calls(
        &self,
        pred: impl Fn(&[SimCall]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<SimCall>, Vec<SimCall>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.calls_changed.notified();
            tokio::pin!(notified);
            // Register before looking, so a call in between is not missed.
            notified.as_mut().enable();
            let calls = self.calls();
            if pred(&calls) {
                return Ok(calls);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let calls = self.calls();
                return if pred(&calls) { Ok(calls) } else { Err(calls) };
            }
        }
    }

    /// Sets an instance's connection state. `error` defaults to
    /// `"You are not connected."` when disconnecting and is cleared when
    /// connecting. Unknown ids are ignored.
    pub fn set_connected(&self, id: &str, connected: bool, error: Option<&str>) {
        let mut st = self.shared.lock();
        if let Some(inst) = st.instances.get_mut(id) {
            inst.connected = connected;
            inst.smartphone_connected = connected;
            inst.error = if connected {
                String::new()
            } else {
                error.unwrap_or(ERR_NOT_CONNECTED).to_owned()
            };
        }
    }

    /// Points an instance's disconnected and connected webhooks at these
    /// URLs, as another system (the operator's bot, a flow) would have
    /// registered them. Unknown ids are ignored.
    pub fn set_webhook_urls(&self, id: &str, disconnected: Option<&str>, connected: Option<&str>) {
        let mut st = self.shared.lock();
        if let Some(inst) = st.instances.get_mut(id) {
            inst.disconnected_url = disconnected.map(str::to_owned);
            inst.connected_url = connected.map(str::to_owned);
        }
    }

    /// A snapshot of one instance, `None` for an unknown id.
    pub fn instance(&self, id: &str) -> Option<SimInstanceState> {
        let st = self.shared.lock();
        st.instances.get(id).map(|i| SimInstanceState {
            id: id.to_owned(),
            name: i.name.clone(),
            phone: i.phone.clone(),
            connected: i.connected,
            error: Some(i.error.clone()).filter(|e| !e.is_empty()),
            smartphone_connected: i.smartphone_connected,
            disconnected_url: i.disconnected_url.clone(),
            connected_url: i.connected_url.clone(),
            received_url: i.received_url.clone(),
            notify_sent_by_me: i.notify_sent_by_me,
        })
    }

    /// Makes the next `times` requests whose path ends with `path_suffix`
    /// (e.g. `"status"`) answer `status` with `body` (sent as JSON when it
    /// parses as JSON, else as text), before any other check.
    pub fn fail_next(&self, path_suffix: &str, status: u16, body: &str, times: usize) {
        self.inject(path_suffix, status, body, times, None);
    }

    /// Like [`Sim::fail_next`], with a `Retry-After: {retry_after_secs}`
    /// header on the injected answers.
    pub fn fail_next_with_retry_after(
        &self,
        path_suffix: &str,
        status: u16,
        body: &str,
        times: usize,
        retry_after_secs: u64,
    ) {
        self.inject(path_suffix, status, body, times, Some(retry_after_secs));
    }

    fn inject(
        &self,
        path_suffix: &str,
        status: u16,
        body: &str,
        times: usize,
        retry_after: Option<u64>,
    ) {
        if times == 0 {
            return;
        }
        self.shared.lock().failures.push(Injected {
            suffix: path_suffix.to_owned(),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: body.to_owned(),
            remaining: times,
            retry_after,
        });
    }

    /// Stops the server (and any fleet); same as dropping the handle.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// An answer of the sim.
struct Answer {
    status: StatusCode,
    body: String,
    json: bool,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
}

impl Answer {
    fn json(status: StatusCode, v: Value) -> Self {
        Self {
            status,
            body: v.to_string(),
            json: true,
            retry_after: None,
            allow: None,
        }
    }

    fn ok(v: Value) -> Self {
        Self::json(StatusCode::OK, v)
    }

    fn error(status: StatusCode, msg: &str) -> Self {
        Self::json(status, json!({ "error": msg }))
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body).into_response();
        let h = resp.headers_mut();
        let ct = if self.json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self.allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// The REST actions the sim knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Status,
    Me,
    Restart,
    RestoreSession,
    WebhookDisconnected,
    WebhookConnected,
    EveryWebhooks,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "status" => Action::Status,
            "me" => Action::Me,
            "restart" => Action::Restart,
            "restore-session" => Action::RestoreSession,
            "update-webhook-disconnected" => Action::WebhookDisconnected,
            "update-webhook-connected" => Action::WebhookConnected,
            "update-every-webhooks" => Action::EveryWebhooks,
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Action::Status | Action::Me | Action::Restart | Action::RestoreSession => Method::GET,
            Action::WebhookDisconnected | Action::WebhookConnected | Action::EveryWebhooks => {
                Method::PUT
            }
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY).await;
    let header_text = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let call = SimCall {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        client_token: header_text("client-token"),
        content_type: header_text(header::CONTENT_TYPE.as_str()),
        body: body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
    };
    shared.lock().calls.push(call);
    shared.calls_changed.notify_waiters();
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let answer = match body {
        Ok(body) => answer(
            &shared,
            &parts.method,
            parts.uri.path(),
            &parts.headers,
            &body,
        ),
        Err(_) => Answer::error(StatusCode::PAYLOAD_TOO_LARGE, "Body too large"),
    };
    answer.into_response()
}

/// Decides the answer to one request (synchronous: the lock is never held
/// across an await).
fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let mut st = shared.lock();

    if let Some(pos) = st
        .failures
        .iter()
        .position(|f| f.remaining > 0 && path.ends_with(&f.suffix))
    {
        let f = &mut st.failures[pos];
        f.remaining -= 1;
        let json = serde_json::from_str::<Value>(&f.body).is_ok();
        let answer = Answer {
            status: f.status,
            body: f.body.clone(),
            json,
            retry_after: f.retry_after,
            allow: None,
        };
        if f.remaining == 0 {
            st.failures.remove(pos);
        }
        return answer;
    }

    let Some((id, token, action)) = parse_route(path) else {
        return Answer::error(StatusCode::NOT_FOUND, "Not found");
    };
    if *method != action.method() {
        let mut a = Answer::error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        a.allow = Some(if action.method() == Method::GET {
            "GET"
        } else {
            "PUT"
        });
        return a;
    }

    match headers.get("client-token").map(HeaderValue::as_bytes) {
        None | Some(b"") => return Answer::error(StatusCode::BAD_REQUEST, "null not allowed"),
        Some(given) if given != shared.client_token.as_bytes() => {
            let head: String = String::from_utf8_lossy(given).chars().take(4).collect();
            return Answer::error(
                StatusCode::BAD_REQUEST,
                &format!("Client-Token {head}… not allowed"),
            );
        }
        Some(_) => {}
    }

    let fleet_attached = st.fleet_attached;
    let Some(inst) = st.instances.get_mut(&id).filter(|i| i.token == token) else {
        return Answer::error(StatusCode::BAD_REQUEST, "Instance not found");
    };

    match action {
        Action::Status => Answer::ok(json!({
            "connected": inst.connected,
            // as real Z-API: a healthy instance's answer carries an "error"
            "error": if inst.connected { ERR_ALREADY_CONNECTED } else { inst.error.as_str() },
            "smartphoneConnected": inst.smartphone_connected,
        })),
        Action::Me => Answer::ok(me_body(&id, inst)),
        Action::Restart | Action::RestoreSession => {
            let was_connected = inst.connected;
            inst.connected = true;
            inst.error.clear();
            inst.smartphone_connected = true;
            if !was_connected && fleet_attached {
                let body = webhook_body_connected(&id, Utc::now().timestamp_millis(), &inst.phone);
                st.pending_hooks.push(Post {
                    path: "/hooks/connected",
                    body,
                });
                shared.hooks_pending.notify_one();
            }
            Answer::ok(json!({ "value": true }))
        }
        Action::WebhookDisconnected | Action::WebhookConnected | Action::EveryWebhooks => {
            let (url, notify_sent_by_me) = match read_webhook_body(headers, body, action) {
                Ok(v) => v,
                Err(a) => return a,
            };
            match action {
                Action::WebhookDisconnected => inst.disconnected_url = Some(url),
                Action::WebhookConnected => inst.connected_url = Some(url),
                _ => {
                    for slot in [
                        &mut inst.disconnected_url,
                        &mut inst.connected_url,
                        &mut inst.received_url,
                        &mut inst.delivery_url,
                        &mut inst.message_status_url,
                        &mut inst.presence_url,
                    ] {
                        *slot = Some(url.clone());
                    }
                    inst.notify_sent_by_me = notify_sent_by_me;
                }
            }
            Answer::ok(json!({ "value": true }))
        }
    }
}

/// Checks a webhook PUT: JSON content type, `{"value": "https://…"}` and,
/// for every-webhooks, an optional boolean `notifySentByMe`.
fn read_webhook_body(
    headers: &HeaderMap,
    body: &[u8],
    action: Action,
) -> Result<(String, bool), Answer> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let bad = |msg: &str| Answer::error(StatusCode::BAD_REQUEST, msg);
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("Body is not valid JSON"))?;
    let Some(url) = v.get("value").and_then(Value::as_str) else {
        return Err(bad("value is required and must be a string"));
    };
    let notify_sent_by_me = match (action, v.get("notifySentByMe")) {
        (Action::EveryWebhooks, None) => false,
        (Action::EveryWebhooks, Some(b)) => b
            .as_bool()
            .ok_or_else(|| bad("notifySentByMe must be a boolean"))?,
        _ => false,
    };
    let is_https = reqwest::Url::parse(url)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty()));
    if !is_https {
        return Err(bad("Invalid URL: webhook URLs must start with https://"));
    }
    Ok((url.to_owned(), notify_sent_by_me))
}

/// `/instances/{id}/token/{token}/{action}` → decoded id, token and action.
fn parse_route(path: &str) -> Option<(String, String, Action)> {
    let mut parts = path.split('/');
    let (Some(""), Some("instances"), Some(id), Some("token"), Some(token), Some(action), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let action = Action::parse(action)?;
    Some((percent_decode(id)?, percent_decode(token)?, action))
}

/// Decodes `%XX` escapes; `None` on a bad escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn me_body(id: &str, i: &Inst) -> Value {
    json!({
        "id": id,
        "name": i.name,
        "due": 1_893_456_000_000_i64,
        "connected": i.connected,
        "paymentStatus": "RECEIVED",
        "created": 1_700_000_000_000_i64,
        "connectedCallbackUrl": i.connected_url,
        "deliveryCallbackUrl": i.delivery_url,
        "disconnectedCallbackUrl": i.disconnected_url,
        "messageStatusCallbackUrl": i.message_status_url,
        "presenceChatCallbackUrl": i.presence_url,
        "receivedCallbackUrl": i.received_url,
        "receiveCallbackSentByMe": i.notify_sent_by_me,
        "callRejectAuto": false,
        "callRejectMessage": "",
        "autoReadMessage": false,
        "initialDataCallbackUrl": null,
    })
}

/// A plausible phone number for an instance (`5544` + 9 digits), stable
/// for a given id.
fn phone_for(id: &str) -> String {
    // FNV-1a: stable across runs, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("55449{:08}", h % 100_000_000)
}

/// Z-API's `DisconnectedCallback` body.
pub fn webhook_body_disconnected(id: &str, momment: i64, error: &str) -> Value {
    json!({
        "type": "DisconnectedCallback",
        "instanceId": id,
        "momment": momment,
        "error": error,
        "disconnected": true,
    })
}

/// Z-API's `ConnectedCallback` body (well-formed, unlike the docs' example).
pub fn webhook_body_connected(id: &str, momment: i64, phone: &str) -> Value {
    json!({
        "type": "ConnectedCallback",
        "instanceId": id,
        "momment": momment,
        "connected": true,
        "phone": phone,
    })
}

/// A `ReceivedCallback` (text message) body in Z-API's shape.
pub fn webhook_body_received(
    id: &str,
    momment: i64,
    connected_phone: &str,
    from_phone: &str,
    text: &str,
) -> Value {
    json!({
        "isStatusReply": false,
        "connectedPhone": connected_phone,
        "waitingMessage": false,
        "isEdit": false,
        "isGroup": false,
        "instanceId": id,
        "messageId": format!("3EB0{:016X}", momment.unsigned_abs()),
        "phone": from_phone,
        "fromMe": false,
        "momment": momment,
        "status": "RECEIVED",
        "chatName": "Customer",
        "senderName": "Customer",
        "participantPhone": null,
        "broadcast": false,
        "type": "ReceivedCallback",
        "text": { "message": text },
    })
}

const DEMO_NAMES: [&str; 12] = [
    "Sales",
    "Support",
    "Billing",
    "Marketing",
    "Logistics",
    "Onboarding",
    "Collections",
    "Front Desk",
    "Partners",
    "Store SP",
    "Store RJ",
    "After-sales",
];

const DEMO_TEXTS: [&str; 6] = [
    "Hi, is my order on its way?",
    "Thanks!",
    "Can I get the invoice?",
    "Bom dia",
    "What time do you open?",
    "ok",
];

/// `n` plausible instances ("Sales", "Support", … then "Sales 2"...) with
/// 32-hex-character ids and random 24-character tokens; the same `seed`
/// gives the same instances.
pub fn demo_instances(n: usize, seed: u64) -> Vec<SimInstance> {
    const HEX: &[u8] = b"0123456789ABCDEF";
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hex = |len: usize| -> String {
        (0..len)
            .map(|_| char::from(HEX[rng.random_range(0..HEX.len())]))
            .collect()
    };
    (0..n)
        .map(|i| {
            let base = DEMO_NAMES[i % DEMO_NAMES.len()];
            let round = i / DEMO_NAMES.len();
            let name = if round == 0 {
                base.to_owned()
            } else {
                format!("{base} {}", round + 1)
            };
            SimInstance {
                id: hex(32),
                token: hex(24),
                name,
            }
        })
        .collect()
}

impl Shared {
    /// One random change of the fleet: returns the webhook to send.
    /// The token of the instance a webhook body is about.
    fn token_of(&self, body: &Value) -> Option<String> {
        let id = body.get("instanceId")?.as_str()?;
        self.lock().instances.get(id).map(|i| i.token.clone())
    }

    fn fleet_step(&self, rng: &mut StdRng) -> Option<Post> {
        let mut st = self.lock();
        let id = st.order.choose(rng)?.clone();
        let inst = st.instances.get_mut(&id)?;
        let now = Utc::now();
        // Z-API itself mixes units: seconds in the disconnect example,
        // milliseconds in message webhooks.
        let momment = if rng.random_bool(0.5) {
            now.timestamp()
        } else {
            now.timestamp_millis()
        };
        let roll: u32 = rng.random_range(0..100);
        if inst.connected {
            if roll < 40 {
                let from = format!("55{:011}", rng.random_range(0..100_000_000_000_u64));
                let text = DEMO_TEXTS.choose(rng).copied().unwrap_or("hi");
                let body =
                    webhook_body_received(&id, now.timestamp_millis(), &inst.phone, &from, text);
                return Some(Post {
                    path: "/hooks",
                    body,
                });
            }
            if roll < 75 {
                let error = DISCONNECT_ERRORS
                    .choose(rng)
                    .copied()
                    .unwrap_or(ERR_DEVICE_DISCONNECTED);
                inst.connected = false;
                inst.smartphone_connected = error != ERR_DEVICE_DISCONNECTED;
                inst.error = if error == ERR_DEVICE_DISCONNECTED {
                    ERR_NOT_CONNECTED.to_owned()
                } else {
                    error.to_owned()
                };
                return Some(Post {
                    path: "/hooks/disconnected",
                    body: webhook_body_disconnected(&id, momment, error),
                });
            }
            None
        } else if roll < 70 {
            inst.connected = true;
            inst.smartphone_connected = true;
            inst.error.clear();
            Some(Post {
                path: "/hooks/connected",
                body: webhook_body_connected(&id, momment, &inst.phone),
            })
        } else {
            None
        }
    }
}

/// Starts a task that, every `opts.interval`, picks a random instance of
/// `sim` and makes it disconnect or reconnect (or receive a message),
/// POSTing the matching webhook to `{listener_base}/hooks/disconnected`,
/// `/hooks/connected` or `/hooks`. Reconnections caused by `restart` and
/// `restore-session` calls are posted too, each with the instance token in
/// a `z-api-token` header as real deliveries carry. Failed POSTs are
/// ignored. The task ends when the sim stops.
pub fn spawn_fleet(sim: &Sim, listener_base: String, opts: FleetOptions) -> JoinHandle<()> {
    let shared = sim.shared.clone();
    shared.lock().fleet_attached = true;
    let mut stopped = sim.stop.subscribe();
    let base = listener_base.trim_end_matches('/').to_owned();
    let interval = opts.interval.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let Ok(http) = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
        else {
            tracing::warn!("fleet: could not build an HTTP client");
            return;
        };
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let posts = tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                _ = ticker.tick() => shared.fleet_step(&mut rng).into_iter().collect(),
                () = shared.hooks_pending.notified() => std::mem::take(&mut shared.lock().pending_hooks),
            };
            for post in posts {
                let url = format!("{base}{}", post.path);
                let mut request = http.post(url).json(&post.body);
                // as real deliveries do: the instance token in `z-api-token`
                if let Some(token) = shared.token_of(&post.body) {
                    request = request.header(crate::webhook::TOKEN_HEADER, token);
                }
                // The listener may be gone or slow: a demo shrugs.
                let _ = request.send().await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_instances_are_plausible_unique_and_seeded() {
        let a = demo_instances(30, 7);
        assert_eq!(a, demo_instances(30, 7));
        assert_ne!(a, demo_instances(30, 8));
        assert_eq!(a.len(), 30);
        assert_eq!(a[0].name, "Sales");
        assert_eq!(a[1].name, "Support");
        assert_eq!(a[14].name, "Billing 2");
        let mut ids: Vec<_> = a.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        for i in &a {
            assert_eq!(i.id.len(), 32);
            assert!(i.id.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(i.token.len(), 24);
            assert_ne!(i.token, i.id[..24]);
        }
    }

    #[test]
    fn webhook_bodies_have_zapi_shape() {
        let d = webhook_body_disconnected("ID", 1_580_163_342, ERR_DEVICE_DISCONNECTED);
        assert_eq!(
            d,
            json!({"momment": 1_580_163_342, "error": "Device has been disconnected",
                   "disconnected": true, "type": "DisconnectedCallback", "instanceId": "ID"})
        );
        let c = webhook_body_connected("ID", 1_732_400_000_000, "5544999999999");
        assert_eq!(
            c,
            json!({"type": "ConnectedCallback", "connected": true, "momment": 1_732_400_000_000_i64,
                   "instanceId": "ID", "phone": "5544999999999"})
        );
        let r = webhook_body_received("ID", 1_632_228_638_000, "554499999999", "5511", "hi");
        assert_eq!(r["type"], "ReceivedCallback");
        assert_eq!(r["instanceId"], "ID");
        assert_eq!(r["momment"], 1_632_228_638_000_i64);
        assert_eq!(r["text"]["message"], "hi");
    }

    #[test]
    fn routes_are_parsed_and_decoded() {
        assert_eq!(
            parse_route("/instances/a%2Fb%20c/token/t%3Fk/status"),
            Some(("a/b c".into(), "t?k".into(), Action::Status))
        );
        assert_eq!(
            parse_route("/instances/I/token/T/update-every-webhooks"),
            Some(("I".into(), "T".into(), Action::EveryWebhooks))
        );
        assert_eq!(parse_route("/instances/I/token/T/nope"), None);
        assert_eq!(parse_route("/instances/I/token/T/status/"), None);
        assert_eq!(parse_route("/instances/I/tokens/T/status"), None);
        assert_eq!(parse_route("/status"), None);
        assert_eq!(parse_route("/instances/%zz/token/T/status"), None);
        assert_eq!(parse_route("/instances/%C3/token/T/status"), None);
    }

    #[test]
    fn phone_is_stable_and_plausible() {
        let p = phone_for("ABC");
        assert_eq!(p, phone_for("ABC"));
        assert!(p.starts_with("5544") && p.len() == 13, "{p}");
        assert!(p.chars().all(|c| c.is_ascii_digit()));
    }

    fn shared_with(instances: Vec<SimInstance>) -> Shared {
        let mut st = SimState::default();
        for i in instances {
            st.order.push(i.id.clone());
            st.instances.insert(i.id.clone(), Inst::new(i));
        }
        Shared {
            client_token: "ct".into(),
            latency: Duration::ZERO,
            state: Mutex::new(st),
            calls_changed: Notify::new(),
            hooks_pending: Notify::new(),
        }
    }

    #[test]
    fn fleet_steps_keep_state_and_webhooks_in_agreement() {
        let shared = shared_with(demo_instances(5, 1));
        let mut rng = StdRng::seed_from_u64(3);
        let (mut seconds, mut millis, mut kinds) = (0, 0, std::collections::HashSet::new());
        for _ in 0..500 {
            let Some(post) = shared.fleet_step(&mut rng) else {
                continue;
            };
            let id = post.body["instanceId"].as_str().unwrap().to_owned();
            let momment = post.body["momment"].as_i64().unwrap();
            if momment > crate::model::MOMENT_MS_THRESHOLD {
                millis += 1;
            } else {
                seconds += 1;
            }
            let st = shared.lock();
            let inst = &st.instances[&id];
            let kind = post.body["type"].as_str().unwrap().to_owned();
            match kind.as_str() {
                "DisconnectedCallback" => {
                    assert_eq!(post.path, "/hooks/disconnected");
                    assert!(!inst.connected);
                    assert!(!inst.error.is_empty());
                    assert!(DISCONNECT_ERRORS.contains(&post.body["error"].as_str().unwrap()));
                    assert_eq!(post.body["disconnected"], true);
                }
                "ConnectedCallback" => {
                    assert_eq!(post.path, "/hooks/connected");
                    assert!(inst.connected && inst.error.is_empty());
                    assert_eq!(post.body["phone"], inst.phone.as_str());
                }
                "ReceivedCallback" => {
                    assert_eq!(post.path, "/hooks");
                    assert!(inst.connected);
                }
                other => panic!("unexpected {other}"),
            }
            kinds.insert(kind);
        }
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(seconds > 0 && millis > 0);
    }

    #[test]
    fn fleet_step_on_an_empty_sim_does_nothing() {
        let shared = shared_with(Vec::new());
        assert_eq!(shared.fleet_step(&mut StdRng::seed_from_u64(0)), None);
    }

    /// A listener that records the webhooks it receives.
    async fn recorder() -> (String, Arc<(Mutex<Vec<(String, Value)>>, Notify)>) {
        use axum::Json;
        use axum::extract::OriginalUri;
        let rec = Arc::new((Mutex::new(Vec::new()), Notify::new()));
        let r = rec.clone();
        let app = Router::new().fallback(move |uri: OriginalUri, Json(v): Json<Value>| {
            let r = r.clone();
            async move {
                r.0.lock().unwrap().push((uri.path().to_owned(), v));
                r.1.notify_waiters();
                StatusCode::OK
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/"), rec)
    }

    async fn wait_posts(
        rec: &(Mutex<Vec<(String, Value)>>, Notify),
        pred: impl Fn(&[(String, Value)]) -> bool,
    ) -> Vec<(String, Value)> {
        let wait = async {
            loop {
                let n = rec.1.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                {
                    let got = rec.0.lock().unwrap();
                    if pred(&got) {
                        return got.clone();
                    }
                }
                n.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("webhooks did not arrive")
    }

    #[tokio::test]
    async fn fleet_posts_webhooks_over_http_and_stops_with_the_sim() {
        let sim = Sim::start(SimOptions {
            instances: demo_instances(3, 2),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let (base, rec) = recorder().await;
        let task = spawn_fleet(
            &sim,
            base,
            FleetOptions {
                interval: Duration::from_millis(5),
                seed: 9,
            },
        );
        let posts = wait_posts(&rec, |p| {
            p.iter().any(|(path, _)| path == "/hooks/disconnected")
                && p.iter().any(|(path, _)| path == "/hooks/connected")
        })
        .await;
        for (path, body) in &posts {
            let kind = body["type"].as_str().unwrap();
            let expected = match kind {
                "DisconnectedCallback" => "/hooks/disconnected",
                "ConnectedCallback" => "/hooks/connected",
                "ReceivedCallback" => "/hooks",
                other => panic!("unexpected {other}"),
            };
            assert_eq!(path, expected);
            assert!(sim.instance(body["instanceId"].as_str().unwrap()).is_some());
        }
        sim.shutdown();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("fleet did not stop with the sim")
            .unwrap();
    }

    #[tokio::test]
    async fn restart_of_a_disconnected_instance_is_announced_by_the_fleet() {
        let inst = demo_instances(1, 4).remove(0);
        let sim = Sim::start(SimOptions {
            client_token: "CT".into(),
            instances: vec![inst.clone()],
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let (base, rec) = recorder().await;
        // An hour between random changes: only the restart can post.
        let _task = spawn_fleet(
            &sim,
            base,
            FleetOptions {
                interval: Duration::from_secs(3600),
                seed: 0,
            },
        );
        sim.set_connected(&inst.id, false, Some(ERR_RESTORE_SESSION));
        let client =
            crate::zapi::ZapiClient::new(&sim.base_url(), crate::model::Secret::new("CT")).unwrap();
        let id = crate::model::InstanceId::new(inst.id.clone());
        let token = crate::model::Secret::new(inst.token.clone());
        client.restore_session(&id, &token).await.unwrap();
        let posts = wait_posts(&rec, |p| !p.is_empty()).await;
        assert_eq!(posts[0].0, "/hooks/connected");
        assert_eq!(posts[0].1["type"], "ConnectedCallback");
        assert_eq!(posts[0].1["instanceId"], inst.id.as_str());
        assert!(sim.instance(&inst.id).unwrap().connected);
    }
}
