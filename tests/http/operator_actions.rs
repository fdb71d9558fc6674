//! The operator's actions end to end below the screen: the runner against
//! the simulated Z-API over loopback HTTP (`/me` drift, restart, restore)
//! and against a real event log on disk (the detail pane's history).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use zapi_dash::app::{Command, Msg};
use zapi_dash::fleet::InstanceAction;
use zapi_dash::listener::secret::WebhookSecret;
use zapi_dash::mask::mask_url;
use zapi_dash::model::{Event, EventKind, InstanceId, Secret};
use zapi_dash::runner::{Backend, Runner, Services};
use zapi_dash::sim::{self, Sim, SimOptions};
use zapi_dash::store::{self, EventLog, LogOptions};
use zapi_dash::zapi::ZapiClient;

const CLIENT_TOKEN: &str = "CT-0123456789abcdef";
/// Generous bound for what happens at once; never reached when it works.
const WAIT: Duration = Duration::from_secs(10);

struct Fixture {
    sim: Sim,
    ids: Vec<InstanceId>,
    runner: Runner,
    results: mpsc::UnboundedReceiver<Msg>,
}

async fn fixture(secret: Option<&str>, log_dir: Option<std::path::PathBuf>) -> Fixture {
    let instances = sim::demo_instances(2, 7);
    let sim = Sim::start(SimOptions {
        client_token: CLIENT_TOKEN.into(),
        instances: instances.clone(),
        latency: Duration::ZERO,
    })
    .await
    .unwrap();
    let client = ZapiClient::new(&sim.base_url(), Secret::new(CLIENT_TOKEN))
        .unwrap()
        .with_retry_base(Duration::from_millis(1));
    let tokens: HashMap<InstanceId, Secret> = instances
        .iter()
        .map(|i| (InstanceId::new(&i.id), Secret::new(&i.token)))
        .collect();
    let services = Services {
        client: Some(client),
        tokens,
        public_url: Some("https://dash.example".into()),
        secret: secret.map(|s| WebhookSecret::new(&Secret::new(s)).unwrap()),
        concurrency: 4,
        accounts: Default::default(),
        all_types: false,
    };
    let (tx, results) = mpsc::unbounded_channel();
    let mut runner = Runner::new(Backend::Zapi(Box::new(services)), tx);
    if let Some(dir) = log_dir {
        runner = runner.with_history(dir);
    }
    Fixture {
        sim,
        ids: instances.iter().map(|i| InstanceId::new(&i.id)).collect(),
        runner,
        results,
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Msg>) -> Msg {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a result in time")
        .expect("the runner is alive")
}

#[tokio::test]
async fn me_shows_drift_until_registration_points_the_hooks_here() {
    let secret = "a-webhook-secret-of-32-characters!!";
    let mut f = fixture(Some(secret), None).await;
    let id = f.ids[0].clone();
    f.runner.run(Command::FetchHooks(id.clone()));
    let Msg::HooksResult { result, .. } = next(&mut f.results).await else {
        panic!("a hooks result");
    };
    let hooks = result.unwrap();
    assert!(!hooks.here, "never registered: not here");

    f.runner.run(Command::Register(id.clone()));
    assert!(matches!(
        next(&mut f.results).await,
        Msg::RegisterResult { result: Ok(()), .. }
    ));
    f.runner.run(Command::FetchHooks(id.clone()));
    let Msg::HooksResult { result, .. } = next(&mut f.results).await else {
        panic!("a hooks result");
    };
    let hooks = result.unwrap();
    assert!(hooks.here, "{hooks:?}");
    // the secret path token never reaches the screen whole
    let token = WebhookSecret::new(&Secret::new(secret))
        .unwrap()
        .path_token(&id);
    let shown = hooks.disconnected.clone().unwrap();
    assert!(!shown.contains(&token), "{shown}");
    assert!(shown.starts_with("https://dash.example/hooks/"), "{shown}");
    assert!(shown.ends_with("…/disconnected"), "{shown}");
}

#[tokio::test]
async fn restart_and_restore_reach_zapi_and_errors_come_back() {
    let mut f = fixture(None, None).await;
    let id = f.ids[1].clone();
    f.runner
        .run(Command::Act(id.clone(), InstanceAction::Restart));
    let Msg::ActionResult { action, result, .. } = next(&mut f.results).await else {
        panic!("an action result");
    };
    assert_eq!(action, InstanceAction::Restart);
    result.unwrap();
    f.sim.fail_next(
        "restore-session",
        400,
        r#"{"error":"Instance not found"}"#,
        1,
    );
    f.runner
        .run(Command::Act(id.clone(), InstanceAction::Restore));
    let Msg::ActionResult { action, result, .. } = next(&mut f.results).await else {
        panic!("an action result");
    };
    assert_eq!(action, InstanceAction::Restore);
    let e = result.unwrap_err().to_string();
    assert!(e.contains("400") && e.contains("Instance not found"), "{e}");
    let paths: Vec<String> = f.sim.calls().into_iter().map(|c| c.path).collect();
    assert!(paths.iter().any(|p| p.ends_with("/restart")), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.ends_with("/restore-session")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn the_detail_history_is_read_from_the_log_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(LogOptions::new(dir.path())).unwrap();
    let id = InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11");
    let now = Utc::now();
    for n in 0..40i64 {
        let event = Event {
            instance_id: if n % 4 == 0 {
                InstanceId::new("OTHER")
            } else {
                id.clone()
            },
            kind: EventKind::Disconnected {
                error: Some(format!("error {n}")),
            },
            moment: now + chrono::Duration::seconds(n),
            received: now + chrono::Duration::seconds(n),
        };
        log.append(event, store::fingerprint(n.to_string().as_bytes()))
            .await
            .unwrap();
    }
    log.close().await.unwrap();

    let mut f = fixture(None, Some(dir.path().to_path_buf())).await;
    f.runner.run(Command::LoadHistory(id.clone()));
    let Msg::History { id: got, result } = next(&mut f.results).await else {
        panic!("a history");
    };
    assert_eq!(got, id);
    let events = result.unwrap();
    assert_eq!(events.len(), 30, "only this instance's");
    assert!(events.iter().all(|e| e.instance_id == id));
    assert!(
        events.windows(2).all(|w| w[0].moment > w[1].moment),
        "newest first"
    );
    assert!(
        matches!(&events[0].kind, EventKind::Disconnected { error: Some(e) } if e == "error 39")
    );
}

#[tokio::test]
async fn without_a_log_the_history_says_so() {
    let mut f = fixture(None, None).await;
    f.runner.run(Command::LoadHistory(f.ids[0].clone()));
    let Msg::History { result, .. } = next(&mut f.results).await else {
        panic!("a history");
    };
    assert!(result.unwrap_err().contains("no event log"));
}

#[test]
fn urls_are_masked_where_they_hold_a_token() {
    assert_eq!(
        mask_url("https://d.example/hooks/AbCdEfGh0123456789xyz/connected"),
        "https://d.example/hooks/AbCd…/connected"
    );
    assert_eq!(
        mask_url("https://d.example/hooks/disconnected"),
        "https://d.example/hooks/disconnected"
    );
    assert_eq!(
        mask_url("https://other.example/instances/3C8A1F00D2E94B7A9F15C0DE2A7B6E11/x"),
        "https://other.example/instances/3C8A…/x"
    );
    assert_eq!(mask_url(""), "");
}

/// An app over the fixture's instances, as `run` builds it.
fn app_for(ids: &[InstanceId], now: chrono::DateTime<Utc>) -> zapi_dash::app::App {
    zapi_dash::app::App::new(
        zapi_dash::app::Setup {
            listen: "http://127.0.0.1:8787".into(),
            instances: ids.iter().map(|id| (id.clone(), None)).collect(),
            can_query_status: true,
            ..Default::default()
        },
        now,
    )
}

#[tokio::test]
async fn a_healthy_status_keeps_the_last_disconnect_reason() {
    let mut f = fixture(None, None).await;
    let id = f.ids[0].clone();
    let now = Utc::now();
    let mut app = app_for(&f.ids, now);
    let disconnect = Event {
        instance_id: id.clone(),
        kind: EventKind::Disconnected {
            error: Some("Device has been disconnected".into()),
        },
        moment: now,
        received: now,
    };
    app.update(Msg::Webhook(disconnect), now);
    // the instance is connected again; Z-API's /status then says so with
    // `"error": "You are already connected."`
    f.runner.run(Command::FetchStatus(id.clone()));
    let msg = next(&mut f.results).await;
    let Msg::StatusResult { result, .. } = &msg else {
        panic!("a status result");
    };
    let status = result.as_ref().expect("the status answer");
    assert!(status.connected);
    assert_eq!(status.error.as_deref(), Some(sim::ERR_ALREADY_CONNECTED));
    app.update(msg, Utc::now());
    let row = app.get(&id).expect("the row");
    assert_eq!(row.state, zapi_dash::model::ConnState::Connected);
    assert_eq!(
        row.last_error.as_deref(),
        Some("Device has been disconnected")
    );
}

#[tokio::test]
async fn me_names_another_systems_urls_masked_and_not_ours() {
    let mut f = fixture(None, None).await;
    let id = f.ids[0].clone();
    let bot = "https://bot.example.net/hook/AbCdEfGh0123456789xyz?token=SECRETVALUE";
    f.sim.set_webhook_urls(
        id.as_str(),
        Some(bot),
        Some("https://dash.example/hooks/connected"),
    );
    f.runner.run(Command::FetchHooks(id.clone()));
    let Msg::HooksResult { result, .. } = next(&mut f.results).await else {
        panic!("a hooks result");
    };
    let hooks = result.unwrap();
    assert!(!hooks.here);
    assert_eq!(
        hooks.foreign,
        vec!["https://bot.example.net/hook/AbCd…?token=SECR…".to_string()],
        "only the other system's URL, masked"
    );
    // the detail pane's URLs are masked the same way
    assert_eq!(
        hooks.disconnected.as_deref(),
        Some(hooks.foreign[0].as_str())
    );
}

/// Every failed Z-API call leaves one line in the diagnostics log (the
/// rotating `zapi-dash.log`, as the dashboard writes it): the instance's
/// name and id, the call and the whole error; never a token.
#[tokio::test]
async fn a_failed_call_is_written_to_the_diagnostics_log_without_a_token() {
    use std::sync::Mutex;
    use zapi_dash::logfile::{DEFAULT_KEEP, DEFAULT_MAX_BYTES, RotatingFile};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zapi-dash.log");
    let file = RotatingFile::open(&path, DEFAULT_MAX_BYTES, DEFAULT_KEEP).unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .finish();
    // the test's runtime has one thread: the runner's tasks log here too
    let _log = tracing::subscriber::set_default(subscriber);

    // a port nothing listens on: connection refused
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = ZapiClient::new(
        &format!("http://127.0.0.1:{port}"),
        Secret::new(CLIENT_TOKEN),
    )
    .unwrap()
    .with_retry_base(Duration::from_millis(1));
    let id = InstanceId::new("3C4F00AA11BB");
    let token = "InStAnCeToKeN0123456789";
    let services = Services {
        client: Some(client),
        tokens: HashMap::from([(id.clone(), Secret::new(token))]),
        public_url: Some("https://dash.example".into()),
        secret: None,
        concurrency: 1,
        accounts: Default::default(),
        all_types: false,
    };
    let (tx, mut results) = mpsc::unbounded_channel();
    let mut runner = Runner::new(Backend::Zapi(Box::new(services)), tx)
        .timed()
        .with_names([(id.clone(), "Shop 2".to_string())]);
    runner.run(Command::FetchStatus(id.clone()));
    let Msg::Timed { msg, .. } = next(&mut results).await else {
        panic!("a timed result")
    };
    let Msg::StatusResult { result: Err(e), .. } = *msg else {
        panic!("a failed status call")
    };
    runner.run(Command::Act(id.clone(), InstanceAction::Restart));
    next(&mut results).await;

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Z-API call failed"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, call) in lines.iter().zip(["status", "restart"]) {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("instance=\"Shop 2\""), "{line}");
        assert!(line.contains("id=3C4F00AA11BB"), "{line}");
        assert!(line.contains(&format!("call=\"{call}\"")), "{line}");
        assert!(
            line.contains("Connection refused"),
            "the whole error: {line}"
        );
    }
    assert!(lines[0].contains(&e.to_string()), "{}", lines[0]);
    assert!(!text.contains(token), "no instance token in the log");
    assert!(!text.contains(CLIENT_TOKEN), "no Client-Token in the log");
}

/// `register_all_types`: one `update-every-webhooks` to `/hooks`, the
/// operator's `notifySentByMe` kept, and `/me` then reads as pointing here.
#[tokio::test]
async fn register_all_types_points_every_webhook_here_and_keeps_notify_sent_by_me() {
    let instances = sim::demo_instances(1, 7);
    let sim = Sim::start(SimOptions {
        client_token: CLIENT_TOKEN.into(),
        instances: instances.clone(),
        latency: Duration::ZERO,
    })
    .await
    .unwrap();
    let client = ZapiClient::new(&sim.base_url(), Secret::new(CLIENT_TOKEN))
        .unwrap()
        .with_retry_base(Duration::from_millis(1));
    let id = InstanceId::new(&instances[0].id);
    let token = Secret::new(&instances[0].token);
    // the operator's bot had every webhook, with notifySentByMe on
    let bot = zapi_dash::zapi::Hook::Every {
        notify_sent_by_me: true,
    };
    client
        .update_webhook(&id, &token, bot, "https://bot.example/zapi")
        .await
        .unwrap();
    let services = Services {
        client: Some(client),
        tokens: HashMap::from([(id.clone(), token)]),
        public_url: Some("https://dash.example".into()),
        secret: None,
        concurrency: 4,
        all_types: true,
        accounts: Default::default(),
    };
    assert!(!services.hooks(&id).await.unwrap().here);
    services.register(&id).await.unwrap();
    let state = sim.instance(&instances[0].id).unwrap();
    for url in [
        &state.disconnected_url,
        &state.connected_url,
        &state.received_url,
    ] {
        assert_eq!(url.as_deref(), Some("https://dash.example/hooks"));
    }
    assert!(state.notify_sent_by_me, "notifySentByMe kept as it was");
    let every: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("update-every-webhooks"))
        .collect();
    assert_eq!(every.len(), 2, "the bot's and ours");
    assert!(services.hooks(&id).await.unwrap().here, "no drift after it");
    sim.shutdown();
}
