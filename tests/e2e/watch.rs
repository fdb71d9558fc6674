//! `watch` against a real `serve`, both the built binary, over loopback:
//! rows follow the server's webhooks, a server restart shows the CUT OFF
//! banner and then everything sent meanwhile, the action keys are carried
//! out by the server, and a wrong API token is said in the banner.
//!
//! No sleeps: every wait is for a screen state, a process exit or a message,
//! bounded by `ZAPI_DASH_E2E_TIMEOUT` (see `tests/common`).

use crate::common;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use chrono::{FixedOffset, TimeZone as _, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use tokio::sync::mpsc;

use common::{Dash, timeout};
use zapi_dash::app::{App, Link, Msg, Setup, TimeZone};
use zapi_dash::model::{EventKind, Secret};
use zapi_dash::remote::{RemoteApi, spawn_feed};
use zapi_dash::sim::{webhook_body_connected, webhook_body_disconnected};

const API_TOKEN: &str = "watch-test-api-token-0123456789";
/// `momment` of the first webhook (the test's start, so that a disconnect
/// is not an outage yet); each one after is a second later.
static T0: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| chrono::Utc::now().timestamp());

/// A port that was free a moment ago (the server must get the same one
/// again after a restart, so it cannot be port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free port that is not `port` (which is free too while its server is down).
fn another_port(port: u16) -> u16 {
    loop {
        let other = free_port();
        if other != port {
            return other;
        }
    }
}

/// `zapi-dash serve` listening on 127.0.0.1:`port` with the API token.
fn write_config(dir: &Path, name: &str, port: u16, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:{port}\"\napi_token = \"{API_TOKEN}\"\n{extra}"),
    )
    .unwrap();
    path
}

/// A running `zapi-dash serve`; killed if the test ends without stopping it.
struct Server {
    child: Child,
}

impl Server {
    /// Starts `serve` and waits until it says it listens.
    fn start(config: &Path, state: &Path) -> Server {
        let mut child = common::serve_command(config, state)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        common::serve_listening(&mut stderr);
        // keep draining, so a late warning can never block the server
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child }
    }

    /// SIGTERM, and waits for a clean exit.
    fn stop(mut self) {
        common::signal(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Posts one webhook to the server; it must be stored (200).
async fn post(port: u16, body: serde_json::Value) {
    let status = http()
        .post(format!("http://127.0.0.1:{port}/hooks"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "webhook {body}");
}

fn down(id: &str, n: i64, error: &str) -> serde_json::Value {
    webhook_body_disconnected(id, *T0 + n, error)
}

fn up(id: &str, n: i64) -> serde_json::Value {
    webhook_body_connected(id, *T0 + n, "5511999999999")
}

/// Whether the screen has a table row for `label` holding every one of `parts`.
fn row_has(screen: &str, label: &str, parts: &[&str]) -> bool {
    screen
        .lines()
        .any(|l| l.contains(label) && parts.iter().all(|p| l.contains(p)))
}

/// The watcher in a pty, on the server at `port` with `token`.
fn watcher(dir: &Path, port: u16, token: &str) -> Dash {
    let url = format!("http://127.0.0.1:{port}");
    Dash::spawn(
        &["watch", "--remote", &url, "--api-token", token],
        dir,
        140,
        30,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_serve_through_a_restart_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("server");
    let port = free_port();
    let config = write_config(dir.path(), "serve.toml", port, "");
    let url = format!("http://127.0.0.1:{port}");
    let server = Server::start(&config, &state);

    let mut watch = watcher(dir.path(), port, API_TOKEN);
    watch.wait_for("the server's (empty) snapshot", |s| {
        s.contains(&format!("watching {url} · 0 instances · 0 events"))
    });

    // Webhooks to the server change the watcher's rows.
    post(port, down("INST-A", 0, "Alpha went down")).await;
    post(port, up("INST-B", 1)).await;
    watch.wait_for("both rows", |s| {
        row_has(s, "INST-A", &["✗ disconnected", "Alpha went down"])
            && row_has(s, "INST-B", &["● connected"])
            && s.contains("2 instances · 2 events")
    });

    // The server stops: the watcher says it is cut off, from where and why.
    server.stop();
    watch.wait_for("the cut-off banner", |s| {
        s.contains(&format!("✗ CUT OFF from {url} since")) && s.contains("retrying")
    });

    // While the watcher is cut off, the server runs elsewhere on the same
    // log, takes events, and stops again: these are certainly missed live.
    let elsewhere = another_port(port);
    let other_config = write_config(dir.path(), "elsewhere.toml", elsewhere, "");
    let server = Server::start(&other_config, &state);
    post(elsewhere, up("INST-A", 10)).await;
    post(elsewhere, down("INST-B", 11, "Beta went down")).await;
    post(elsewhere, down("INST-C", 12, "Gamma never came up")).await;
    server.stop();
    assert!(watch.screen.contents().contains("CUT OFF"));

    // Back on the watched port; more events, some maybe before the watcher
    // is back, some maybe after.
    let server = Server::start(&config, &state);
    post(port, up("INST-C", 20)).await;
    post(port, down("INST-D", 21, "Delta went down")).await;
    let text = watch.wait_for("the watcher to recover with every event", |s| {
        !s.contains("CUT OFF")
            && s.contains(&format!("watching {url} · 4 instances · 7 events"))
            && row_has(s, "INST-A", &["● connected", "Alpha went down"])
            && row_has(s, "INST-B", &["✗ disconnected", "Beta went down"])
            && row_has(s, "INST-C", &["● connected", "Gamma never came up"])
            && row_has(s, "INST-D", &["✗ disconnected", "Delta went down"])
    });
    assert!(text.contains("● 2 connected") && text.contains("✗ 2 disconnected"));
    assert!(!text.contains(API_TOKEN), "the token reached the screen");

    // And it keeps following live.
    post(port, up("INST-D", 30)).await;
    watch.wait_for("a live event after the recovery", |s| {
        row_has(s, "INST-D", &["● connected"]) && s.contains("4 instances · 8 events")
    });

    watch.send(b"q");
    assert!(watch.wait_exit().success());
    server.stop();
}

/// The feed itself, message by message, over the same restart: after it
/// reconnects it gets exactly the events it missed, oldest first, then the
/// snapshot, then live events; nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_resumes_after_the_last_seq_with_no_gap_and_no_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("server");
    let port = free_port();
    let config = write_config(dir.path(), "serve.toml", port, "");
    let server = Server::start(&config, &state);

    let api = RemoteApi::new(&format!("http://127.0.0.1:{port}"), Secret::new(API_TOKEN)).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let feed = spawn_feed(api, tx);
    let mut next = async || {
        tokio::time::timeout(timeout(), rx.recv())
            .await
            .expect("a message from the feed in time")
            .expect("the feed runs")
    };
    // the moment (seconds after T0) and id of a webhook message
    let webhook = |msg: &Msg| match msg {
        Msg::Webhook(e) => Some((e.moment.timestamp() - *T0, e.instance_id.0.clone())),
        _ => None,
    };

    assert!(matches!(next().await, Msg::Link(Link::Up)));
    assert!(matches!(next().await, Msg::Snapshot(s) if s.events == 0));
    post(port, down("A", 0, "first")).await;
    post(port, up("B", 1)).await;
    assert_eq!(webhook(&next().await), Some((0, "A".into())));
    assert_eq!(webhook(&next().await), Some((1, "B".into())));

    server.stop();
    let Msg::Link(Link::Down {
        error, retry_at, ..
    }) = next().await
    else {
        panic!("the feed says the link is down")
    };
    assert!(!error.is_empty() && retry_at.is_some(), "{error}");

    let elsewhere = another_port(port);
    let other_config = write_config(dir.path(), "elsewhere.toml", elsewhere, "");
    let server = Server::start(&other_config, &state);
    post(elsewhere, up("A", 10)).await;
    post(elsewhere, down("B", 11, "second")).await;
    post(elsewhere, down("C", 12, "third")).await;
    server.stop();
    let server = Server::start(&config, &state);

    // more attempts may fail before the server is back
    let mut msg = next().await;
    while matches!(msg, Msg::Link(Link::Down { .. })) {
        msg = next().await;
    }
    assert!(matches!(msg, Msg::Link(Link::Up)), "{msg:?}");
    // the missed events from the log, in order, then the state at that point
    assert_eq!(webhook(&next().await), Some((10, "A".into())));
    assert_eq!(webhook(&next().await), Some((11, "B".into())));
    assert_eq!(webhook(&next().await), Some((12, "C".into())));
    match next().await {
        Msg::Snapshot(s) => {
            assert_eq!(s.events, 5);
            assert_eq!(s.instances.len(), 3);
        }
        other => panic!("expected the snapshot, got {other:?}"),
    }
    // then live, and nothing in between
    post(port, down("A", 20, "fourth")).await;
    let msg = next().await;
    assert_eq!(webhook(&msg), Some((20, "A".into())), "{msg:?}");
    let Msg::Webhook(e) = msg else { unreachable!() };
    assert_eq!(
        e.kind,
        EventKind::Disconnected {
            error: Some("fourth".into())
        }
    );

    feed.abort();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_in_the_watcher_makes_the_server_register() {
    use crate::dashboard::{CLIENT_TOKEN, ID, TOKEN};
    let sim = crate::dashboard::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        "serve.toml",
        port,
        &format!(
            "public_url = \"https://dash.example.com\"\napi_base = \"{}\"\nclient_token = \"{CLIENT_TOKEN}\"\n\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n",
            sim.base_url()
        ),
    );
    let server = Server::start(&config, &dir.path().join("server"));
    let mut watch = watcher(dir.path(), port, API_TOKEN);

    // the server asks Z-API the status and the webhooks (`/me`) at start;
    // its row reaches the watcher, drift included
    watch.wait_for("the server's row with its status", |s| {
        row_has(s, "Sales", &["● connected", "⚠ none set"]) && s.contains("webhooks not registered")
    });

    watch.send(b"r");
    let calls = sim
        .wait_for_calls(
            |c| c.iter().filter(|c| c.method == "PUT").count() >= 2,
            timeout(),
        )
        .await
        .expect("the simulator receives both PUTs");
    let prefix = format!("/instances/{ID}/token/{TOKEN}/");
    let mut puts: Vec<(String, serde_json::Value)> = calls
        .iter()
        .filter(|c| c.method == "PUT")
        .map(|c| {
            assert_eq!(c.client_token.as_deref(), Some(CLIENT_TOKEN));
            (
                c.path.trim_start_matches(&prefix).to_string(),
                serde_json::from_str(&c.body).unwrap(),
            )
        })
        .collect();
    puts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(puts, common::plain_registration());
    let text = watch.wait_for("the registration result", |s| {
        s.contains("webhooks of Sales registered") && row_has(s, "Sales", &["ok "])
    });
    for secret in [TOKEN, CLIENT_TOKEN, API_TOKEN] {
        assert!(
            !text.contains(secret),
            "a token reached the screen:\n{text}"
        );
    }

    watch.send(b"q");
    assert!(watch.wait_exit().success());
    server.stop();
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_token_is_shown_in_the_banner() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "serve.toml", port, "");
    let server = Server::start(&config, &dir.path().join("server"));
    let wrong = "not-the-token-0123456789";
    let mut watch = watcher(dir.path(), port, wrong);
    let text = watch.wait_for("the 401 in the banner", |s| {
        s.contains("✗ CUT OFF from") && s.contains("HTTP 401: invalid API token")
    });
    assert!(
        !text.contains(wrong),
        "the token reached the screen:\n{text}"
    );
    watch.send(b"q");
    assert!(watch.wait_exit().success());
    server.stop();
}

/// The banner is red and bold, and its words say it: never colour alone.
#[test]
fn cut_off_banner_is_red_bold_and_worded_and_gone_when_up() {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 14, 5, 12).unwrap();
    let setup = Setup {
        can_query_status: true,
        tz: TimeZone::Fixed(FixedOffset::east_opt(0).unwrap()),
        banner: Some("watching https://dash.example.com".into()),
        ..Setup::default()
    };
    let mut app = App::new(setup, now);
    app.update(
        Msg::Link(Link::Down {
            since: now - chrono::Duration::seconds(120),
            error: "connection refused".into(),
            retry_at: Some(now + chrono::Duration::milliseconds(3_200)),
        }),
        now,
    );
    let mut term = Terminal::new(TestBackend::new(120, 10)).unwrap();
    term.draw(|f| zapi_dash::ui::draw(&app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let line: String = (0..120).map(|x| buf[(x, 1)].symbol().to_string()).collect();
    assert_eq!(
        line.trim_end(),
        " ✗ CUT OFF from https://dash.example.com since 14:03:12 (2m ago) — retrying in 4s: connection refused"
    );
    let start = line.find("CUT").unwrap();
    let x = u16::try_from(line[..start].chars().count()).unwrap();
    let cell = &buf[(x, 1)];
    assert_eq!(cell.bg, Color::Red);
    assert!(cell.modifier.contains(Modifier::BOLD));

    app.update(Msg::Link(Link::Up), now);
    term.draw(|f| zapi_dash::ui::draw(&app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let line: String = (0..120).map(|x| buf[(x, 1)].symbol().to_string()).collect();
    // the banner is gone; the sparkline has its place again
    assert!(
        line.starts_with(" watching https://dash.example.com · 0 instances · 0 events   "),
        "{line}"
    );
    assert!(!line.contains("CUT OFF"), "{line}");
    let screen: String = buf.content().iter().map(|c| c.symbol()).collect();
    assert!(!screen.contains("CUT OFF") && !screen.contains("listening on"));
}

/// The instance's webhooks point at another system: the watcher's `r`
/// asks in the same popup as the dashboard's (it knows the URL from the
/// server's row), sends nothing before a key, then on `o` (overwrite) has
/// the server replace it (`?replace=true`: without it the server refuses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_in_the_watcher_asks_before_replacing_another_systems_webhook() {
    use crate::dashboard::{CLIENT_TOKEN, ID, TOKEN};
    let sim = crate::dashboard::sim().await;
    let bot = "https://bot.example.net/flows/zapi-in";
    sim.set_webhook_urls(ID, Some(bot), None);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        "serve.toml",
        port,
        &format!(
            "public_url = \"https://dash.example.com\"\napi_base = \"{}\"\nclient_token = \"{CLIENT_TOKEN}\"\n\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n",
            sim.base_url()
        ),
    );
    let server = Server::start(&config, &dir.path().join("server"));
    let mut watch = watcher(dir.path(), port, API_TOKEN);
    watch.wait_for("the server's row, pointing elsewhere", |s| {
        row_has(s, "Sales", &["⚠ elsewhere"])
    });

    watch.send(b"r");
    watch.wait_for("the confirmation", |s| {
        s.contains("point at another system") && s.contains(bot)
    });
    assert!(
        !sim.calls().iter().any(|c| c.method == "PUT"),
        "nothing is sent before y"
    );
    watch.send(b"o");
    sim.wait_for_calls(
        |c| c.iter().filter(|c| c.method == "PUT").count() >= 2,
        timeout(),
    )
    .await
    .expect("the server replaces both webhooks after o");
    watch.wait_for("the registration result", |s| {
        s.contains("webhooks of Sales registered")
    });
    assert_eq!(
        sim.instance(ID).unwrap().disconnected_url.as_deref(),
        Some("https://dash.example.com/hooks/disconnected")
    );

    watch.send(b"q");
    assert!(watch.wait_exit().success());
    server.stop();
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reloads_the_watchers_local_keys() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "serve.toml", port, "");
    let server = Server::start(&config, &dir.path().join("server"));
    let local = dir.path().join("local.toml");
    std::fs::write(&local, "[keys]\nquit = \"Q\"\n").unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let local_arg = local.to_str().unwrap();
    let mut watch = Dash::spawn(
        &[
            "watch",
            "--remote",
            &url,
            "--api-token",
            API_TOKEN,
            "--config",
            local_arg,
        ],
        dir.path(),
        140,
        30,
    );
    watch.wait_for("the snapshot", |s| s.contains("0 instances · 0 events"));
    // `q` does not quit here: the help that `?` opens after it shows
    watch.send(b"q?");
    watch.wait_for("the help", |s| {
        // the help's row for quit names Q (however wide the key column)
        s.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(2).any(|w| w == ["Q", "quit"])
        })
    });
    watch.send(b"?");

    std::fs::write(&local, "bell = false\n").unwrap();
    common::signal(watch.pid(), "USR1");
    watch.wait_for("the reload in the footer", |s| {
        s.contains("config reloaded")
    });
    watch.send(b"q");
    assert!(watch.wait_exit().success());
    server.stop();
}
