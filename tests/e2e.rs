//! End to end: the built binary in a real pseudo-terminal, its screen read
//! with vt100, Z-API played by the simulator, webhooks sent over loopback.
//!
//! The pty is drained on its own thread; the test waits for screen states
//! (never sleeps). `ZAPI_DASH_E2E_TIMEOUT` (seconds, default 30) bounds each wait.

use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use zapi_dash::sim::{Sim, SimInstance, SimOptions, webhook_body_disconnected};

const ID: &str = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";
const TOKEN: &str = "INSTANCETOKEN0123456789";
const CLIENT_TOKEN: &str = "CLIENTTOKENabcdefghij";

fn timeout() -> Duration {
    let secs = std::env::var("ZAPI_DASH_E2E_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// The screen as the reader thread keeps it, and a signal for each change.
struct Screen {
    parser: Mutex<(vt100::Parser, bool)>,
    changed: Condvar,
}

impl Screen {
    fn contents(&self) -> String {
        self.parser.lock().unwrap().0.screen().contents()
    }

    /// Waits until the screen satisfies `pred`; panics with the screen if it never does.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout();
        let mut guard = self.parser.lock().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_register_quit_in_a_real_terminal() {
    let sim = Sim::start(SimOptions {
        client_token: CLIENT_TOKEN.into(),
        instances: vec![SimInstance {
            id: ID.into(),
            token: TOKEN.into(),
            name: "Sales".into(),
        }],
        latency: Duration::ZERO,
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\npublic_url = \"https://dash.example.com\"\napi_base = \"{}\"\nclient_token = \"{CLIENT_TOKEN}\"\n\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n",
            sim.base_url()
        ),
    )
    .unwrap();

    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_zapi-dash"));
    cmd.arg("--config");
    cmd.arg(&config);
    cmd.arg("--state-dir");
    cmd.arg(dir.path().join("state"));
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("ZAPI_CLIENT_TOKEN");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);

    let screen = Arc::new(Screen {
        parser: Mutex::new((
            vt100::Parser::new(
                std::num::NonZero::new(24).unwrap(),
                std::num::NonZero::new(100).unwrap(),
                0,
            ),
            false,
        )),
        changed: Condvar::new(),
    });
    let mut reader = pty.master.try_clone_reader().unwrap();
    let reader_screen = Arc::clone(&screen);
    let reader_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    reader_screen.parser.lock().unwrap().0.process(&buf[..n]);
                    reader_screen.changed.notify_all();
                }
            }
        }
        reader_screen.parser.lock().unwrap().1 = true;
        reader_screen.changed.notify_all();
    });
    let mut writer = pty.master.take_writer().unwrap();

    // The first frame: the configured instance, and the status Z-API gave at start.
    let text = screen.wait_for("the status answer", |s| {
        s.contains("Sales") && s.contains("● connected")
    });
    assert!(
        !text.contains(TOKEN) && !text.contains(CLIENT_TOKEN),
        "a token reached the screen:\n{text}"
    );
    let port: u16 = text
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .expect("the header shows the listen address");

    // A disconnect webhook arrives over HTTP and the row changes.
    let body = webhook_body_disconnected(ID, 1_764_000_000, "Device has been disconnected");
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/disconnected"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    screen.wait_for("the disconnect", |s| {
        s.contains("✗ disconnected") && s.contains("Device has been disconnected")
    });

    // `r` re-registers both webhooks on Z-API, and the row says so.
    writer.write_all(b"r").unwrap();
    writer.flush().unwrap();
    let calls = sim
        .wait_for_calls(
            |c| c.iter().filter(|c| c.method == "PUT").count() >= 2,
            timeout(),
        )
        .await
        .expect("the simulator receives both PUTs");
    let puts: Vec<_> = calls.iter().filter(|c| c.method == "PUT").collect();
    let prefix = format!("/instances/{ID}/token/{TOKEN}/");
    let mut seen: Vec<(String, serde_json::Value)> = puts
        .iter()
        .map(|c| {
            (
                c.path.trim_start_matches(&prefix).to_string(),
                serde_json::from_str(&c.body).unwrap(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            (
                "update-webhook-connected".to_string(),
                serde_json::json!({"value": "https://dash.example.com/hooks/connected"})
            ),
            (
                "update-webhook-disconnected".to_string(),
                serde_json::json!({"value": "https://dash.example.com/hooks/disconnected"})
            ),
        ]
    );
    assert!(
        puts.iter()
            .all(|c| c.client_token.as_deref() == Some(CLIENT_TOKEN))
    );
    screen.wait_for("the registration result", |s| {
        s.contains("webhooks of Sales registered") && s.contains("ok ")
    });

    // `q` quits, restores the terminal and exits 0.
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    drop(writer);
    drop(pty.master);
    let _ = reader_thread.join();
    let final_screen = screen.contents();
    assert!(
        !final_screen.contains("Instances (1)"),
        "the alternate screen was left:\n{final_screen}"
    );
    let log = std::fs::read_to_string(dir.path().join("state/zapi-dash.log")).unwrap();
    assert!(!log.contains(TOKEN) && !log.contains(CLIENT_TOKEN));
}
