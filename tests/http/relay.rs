//! The relay (#16) against a real receiver on loopback: bursts while the
//! receiver is down, order per instance, a crash in the middle, one
//! instance's failures, `Retry-After`, dead letters and their retry, and
//! Standard Webhooks signatures checked by an HMAC written here.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;

use zapi_dash::model::{Event, EventKind, InstanceId, Secret};
use zapi_dash::relay::{ForwardTarget, Relay, RelayOptions, Types};
use zapi_dash::store::{EventLog, LogOptions};

use crate::common;
use crate::common::receiver::{Delivery, Mode, Receiver};

fn target(name: &str, url: &str) -> ForwardTarget {
    ForwardTarget {
        name: name.into(),
        url: url.into(),
        types: Types::All,
        instances: Vec::new(),
        signing_secret: None,
        signing_secret_env: None,
        max_age: Duration::from_secs(3600),
        adopted: false,
    }
}

fn fast() -> RelayOptions {
    RelayOptions {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        persist_every: Duration::from_millis(5),
        ..RelayOptions::default()
    }
}

fn open_log(dir: &std::path::Path) -> EventLog {
    let mut opts = LogOptions::new(dir);
    opts.bodies = true;
    EventLog::open(opts).expect("open log")
}

/// A Z-API-like body with odd spacing (what a re-encoder would change).
fn body(instance: &str, n: usize) -> Vec<u8> {
    format!("{{\"type\":\"ReceivedCallback\",\"instanceId\":\"{instance}\",  \"n\" : {n} ,\"text\":\"ol\\u00e1\"}}")
        .into_bytes()
}

async fn append(log: &EventLog, instance: &str, n: usize, received: chrono::DateTime<Utc>) {
    let event = Event {
        instance_id: InstanceId::new(instance),
        kind: EventKind::Activity {
            callback: "ReceivedCallback".into(),
        },
        moment: received,
        received,
    };
    log.append_body(event, None, Some(body(instance, n)), None)
        .await
        .expect("append");
}

/// `(instance, n)` of a body [`body`] wrote.
fn parse(body: &[u8]) -> (String, usize) {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json body");
    (
        v["instanceId"].as_str().expect("instanceId").to_owned(),
        v["n"].as_u64().expect("n") as usize,
    )
}

/// The accepted deliveries per instance, in arrival order, each n once.
fn accepted_by_instance(deliveries: &[Delivery]) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for d in deliveries.iter().filter(|d| d.accepted) {
        let (instance, n) = parse(&d.body);
        out.entry(instance).or_default().push(n);
    }
    out
}

/// The log `seq` in a `webhook-id` (`msg_zd<seq>_<fp>`).
fn seq_of(id: &str) -> u64 {
    id.strip_prefix("msg_zd")
        .and_then(|rest| rest.split('_').next())
        .and_then(|seq| seq.parse().ok())
        .expect("a relay webhook-id")
}

async fn wait_status(
    relay: &Relay,
    what: &str,
    pred: impl Fn(&zapi_dash::relay::TargetStatus) -> bool,
) {
    let deadline = tokio::time::Instant::now() + common::timeout();
    // the status is a snapshot the task updates: looked at between yields
    while !relay.status().first().is_some_and(&pred) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            relay.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_while_the_receiver_is_down_arrives_complete_and_in_order() {
    const INSTANCES: usize = 50;
    const PER: usize = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path());
    let receiver = Receiver::start(Mode::Down).await;
    let relay = Relay::start_new(&log, vec![target("bot", &receiver.url)], fast());
    let now = Utc::now();
    let mut appends = Vec::new();
    for n in 0..PER {
        for i in 0..INSTANCES {
            let log = log.clone();
            appends.push(async move { append(&log, &format!("I{i:02}"), n, now).await });
            if appends.len() == 500 {
                futures::future::join_all(appends.drain(..)).await;
            }
        }
    }
    futures::future::join_all(appends).await;
    // every instance has failed at least once before the receiver comes up
    receiver
        .wait("a failure per instance", |d| {
            d.iter()
                .filter(|d| !d.accepted)
                .map(|d| parse(&d.body).0)
                .collect::<std::collections::HashSet<_>>()
                .len()
                == INSTANCES
        })
        .await;
    receiver.set(Mode::Up);
    let got = receiver
        .wait("all 10,000 accepted", |d| {
            d.iter().filter(|d| d.accepted).count() >= INSTANCES * PER
        })
        .await;
    let by_instance = accepted_by_instance(&got);
    assert_eq!(by_instance.len(), INSTANCES);
    for (instance, ns) in &by_instance {
        let mut sorted = ns.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..PER).collect::<Vec<_>>(),
            "{instance}: every event once"
        );
    }
    // in log order per instance: no event accepted after its successor
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    for d in got.iter().filter(|d| d.accepted) {
        let seq = seq_of(&d.id);
        let prev = last_seq.insert(parse(&d.body).0, seq);
        assert!(prev.is_none_or(|p| p < seq), "{} after {prev:?}", d.id);
    }
    // bytes as they were logged, with the stable id and the content type
    for d in &got {
        let (instance, n) = parse(&d.body);
        assert_eq!(d.body, body(&instance, n));
        assert_eq!(d.content_type, "application/json");
        assert!(d.id.starts_with("msg_zd"), "{}", d.id);
    }
    wait_status(&relay, "the cursor at the end", |s| {
        s.cursor == log.stats().last_seq && s.lag_events == 0
    })
    .await;
    let status = &relay.status()[0];
    assert_eq!(status.delivered, (INSTANCES * PER) as u64);
    assert!(status.failures >= INSTANCES as u64);
    relay.shutdown().await;
    log.close().await.expect("close");
}

#[test]
fn a_crash_in_the_middle_resumes_from_the_cursor_with_the_same_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // 2,000 events logged, a receiver that takes 500 and then stops answering
    let (log, receiver) = rt.block_on(async {
        let log = open_log(dir.path());
        let receiver = Receiver::start(Mode::StallAfter(500)).await;
        for n in 0..2000 {
            append(&log, &format!("I{}", n % 7), n, Utc::now()).await;
        }
        (log, receiver)
    });
    let start = zapi_dash::store::Cursor {
        after: 0,
        max_age_secs: 3600,
    };
    zapi_dash::store::write_cursor(dir.path(), "bot", start).expect("cursor");
    // the relay runs on a runtime of its own, dropped with requests in
    // flight: its tasks end where they are, as under kill -9 (no shutdown,
    // no last save)
    let crashing = tokio::runtime::Runtime::new().expect("runtime");
    let relay = crashing
        .block_on(async { Relay::start_new(&log, vec![target("bot", &receiver.url)], fast()) });
    rt.block_on(async {
        receiver.wait("500 deliveries", |d| d.len() >= 500).await;
        wait_cursor(dir.path()).await;
    });
    crashing.shutdown_background();
    drop(relay);
    let before = receiver.deliveries();
    assert_eq!(before.len(), 500, "the crash came with requests in flight");
    let cursor = zapi_dash::store::read_cursor(dir.path(), "bot").expect("a saved cursor");
    receiver.set(Mode::Up);
    rt.block_on(async {
        let relay = Relay::start_new(&log, vec![target("bot", &receiver.url)], fast());
        let got = receiver
            .wait("every event after the restart", |d| {
                let mut ids: Vec<&str> = d.iter().map(|d| d.id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                ids.len() == 2000
            })
            .await;
        // every event arrived; a repeat carries the id and bytes of its first delivery
        let mut first: HashMap<&str, &[u8]> = HashMap::new();
        for d in &got {
            let seen = first.entry(d.id.as_str()).or_insert(d.body.as_slice());
            assert_eq!(*seen, d.body.as_slice(), "same id, same body");
        }
        let by_instance = accepted_by_instance(&got);
        assert_eq!(by_instance.values().map(Vec::len).sum::<usize>(), got.len());
        // the saved cursor never ran ahead of what the receiver took, and
        // only events after it were sent again
        let delivered_before: std::collections::HashSet<u64> =
            before.iter().map(|d| seq_of(&d.id)).collect();
        assert!(
            (1..=cursor.after).all(|seq| delivered_before.contains(&seq)),
            "cursor {} ahead",
            cursor.after
        );
        let mut count: HashMap<u64, usize> = HashMap::new();
        for d in &got {
            *count.entry(seq_of(&d.id)).or_default() += 1;
        }
        assert!(count.iter().all(|(seq, n)| *n == 1 || *seq > cursor.after));
        relay.shutdown().await;
        log.close().await.expect("close");
    });
}

/// Waits until the relay saved a cursor past the start.
async fn wait_cursor(dir: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + common::timeout();
    while zapi_dash::store::read_cursor(dir, "bot").is_none_or(|c| c.after == 0) {
        assert!(tokio::time::Instant::now() < deadline, "no cursor saved");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_instance_does_not_delay_the_others_and_retry_after_is_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path());
    let receiver = Receiver::start(Mode::FailInstance("BAD".into(), 3600)).await;
    let relay = Relay::start_new(&log, vec![target("bot", &receiver.url)], fast());
    for n in 0..300 {
        append(&log, "BAD", n, Utc::now()).await;
        append(&log, &format!("OK{}", n % 5), n, Utc::now()).await;
    }
    let got = receiver
        .wait("the good instances' 300", |d| {
            d.iter().filter(|d| d.accepted).count() >= 300
        })
        .await;
    let bad: Vec<_> = got.iter().filter(|d| parse(&d.body).0 == "BAD").collect();
    // one try, then Retry-After: 3600 holds BAD back (a 5 ms backoff would
    // have tried hundreds of times by now)
    assert_eq!(bad.len(), 1, "BAD tried once and waits its hour");
    assert_eq!(parse(&bad[0].body).1, 0, "BAD's first event first");
    wait_status(&relay, "BAD's 300 waiting", |s| s.lag_events == 300).await;
    let status = &relay.status()[0];
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("HTTP 500")),
        "{:?}",
        status.last_error
    );
    assert_eq!(status.instances.get("BAD").map(|r| r.ok), Some(false));
    assert_eq!(status.instances.get("OK1").map(|r| r.ok), Some(true));
    relay.shutdown().await;
    log.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_age_events_go_to_the_dead_letters_and_retry_delivers_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path());
    let receiver = Receiver::start(Mode::Down).await;
    let mut bot = target("bot", &receiver.url);
    bot.max_age = Duration::from_secs(60);
    let relay = Relay::start_new(&log, vec![bot.clone()], fast());
    let old = Utc::now() - chrono::TimeDelta::hours(2);
    for n in 0..3 {
        append(&log, "I1", n, old).await;
    }
    wait_status(&relay, "3 dead letters", |s| {
        s.dead_letters == 3 && s.lag_events == 0
    })
    .await;
    assert!(receiver.deliveries().iter().all(|d| !d.accepted));
    relay.shutdown().await;
    // the dead letters outlive a restart
    let relay = Relay::start_new(&log, vec![bot], fast());
    assert_eq!(relay.status()[0].dead_letters, 3);
    receiver.set(Mode::Up);
    assert_eq!(relay.retry("bot").await, Some(3));
    let got = receiver
        .wait("the 3 retried", |d| {
            d.iter().filter(|d| d.accepted).count() == 3
        })
        .await;
    assert_eq!(accepted_by_instance(&got)["I1"], vec![0, 1, 2]);
    wait_status(&relay, "no dead letters", |s| s.dead_letters == 0).await;
    assert_eq!(relay.retry("nope").await, None);
    relay.shutdown().await;
    log.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_dead_letters_are_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path());
    let receiver = Receiver::start(Mode::Down).await;
    let mut bot = target("bot", &receiver.url);
    bot.max_age = Duration::from_secs(1);
    let relay = Relay::start_new(&log, vec![bot], fast());
    append(&log, "I1", 0, Utc::now() - chrono::TimeDelta::hours(1)).await;
    wait_status(&relay, "a dead letter", |s| s.dead_letters == 1).await;
    assert_eq!(relay.drop_dead("bot").await, Some(1));
    assert_eq!(relay.status()[0].dead_letters, 0);
    assert_eq!(relay.retry("bot").await, Some(0));
    relay.shutdown().await;
    log.close().await.expect("close");
}

/// HMAC-SHA256 (RFC 2104) written out here over the sha2 crate's SHA-256,
/// not the project's signing function.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verify_with_an_independent_standard_webhooks_check() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open_log(dir.path());
    let receiver = Receiver::start(Mode::Up).await;
    let key = b"an operator's 24 byte key";
    let mut bot = target("bot", &receiver.url);
    bot.signing_secret = Some(Secret::new(format!("whsec_{}", b64.encode(key))));
    let relay = Relay::start_new(&log, vec![bot, target("plain", &receiver.url)], fast());
    for n in 0..20 {
        append(&log, "I1", n, Utc::now()).await;
    }
    let got = receiver.wait("both targets' 20", |d| d.len() >= 40).await;
    let (signed, unsigned): (Vec<_>, Vec<_>) = got.iter().partition(|d| d.signature.is_some());
    assert_eq!((signed.len(), unsigned.len()), (20, 20));
    for d in signed {
        let message = [d.id.as_bytes(), b".", d.timestamp.as_bytes(), b".", &d.body].concat();
        let expected = format!("v1,{}", b64.encode(hmac_sha256(key, &message)));
        let sig = d.signature.as_deref().unwrap_or_default();
        assert!(sig.split(' ').any(|s| s == expected), "{sig} != {expected}");
        let ts: i64 = d.timestamp.parse().expect("unix seconds");
        assert!(
            (Utc::now().timestamp() - ts).abs() < 300,
            "timestamp within the usual tolerance"
        );
        // a forged body does not verify
        let forged = [d.id.as_bytes(), b".", d.timestamp.as_bytes(), b".", b"{}"].concat();
        assert_ne!(
            format!("v1,{}", b64.encode(hmac_sha256(key, &forged))),
            expected
        );
    }
    relay.shutdown().await;
    log.close().await.expect("close");
}

#[test]
fn the_independent_hmac_matches_rfc_4231() {
    // RFC 4231 test case 2
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

/// `zapi-dash serve` with a `[[forward]]` to `url`; its address.
fn spawn_serve(
    config: &std::path::Path,
    state: &std::path::Path,
) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufReader;
    let mut cmd = common::serve_command(config, state);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn serve");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (_, addr) = common::serve_listening(&mut stderr);
    // keep draining stderr so the child never blocks on it
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr)
}

/// POSTs `body` as JSON to `serve`'s `/hooks/{path}` (`/hooks` when
/// `path` is empty); the status.
async fn post_hook(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    path: &str,
    body: &str,
) -> reqwest::StatusCode {
    let url = match path {
        "" => format!("http://{addr}/hooks"),
        path => format!("http://{addr}/hooks/{path}"),
    };
    http.post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("post")
        .status()
}

/// `serve`'s `GET /api/forward`, with the API token.
async fn get_forward(http: &reqwest::Client, addr: std::net::SocketAddr) -> serde_json::Value {
    http.get(format!("http://{addr}/api/forward"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

const API_TOKEN: &str = "relay-test-api-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_relays_through_a_kill_9_and_reports_in_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(Mode::StallAfter(100)).await;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\n\n[[forward]]\nname = \"bot\"\nurl = \"{}\"\n",
            receiver.url
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let (mut child, addr) = spawn_serve(&config, &state);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut sent = Vec::new();
    for n in 0..300 {
        let body = format!(
            "{{\"type\": \"ReceivedCallback\", \"instanceId\": \"I{}\", \"momment\": {}, \"phone\":\"5511999999999\",\"n\":{n}}}",
            n % 5,
            1_764_000_000_000u64 + n
        );
        assert_eq!(post_hook(&http, addr, "", &body).await, 200);
        sent.push(body.into_bytes());
    }
    receiver.wait("100 deliveries", |d| d.len() >= 100).await;
    let cursor_file = state.join("events").join("forward").join("bot.cursor");
    tokio::task::spawn_blocking(move || {
        common::wait_file(&cursor_file, |t| !t.contains("\"after\":0,"))
    })
    .await
    .expect("cursor");
    // kill -9 with deliveries in flight, then start again
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    receiver.set(Mode::Up);
    let (mut child, addr) = spawn_serve(&config, &state);
    let got = receiver
        .wait("all 300 after the restart", |d| {
            d.iter()
                .map(|d| d.id.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == 300
        })
        .await;
    let mut by_id: HashMap<&str, &[u8]> = HashMap::new();
    for d in &got {
        assert_eq!(
            *by_id.entry(&d.id).or_insert(&d.body),
            d.body.as_slice(),
            "a repeat keeps its id and bytes"
        );
    }
    let mut received: Vec<&[u8]> = by_id.values().copied().collect();
    let mut posted: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    received.sort_unstable();
    posted.sort_unstable();
    assert_eq!(
        received, posted,
        "every body as Z-API sent it, byte for byte"
    );

    // the API: the target, its cursor at the end, no lag, a rate; retry; metrics
    let deadline = tokio::time::Instant::now() + common::timeout();
    let target = loop {
        let v = get_forward(&http, addr).await;
        let t = v["targets"][0].clone();
        // the rate: deliveries per second over the last minute, once a
        // second has passed since the relay started
        let rate = t["rate_per_s"].as_f64().expect("rate_per_s is a number");
        if t["lag_events"] == 0 && t["cursor"] == t["log_seq"] && rate > 0.0 {
            break t;
        }
        assert!(tokio::time::Instant::now() < deadline, "lag stays: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(target["name"], "bot");
    assert_eq!(target["dead"], serde_json::json!([]));
    let retry = http
        .post(format!("http://{addr}/api/forward/bot/retry"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("retry");
    assert_eq!(retry.status(), 200);
    assert_eq!(
        retry.json::<serde_json::Value>().await.expect("json")["queued"],
        0
    );
    let missing = http
        .post(format!("http://{addr}/api/forward/nope/retry"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("retry");
    assert_eq!(missing.status(), 404);
    let unauthorized = http
        .get(format!("http://{addr}/api/forward"))
        .send()
        .await
        .expect("get");
    assert_eq!(unauthorized.status(), 401);
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for series in [
        "zapi_forward_delivered_total{target=\"bot\"}",
        "zapi_forward_failures_total{target=\"bot\"}",
        "zapi_forward_lag_events{target=\"bot\"} 0",
        "zapi_forward_dead_letters{target=\"bot\"} 0",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
    common::signal(child.id(), "TERM");
    assert!(child.wait().expect("wait").success());
}

/// A simulated Z-API of `n` instances (seeded `seed`) whose first one's
/// disconnected and connected webhooks point at `url` (the operator's bot).
async fn sim_pointing_at(
    url: &str,
    n: usize,
    seed: u64,
) -> (zapi_dash::sim::Sim, Vec<zapi_dash::sim::SimInstance>) {
    use zapi_dash::sim::{Sim, SimOptions, demo_instances};
    let instances = demo_instances(n, seed);
    let sim = Sim::start(SimOptions {
        client_token: "CT-0123456789abcdef".into(),
        instances: instances.clone(),
        latency: Duration::ZERO,
    })
    .await
    .expect("sim");
    sim.set_webhook_urls(&instances[0].id, Some(url), Some(url));
    (sim, instances)
}

/// The instance's webhooks point at the operator's receiver; `y` in the
/// replace popup (a `RegisterAdopting` for the runner) adopts it: Z-API
/// then points at zapi-dash, and the receiver still gets every event of
/// that instance and type, across a restart of the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_keeps_the_receiver_fed_while_zapi_points_here() {
    use zapi_dash::app::{Command, Msg};
    use zapi_dash::runner::{Backend, Runner, Services};
    use zapi_dash::zapi::ZapiClient;

    let receiver = Receiver::start(Mode::Up).await;
    let (sim, instances) = sim_pointing_at(&receiver.url, 2, 7).await;
    let (ours, other) = (&instances[0], &instances[1]);
    let dir = tempfile::tempdir().expect("tempdir");
    // no targets configured: the log does not keep bodies until one is adopted
    let log = EventLog::open(LogOptions::new(dir.path())).expect("log");
    let relay = Relay::start_new(&log, Vec::new(), fast());
    assert!(!log.keeps_bodies());
    let client = ZapiClient::new(&sim.base_url(), Secret::new("CT-0123456789abcdef"))
        .expect("client")
        .with_retry_base(Duration::from_millis(1));
    let services = Services {
        client: Some(client),
        tokens: instances
            .iter()
            .map(|i| (InstanceId::new(&i.id), Secret::new(&i.token)))
            .collect(),
        public_url: Some("https://dash.example".into()),
        secret: None,
        concurrency: 4,
        all_types: false,
        accounts: Default::default(),
    };
    let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
    let mut runner =
        Runner::new(Backend::Zapi(Box::new(services)), tx).with_relay(Some(relay.clone()));
    runner.run(Command::RegisterAdopting(InstanceId::new(&ours.id)));
    let answer = tokio::time::timeout(common::timeout(), results.recv())
        .await
        .expect("an answer");
    assert!(
        matches!(answer, Some(Msg::RegisterResult { result: Ok(()), .. })),
        "{answer:?}"
    );
    let state = sim.instance(&ours.id).expect("instance");
    assert_eq!(
        state.disconnected_url.as_deref(),
        Some("https://dash.example/hooks/disconnected")
    );
    assert_eq!(
        state.connected_url.as_deref(),
        Some("https://dash.example/hooks/connected")
    );
    assert!(log.keeps_bodies());
    let status = relay.status();
    assert_eq!(status.len(), 1);
    assert!(status[0].adopted && status[0].name.starts_with("adopted-"));

    // what Z-API now sends to zapi-dash reaches the receiver, byte for byte
    let mut sent = Vec::new();
    for (n, id) in [(0, &ours.id), (1, &other.id), (2, &ours.id)] {
        let body =
            format!("{{\"type\":\"DisconnectedCallback\",\"instanceId\":\"{id}\",\"n\":{n}}}");
        let event = Event {
            instance_id: InstanceId::new(id),
            kind: EventKind::Disconnected { error: None },
            moment: Utc::now(),
            received: Utc::now(),
        };
        log.append_body(event, None, Some(body.clone().into_bytes()), None)
            .await
            .expect("append");
        if id == &ours.id {
            sent.push(body.into_bytes());
        }
    }
    let got = receiver
        .wait("the adopted instance's 2", |d| d.len() >= 2)
        .await;
    assert_eq!(
        got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
        sent,
        "only its events, in order"
    );

    // after a restart the adopted target is read back from beside the log
    relay.shutdown().await;
    let relay = Relay::start_new(&log, Vec::new(), fast());
    assert!(relay.status().first().is_some_and(|t| t.adopted));
    let event = Event {
        instance_id: InstanceId::new(&ours.id),
        kind: EventKind::Connected { phone: None },
        moment: Utc::now(),
        received: Utc::now(),
    };
    log.append_body(event, None, Some(b"{\"n\":3}".to_vec()), None)
        .await
        .expect("append");
    receiver
        .wait("the event after the restart", |d| d.len() >= 3)
        .await;
    // `u` in the detail: the adopted target goes, from the file too
    let removed = relay.remove_adopted(&ours.id).await.expect("removed");
    assert_eq!(removed.len(), 1);
    assert!(relay.status().is_empty());
    assert!(zapi_dash::relay::adopt::load(dir.path()).is_empty());
    relay.shutdown().await;
    log.close().await.expect("close");
    sim.shutdown();
}

/// A URL adopted as a forward target is not "another system's" to lose:
/// `/me` pointing there leaves the row without the replace question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_url_is_not_foreign() {
    use zapi_dash::app::{Command, Msg};
    use zapi_dash::relay::adopt::Adopted;
    use zapi_dash::runner::{Backend, Runner, Services};
    use zapi_dash::zapi::ZapiClient;

    let bot = "https://bot.example/zapi";
    let (sim, instances) = sim_pointing_at(bot, 1, 7).await;
    let id = &instances[0].id;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EventLog::open(LogOptions::new(dir.path())).expect("log");
    let relay = Relay::start_new(&log, Vec::new(), fast());
    let services = Services {
        client: Some(
            ZapiClient::new(&sim.base_url(), Secret::new("CT-0123456789abcdef"))
                .expect("client")
                .with_retry_base(Duration::from_millis(1)),
        ),
        tokens: [(InstanceId::new(id), Secret::new(&instances[0].token))].into(),
        public_url: Some("https://dash.example".into()),
        secret: None,
        concurrency: 4,
        all_types: false,
        accounts: Default::default(),
    };
    let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
    let mut runner =
        Runner::new(Backend::Zapi(Box::new(services)), tx).with_relay(Some(relay.clone()));
    async fn foreign(
        runner: &mut Runner,
        results: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
        id: &str,
    ) -> Vec<String> {
        runner.run(Command::FetchHooks(InstanceId::new(id)));
        match tokio::time::timeout(common::timeout(), results.recv()).await {
            Ok(Some(Msg::HooksResult { result: Ok(h), .. })) => h.foreign,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        foreign(&mut runner, &mut results, id).await,
        vec![bot.to_string()]
    );
    relay
        .adopt(vec![Adopted {
            instance: id.clone(),
            url: bot.into(),
            types: vec!["DisconnectedCallback".into(), "ConnectedCallback".into()],
        }])
        .await
        .expect("adopt");
    assert!(
        foreign(&mut runner, &mut results, id).await.is_empty(),
        "adopted: not another system's"
    );
    relay.shutdown().await;
    log.close().await.expect("close");
    sim.shutdown();
}

/// `watch`'s `y` in the replace popup: `register?adopt=true` on `serve`
/// (through the same client `watch` uses) adopts the bot's URL as a forward
/// target of the server's relay and registers; Z-API then points at
/// `serve`, and the bot still gets every webhook, byte for byte. Without a
/// flag the same call sends nothing and answers 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_adopts_through_the_servers_api_and_the_bot_keeps_getting_events() {
    use zapi_dash::remote::RemoteApi;

    let receiver = Receiver::start(Mode::Up).await;
    let bot = format!("{}/flows/AbCdEfGh0123456789xyz", receiver.url);
    let (sim, instances) = sim_pointing_at(&bot, 1, 11).await;
    let ours = &instances[0];
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\napi_base = \"{}\"\nclient_token = \"CT-0123456789abcdef\"\npublic_url = \"https://dash.example\"\npoll_interval = 0\n\n[[instances]]\nid = \"{}\"\ntoken = \"{}\"\n",
            sim.base_url(),
            ours.id,
            ours.token
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let (mut child, addr) = spawn_serve(&config, &state);
    let remote = RemoteApi::new(&format!("http://{addr}"), Secret::new(API_TOKEN)).expect("client");
    let id = InstanceId::new(&ours.id);

    let refused = remote.register(&id, false).await.expect_err("409");
    assert!(refused.to_string().contains("another system"), "{refused}");
    assert_eq!(
        sim.instance(&ours.id)
            .expect("inst")
            .disconnected_url
            .as_deref(),
        Some(bot.as_str())
    );

    remote
        .register_adopting(&id)
        .await
        .expect("adopt and register");
    let inst = sim.instance(&ours.id).expect("inst");
    assert_eq!(
        inst.disconnected_url.as_deref(),
        Some("https://dash.example/hooks/disconnected")
    );
    assert_eq!(
        inst.connected_url.as_deref(),
        Some("https://dash.example/hooks/connected")
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let targets = get_forward(&http, addr).await;
    let adopted = &targets["targets"][0];
    assert_eq!(adopted["adopted"], true, "{targets}");
    assert!(
        !targets.to_string().contains("AbCdEfGh0123456789xyz"),
        "the URL's token is masked: {targets}"
    );

    let mut sent = Vec::new();
    for (n, path) in [(0, "disconnected"), (1, "connected")] {
        let kind = if n == 0 {
            "DisconnectedCallback"
        } else {
            "ConnectedCallback"
        };
        let body = format!(
            "{{\"type\":\"{kind}\",\"instanceId\":\"{}\",\"momment\":{},\"n\":{n}}}",
            ours.id,
            1_764_000_000_000u64 + n
        );
        assert_eq!(post_hook(&http, addr, path, &body).await, 200);
        sent.push(body.into_bytes());
    }
    let got = receiver
        .wait("both webhooks at the bot", |d| d.len() >= 2)
        .await;
    assert_eq!(got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(), sent);
    common::signal(child.id(), "TERM");
    assert!(child.wait().expect("wait").success());
    sim.shutdown();
}
