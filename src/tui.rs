//! The event loop and the terminal guard.
//!
//! The loop `select!`s over terminal input, accepted webhook events, command
//! results, a 1 Hz tick (for the ages) and shutdown signals. Every input
//! becomes a [`Msg`]; after a batch of messages it draws once if anything
//! changed, never more often than [`MIN_FRAME_INTERVAL`] allows.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::Event as TermEvent;
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend as TermBackend;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::alert::{AlertEvent, AlertKind};
use crate::app::{App, Command, DETAIL_HISTORY, Hooks, InstanceAction, Msg};
use crate::model::{Event, EventKind, InstanceId, Secret};
use crate::reload::{Reload, Reloaded};
use crate::store::EventLog;
use crate::webhook::WebhookSecret;
use crate::zapi::{ApiError, Status, ZapiClient};

/// At most ~60 frames per second, whatever the load.
/// (16.667 ms: 16 ms would allow 62.5 frames per second.)
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_micros(16_667);
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
/// [`App`] only ever sees instance ids.
pub struct Services {
    /// `None` when no Client-Token is configured.
    pub client: Option<ZapiClient>,
    pub tokens: HashMap<InstanceId, Secret>,
    pub public_url: Option<String>,
    /// With a webhook secret, registration registers the secret paths.
    pub secret: Option<WebhookSecret>,
    pub concurrency: usize,
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

    async fn hooks(&self, id: &InstanceId) -> Result<Hooks, ApiError> {
        match self {
            Backend::Zapi(s) => s.hooks(id).await,
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
        }
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
            Command::Bell | Command::MouseCapture(_) => {}
            Command::LoadHistory(id) => {
                let dir = self.log_dir.clone();
                let backend = Arc::clone(&self.backend);
                self.tasks.spawn(async move {
                    let result = backend.history(&id, dir).await;
                    let _ = results.send(Msg::History { id, result });
                });
            }
            Command::Alert { event, name } => {
                let Some(alerts) = self.alerts.clone() else {
                    return false;
                };
                let (kind, command) = match &event.kind {
                    EventKind::Disconnected { .. } => {
                        (AlertKind::Disconnected, alerts.on_disconnect.clone())
                    }
                    EventKind::Connected { .. } => {
                        (AlertKind::Connected, alerts.on_connect.clone())
                    }
                    EventKind::Activity { .. } => return false,
                };
                let Some(command) = command else {
                    return false;
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
            call @ (Command::FetchStatus(_)
            | Command::FetchHooks(_)
            | Command::Register(_)
            | Command::RegisterReplacing(_)
            | Command::Act(..)) => {
                let backend = Arc::clone(&self.backend);
                let permits = Arc::clone(&self.permits);
                self.tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let msg = match call {
                        Command::FetchStatus(id) => {
                            let result = backend.status(&id).await;
                            Msg::StatusResult { id, result }
                        }
                        Command::FetchHooks(id) => {
                            let result = backend.hooks(&id).await;
                            Msg::HooksResult { id, result }
                        }
                        Command::Register(id) => {
                            let result = backend.register(&id, false).await;
                            Msg::RegisterResult { id, result }
                        }
                        Command::RegisterReplacing(id) => {
                            let result = backend.register(&id, true).await;
                            Msg::RegisterResult { id, result }
                        }
                        Command::Act(id, action) => {
                            let result = backend.act(&id, action).await;
                            Msg::ActionResult { id, action, result }
                        }
                        _ => return,
                    };
                    // the loop may be gone (quitting): nothing to report to then
                    let _ = results.send(msg);
                });
            }
        }
        // reap finished tasks so the set does not grow over weeks
        while self.tasks.try_join_next().is_some() {}
        false
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
    fn call_ready(&self, id: &InstanceId) -> Result<(&ZapiClient, &Secret), ApiError> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| ApiError::Config("client_token is not set".into()))?;
        let token = self
            .tokens
            .get(id)
            .ok_or_else(|| ApiError::Config(NOT_CONFIGURED.into()))?;
        Ok((client, token))
    }

    /// Re-registers the instance's webhooks (both PUTs).
    pub async fn register(&self, id: &InstanceId) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or_else(|| ApiError::Config("public_url is not set".into()))?;
        client
            .register_webhooks(id, token, public_url, self.secret.as_ref())
            .await
    }

    /// `GET …/status`.
    pub async fn status(&self, id: &InstanceId) -> Result<Status, ApiError> {
        let (client, token) = self.call_ready(id)?;
        client.status(id, token).await
    }

    /// `GET …/me`: where Z-API sends the webhooks now, compared with the
    /// URLs registration would send; path tokens masked for the screen.
    pub async fn hooks(&self, id: &InstanceId) -> Result<Hooks, ApiError> {
        let (client, token) = self.call_ready(id)?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or_else(|| ApiError::Config("public_url is not set".into()))?;
        let me = client.me(id, token).await?;
        let (disconnected, connected) =
            crate::webhook::hook_urls(public_url, self.secret.as_ref(), id);
        let foreign = crate::app::foreign_urls(
            [
                me.disconnected_callback_url.as_deref(),
                me.connected_callback_url.as_deref(),
            ],
            public_url,
        );
        let here = me.disconnected_callback_url.as_deref() == Some(disconnected.as_str())
            && me.connected_callback_url.as_deref() == Some(connected.as_str());
        // another system's URL may hold a secret in its query or userinfo too
        let mask = crate::app::mask_foreign_url;
        Ok(Hooks {
            disconnected: me.disconnected_callback_url.as_deref().map(mask),
            connected: me.connected_callback_url.as_deref().map(mask),
            received: me.received_callback_url.as_deref().map(mask),
            here,
            foreign,
        })
    }

    /// `GET …/restart`.
    pub async fn restart(&self, id: &InstanceId) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        client.restart(id, token).await
    }

    /// `GET …/restore-session`.
    pub async fn restore_session(&self, id: &InstanceId) -> Result<(), ApiError> {
        let (client, token) = self.call_ready(id)?;
        client.restore_session(id, token).await
    }
}

/// A webhook URL fit to show: every path segment that looks like a token
/// (16 or more letters, digits, `-` or `_`) is cut to its first four
/// characters, so neither our secret path tokens nor another service's
/// tokens reach the screen.
pub fn mask_url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let masked: Vec<String> = rest
        .split('/')
        .map(|seg| {
            let tokenish = seg.len() >= 16
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if tokenish {
                crate::webhook::token_prefix(seg)
            } else {
                seg.to_string()
            }
        })
        .collect();
    format!("{head}{}", masked.join("/"))
}

/// Where frames go: the real terminal (with synchronized updates, so no
/// flicker) or a test backend.
pub trait Screen {
    fn draw_app(&mut self, app: &App) -> io::Result<()>;
    /// Rings the terminal bell.
    fn bell(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Turns mouse capture on or off.
    fn set_mouse(&mut self, _on: bool) -> io::Result<()> {
        Ok(())
    }
}

impl<B: TermBackend> Screen for Terminal<B>
where
    io::Error: From<B::Error>,
{
    fn draw_app(&mut self, app: &App) -> io::Result<()> {
        self.draw(|f| crate::ui::draw(app, f))?;
        Ok(())
    }
}

/// The real terminal: ratatui's crossterm terminal wrapped in synchronized updates.
pub struct RealScreen(pub ratatui::DefaultTerminal);

impl Screen for RealScreen {
    fn draw_app(&mut self, app: &App) -> io::Result<()> {
        use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
        crossterm::execute!(io::stdout(), BeginSynchronizedUpdate)?;
        let drawn = self.0.draw(|f| crate::ui::draw(app, f)).map(|_| ());
        crossterm::execute!(io::stdout(), EndSynchronizedUpdate)?;
        drawn
    }

    fn bell(&mut self) -> io::Result<()> {
        use std::io::Write;
        let mut out = io::stdout();
        out.write_all(b"\x07")?;
        out.flush()
    }

    fn set_mouse(&mut self, on: bool) -> io::Result<()> {
        use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
        if on {
            crossterm::execute!(io::stdout(), EnableMouseCapture)
        } else {
            crossterm::execute!(io::stdout(), DisableMouseCapture)
        }
    }
}

/// Maps a terminal event to a message; `None` for events the app ignores.
pub fn term_msg(ev: TermEvent) -> Option<Msg> {
    match ev {
        TermEvent::Key(k) => Some(Msg::Key(k)),
        TermEvent::Resize(w, h) => Some(Msg::Resize(w, h)),
        TermEvent::Mouse(m) => Some(Msg::Mouse(m)),
        _ => None,
    }
}

/// Where the loop's messages come from, besides the terminal.
pub struct Feeds {
    /// Webhooks the listener accepted (and stored).
    /// Stored webhooks with their `seq`, in `seq` order (the log's committed feed).
    pub events: mpsc::Receiver<(u64, Event)>,
    /// Results of the commands the [`Runner`] ran.
    pub results: mpsc::UnboundedReceiver<Msg>,
    /// The event log, watched each tick for writes that failed.
    pub log: Option<EventLog>,
    /// Reloaded configs (SIGUSR1; see [`crate::reload`]).
    pub reloads: Option<mpsc::Receiver<Reloaded>>,
}

/// Runs the dashboard until a [`Command::Quit`], the end of `input`, or `shutdown` resolves.
pub async fn run_loop<S, I>(
    screen: &mut S,
    app: &mut App,
    mut input: I,
    feeds: Feeds,
    mut runner: Runner,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()>
where
    S: Screen,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let Feeds {
        mut events,
        mut results,
        log,
        mut reloads,
    } = feeds;
    let mut failed_writes = log.as_ref().map_or(0, |l| l.stats().failed);
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut events_open = true;
    let mut batch: Vec<(u64, Event)> = Vec::with_capacity(256);
    // benchmark mode only (ZAPI_DASH_BENCH_PROBE): event → frame latency, frame rate
    let mut probe = crate::probe::Probe::from_env();

    if app.switches.mouse {
        let _ = screen.set_mouse(true);
    }
    for cmd in app.init() {
        runner.run(cmd);
    }

    loop {
        let draw_at = if dirty {
            Some(last_draw.map_or_else(Instant::now, |t| t + MIN_FRAME_INTERVAL))
        } else {
            None
        };
        let mut msgs: Vec<Msg> = Vec::new();
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // a due frame goes before more input, so a flood cannot starve the screen
            () = sleep_until_opt(draw_at) => {
                // frames are paced start to start: a slow draw does not
                // stretch the interval (and still ≤ 60 per second)
                let started = Instant::now();
                app.prepare();
                screen.draw_app(app)?;
                if let Some(p) = probe.as_mut() {
                    p.on_frame();
                }
                last_draw = Some(started);
                dirty = false;
                continue;
            },
            ev = input.next() => match ev {
                Some(Ok(ev)) => msgs.extend(term_msg(ev)),
                Some(Err(e)) => return Err(e),
                None => break,
            },
            n = events.recv_many(&mut batch, 256), if events_open => {
                if n == 0 {
                    events_open = false;
                }
                if let Some(p) = probe.as_mut() {
                    p.on_events(batch.iter().map(|(_, e)| e.received));
                }
                msgs.extend(batch.drain(..).map(|(_, event)| Msg::Webhook(event)));
            },
            Some(msg) = results.recv() => {
                msgs.push(msg);
                while let Ok(m) = results.try_recv() {
                    msgs.push(m);
                }
            },
            reloaded = next_reload(&mut reloads) => {
                msgs.extend(apply_reloaded(app, &mut runner, reloaded));
                dirty = true;
            },
            _ = tick.tick() => {
                msgs.push(Msg::Tick);
                if let Some(failed) = log.as_ref().map(|l| l.stats().failed).filter(|f| *f > failed_writes) {
                    msgs.push(Msg::Problem(format!(
                        "event log: {} webhooks could not be stored (answered 503, Z-API will retry); see zapi-dash.log",
                        failed - failed_writes
                    )));
                    failed_writes = failed;
                }
            },
        }
        for msg in msgs {
            dirty = true;
            for cmd in app.update(msg, Utc::now()) {
                match cmd {
                    // a terminal that cannot ring or capture the mouse is no reason to stop
                    Command::Bell => {
                        let _ = screen.bell();
                    }
                    Command::MouseCapture(on) => {
                        let _ = screen.set_mouse(on);
                    }
                    cmd => {
                        if runner.run(cmd) {
                            let _ = screen.set_mouse(false);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
    let _ = screen.set_mouse(false);
    Ok(())
}

/// A reloaded config to the runner and the app; a failed reload is a
/// problem for the footer.
fn apply_reloaded(app: &mut App, runner: &mut Runner, reloaded: Reloaded) -> Option<Msg> {
    match reloaded {
        Reloaded::Apply(reload) => {
            let Reload {
                reconfig,
                backend,
                alerts,
                ..
            } = *reload;
            runner.reconfigure(backend.map(Arc::new), alerts);
            for cmd in app.reconfigure(reconfig, Utc::now()) {
                runner.run(cmd);
            }
            if let Some(notice) = &app.ops.notice {
                tracing::info!("{}", notice.text);
            }
            None
        }
        Reloaded::Failed(why) => Some(Msg::Problem(why)),
    }
}

/// The next reloaded config; never, without a feed of them.
async fn next_reload(reloads: &mut Option<mpsc::Receiver<Reloaded>>) -> Reloaded {
    if let Some(rx) = reloads
        && let Some(reloaded) = rx.recv().await
    {
        return reloaded;
    }
    *reloads = None;
    std::future::pending().await
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGTERM or SIGINT: `serve`, where SIGHUP reloads the config.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves on SIGTERM, SIGHUP or SIGINT (Ctrl-C outside raw mode).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        let int = signal(SignalKind::interrupt());
        match (term, hup, int) {
            (Ok(mut term), Ok(mut hup), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = hup.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
