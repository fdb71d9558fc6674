//! Nothing acknowledged is lost: every webhook answered 200 is in the state
//! and in the log, under concurrency and across a kill -9.

use crate::common;
use std::collections::HashMap;

use std::io::BufReader;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use zapi_dash::app::{App, Msg, Setup};
use zapi_dash::listener::server::ServerOptions;
use zapi_dash::listener::{Listener, ListenerOptions};
use zapi_dash::model::{ConnState, InstanceId};
use zapi_dash::sim::{webhook_body_connected, webhook_body_disconnected};
use zapi_dash::store;

fn setup() -> Setup {
    Setup::default()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The n-th event of instance `inst`: alternately down and up, `momment` increasing.
fn body(inst: usize, n: usize) -> serde_json::Value {
    let id = format!("INST-{inst:02}");
    let momment = 1_764_000_000_000 + (n as i64) * 1000;
    if n.is_multiple_of(2) {
        webhook_body_disconnected(&id, momment, &format!("drop {n}"))
    } else {
        webhook_body_connected(&id, momment, "5544999999999")
    }
}

fn state_of(n: usize) -> ConnState {
    if n.is_multiple_of(2) {
        ConnState::Disconnected
    } else {
        ConnState::Connected
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_from_50_connections_are_all_counted() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ListenerOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        log_dir: dir.path().join("events"),
        retention_days: 30,
        secret: None,
        server: ServerOptions::default(),
        extra_routes: None,
        metrics: None,
        token_header: Default::default(),
        relay: None,
    };
    let (service, mut events, replay) = Listener::start(opts, |_, _| {}).await.unwrap();
    assert_eq!(replay.records, 0);
    let url = format!("http://{}/hooks", service.addr);

    // The dashboard's side: fold every delivered event into the App.
    let consumer = tokio::spawn(async move {
        let mut app = App::new(setup(), Utc::now());
        let mut last = 0;
        while let Some((seq, ev)) = events.recv().await {
            assert!(seq > last, "the feed is in seq order");
            last = seq;
            app.update(Msg::Webhook(ev), Utc::now());
        }
        app
    });

    let oks = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for conn in 0..50 {
        let (url, oks) = (url.clone(), Arc::clone(&oks));
        senders.push(tokio::spawn(async move {
            let http = client(); // one client, one keep-alive connection per task
            for n in 0..200 {
                let answer = http.post(&url).json(&body(conn, n)).send().await;
                if answer.is_ok_and(|a| a.status() == 200) {
                    oks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let oks = oks.load(Ordering::Relaxed);
    assert_eq!(oks, 10_000, "every request was answered 200");
    let stats = service.log.stats();
    assert!(
        stats.fsyncs < stats.records,
        "group commit: {} fsyncs for {} records",
        stats.fsyncs,
        stats.records
    );
    service.shutdown().await.unwrap();

    let app = consumer.await.unwrap();
    assert_eq!(
        app.fleet.events as usize, oks,
        "count in state = number of 200s"
    );
    assert_eq!(app.fleet.instances.len(), 50);
    for inst in &app.fleet.instances {
        assert_eq!(inst.state, state_of(199), "{}: last state", inst.id);
    }
    let replayed = store::replay(&dir.path().join("events"), |_, _| {}).unwrap();
    assert_eq!(
        replayed.records as usize, oks,
        "count in the log = number of 200s"
    );
    assert_eq!(replayed.corrupt, 0);
}

struct Serve {
    child: Child,
    addr: String,
    /// The first line `serve` prints: where it listens, how many events it replayed.
    banner: String,
}

fn start_serve(dir: &std::path::Path) -> Serve {
    let config = dir.join("config.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").unwrap();
    let mut child = common::serve_command(&config, &dir.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (line, addr) = common::serve_listening(&mut BufReader::new(child.stderr.take().unwrap()));
    let addr = addr.to_string();
    Serve {
        child,
        addr,
        banner: line,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = start_serve(dir.path());
    let url = format!("http://{}/hooks", serve.addr);

    // 20 instances, each sending its events one after another, so that for
    // each instance the acknowledged events are a prefix 0..acked and at
    // most one more (in flight at the kill) may also be on disk.
    let total_acked = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let kill_at = 1_500;
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let kill_tx = Arc::new(std::sync::Mutex::new(Some(kill_tx)));
    let mut senders = Vec::new();
    for inst in 0..20 {
        let (url, total_acked, killed, kill_tx) = (
            url.clone(),
            Arc::clone(&total_acked),
            Arc::clone(&killed),
            Arc::clone(&kill_tx),
        );
        senders.push(tokio::spawn(async move {
            let http = client();
            let mut acked = 0usize;
            for n in 0..100_000 {
                if killed.load(Ordering::Relaxed) {
                    break;
                }
                match http.post(&url).json(&body(inst, n)).send().await {
                    Ok(a) if a.status() == 200 => {
                        acked = n + 1;
                        if total_acked.fetch_add(1, Ordering::Relaxed) + 1 == kill_at
                            && let Some(tx) = kill_tx.lock().unwrap().take()
                        {
                            let _ = tx.send(());
                        }
                    }
                    _ => break, // the server is gone
                }
            }
            (inst, acked)
        }));
    }
    kill_rx.await.unwrap();
    serve.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    killed.store(true, Ordering::Relaxed);
    serve.child.wait().unwrap();
    let mut acked: HashMap<usize, usize> = HashMap::new();
    for s in senders {
        let (inst, n) = s.await.unwrap();
        acked.insert(inst, n);
    }
    let total: usize = acked.values().sum();
    assert!(
        total >= kill_at,
        "the burst was under way when killed ({total} acknowledged)"
    );

    // What the log holds after the crash, read the way a restart reads it.
    let log_dir = dir.path().join("state/events");
    let mut app = App::new(setup(), Utc::now());
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    store::replay(&log_dir, |_, ev| {
        seen.entry(ev.instance_id.as_str().to_string())
            .or_default()
            .push(ev.moment.timestamp_millis());
        app.update(Msg::Webhook(ev), Utc::now());
    })
    .unwrap();
    assert!(
        app.fleet.events as usize >= total,
        "{} events in the log, {total} were acknowledged",
        app.fleet.events
    );
    for (inst, &n) in &acked {
        let id = format!("INST-{inst:02}");
        let moments = seen.get(&id).cloned().unwrap_or_default();
        for k in 0..n {
            let m = 1_764_000_000_000 + (k as i64) * 1000;
            assert!(
                moments.contains(&m),
                "{id}: acknowledged event {k} is missing after the crash"
            );
        }
        assert!(
            moments.len() <= n + 1,
            "{id}: {} records for {n} acknowledged",
            moments.len()
        );
        if n > 0 {
            let state = app.get(&InstanceId::new(&id)).unwrap().state;
            let possible = [state_of(n - 1), state_of(n)];
            assert!(
                possible[..1 + usize::from(moments.len() > n)].contains(&state),
                "{id}: last state {state:?}"
            );
        }
    }

    // And a restart of the real binary finds them all.
    let mut again = start_serve(dir.path());
    let replayed: usize = again
        .banner
        .split(" · ")
        .find_map(|part| part.strip_suffix(" events in the log").map(str::trim))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {:?}", again.banner));
    assert_eq!(
        replayed, app.fleet.events as usize,
        "the restarted binary replays the same events"
    );
    let restarted = reqwest::Client::new()
        .get(format!("http://{}/healthz", again.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(restarted.status(), 200);
    again.child.kill().unwrap();
    again.child.wait().unwrap();
}
