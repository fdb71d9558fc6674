//! End to end: the built binary in a real pseudo-terminal, its screen read
//! with vt100, Z-API played by the simulator, webhooks sent over loopback.

use crate::common;

use std::time::Duration;

use common::receiver::{Mode, Receiver};
use common::{Dash, timeout};
use zapi_dash::sim::{Sim, SimInstance, SimOptions, webhook_body_disconnected};

pub(crate) const ID: &str = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";
pub(crate) const TOKEN: &str = "INSTANCETOKEN0123456789";
pub(crate) const CLIENT_TOKEN: &str = "CLIENTTOKENabcdefghij";

/// A simulated Z-API with one instance, `Sales` (`ID`, `TOKEN`).
pub(crate) async fn sim() -> Sim {
    Sim::start(SimOptions {
        client_token: CLIENT_TOKEN.into(),
        instances: vec![SimInstance {
            id: ID.into(),
            token: TOKEN.into(),
            name: "Sales".into(),
        }],
        latency: Duration::ZERO,
    })
    .await
    .unwrap()
}

fn write_config(dir: &std::path::Path, api_base: &str) -> String {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\npublic_url = \"https://dash.example.com\"\napi_base = \"{api_base}\"\nclient_token = \"{CLIENT_TOKEN}\"\n\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n"
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_string()
}

/// A config of one instance (Sales) with `top` after the listen address,
/// readable by its owner only (no start warning of a readable config).
fn write_private_config(dir: &std::path::Path, top: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n{top}\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    config
}

/// Posts a disconnect webhook that happened now.
async fn post_disconnect(port: u16, error: &str) -> reqwest::StatusCode {
    let momment = chrono::Utc::now().timestamp();
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/disconnected"))
        .json(&webhook_body_disconnected(ID, momment, error))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_register_quit_in_a_real_terminal() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    // wide enough for the row's error beside its warning (narrower, the
    // table shows the warning alone: it says what to do)
    let mut dash = Dash::spawn(&["--config", &config], dir.path(), 160, 24);

    // The first frame: the configured instance, and the status Z-API gave at start.
    let text = dash.wait_for("the status answer", |s| {
        s.contains("Sales") && s.contains("● connected")
    });
    assert!(
        !text.contains(TOKEN) && !text.contains(CLIENT_TOKEN),
        "a token reached the screen:\n{text}"
    );
    let port = dash.port();

    // A disconnect webhook arrives over HTTP and the row changes.
    assert_eq!(
        post_disconnect(port, "Device has been disconnected").await,
        200
    );
    // the row leads with the warning (what to do), then the reason
    dash.wait_for("the disconnect", |s| {
        s.contains("✗ disconnected") && s.contains("⚠ webhooks not registered · Dev")
    });

    // `r` re-registers both webhooks on Z-API, and the row says so.
    dash.send(b"r");
    let calls = sim
        .wait_for_calls(
            |c| c.iter().filter(|c| c.method == "PUT").count() >= 2,
            timeout(),
        )
        .await
        .expect("the simulator receives both PUTs");
    let prefix = format!("/instances/{ID}/token/{TOKEN}/");
    let puts: Vec<_> = calls.iter().filter(|c| c.method == "PUT").collect();
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
    assert_eq!(seen, common::plain_registration());
    assert!(
        puts.iter()
            .all(|c| c.client_token.as_deref() == Some(CLIENT_TOKEN))
    );
    dash.wait_for("the registration result", |s| {
        s.contains("webhooks of Sales registered") && s.contains("ok ")
    });

    // `q` quits, restores the terminal and exits 0.
    dash.send(b"q");
    let screen = std::sync::Arc::clone(&dash.screen);
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let final_screen = screen.contents();
    assert!(
        !final_screen.contains("Instances (1)"),
        "the alternate screen was left:\n{final_screen}"
    );
    let log = std::fs::read_to_string(dir.path().join("state/zapi-dash.log")).unwrap();
    assert!(!log.contains(TOKEN) && !log.contains(CLIENT_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_shut_down_cleanly() {
    for sig in ["TERM", "HUP"] {
        let sim = sim().await;
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &sim.base_url());
        let dash = Dash::spawn(&["--config", &config], dir.path(), 100, 24);
        dash.wait_for("the first frame", |s| s.contains("Instances (1)"));
        let port = dash.port();
        assert_eq!(
            post_disconnect(port, "Device has been disconnected").await,
            200
        );
        dash.wait_for("the disconnect", |s| s.contains("✗ disconnected"));
        common::signal(dash.pid(), sig);
        let screen = std::sync::Arc::clone(&dash.screen);
        let status = tokio::task::spawn_blocking(move || dash.wait_exit())
            .await
            .unwrap();
        assert!(status.success(), "SIG{sig}: exit status {status:?}");
        assert!(
            !screen.contents().contains("Instances (1)"),
            "SIG{sig}: the terminal was not restored"
        );
        let log = std::fs::read_to_string(dir.path().join("state/zapi-dash.log")).unwrap();
        assert!(
            log.contains("stopped"),
            "SIG{sig}: the diagnostics log was not flushed: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_down_to_20x5_never_panics() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    let mut dash = Dash::spawn(&["--config", &config], dir.path(), 100, 24);
    dash.wait_for("the first frame", |s| s.contains("Instances (1)"));
    for (cols, rows) in [(20, 5), (40, 8), (21, 6), (20, 5), (120, 30)] {
        dash.resize(cols, rows);
        dash.send(b"j");
    }
    // the storm is over once a frame for 120 columns is on screen
    dash.wait_for("a frame at 120x30", |s| {
        s.lines()
            .any(|l| l.chars().count() == 120 && l.starts_with('┌') && l.ends_with('┐'))
    });
    dash.send(b"?");
    dash.wait_for("the help at 120x30", |s| s.contains("Keys"));
    dash.send(b"?");
    dash.send(b"q");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_restores_the_terminal_and_prints_the_message() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    let dash = Dash::spawn(&["--config", &config, "--debug-panic"], dir.path(), 100, 24);
    let screen = std::sync::Arc::clone(&dash.screen);
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(!status.success(), "a panic must not exit 0");
    let text = screen.contents();
    assert!(
        text.contains("testing that a panic restores the terminal"),
        "the message is printed:\n{text}"
    );
    assert!(
        !text.contains("Instances (1)"),
        "the alternate screen was left:\n{text}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_warns_of_corrupt_log_records_and_a_readable_config() {
    use std::os::unix::fs::PermissionsExt;
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();

    // a first run stores one event, then a crash mid-write is simulated
    let dash = Dash::spawn(&["--config", &config], dir.path(), 160, 24);
    let port = dash.port();
    assert_eq!(
        post_disconnect(port, "Device has been disconnected").await,
        200
    );
    dash.wait_for("the disconnect", |s| s.contains("✗ disconnected"));
    common::signal(dash.pid(), "TERM");
    tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    let events = dir.path().join("state/events");
    let segment = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("events-"))
        })
        .expect("a log segment");
    let mut text = std::fs::read_to_string(&segment).unwrap();
    assert!(
        !text.contains(TOKEN) && !text.contains(CLIENT_TOKEN),
        "a token reached the event log"
    );
    text.push_str("0badc0de {\"seq\":99,\"torn");
    std::fs::write(&segment, text).unwrap();

    // the restart shows the replayed state and says what it skipped
    let dash = Dash::spawn(&["--config", &config], dir.path(), 160, 24);
    let screen = dash.wait_for("the warnings", |s| {
        s.contains("1 corrupt event-log records skipped")
    });
    assert!(screen.contains("chmod 600"), "{screen}");
    assert!(
        screen.contains("✗ disconnected") || screen.contains("● connected"),
        "{screen}"
    );
    assert!(
        screen.contains("1 event "),
        "the replayed event is in the state:\n{screen}"
    );
    common::signal(dash.pid(), "TERM");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_view_drift_outage_bell_alert_detail_and_restart() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    let alert_file = dir.path().join("alert.env");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = format!(
        "alert_after = 0\nbell = true\non_disconnect = \"env > '{}'\"\n{text}",
        alert_file.display()
    );
    std::fs::write(&config, text).unwrap();
    let mut dash = Dash::spawn(&["--config", &config], dir.path(), 160, 40);

    // at start /me says the webhooks go nowhere: drift, in words
    dash.wait_for("the webhook check", |s| {
        s.contains("webhooks not registered") && s.contains("⚠ none set")
    });
    assert!(dash.screen.any_colour(), "colours without NO_COLOR");
    // R takes the drifted instance and fixes it
    dash.send(b"R");
    dash.wait_for("the registration", |s| {
        s.contains("register: 1 registered, 0 failed") && !s.contains("webhooks not registered")
    });

    // a disconnect: at once an outage (alert_after = 0), the bell, the command
    let port = dash.port();
    assert_eq!(
        post_disconnect(port, "Device has been disconnected").await,
        200
    );
    dash.wait_for("the outage", |s| s.contains("✗ OUTAGE"));
    dash.screen.wait_bells(1);
    let env = common::wait_file(&alert_file, |t| t.contains("ZAPI_MOMENT="));
    for want in [
        format!("ZAPI_INSTANCE_ID={ID}"),
        "ZAPI_INSTANCE_NAME=Sales".to_string(),
        "ZAPI_EVENT=disconnected".to_string(),
        "ZAPI_ERROR=Device has been disconnected".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} in\n{env}");
    }
    assert!(
        !env.contains(CLIENT_TOKEN) && !env.contains(TOKEN),
        "no secret for the command"
    );

    // Enter: the detail, with the history read from the log
    dash.send(b"\r");
    let screen = dash.wait_for("the detail", |s| {
        // the whole frame: a frame read half-drawn may lack its last lines
        s.contains("1 event from the log")
            && s.contains("Last 24 h")
            && s.contains("DisconnectedCallback")
            && s.contains("✓ point here")
    });
    assert!(screen.contains("DisconnectedCallback"), "{screen}");
    assert!(screen.contains("✓ point here"), "{screen}");

    // x asks first; n sends nothing; y restarts
    dash.send(b"x");
    dash.wait_for("the confirmation", |s| s.contains("Restart 1 instance?"));
    dash.send(b"n");
    dash.wait_for("the cancel", |s| s.contains("cancelled: nothing was sent"));
    assert!(
        !sim.calls().iter().any(|c| c.path.ends_with("/restart")),
        "nothing before y"
    );
    dash.send(b"x");
    dash.wait_for("the confirmation", |s| s.contains("Restart 1 instance?"));
    dash.send(b"y");
    sim.wait_for_calls(
        |c| c.iter().any(|c| c.path.ends_with("/restart")),
        timeout(),
    )
    .await
    .expect("the restart reaches Z-API");
    dash.wait_for("the restart's answer", |s| {
        s.contains("restart of Sales accepted")
    });

    // Esc back; / filters to nothing; Esc clears
    dash.send(b"\x1b");
    dash.wait_for("the table", |s| s.contains("Instances (1)"));
    dash.send(b"/zzz");
    dash.wait_for("the empty filter", |s| s.contains("No instance matches"));
    dash.send(b"\x1b");
    dash.wait_for("the cleared filter", |s| s.contains("Instances (1)"));

    dash.send(b"q");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_means_no_colour_on_the_real_terminal() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    let mut dash = Dash::spawn_env(
        &["--config", &config],
        dir.path(),
        120,
        30,
        &[("NO_COLOR", "1")],
    );
    dash.wait_for("the status answer", |s| {
        s.contains("Sales") && s.contains("● connected")
    });
    assert!(!dash.screen.any_colour(), "a colour under NO_COLOR");
    dash.send(b"q");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success());
}

/// The instance's webhooks point at the operator's own bot (a real
/// receiver on loopback): `R` asks first and names the URL (masked);
/// nothing reaches Z-API before `y`; `n` leaves it alone; `y` adopts it as
/// a forward target (beside the log) and registers; then Z-API points at
/// zapi-dash and the bot still gets every webhook, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_r_adopts_another_systems_webhook_and_the_bot_still_gets_every_event() {
    let sim = sim().await;
    let receiver = Receiver::start(Mode::Up).await;
    let base = receiver.url.trim_end_matches("/hook");
    let bot = format!("{base}/flows/AbCdEfGh0123456789xyz/zapi");
    let bot = bot.as_str();
    sim.set_webhook_urls(ID, Some(bot), Some(bot));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    let mut dash = Dash::spawn(&["--config", &config], dir.path(), 100, 30);
    dash.wait_for("the /me answer", |s| {
        s.contains("Sales") && s.contains("elsewhere")
    });

    dash.send(b"R");
    let masked = format!("{base}/flows/AbCd…/zapi");
    let popup = dash.wait_for("the confirmation", |s| {
        s.contains("point at another system") && s.contains(&masked)
    });
    assert!(!popup.contains("AbCdEfGh0123456789xyz"), "{popup}");
    dash.send(b"n");
    dash.wait_for("n's answer", |s| {
        s.contains("nothing was sent") && !s.contains("point at another system")
    });
    // a `/me` check the test can wait for: `s` asks Z-API again
    dash.send(b"s");
    sim.wait_for_calls(
        |c| c.iter().filter(|c| c.path.ends_with("/me")).count() >= 2,
        timeout(),
    )
    .await
    .expect("the second /me");
    assert!(
        !sim.calls().iter().any(|c| c.method == "PUT"),
        "nothing was sent before y"
    );
    assert_eq!(
        sim.instance(ID).unwrap().disconnected_url.as_deref(),
        Some(bot)
    );

    dash.wait_for("the refresh", |s| s.contains("status: 1 instance answered"));
    dash.send(b"R");
    dash.wait_for("the confirmation again", |s| {
        s.contains("point at another system")
    });
    dash.send(b"y");
    sim.wait_for_calls(
        |c| c.iter().filter(|c| c.method == "PUT").count() >= 2,
        timeout(),
    )
    .await
    .expect("both PUTs after y");
    dash.wait_for("the registration result", |s| {
        s.contains("re-registered") || s.contains("registered")
    });
    assert_eq!(
        sim.instance(ID).unwrap().disconnected_url.as_deref(),
        Some("https://dash.example.com/hooks/disconnected")
    );
    // the bot's URL is now a forward target, kept beside the log
    let adopted = find_file(dir.path(), "adopted.json").expect("adopted.json beside the log");
    let text = std::fs::read_to_string(adopted).unwrap();
    assert!(text.contains(bot) && text.contains(ID), "{text}");
    assert!(
        receiver.deliveries().is_empty(),
        "nothing before Z-API's next webhook"
    );
    // Z-API's next webhooks come here; the bot gets each, byte for byte, in order
    let now = chrono::Utc::now().timestamp();
    let bodies = [
        webhook_body_disconnected(ID, now, "Device has been disconnected"),
        serde_json::json!({"type": "ConnectedCallback", "instanceId": ID, "momment": now + 1, "connected": true}),
    ]
    .map(|v| serde_json::to_vec(&v).unwrap());
    for (body, path) in bodies.iter().zip(["disconnected", "connected"]) {
        let status = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/hooks/{path}", dash.port()))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, reqwest::StatusCode::OK);
    }
    let got = receiver
        .wait("both webhooks at the bot", |d| d.len() >= 2)
        .await;
    assert_eq!(
        got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
        bodies.to_vec()
    );
    dash.send(b"q");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// The first file named `name` under `dir`.
fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reloads_the_config_keeping_the_screen_and_the_events() {
    const ID2: &str = "7D1E0B00C3A84F5B8E26D1EF3B8C7F22";
    const TOKEN2: &str = "SECONDTOKEN0123456789";
    let sim = Sim::start(SimOptions {
        client_token: CLIENT_TOKEN.into(),
        instances: vec![
            SimInstance {
                id: ID.into(),
                token: TOKEN.into(),
                name: "Sales".into(),
            },
            SimInstance {
                id: ID2.into(),
                token: TOKEN2.into(),
                name: "Support".into(),
            },
        ],
        latency: Duration::ZERO,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    // no start warning of a readable config in the footer
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let dash = Dash::spawn(&["--config", &config], dir.path(), 120, 24);
    dash.wait_for("the first frame", |s| s.contains("Instances (1)"));
    let port = dash.port();
    assert_eq!(
        post_disconnect(port, "Device has been disconnected").await,
        200
    );
    dash.wait_for("the disconnect", |s| s.contains("✗ disconnected"));

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[instances]]\nid = \"{ID2}\"\ntoken = \"{TOKEN2}\"\nname = \"Support\"\n"
    ));
    std::fs::write(&config, &text).unwrap();
    common::signal(dash.pid(), "USR1");
    dash.wait_for("the reload in the footer", |s| {
        s.contains("config reloaded")
    });
    let screen = dash.wait_for("the new row, its status asked", |s| {
        s.contains("Instances (2)") && s.contains("Support") && s.contains("● connected")
    });
    assert!(
        screen.contains("✗ disconnected"),
        "the event was lost:\n{screen}"
    );

    std::fs::write(&config, "listen = [\n").unwrap();
    common::signal(dash.pid(), "USR1");
    let screen = dash.wait_for("the reason in the footer", |s| {
        s.contains("config reload failed")
    });
    assert!(screen.contains("Instances (2)"), "{screen}");
    assert!(screen.contains("✗ disconnected"), "{screen}");

    // SIGHUP is still the terminal hanging up: the dashboard ends cleanly
    common::signal(dash.pid(), "HUP");
    let screen = std::sync::Arc::clone(&dash.screen);
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !screen.contents().contains("Instances (2)"),
        "the terminal was not restored"
    );
}

/// A plain-http `public_url` starts the dashboard (it was exit 2) with a
/// warning that stays in the header after the footer's start warnings are
/// acknowledged by a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_public_url_is_a_lasting_header_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_private_config(dir.path(), "public_url = \"http://dash.example.com\"\n");
    // the footer has the whole warning, the header a short one
    let footer = "public_url is plain http://: webhooks (and their secret paths)";
    let mut dash = Dash::spawn(&["--config", config.to_str().unwrap()], dir.path(), 160, 24);
    let screen = dash.wait_for("the warnings", |s| {
        s.contains("⚠ public_url is plain http://: webhooks unencrypted") && s.contains(footer)
    });
    assert!(screen.contains("Sales"), "{screen}");
    dash.send(b"j");
    let screen = dash.wait_for("the footer warning acknowledged", |s| !s.contains(footer));
    assert!(
        screen.contains("⚠ public_url is plain http://"),
        "the header keeps it:\n{screen}"
    );
    common::signal(dash.pid(), "TERM");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success());
}

/// The dashboard's listener applies `check_token_header` as `serve` does:
/// a delivery whose `z-api-token` is not the instance's token is refused,
/// the right token and no header are taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_checks_the_z_api_token_header_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_private_config(dir.path(), "check_token_header = true\n");
    let dash = Dash::spawn(&["--config", config.to_str().unwrap()], dir.path(), 160, 24);
    let port = dash.port();
    let post = |error: &'static str, header: Option<&'static str>| async move {
        let body = webhook_body_disconnected(ID, chrono::Utc::now().timestamp(), error);
        let mut req = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/hooks/disconnected"))
            .json(&body);
        if let Some(value) = header {
            req = req.header("z-api-token", value);
        }
        req.send().await.unwrap().status()
    };
    assert_eq!(post("forged", Some("ffffffffffffffffffffffff")).await, 401);
    assert_eq!(post("no header", None).await, 200);
    dash.wait_for("the event without header", |s| s.contains("no header"));
    assert_eq!(post("right token", Some(TOKEN)).await, 200);
    let screen = dash.wait_for("the event with the token", |s| s.contains("right token"));
    assert!(!screen.contains("forged"), "{screen}");
    common::signal(dash.pid(), "TERM");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success());
}
