//! Carrying out calls for either program: the command runner and what it
//! calls through — Z-API with the config's tokens ([`Services`]) or a remote
//! `serve` ([`Backend::Remote`]) — plus history reads, alerts and URL masking.
//! The dashboard's loop ([`crate::tui`]) and the headless server
//! ([`crate::serve::hub`], [`crate::serve::api`]) both use it; nothing here touches a terminal.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::alert::{AlertEvent, AlertKind};
use crate::app::{Command, DETAIL_HISTORY, Msg};
use crate::fleet::{Hooks, InstanceAction};
use crate::listener::secret::WebhookSecret;
use crate::model::Status;
use crate::model::{Event, EventKind, InstanceId, Secret};
use crate::qr::Credential;
use crate::zapi::{ApiError, Device, QrAnswer, ZapiClient};
/// Z-API calls in flight at once (for `R` and `s` over a large fleet).
///
/// A registration is two PUTs (sent together), so 32 registrations put 64
/// requests in flight. At Z-API's typical ~50 ms per call that re-registers
/// 1,000 instances in about 1.6 s (16 took over 3 s; see BENCHMARKS.md),
/// while staying a bounded, modest load on one account: Z-API rate-limits
/// per account, and a 429 is retried with backoff honouring `Retry-After`
/// (see `zapi.rs`), so a tighter limit slows a run down but does not fail it.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// What the command runner needs to call Z-API. Tokens stay here; the
/// [`App`](crate::app::App) only ever sees instance ids.
pub struct Services {
    /// `None` when no Client-Token is configured.
    pub client: Option<ZapiClient>,
    pub tokens: HashMap<InstanceId, Secret>,
    pub public_url: Option<String>,
    /// With a webhook secret, registration registers the secret paths.
    pub secret: Option<WebhookSecret>,
    pub concurrency: usize,
    /// The `[[accounts]]`: each instance's calls carry its own account's
    /// Client-Token; discovered instances' tokens.
    pub accounts: crate::discovery::Accounts,
    /// `register_all_types`: registration points every webhook type at the
    /// listener (`update-every-webhooks`, `notifySentByMe` kept as it was).
    pub all_types: bool,
}

/// Runs [`Command`]s on tasks with bounded concurrency; each result comes
/// back to the loop as a [`Msg`].
pub struct Runner {
    backend: Arc<Backend>,
    permits: Arc<Semaphore>,
    results: mpsc::UnboundedSender<Msg>,
    tasks: JoinSet<()>,
    /// The event log's directory, for the detail pane's history.
    log_dir: Option<PathBuf>,
    alerts: Option<Arc<Alerts>>,
    alert_permits: Arc<Semaphore>,
    /// The instances' names, for the diagnostics log's lines.
    names: Arc<HashMap<InstanceId, String>>,
    /// Results come wrapped in [`Msg::Timed`] with how long the call took.
    timed: bool,
    /// The relay, for `F`'s dead letters, `t` and `d`.
    relay: Option<crate::relay::Relay>,
}

/// The `on_disconnect` / `on_connect` commands of the config.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    pub on_disconnect: Option<String>,
    pub on_connect: Option<String>,
    pub timeout: Duration,
}

/// Alert commands running at once, at most; more wait their turn (a
/// reconnect storm of the whole fleet does not fork a thousand shells).
pub const ALERT_CONCURRENCY: usize = 4;

/// Who carries out the commands: Z-API itself (with the tokens of the
/// config), or a remote `serve` through its HTTP API (`watch`).
pub enum Backend {
    Zapi(Box<Services>),
    Remote(crate::remote::RemoteApi),
}

impl Backend {
    async fn status(&self, id: &InstanceId) -> Result<Status, ApiError> {
        match self {
            Backend::Zapi(s) => s.status(id).await,
            Backend::Remote(r) => r.status(id).await,
        }
    }

    /// `replace`: the operator confirmed replacing another system's
    /// webhook URL (the server's API is then told so).
    async fn register(&self, id: &InstanceId, replace: bool) -> Result<(), ApiError> {
        match self {
            Backend::Zapi(s) => s.register(id).await,
            Backend::Remote(r) => r.register(id, replace).await,
        }
    }

    /// Adopts the URLs registration would replace as forward targets of
    /// `relay`, then registers.
    async fn register_adopting(
        &self,
        id: &InstanceId,
        relay: Option<&crate::relay::Relay>,
    ) -> Result<(), ApiError> {
        match (self, relay) {
            (Backend::Zapi(s), Some(relay)) => s.adopt_and_register(id, relay).await,
            // `watch`: the server's relay adopts them
            (Backend::Remote(r), _) => r.register_adopting(id).await,
            _ => Err(ApiError::Config(
                "adopting needs the dashboard that runs the listener and its relay; o overwrites without forwarding".into(),
            )),
        }
    }

    async fn hooks(
        &self,
        id: &InstanceId,
        relay: Option<&crate::relay::Relay>,
    ) -> Result<Hooks, ApiError> {
        match self {
            Backend::Zapi(s) => {
                let mut hooks = s.hooks(id).await?;
                // a URL adopted as a forward target is not another system's to lose
                if let Some(relay) = relay {
                    let adopted: Vec<String> = relay
                        .adopted_urls(id.as_str())
                        .iter()
                        .map(|u| crate::app::mask_foreign_url(u))
                        .collect();
                    hooks.foreign.retain(|u| !adopted.contains(u));
                }
                Ok(hooks)
            }
            Backend::Remote(_) => Err(ApiError::Config(
                "the webhook check runs on the server, not through watch".into(),
            )),
        }
    }

    /// The instance's newest events, newest first: from the event log in
    /// `log_dir` here, or from the server's (`watch`).
    async fn history(
        &self,
        id: &InstanceId,
        log_dir: Option<PathBuf>,
    ) -> Result<Vec<Event>, String> {
        match (self, log_dir) {
            (_, Some(dir)) => read_history(dir, id.clone()).await,
            (Backend::Remote(r), None) => r
                .history(id)
                .await
                .map_err(|e| format!("the server's history: {e}")),
            (Backend::Zapi(_), None) => {
                Err("no event log here: the newest events kept in memory".into())
            }
        }
    }

    async fn act(&self, id: &InstanceId, action: InstanceAction) -> Result<(), ApiError> {
        match (self, action) {
            (Backend::Zapi(s), InstanceAction::Restart) => s.restart(id).await,
            (Backend::Zapi(s), InstanceAction::Restore) => s.restore_session(id).await,
            (Backend::Remote(r), InstanceAction::Restart) => r.restart(id).await,
            (Backend::Remote(r), InstanceAction::Restore) => r.restore_session(id).await,
        }
    }

    /// The QR code to link the number again (`serve` asks Z-API for `watch`).
    pub async fn qr_code(&self, id: &InstanceId) -> Result<QrAnswer, ApiError> {
        match self {
            Backend::Zapi(s) => {
                let (client, token) = s.call_ready(id)?;
                client.qr_code(id, &token).await
            }
            Backend::Remote(r) => r.qr_code(id).await,
        }
    }

    /// A pairing code for `phone` (digits only).
    pub async fn phone_code(&self, id: &InstanceId, phone: &str) -> Result<Credential, ApiError> {
        match self {
            Backend::Zapi(s) => {
                let (client, token) = s.call_ready(id)?;
                client.phone_code(id, &token, phone).await
            }
            Backend::Remote(r) => r.phone_code(id, phone).await,
        }
    }

    async fn device(&self, id: &InstanceId) -> Result<Device, ApiError> {
        match self {
            Backend::Zapi(s) => {
                let (client, token) = s.call_ready(id)?;
                client.device(id, &token).await
            }
            Backend::Remote(_) => Err(ApiError::Config(
                "the device is asked on the server, not through watch".into(),
            )),
        }
    }

    fn concurrency(&self) -> usize {
        match self {
            Backend::Zapi(s) => s.concurrency,
            Backend::Remote(_) => DEFAULT_CONCURRENCY,
        }
    }
}

impl Runner {
    pub fn new(backend: Backend, results: mpsc::UnboundedSender<Msg>) -> Self {
        let permits = Arc::new(Semaphore::new(backend.concurrency().max(1)));
        Self {
            backend: Arc::new(backend),
            permits,
            results,
            tasks: JoinSet::new(),
            log_dir: None,
            alerts: None,
            alert_permits: Arc::new(Semaphore::new(ALERT_CONCURRENCY)),
            names: Arc::new(HashMap::new()),
            timed: false,
            relay: None,
        }
    }

    /// The relay the operator's `F`, `t` and `d` act on.
    pub fn with_relay(mut self, relay: Option<crate::relay::Relay>) -> Self {
        self.relay = relay;
        self
    }

    /// Each call's result comes as [`Msg::Timed`], with how long the call
    /// took (the dashboard's Z-API link state counts it).
    pub fn timed(mut self) -> Self {
        self.timed = true;
        self
    }

    /// The instances' names (from the config), for the diagnostics log.
    pub fn with_names(mut self, names: impl IntoIterator<Item = (InstanceId, String)>) -> Self {
        self.set_names(names);
        self
    }

    /// New names (a reloaded config); calls already running keep the old.
    pub fn set_names(&mut self, names: impl IntoIterator<Item = (InstanceId, String)>) {
        self.names = Arc::new(names.into_iter().collect());
    }

    /// The detail pane's history is read from the event log in `dir`.
    pub fn with_history(mut self, dir: PathBuf) -> Self {
        self.log_dir = Some(dir);
        self
    }

    /// State changes run these commands.
    pub fn with_alerts(mut self, alerts: Alerts) -> Self {
        if alerts.on_disconnect.is_some() || alerts.on_connect.is_some() {
            self.alerts = Some(Arc::new(alerts));
        }
        self
    }

    /// Where results go back to the loop, for work the loop starts itself.
    pub fn results(&self) -> mpsc::UnboundedSender<Msg> {
        self.results.clone()
    }

    /// The backend, for callers that run other actions (the HTTP API).
    pub fn backend(&self) -> Arc<Backend> {
        Arc::clone(&self.backend)
    }

    /// A reloaded config: calls from now on use `backend` (when given) and
    /// `alerts` (calls and alerts already running finish with the old ones).
    pub fn reconfigure(&mut self, backend: Option<Arc<Backend>>, alerts: Alerts) {
        if let Some(backend) = backend {
            self.backend = backend;
        }
        let any = alerts.on_disconnect.is_some() || alerts.on_connect.is_some();
        self.alerts = any.then(|| Arc::new(alerts));
    }

    /// Starts the call a command asks for. Returns `true` for
    /// [`Command::Quit`]; commands for the terminal itself (bell, mouse)
    /// are the loop's, and ignored here.
    pub fn run(&mut self, cmd: Command) -> bool {
        let results = self.results.clone();
        match cmd {
            Command::Quit => return true,
            // the terminal's and the event log's: the loop carries them out
            Command::Bell
            | Command::MouseCapture(_)
            | Command::Clipboard(_)
            | Command::RecordAck { .. } => {}
            Command::LoadHistory(id) => {
                let dir = self.log_dir.clone();
                let backend = Arc::clone(&self.backend);
                self.tasks.spawn(async move {
                    let result = backend.history(&id, dir).await;
                    let _ = results.send(Msg::History { id, result });
                });
            }
            Command::Alert { event, name } => self.spawn_alert(event, name),
            Command::Discover => {
                if let Backend::Zapi(s) = &*self.backend {
                    s.accounts.relist();
                }
            }
            Command::Relay(call) => self.spawn_relay(call),
            call @ (Command::FetchStatus(_)
            | Command::FetchHooks(_)
            | Command::Register(_)
            | Command::RegisterReplacing(_)
            | Command::RegisterAdopting(_)
            | Command::Act(..)
            | Command::FetchQr(_)
            | Command::PhoneCode(..)
            | Command::FetchDevice(_)) => self.spawn_call(call),
        }
        // reap finished tasks so the set does not grow over weeks
        while self.tasks.try_join_next().is_some() {}
        false
    }

    /// Asks the relay on a task; the answer comes back as [`Msg::RelayDone`].
    fn spawn_relay(&mut self, call: crate::app::RelayCall) {
        use crate::app::{RelayAnswer, RelayCall};
        let results = self.results.clone();
        let relay = self.relay.clone();
        self.tasks.spawn(async move {
            let gone = || "no such forward target (or no relay here)".to_owned();
            let result = match (&call, relay) {
                (_, None) => Err(gone()),
                (RelayCall::DeadLetters(name), Some(relay)) => relay
                    .dead_letters(name)
                    .map(RelayAnswer::Letters)
                    .ok_or_else(gone),
                (RelayCall::Retry(name), Some(relay)) => relay
                    .retry(name)
                    .await
                    .map(RelayAnswer::Count)
                    .ok_or_else(gone),
                (RelayCall::Drop(name), Some(relay)) => relay
                    .drop_dead(name)
                    .await
                    .map(RelayAnswer::Count)
                    .ok_or_else(gone),
                (RelayCall::Unadopt(id), Some(relay)) => relay
                    .remove_adopted(id.as_str())
                    .await
                    .map(RelayAnswer::Removed),
            };
            let _ = results.send(Msg::RelayDone { call, result });
        });
    }

    /// Runs the config's alert command for a state change, if it has one.
    fn spawn_alert(&mut self, event: Event, name: String) {
        let results = self.results.clone();
        let Some(alerts) = self.alerts.clone() else {
            return;
        };
        let (kind, command) = match &event.kind {
            EventKind::Disconnected { .. } => {
                (AlertKind::Disconnected, alerts.on_disconnect.clone())
            }
            EventKind::Connected { .. } => (AlertKind::Connected, alerts.on_connect.clone()),
            EventKind::Activity { .. } => return,
        };
        let Some(command) = command else {
            return;
        };
        let permits = Arc::clone(&self.alert_permits);
        self.tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let alert = AlertEvent {
                instance_id: event.instance_id.to_string(),
                instance_name: name,
                event: kind,
                error: match &event.kind {
                    EventKind::Disconnected { error } => error.clone(),
                    _ => None,
                },
                moment: event.moment,
            };
            if let Err(e) = crate::alert::run(&command, &alert, alerts.timeout).await {
                tracing::warn!(instance = %event.instance_id, error = %e, "alert command failed");
                let _ = results.send(Msg::AlertFailed {
                    id: event.instance_id,
                    error: e.to_string(),
                });
            }
        });
    }

    /// A call through the backend, within the concurrency bound; its
    /// result comes back as a [`Msg`] (timed, when asked for); a failure
    /// is written to the diagnostics log.
    fn spawn_call(&mut self, call: Command) {
        let results = self.results.clone();
        let backend = Arc::clone(&self.backend);
        let permits = Arc::clone(&self.permits);
        let names = Arc::clone(&self.names);
        let timed = self.timed;
        let relay = self.relay.clone();
        self.tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let started = std::time::Instant::now();
            let Some((msg, id, error)) = make_call(&backend, relay.as_ref(), call).await else {
                return;
            };
            let took = started.elapsed();
            if let Some(error) = &error {
                log_failure(&names, &id, call_name(&msg), error);
            }
            let msg = if timed {
                Msg::Timed {
                    took,
                    msg: Box::new(msg),
                }
            } else {
                msg
            };
            // the loop may be gone (quitting): nothing to report to then
            let _ = results.send(msg);
        });
    }
}

/// Makes one call through the backend: its result as a [`Msg`], the
/// instance, and the error to log if it failed. `None` for a command that
/// is not a call.
async fn make_call(
    backend: &Backend,
    relay: Option<&crate::relay::Relay>,
    call: Command,
) -> Option<(Msg, InstanceId, Option<ApiError>)> {
    let replace = matches!(call, Command::RegisterReplacing(_));
    let (id, msg) = match call {
        Command::FetchStatus(id) => {
            let result = backend.status(&id).await;
            (id.clone(), Msg::StatusResult { id, result })
        }
        Command::FetchHooks(id) => {
            let result = backend.hooks(&id, relay).await;
            (id.clone(), Msg::HooksResult { id, result })
        }
        Command::RegisterAdopting(id) => {
            let result = backend.register_adopting(&id, relay).await;
            (id.clone(), Msg::RegisterResult { id, result })
        }
        Command::Register(id) | Command::RegisterReplacing(id) => {
            let result = backend.register(&id, replace).await;
            (id.clone(), Msg::RegisterResult { id, result })
        }
        Command::Act(id, action) => {
            let result = backend.act(&id, action).await;
            (id.clone(), Msg::ActionResult { id, action, result })
        }
        // the answers are credentials: only an error is ever logged
        Command::FetchQr(id) => {
            let result = backend.qr_code(&id).await;
            (id.clone(), Msg::QrResult { id, result })
        }
        Command::PhoneCode(id, phone) => {
            let result = backend.phone_code(&id, &phone).await;
            (id.clone(), Msg::PhoneCodeResult { id, result })
        }
        Command::FetchDevice(id) => {
            let result = backend.device(&id).await;
            (id.clone(), Msg::DeviceResult { id, result })
        }
        _ => return None,
    };
    let error = call_error(&msg);
    Some((msg, id, error))
}

/// The error of a call's result, for the diagnostics log.
fn call_error(msg: &Msg) -> Option<ApiError> {
    match msg {
        Msg::StatusResult { result, .. } => result.as_ref().err().cloned(),
        Msg::HooksResult { result, .. } => result.as_ref().err().cloned(),
        Msg::RegisterResult { result, .. } | Msg::ActionResult { result, .. } => {
            result.as_ref().err().cloned()
        }
        Msg::QrResult { result, .. } => result.as_ref().err().cloned(),
        Msg::PhoneCodeResult { result, .. } => result.as_ref().err().cloned(),
        Msg::DeviceResult { result, .. } => result.as_ref().err().cloned(),
        _ => None,
    }
}

/// The Z-API call a result answers, as the diagnostics log names it.
fn call_name(msg: &Msg) -> &'static str {
    match msg {
        Msg::StatusResult { .. } => "status",
        Msg::HooksResult { .. } => "me",
        Msg::RegisterResult { .. } => "register webhooks",
        Msg::ActionResult {
            action: InstanceAction::Restart,
            ..
        } => "restart",
        Msg::ActionResult {
            action: InstanceAction::Restore,
            ..
        } => "restore-session",
        Msg::QrResult { .. } => "qr-code",
        Msg::PhoneCodeResult { .. } => "phone-code",
        Msg::DeviceResult { .. } => "device",
        _ => "call",
    }
}

/// One line in the diagnostics log for a failed call: the instance's
/// name and id, the call, the whole error (which never holds a token: the
/// client scrubs them). A call that could not be made (no Client-Token,
/// not configured) is not a failure of Z-API's and says so at debug.
fn log_failure(names: &HashMap<InstanceId, String>, id: &InstanceId, call: &str, error: &ApiError) {
    let name = names.get(id).map_or("", String::as_str);
    if let ApiError::Config(_) = error {
        tracing::debug!(instance = name, id = %id, call, error = %error, "Z-API call not made");
    } else {
        tracing::warn!(instance = name, id = %id, call, error = %error, "Z-API call failed");
    }
}

/// The newest [`DETAIL_HISTORY`] events of `id` in the event log in `dir`,
/// newest first, read on a blocking thread (a large log never stalls the
/// async tasks).
pub async fn read_history(dir: PathBuf, id: InstanceId) -> Result<Vec<Event>, String> {
    let read = tokio::task::spawn_blocking(move || {
        crate::store::history(&dir, &id, DETAIL_HISTORY)
            .map(|records| records.into_iter().map(|(_, e)| e).collect())
    })
    .await;
    match read {
        Ok(Ok(events)) => Ok(events),
        Ok(Err(e)) => Err(format!("cannot read the event log: {e}")),
        Err(e) => Err(format!("cannot read the event log: {e}")),
    }
}

/// The errors of a call that cannot be made: they are the caller's to fix
/// (HTTP 409 in the API), not Z-API's.
pub const NOT_CONFIGURED: &str = "instance is not configured";

impl Services {
    /// The client (with the instance's account's Client-Token) and the
    /// instance's token.
    fn call_ready(&self, id: &InstanceId) -> Result<(ZapiClient, Secret), ApiError> {
        if let Some(routed) = self.accounts.route(id, self.tokens.get(id)) {
            return routed.map_err(ApiError::Config);
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| ApiError::Config("client_token is not set".into()))?;
        let token = self
            .tokens
            .get(id)
            .ok_or_else(|| ApiError::Config(NOT_CONFIGURED.into()))?;
        Ok((client.clone(), token.clone()))
    }

    /// Re-registers the instance's webhooks (both PUTs).
    pub async fn register(&self, id: &InstanceId) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or_else(|| ApiError::Config("public_url is not set".into()))?;
        if self.all_types {
            // notifySentByMe stays what the operator has: /me says it
            let notify = client.me(id, &token).await?.receive_callback_sent_by_me;
            let url = crate::listener::secret::hook_url_every(public_url, self.secret.as_ref(), id);
            let hook = crate::zapi::Hook::Every {
                notify_sent_by_me: notify.unwrap_or(false),
            };
            return client.update_webhook(id, &token, hook, &url).await;
        }
        client
            .register_webhooks(id, &token, public_url, self.secret.as_ref())
            .await
    }

    /// `y` in the replace popup: the URLs `/me` shows for this instance
    /// that are another system's (the disconnected and connected webhooks;
    /// the received one too with `register_all_types`) become forward
    /// targets of `relay` for that instance and type, then the instance is
    /// registered. Nothing is registered if they cannot be adopted.
    pub async fn adopt_and_register(
        &self,
        id: &InstanceId,
        relay: &crate::relay::Relay,
    ) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or_else(|| ApiError::Config("public_url is not set".into()))?;
        let me = client.me(id, &token).await?;
        let mut hooks = vec![
            ("DisconnectedCallback", me.disconnected_callback_url),
            ("ConnectedCallback", me.connected_callback_url),
        ];
        if self.all_types {
            hooks.push(("ReceivedCallback", me.received_callback_url));
        }
        let adopted: Vec<crate::relay::adopt::Adopted> = hooks
            .into_iter()
            .filter_map(|(kind, url)| Some((kind, url?)))
            .filter(|(_, url)| !crate::app::foreign_urls([Some(url), None], public_url).is_empty())
            .map(|(kind, url)| crate::relay::adopt::Adopted {
                instance: id.as_str().to_owned(),
                url,
                types: vec![kind.to_owned()],
            })
            .collect();
        if !adopted.is_empty() {
            relay.adopt(adopted).await.map_err(ApiError::Config)?;
        }
        self.register(id).await
    }

    /// `GET …/status`.
    pub async fn status(&self, id: &InstanceId) -> Result<Status, ApiError> {
        let (client, token) = self.call_ready(id)?;
        client.status(id, &token).await
    }

    /// `GET …/me`: where Z-API sends the webhooks now, compared with the
    /// URLs registration would send; path tokens masked for the screen.
    pub async fn hooks(&self, id: &InstanceId) -> Result<Hooks, ApiError> {
        let (client, token) = self.call_ready(id)?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or_else(|| ApiError::Config("public_url is not set".into()))?;
        let me = client.me(id, &token).await?;
        Ok(crate::discovery::judge_hooks(
            [
                me.disconnected_callback_url.as_deref(),
                me.connected_callback_url.as_deref(),
                me.received_callback_url.as_deref(),
            ],
            public_url,
            self.secret.as_ref(),
            id,
            self.all_types,
        ))
    }

    /// `GET …/restart`.
    pub async fn restart(&self, id: &InstanceId) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        client.restart(id, &token).await
    }

    /// `GET …/restore-session`.
    pub async fn restore_session(&self, id: &InstanceId) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        client.restore_session(id, &token).await
    }
}
