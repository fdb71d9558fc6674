//! Shared harness for end-to-end tests: the built binary in a real
//! pseudo-terminal, its screen kept by vt100 on a reader thread that drains
//! the pty. Tests wait for screen states (never sleep); each wait is bounded
//! by `ZAPI_DASH_E2E_TIMEOUT` seconds (default 30).
#![allow(dead_code)]

pub mod receiver;

use std::io::{Read, Write};
use std::num::NonZero;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

pub fn timeout() -> Duration {
    let secs = std::env::var("ZAPI_DASH_E2E_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// The screen as the reader thread keeps it, whether the pty closed, and a
/// signal for each change.
pub struct Screen {
    state: Mutex<(vt100::Parser, bool)>,
    changed: Condvar,
    /// BEL bytes the program wrote (the terminal bell; ratatui and
    /// crossterm send no other BEL, having no OSC sequences here).
    bells: AtomicUsize,
}

impl Screen {
    pub fn contents(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .screen()
            .contents()
    }

    /// Whether any cell on screen has a colour (foreground or background).
    pub fn any_colour(&self) -> bool {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let screen = guard.0.screen();
        let (rows, cols) = screen.size();
        (0..rows.get()).any(|r| {
            (0..cols.get()).any(|c| {
                screen.cell(r, c).is_some_and(|cell| {
                    cell.fgcolor() != vt100::Color::Default
                        || cell.bgcolor() != vt100::Color::Default
                })
            })
        })
    }

    /// Waits until the program has rung the bell `n` times in all.
    pub fn wait_bells(&self, n: usize) {
        let deadline = Instant::now() + timeout();
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while self.bells.load(Ordering::SeqCst) < n {
            let now = Instant::now();
            assert!(
                now < deadline && !guard.1,
                "waiting for bell {n}; the screen is:\n{}",
                guard.0.screen().contents()
            );
            guard = self.changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// Waits until the screen satisfies `pred` or `deadline` passes (for
    /// a wait whose bound is the assertion); `None` at the deadline.
    pub fn wait_for_until(&self, deadline: Instant, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = guard.0.screen().contents();
            if pred(&text) {
                return Some(text);
            }
            let now = Instant::now();
            if now >= deadline || guard.1 {
                return None;
            }
            guard = self.changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// Waits until the screen satisfies `pred`; panics with the screen if it never does.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout();
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = guard.0.screen().contents();
            if pred(&text) {
                return text;
            }
            let now = Instant::now();
            assert!(
                now < deadline && !guard.1,
                "waiting for {what}; the screen is:\n{text}"
            );
            guard = self.changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}

/// A running `zapi-dash` in a pty.
pub struct Dash {
    pub screen: Arc<Screen>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Dash {
    /// Starts the binary with `args` (plus `--state-dir <dir>/state`) in a `cols`×`rows` pty.
    pub fn spawn(args: &[&str], dir: &Path, cols: u16, rows: u16) -> Dash {
        Self::spawn_env(args, dir, cols, rows, &[])
    }

    /// [`Dash::spawn`] with these environment variables set.
    pub fn spawn_env(
        args: &[&str],
        dir: &Path,
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> Dash {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_zapi-dash"));
        cmd.args(args);
        cmd.arg("--state-dir");
        cmd.arg(dir.join("state"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("RUST_BACKTRACE", "0");
        cmd.env_remove("ZAPI_CLIENT_TOKEN");
        cmd.env_remove("ZAPI_DASH_WEBHOOK_SECRET");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);

        let screen = Arc::new(Screen {
            state: Mutex::new((
                vt100::Parser::new(NonZero::new(rows).unwrap(), NonZero::new(cols).unwrap(), 0),
                false,
            )),
            changed: Condvar::new(),
            bells: AtomicUsize::new(0),
        });
        let mut reader = pty.master.try_clone_reader().unwrap();
        let reader_screen = Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let bells = buf[..n].iter().filter(|&&b| b == 0x07).count();
                        reader_screen.bells.fetch_add(bells, Ordering::SeqCst);
                        reader_screen
                            .state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                            .process(&buf[..n]);
                        reader_screen.changed.notify_all();
                    }
                }
            }
            reader_screen
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .1 = true;
            reader_screen.changed.notify_all();
        });
        let writer = pty.master.take_writer().unwrap();
        Dash {
            screen,
            writer,
            child,
            master: pty.master,
            reader: Some(reader),
        }
    }

    pub fn send(&mut self, keys: &[u8]) {
        self.writer.write_all(keys).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.screen.wait_for(what, pred)
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        self.screen
            .state
            .lock()
            .unwrap()
            .0
            .screen_mut()
            .set_size(NonZero::new(rows).unwrap(), NonZero::new(cols).unwrap());
    }

    /// The listen port shown in the header (`127.0.0.1:PORT`).
    pub fn port(&self) -> u16 {
        let text = self.wait_for("the listen address", |s| s.contains("127.0.0.1:"));
        text.split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .expect("the header shows the listen address")
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("the child has a pid")
    }

    /// Waits for the process to exit and the pty to drain; returns the exit status.
    pub fn wait_exit(mut self) -> portable_pty::ExitStatus {
        let status = self.child.wait().unwrap();
        drop(self.writer);
        drop(self.master);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status
    }
}

/// Sends a signal to a process with the `kill` command.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// `zapi-dash serve --config <config> --state-dir <state>` with stdin closed
/// and the secrets an outer environment could hold (client token, webhook
/// secret, API token) removed, so that the test's config is all it sees. The
/// caller sets stdout and stderr, and may add environment.
pub fn serve_command(config: &Path, state: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zapi-dash"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .env_remove("ZAPI_CLIENT_TOKEN")
        .env_remove("ZAPI_DASH_WEBHOOK_SECRET")
        .env_remove("ZAPI_DASH_API_TOKEN")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Reads `zapi-dash serve`'s stderr up to the line that says where it
/// listens (warnings may come first) and returns that line and the address.
pub fn serve_listening(stderr: &mut impl std::io::BufRead) -> (String, std::net::SocketAddr) {
    let mut line = String::new();
    while !line.contains("listening on ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended before it listened"
        );
    }
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("serve did not say where it listens: {line:?}"));
    (line, addr)
}

/// Waits (bounded) for a file another process writes.
pub fn wait_file(path: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + timeout();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && pred(&text)
        {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What registering an instance sends Z-API with `public_url =
/// "https://dash.example.com"` and no webhook secret, sorted by path: (the
/// path after the instance's prefix, the JSON body).
pub fn plain_registration() -> Vec<(String, serde_json::Value)> {
    ["connected", "disconnected"]
        .into_iter()
        .map(|which| {
            (
                format!("update-webhook-{which}"),
                serde_json::json!({"value": format!("https://dash.example.com/hooks/{which}")}),
            )
        })
        .collect()
}
