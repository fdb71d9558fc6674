//! The event loop and the terminal guard.
//!
//! The loop `select!`s over terminal input, accepted webhook events, command
//! results, a 1 Hz tick (for the ages) and shutdown signals. Every input
//! becomes a [`Msg`]; after a batch of messages it draws once if anything
//! changed, never more often than [`MIN_FRAME_INTERVAL`] allows.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend as TermBackend;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app::{App, Command, Msg};
use crate::model::Event;
use crate::reload::{Reload, Reloaded};
use crate::store::{Ack, EventLog};

use crate::runner::Runner;
use crate::signals::shutdown_signal;

/// At most ~60 frames per second, whatever the load.
/// (16.667 ms: 16 ms would allow 62.5 frames per second.)
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_micros(16_667);

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
    /// Puts `text` on the terminal's clipboard ([`osc52`]).
    fn clipboard(&mut self, _text: &str) -> io::Result<()> {
        Ok(())
    }
}

/// The OSC 52 sequence that asks the terminal to put `text` on the
/// system clipboard: `ESC ] 52 ; c ; <base64 of text> BEL`. Terminals that
/// do not allow it ignore it (tmux needs `set -g set-clipboard on`).
pub fn osc52(text: &str) -> Vec<u8> {
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend_from_slice(base64(text.as_bytes()).as_bytes());
    out.push(0x07);
    out
}

/// Standard base64 (RFC 4648, with `=` padding), by the `base64` crate.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
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

    fn clipboard(&mut self, text: &str) -> io::Result<()> {
        use std::io::Write;
        let mut out = io::stdout();
        out.write_all(&osc52(text))?;
        out.flush()
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
    /// The relay, whose numbers go to the app each tick.
    pub relay: Option<crate::relay::Relay>,
}

/// Whether the dashboard has a terminal to draw on and read keys from:
/// stdin and stdout both (not `ssh` without `-t`, cron, or a pipe).
pub fn has_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// Why the dashboard does not start without a terminal, and what to do.
pub const NO_TERMINAL: &str = "the dashboard needs a terminal, but stdin or stdout is not one \
     (ssh without -t, cron, a pipe?): run it in a terminal (ssh -t), or run \
     `zapi-dash serve` for the service without a screen";

/// The stop signals that end a dashboard: SIGTERM, SIGHUP, SIGINT.
type Shutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The real terminal, entered: raw mode (so typed keys are never echoed),
/// the alternate screen, the panic hooks and the stop signals. Dropping it
/// restores the terminal, so an early return cannot leave it half set up.
pub struct Term {
    screen: RealScreen,
    input: EventStream,
    shutdown: Shutdown,
}

impl Term {
    /// Installs the stop signals and enters the terminal; input typed
    /// before this (keys pressed while the program started) is discarded.
    /// Check [`has_terminal`] first.
    pub fn enter() -> io::Result<Term> {
        let shutdown: Shutdown = Box::pin(shutdown_signal());
        let terminal = match ratatui::try_init() {
            Ok(terminal) => terminal,
            Err(e) => {
                let _ = ratatui::try_restore();
                return Err(e);
            }
        };
        abort_after_panic_hook();
        discard_pending_input();
        Ok(Term {
            screen: RealScreen(terminal),
            input: EventStream::new(),
            shutdown,
        })
    }

    /// Draws the starting screen: `title` and what is being done.
    pub fn show_starting(&mut self, title: &str, doing: &str) -> io::Result<()> {
        self.screen
            .0
            .draw(|f| crate::ui::starting::draw(title, doing, f))
            .map(|_| ())
    }

    /// Shows the starting screen while `work` runs, redrawn on resize. `q`
    /// or ctrl-c (or a stop signal) ends the wait early: `None`, and `work`
    /// is dropped; every other key typed meanwhile is ignored, never
    /// replayed into the dashboard.
    pub async fn while_starting<T>(
        &mut self,
        title: &str,
        doing: &str,
        work: impl std::future::Future<Output = T>,
    ) -> io::Result<Option<T>> {
        self.show_starting(title, doing)?;
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                () = &mut self.shutdown => return Ok(None),
                out = &mut work => return Ok(Some(out)),
                ev = self.input.next() => match ev {
                    Some(Ok(ev)) => match starting_input(&ev) {
                        StartingInput::Quit => return Ok(None),
                        StartingInput::Redraw => self.show_starting(title, doing)?,
                        StartingInput::Ignore => {}
                    },
                    Some(Err(e)) => return Err(e),
                    None => return Ok(None),
                },
            }
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        release_mouse();
        ratatui::restore();
    }
}

/// What a terminal event does while the dashboard starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingInput {
    /// `q` or ctrl-c: stop starting, exit.
    Quit,
    /// The terminal was resized.
    Redraw,
    /// Anything else: dropped.
    Ignore,
}

/// What `ev` does on the starting screen.
pub fn starting_input(ev: &TermEvent) -> StartingInput {
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    match ev {
        TermEvent::Resize(..) => StartingInput::Redraw,
        TermEvent::Key(k) if k.kind == KeyEventKind::Press => match k.code {
            KeyCode::Char('q') if k.modifiers.is_empty() => StartingInput::Quit,
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                StartingInput::Quit
            }
            _ => StartingInput::Ignore,
        },
        _ => StartingInput::Ignore,
    }
}

/// Reads and drops whatever input is already waiting (keys typed before
/// raw mode), without blocking; at most a few thousand events.
fn discard_pending_input() {
    use crossterm::event::{poll, read};
    for _ in 0..4096 {
        match poll(Duration::ZERO) {
            Ok(true) => {
                if read().is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The dashboard on the entered terminal (`run`, `demo` and `watch`): the
/// loop run until quit, the end of input or a stop signal, and the
/// terminal restored — a panic restores it too. `debug_panic`: panic
/// after the first frame (tested).
pub async fn run(
    mut term: Term,
    app: &mut App,
    feeds: Feeds,
    runner: Runner,
    debug_panic: bool,
) -> io::Result<()> {
    if let Ok(size) = term.screen.0.size() {
        app.update(Msg::Resize(size.width, size.height), Utc::now());
    }
    if debug_panic {
        let _ = term.screen.draw_app(app);
        panic!("--debug-panic: testing that a panic restores the terminal");
    }
    let Term {
        screen,
        input,
        shutdown,
    } = &mut term;
    let outcome = run_loop(screen, app, input, feeds, runner, shutdown).await;
    drop(term);
    outcome
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
        relay,
    } = feeds;
    let mut failed_writes = log.as_ref().map_or(0, |l| l.stats().failed);
    tokio::pin!(shutdown);
    let mut tick = ticker();
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut events_open = true;
    let mut batch: Vec<(u64, Event)> = Vec::with_capacity(256);
    // benchmark mode only (ZAPI_DASH_BENCH_PROBE): event → frame latency, frame rate
    let mut probe = crate::probe::Probe::from_env();
    start(screen, app, &mut runner);

    loop {
        let draw_at =
            dirty.then(|| last_draw.map_or_else(Instant::now, |t| t + MIN_FRAME_INTERVAL));
        let mut msgs: Vec<Msg> = Vec::new();
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // a due frame goes before more input, so a flood cannot starve the screen
            () = sleep_until_opt(draw_at) => {
                last_draw = Some(draw_frame(screen, app, probe.as_mut())?);
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
                msgs.extend(std::iter::from_fn(|| results.try_recv().ok()));
            },
            reloaded = next_reload(&mut reloads) => {
                msgs.extend(apply_reloaded(app, &mut runner, reloaded));
                dirty = true;
            },
            _ = tick.tick() => msgs.extend(tick_msgs(log.as_ref(), relay.as_ref(), &mut failed_writes)),
        }
        match apply(app, screen, &mut runner, log.as_ref(), msgs) {
            Applied::Quit => break,
            Applied::Changed => dirty = true,
            Applied::Quiet => {}
        }
    }
    let _ = screen.set_mouse(false);
    Ok(())
}

/// What a tick brings: the tick, the relay's numbers (when it has
/// targets) and a problem for writes that failed since the last one.
fn tick_msgs(
    log: Option<&EventLog>,
    relay: Option<&crate::relay::Relay>,
    failed_writes: &mut u64,
) -> Vec<Msg> {
    let mut msgs = vec![Msg::Tick];
    if let Some(relay) = relay.filter(|r| !r.is_empty()) {
        msgs.push(Msg::Relay(relay.status()));
    }
    msgs.extend(failed_writes_problem(log, failed_writes));
    msgs
}

/// The mouse as the app wants it, and the app's first calls.
fn start<S: Screen>(screen: &mut S, app: &mut App, runner: &mut Runner) {
    if app.switches.mouse {
        let _ = screen.set_mouse(true);
    }
    for cmd in app.init() {
        runner.run(cmd);
    }
}

/// The 1 Hz tick for the ages; a late one is skipped, not caught up.
fn ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tick
}

/// Draws one frame; returns when it started. Frames are paced start to
/// start: a slow draw does not stretch the interval (and still ≤ 60 per
/// second).
fn draw_frame<S: Screen>(
    screen: &mut S,
    app: &mut App,
    probe: Option<&mut crate::probe::Probe>,
) -> io::Result<Instant> {
    let started = Instant::now();
    app.prepare();
    screen.draw_app(app)?;
    if let Some(p) = probe {
        p.on_frame();
    }
    Ok(started)
}

/// What a batch of messages did.
enum Applied {
    /// The app asks to quit.
    Quit,
    /// Something on screen changed: draw.
    Changed,
    /// Nothing on screen changed (no message, or poll answers that repeat
    /// what the rows show): no frame.
    Quiet,
}

/// Folds `msgs` into the app and carries out what it asks; [`Applied::Quit`]
/// when it asks to quit (the rest of the batch is dropped then, as before).
fn apply<S: Screen>(
    app: &mut App,
    screen: &mut S,
    runner: &mut Runner,
    log: Option<&EventLog>,
    msgs: Vec<Msg>,
) -> Applied {
    let mut changed = false;
    for msg in msgs {
        let cmds = app.update(msg, Utc::now());
        changed |= !app.take_quiet();
        for cmd in cmds {
            match cmd {
                // a terminal that cannot ring or capture the mouse is no reason to stop
                Command::Bell => {
                    let _ = screen.bell();
                }
                Command::MouseCapture(on) => {
                    let _ = screen.set_mouse(on);
                }
                Command::Clipboard(text) => {
                    if let Err(e) = screen.clipboard(&text) {
                        tracing::warn!(error = %e, "cannot write to the terminal's clipboard");
                    }
                }
                Command::RecordAck { id, acked, at } => {
                    let ack = Ack {
                        instance_id: id,
                        acked,
                        at,
                    };
                    // the answer comes back as a message if it failed
                    let _ = store_ack(log, runner, ack);
                }
                cmd => {
                    if runner.run(cmd) {
                        return Applied::Quit;
                    }
                }
            }
        }
    }
    if changed {
        Applied::Changed
    } else {
        Applied::Quiet
    }
}

/// Appends an acknowledgement to the event log on a task (its handle); a
/// failure (or no log: `watch`) comes back as a problem for the footer.
fn store_ack(
    log: Option<&EventLog>,
    runner: &Runner,
    ack: Ack,
) -> Option<tokio::task::JoinHandle<()>> {
    let results = runner.results();
    let Some(log) = log.cloned() else {
        let _ = results.send(Msg::Problem(format!(
            "no event log here: the ack of {} lasts until you quit",
            ack.instance_id
        )));
        return None;
    };
    Some(tokio::spawn(async move {
        let id = ack.instance_id.clone();
        if let Err(e) = log.append_ack(ack).await {
            tracing::warn!(instance = %id, error = %e, "ack not stored");
            let _ = results.send(Msg::Problem(format!(
                "the ack of {id} could not be stored (it lasts until you quit): {e}"
            )));
        }
    }))
}

/// A problem for the footer when more webhooks failed to be stored since
/// the last tick (`seen` is how many had).
fn failed_writes_problem(log: Option<&EventLog>, seen: &mut u64) -> Option<Msg> {
    let failed = log.map(|l| l.stats().failed).filter(|f| *f > *seen)?;
    let msg = Msg::Problem(format!(
        "event log: {} webhooks could not be stored (answered 503, Z-API will retry); see zapi-dash.log",
        failed - *seen
    ));
    *seen = failed;
    Some(msg)
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
            if let Some(instances) = &reconfig.instances {
                runner.set_names(
                    instances
                        .iter()
                        .filter_map(|(id, name)| name.clone().map(|n| (id.clone(), n))),
                );
            }
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

/// Mouse capture off (ratatui's restore leaves it as it was).
pub fn release_mouse() {
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
}

/// After ratatui's hook has restored the terminal and printed the panic,
/// end the process: a panic on a background task must not leave a
/// dashboard running on a restored (cooked) terminal.
pub fn abort_after_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if crate::panics::contained() {
            // a caller catches this one (a decoder of outside bytes): the
            // screen stays, the diagnostics log says where (not what: the
            // message might quote the input)
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            tracing::warn!(at = at.as_deref().unwrap_or("?"), "a contained panic");
            return;
        }
        release_mouse();
        previous(info);
        std::process::exit(101);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Setup;
    use crate::model::{EventKind, InstanceId};
    use crate::runner::{Backend, Services};
    use crate::store::{LogOptions, Record};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    /// A screen that keeps what it was asked to put on the clipboard.
    #[derive(Default)]
    struct Recorder {
        clipboard: Vec<String>,
    }

    impl Screen for Recorder {
        fn draw_app(&mut self, _app: &App) -> io::Result<()> {
            Ok(())
        }
        fn clipboard(&mut self, text: &str) -> io::Result<()> {
            self.clipboard.push(text.to_string());
            Ok(())
        }
    }

    fn runner() -> (Runner, mpsc::UnboundedReceiver<Msg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let services = Services {
            client: None,
            tokens: Default::default(),
            public_url: None,
            secret: None,
            concurrency: 1,
            accounts: Default::default(),
            all_types: false,
        };
        (Runner::new(Backend::Zapi(Box::new(services)), tx), rx)
    }

    fn app() -> App {
        let setup = Setup {
            instances: vec![(InstanceId::new("3C8A1F00D2E94B7A"), Some("Sales".into()))],
            ..Setup::default()
        };
        App::new(setup, Utc::now())
    }

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[test]
    fn osc52_is_esc_52_c_base64_bel() {
        assert_eq!(osc52("I1"), b"\x1b]52;c;STE=\x07");
        assert_eq!(
            osc52("3C8A1F00D2E94B7A"),
            b"\x1b]52;c;M0M4QTFGMDBEMkU5NEI3QQ==\x07"
        );
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
            ("ação", "YcOnw6Nv"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn big_y_reaches_the_terminal_as_a_clipboard_write() {
        let (mut runner, _results) = runner();
        let mut app = app();
        let mut screen = Recorder::default();
        let applied = apply(&mut app, &mut screen, &mut runner, None, vec![key('Y')]);
        assert!(matches!(applied, Applied::Changed));
        assert_eq!(screen.clipboard, ["3C8A1F00D2E94B7A"]);
    }

    /// Polling's idle cost: an answer that repeats what the row shows
    /// draws no frame; one that changes the row does.
    #[tokio::test]
    async fn a_poll_answer_that_changes_nothing_draws_nothing() {
        let (mut runner, _results) = runner();
        let mut app = app();
        app.update(Msg::Tick, Utc::now());
        let mut screen = Recorder::default();
        let answer = |connected: bool| Msg::Timed {
            took: Duration::from_millis(40),
            msg: Box::new(Msg::StatusResult {
                id: InstanceId::new("3C8A1F00D2E94B7A"),
                result: Ok(crate::model::Status {
                    connected,
                    error: None,
                    smartphone_connected: Some(connected),
                }),
            }),
        };
        let mut apply_one =
            |app: &mut App, msg| apply(app, &mut screen, &mut runner, None, vec![msg]);
        assert!(
            matches!(apply_one(&mut app, answer(true)), Applied::Changed),
            "unknown → up"
        );
        for _ in 0..5 {
            assert!(matches!(apply_one(&mut app, answer(true)), Applied::Quiet));
        }
        assert!(
            matches!(apply_one(&mut app, answer(false)), Applied::Changed),
            "up → down"
        );
        assert!(matches!(apply_one(&mut app, answer(false)), Applied::Quiet));
        // with the detail open, every answer is drawn (it shows the answer's age)
        apply_one(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        );
        assert!(matches!(
            apply_one(&mut app, answer(false)),
            Applied::Changed
        ));
        // a key, a tick: drawn
        assert!(matches!(apply_one(&mut app, Msg::Tick), Applied::Changed));
        assert!(matches!(
            apply(&mut app, &mut screen, &mut runner, None, vec![]),
            Applied::Quiet
        ));
    }

    /// `a` is stored in the event log, and a fresh app that replays the log
    /// (as `run` does) has the number acked: it survives a restart.
    #[tokio::test]
    async fn an_ack_is_stored_and_a_fresh_app_replays_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(LogOptions::new(dir.path())).unwrap();
        let (runner, mut results) = runner();
        let id = InstanceId::new("3C8A1F00D2E94B7A");
        let at = Utc::now() - chrono::Duration::minutes(10);
        let event = Event {
            instance_id: id.clone(),
            kind: EventKind::Disconnected {
                error: Some("Device has been disconnected".into()),
            },
            moment: at,
            received: at,
        };
        log.append(event.clone(), crate::store::fingerprint(b"down"))
            .await
            .unwrap();
        let mut first = app();
        first.update(Msg::Webhook(event), Utc::now());
        let cmds = first.update(key('a'), Utc::now());
        let [Command::RecordAck { id, acked, at }] = cmds.as_slice() else {
            panic!("{cmds:?}");
        };
        let ack = Ack {
            instance_id: id.clone(),
            acked: *acked,
            at: *at,
        };
        store_ack(Some(&log), &runner, ack.clone())
            .expect("a task")
            .await
            .unwrap();
        assert!(results.try_recv().is_err(), "no problem reported");
        log.close().await.unwrap();

        let mut fresh = app();
        let stats = crate::store::replay_records(dir.path(), |_, record| {
            let msg = match record {
                Record::Event(e) => Msg::Webhook(e),
                Record::Ack(a) => Msg::Acked {
                    id: a.instance_id,
                    acked: a.acked,
                    at: a.at,
                },
            };
            fresh.update(msg, Utc::now());
        })
        .unwrap();
        assert_eq!((stats.records, stats.corrupt), (2, 0));
        let row = fresh.get(id).unwrap();
        assert_eq!(row.acked, Some(ack.at));
        assert!(crate::fleet::health::acked(row));
        // the readers of events pass it by: replay, and the detail's history
        let mut events = 0;
        let stats = crate::store::replay(dir.path(), |_, _| events += 1).unwrap();
        assert_eq!((events, stats.records, stats.corrupt), (1, 1, 0));
        let history = crate::store::history(dir.path(), id, 10).unwrap();
        assert_eq!(history.len(), 1);
        // and the writer continues after it: the next seq is new
        let log = EventLog::open(LogOptions::new(dir.path())).unwrap();
        assert_eq!(log.stats().last_seq, 2);
        log.close().await.unwrap();
    }

    #[test]
    fn without_a_log_an_ack_says_it_lasts_until_quit() {
        let (runner, mut results) = runner();
        let ack = Ack {
            instance_id: InstanceId::new("X"),
            acked: true,
            at: Utc::now(),
        };
        assert!(store_ack(None, &runner, ack).is_none());
        let Ok(Msg::Problem(text)) = results.try_recv() else {
            panic!("a problem for the footer");
        };
        assert!(text.contains("lasts until you quit"), "{text}");
    }
}

/// The starting screen's input and the no-terminal line.
#[cfg(test)]
mod starting_tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

    fn key(code: KeyCode, modifiers: KeyModifiers, kind: KeyEventKind) -> TermEvent {
        let mut k = KeyEvent::new(code, modifiers);
        k.kind = kind;
        TermEvent::Key(k)
    }

    #[test]
    fn while_starting_only_q_and_ctrl_c_act_and_a_resize_redraws() {
        use KeyEventKind::{Press, Release};
        let none = KeyModifiers::NONE;
        let quit = [
            key(KeyCode::Char('q'), none, Press),
            key(KeyCode::Char('c'), KeyModifiers::CONTROL, Press),
        ];
        for ev in quit {
            assert_eq!(starting_input(&ev), StartingInput::Quit, "{ev:?}");
        }
        assert_eq!(
            starting_input(&TermEvent::Resize(80, 24)),
            StartingInput::Redraw
        );
        let ignored = [
            key(KeyCode::Char('q'), none, Release),
            key(KeyCode::Char('q'), KeyModifiers::ALT, Press),
            key(KeyCode::Char('c'), none, Press),
            key(KeyCode::Char('?'), none, Press),
            key(KeyCode::Esc, none, Press),
            key(KeyCode::Enter, none, Press),
            key(KeyCode::Down, none, Press),
            TermEvent::FocusGained,
            TermEvent::Paste("q".into()),
        ];
        for ev in ignored {
            assert_eq!(starting_input(&ev), StartingInput::Ignore, "{ev:?}");
        }
    }

    #[test]
    fn the_no_terminal_line_is_one_line_and_points_to_serve() {
        assert!(!NO_TERMINAL.contains('\n'));
        assert!(NO_TERMINAL.contains("zapi-dash serve") && NO_TERMINAL.contains("ssh -t"));
    }
}
