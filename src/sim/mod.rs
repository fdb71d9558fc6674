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
//! | partner listing `GET /instances`: see [`partner`] | | |
//! | path not `/instances/{id}/token/{token}/{action}` or unknown action | 404 | `{"error": "Not found"}` |
//! | known action, wrong method | 405 (with `Allow`) | `{"error": "Method not allowed"}` |
//! | no (or empty) `Client-Token` header | 400 | `{"error": "null not allowed"}` |
//! | wrong `Client-Token` (no account's) | 400 | `{"error": "Client-Token ABCD… not allowed"}` (masked) |
//! | unknown instance id, or wrong instance token | 400 | `{"error": "Instance not found"}` |
//! | another account's `Client-Token` | 403 | `{"error": "Client-Token ABCD… not allowed"}` |
//! | PUT without `Content-Type: application/json` | 415 | `{"error": "Content-Type must be application/json"}` |
//! | PUT body not `{"value": "<string>"}` | 400 | `{"error": "…"}` |
//! | webhook URL not `https://` | 400 | `{"error": "Invalid URL: …"}` |
//! | `phone-code` of a connected instance, or of a phone that is not digits | 400 | `{"error": "Instance already connected"}`, `{"error": "Phone number invalid"}` |
//!
//! `qr-code/image` serves a real PNG of a random WhatsApp-like payload, new
//! every 20 s (`{"connected": true}` once connected); `qr-code` the payload
//! itself; `phone-code/{phone}` a code `ABCD-EFGH`; `device` the phone.
//!
//! A wrong instance token answers exactly like an unknown id, so the sim
//! does not reveal which ids exist (Z-API's own answer to both is an
//! "instance not found" error). All state lives behind one `std` mutex that
//! is never held across an `.await`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tokio::sync::{Notify, watch};

mod connect;
mod fleet;
mod partner;
mod rest;
mod state;

pub use fleet::{
    demo_instances, spawn_fleet, webhook_body_connected, webhook_body_disconnected,
    webhook_body_received,
};
use rest::handle;
use state::{Injected, Inst, Shared, SimState};

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
    /// The query string, if any (`page=1&pageSize=1000`).
    pub query: String,
    /// The `Authorization` header, if any (the partner listing's Bearer token).
    pub authorization: Option<String>,
}

/// One more Z-API account of the sim ([`Sim::add_account`]): its own
/// Client-Token, and a partner token its instances are listed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAccount {
    /// What every REST call of its instances must carry in `Client-Token`.
    pub client_token: String,
    /// The integrator token of `GET /instances` (`None`: not listed).
    pub partner_token: Option<String>,
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

    /// In the demo: a simulated phone links an instance `delay` after its QR
    /// code or pairing code was served, and its `ConnectedCallback` goes to
    /// the fleet's listener.
    pub fn scan_codes_after(&self, delay: Duration) {
        self.shared.lock().scan_after = Some(delay);
    }

    /// The QR payload the instance serves now (`None`: none served yet, or
    /// connected since): what a phone scanning the code would read.
    pub fn qr_payload(&self, id: &str) -> Option<String> {
        let st = self.shared.lock();
        st.instances.get(id)?.qr.as_ref().map(|(p, _)| p.clone())
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
