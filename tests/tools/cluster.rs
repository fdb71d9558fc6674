//! `[cluster]` (#17) against real `nats-server` processes (Debian's
//! package, which `scripts/test` installs) on loopback ports, each with
//! its own store directory: `serve` replicas sharing one JetStream stream.
//!
//! Every wait is bounded by a deadline and polls for the state it needs;
//! nothing is timed.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde_json::Value;

use super::common;
use super::shipped::require;

const API_TOKEN: &str = "cluster-test-api-token-0123";

/// Longer than [`common::timeout`] where a NATS node must be elected or a
/// replica must catch up with thousands of events in a debug build.
fn long() -> Duration {
    common::timeout() * 3
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Polls `check` until it gives a value or `within` has passed (then
/// panics saying what was awaited).
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// NATS servers with JetStream on loopback: one, or a cluster of three.
struct Nats {
    nodes: Vec<Node>,
}

struct Node {
    conf: PathBuf,
    port: u16,
    monitor: u16,
    child: Option<Child>,
}

impl Nats {
    async fn start(dir: &Path, n: usize) -> Nats {
        let bin = require("nats-server", "nats-server");
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let (port, monitor) = (free_port(), free_port());
            let store = dir.join(format!("nats-{i}"));
            let mut conf = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\n\
                 jetstream {{ store_dir: \"{}\" }}\n",
                store.display()
            );
            if n > 1 {
                let all: Vec<String> = routes
                    .iter()
                    .map(|r| format!("nats-route://127.0.0.1:{r}"))
                    .collect();
                conf.push_str(&format!(
                    "cluster {{ name: zc, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                    all.join(", ")
                ));
            }
            let path = dir.join(format!("nats-{i}.conf"));
            std::fs::write(&path, conf).unwrap();
            nodes.push(Node {
                conf: path,
                port,
                monitor,
                child: None,
            });
        }
        let mut nats = Nats { nodes };
        for i in 0..n {
            nats.spawn(&bin, i);
        }
        nats.ready().await;
        nats
    }

    fn spawn(&mut self, bin: &Path, i: usize) {
        let node = &mut self.nodes[i];
        let child = Command::new(bin)
            .arg("-c")
            .arg(&node.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        node.child = Some(child);
    }

    /// Every running node answers `/healthz` and, in a cluster, knows its
    /// JetStream meta leader.
    async fn ready(&self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let clustered = self.nodes.len() > 1;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let base = format!("http://127.0.0.1:{}", node.monitor);
            until("a NATS node to be ready", long(), || async {
                let health = http.get(format!("{base}/healthz")).send().await.ok()?;
                if !health.status().is_success() {
                    return None;
                }
                if !clustered {
                    return Some(());
                }
                let jsz: Value = http
                    .get(format!("{base}/jsz"))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                jsz["meta_cluster"]["leader"]
                    .as_str()
                    .filter(|l| !l.is_empty())
                    .map(|_| ())
            })
            .await;
        }
    }

    fn url(&self) -> String {
        let urls: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect();
        urls.join(",")
    }

    /// `kill -9` of node `i`.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn restart(&mut self, i: usize) {
        self.spawn(&require("nats-server", "nats-server"), i);
        self.ready().await;
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// A `serve` replica on the cluster.
struct Replica {
    child: Option<Child>,
    addr: SocketAddr,
    state: PathBuf,
}

impl Replica {
    /// `serve` with `top` (top-level keys) and `[cluster]` on `nats`.
    fn start(dir: &Path, name: &str, nats: &Nats, replicas: usize, top: &str) -> Replica {
        let state = dir.join(name);
        std::fs::create_dir_all(&state).unwrap();
        let config = state.join("config.toml");
        let text = format!(
            "listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\n{top}\n\
             [cluster]\nnats_url = \"{}\"\nreplicas = {replicas}\n",
            nats.url()
        );
        std::fs::write(&config, text).unwrap();
        let mut child = common::serve_command(&config, &state)
            .env_remove("ZAPI_DASH_NATS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (_, addr) = common::serve_listening(&mut stderr);
        // drained, so serve never blocks on a full pipe
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Replica {
            child: Some(child),
            addr,
            state,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `kill -9`.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `GET /api/instances`.
    async fn snapshot(&self, http: &reqwest::Client) -> Option<Value> {
        let resp = http
            .get(format!("{}/api/instances", self.base()))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
    }

    /// Waits until its state holds the stream up to `seq`.
    async fn caught_up(&self, http: &reqwest::Client, seq: u64) -> Value {
        let what = format!("a replica to hold the whole stream (up to seq {seq})");
        until(&what, long(), || async {
            let snap = self.snapshot(http).await?;
            (snap["seq"].as_u64()? >= seq).then_some(snap)
        })
        .await
    }

    /// `(seq, fingerprint)` of every record of its event log.
    fn log_records(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let dir = self.state.join("events");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let Some((_, json)) = line.split_once(' ') else {
                    continue;
                };
                let Ok(record) = serde_json::from_str::<Value>(json) else {
                    continue;
                };
                if let (Some(seq), Some(fp)) = (record["seq"].as_u64(), record["fp"].as_str()) {
                    out.push((seq, fp.to_string()));
                }
            }
        }
        out
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A state webhook of `id` at `momment` (seconds).
fn state_body(id: &str, momment: i64, connected: bool) -> String {
    if connected {
        format!(
            r#"{{"type":"ConnectedCallback","instanceId":"{id}","momment":{momment},"connected":true,"phone":"5544999990000"}}"#
        )
    } else {
        format!(
            r#"{{"type":"DisconnectedCallback","instanceId":"{id}","momment":{momment},"error":"Device has been disconnected","disconnected":true}}"#
        )
    }
}

/// POSTs a webhook; the status, or 0 when there was no answer.
async fn post(http: &reqwest::Client, base: &str, body: &str) -> u16 {
    match http
        .post(format!("{base}/hooks"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
    {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

/// The Nats-Msg-Id of every message of the stream, in stream order, and
/// the stream's last sequence; read again until it works (after a node's
/// death the cluster elects new leaders, and requests meanwhile time out).
async fn stream_ids(url: &str) -> (Vec<String>, u64) {
    let servers: Vec<async_nats::ServerAddr> = url.split(',').map(|u| u.parse().unwrap()).collect();
    let client = async_nats::connect(servers).await.unwrap();
    let js = jetstream::new(client);
    until("the stream read back", long(), || read_ids(&js)).await
}

async fn read_ids(js: &jetstream::Context) -> Option<(Vec<String>, u64)> {
    let mut stream = js.get_stream("ZAPI_EVENTS").await.ok()?;
    let state = stream.info().await.ok()?.state.clone();
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig::default())
        .await
        .ok()?;
    let mut messages = consumer.messages().await.ok()?;
    let mut ids = Vec::new();
    while ids.len() < usize::try_from(state.messages).ok()? {
        let message = tokio::time::timeout(long(), messages.next())
            .await
            .ok()??
            .ok()?;
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        ids.push(id);
    }
    Some((ids, state.last_sequence))
}

fn msg_id(body: &str) -> String {
    format!("{:016x}", zapi_dash::store::fingerprint(body.as_bytes()))
}

const BURST: usize = 20_000;
const BURST_INSTANCES: usize = 50;

/// Two replicas on a three-node cluster (R3); 20,000 webhooks split across
/// both, each posted until it gets a 200 (as Z-API retries, to the other
/// replica when one is gone); in the middle, `kill -9` of a NATS node and
/// of one replica. Afterwards every event that got a 200 is in the stream
/// exactly once and in the surviving replica's log, and each instance's
/// state is its newest acknowledged event's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_every_acknowledged_event_through_a_node_and_a_replica_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path(), 3).await;
    let a = Replica::start(dir.path(), "a", &nats, 3, "");
    let mut b = Replica::start(dir.path(), "b", &nats, 3, "");
    let base = chrono::Utc::now().timestamp() - 2 * BURST as i64;
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..BURST)
            .map(|i| {
                let id = format!("INST{:02}", i % BURST_INSTANCES);
                let connected = (i / BURST_INSTANCES) % 2 == 1;
                state_body(&id, base + i as i64, connected)
            })
            .collect(),
    );
    let acked: Arc<Vec<AtomicBool>> =
        Arc::new((0..BURST).map(|_| AtomicBool::new(false)).collect());
    let (next, count) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let halfway = Arc::new(tokio::sync::Notify::new());
    let targets = Arc::new([a.base(), b.base()]);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (bodies, acked, next, count, halfway, targets) = (
            Arc::clone(&bodies),
            Arc::clone(&acked),
            Arc::clone(&next),
            Arc::clone(&count),
            Arc::clone(&halfway),
            Arc::clone(&targets),
        );
        workers.spawn(async move {
            let http = http();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= BURST {
                    return;
                }
                // split across both; a refusal or no answer: again, on
                // the other replica next
                for attempt in 0..60 {
                    let target = &targets[(i + attempt) % 2];
                    if post(&http, target, &bodies[i]).await == 200 {
                        acked[i].store(true, Ordering::Relaxed);
                        if count.fetch_add(1, Ordering::Relaxed) + 1 == BURST / 3 {
                            halfway.notify_one();
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }
    halfway.notified().await;
    nats.kill(0);
    b.kill();
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }

    let acked_ids: Vec<(usize, String)> = (0..BURST)
        .filter(|&i| acked[i].load(Ordering::Relaxed))
        .map(|i| (i, msg_id(&bodies[i])))
        .collect();
    assert!(
        acked_ids.len() > BURST / 3,
        "{} acknowledged",
        acked_ids.len()
    );

    // in the stream exactly once
    let (ids, last) = stream_ids(&nats.url()).await;
    let mut in_stream = std::collections::HashMap::new();
    for id in &ids {
        *in_stream.entry(id.as_str()).or_insert(0) += 1;
    }
    for (i, id) in &acked_ids {
        assert_eq!(
            in_stream.get(id.as_str()),
            Some(&1),
            "event {i} in the stream"
        );
    }

    // in the surviving replica's log, each once, with the stream's numbers
    let http = http();
    let snap = a.caught_up(&http, last).await;
    let records = a.log_records();
    let mut in_log = std::collections::HashMap::new();
    for (_, fp) in &records {
        *in_log.entry(fp.as_str()).or_insert(0) += 1;
    }
    for (i, id) in &acked_ids {
        assert_eq!(
            in_log.get(id.as_str()),
            Some(&1),
            "event {i} in the replica's log"
        );
    }
    assert_eq!(records.len(), ids.len(), "the log mirrors the stream");

    // the last state of each instance: its newest acknowledged event
    for inst in 0..BURST_INSTANCES {
        let newest = acked_ids
            .iter()
            .rev()
            .find(|(i, _)| i % BURST_INSTANCES == inst);
        let Some(&(i, _)) = newest else {
            continue;
        };
        let id = format!("INST{inst:02}");
        let row = snap["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} in the surviving replica's state"));
        let want = if (i / BURST_INSTANCES) % 2 == 1 {
            "connected"
        } else {
            "disconnected"
        };
        assert_eq!(row["state"], want, "{id}: {row}");
        let moment = chrono::DateTime::from_timestamp(base + i as i64, 0).unwrap();
        assert_eq!(
            row["last_webhook_moment"]
                .as_str()
                .map(|m| m.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
            Some(moment),
            "{id}"
        );
    }
}

/// `GET /metrics`' value of `series`.
async fn metric(http: &reqwest::Client, replica: &Replica, series: &str) -> Option<f64> {
    let text = http
        .get(format!("{}/metrics", replica.base()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `/healthz`: status and body.
async fn healthz(http: &reqwest::Client, replica: &Replica) -> Option<(u16, String)> {
    let resp = http
        .get(format!("{}/healthz", replica.base()))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

/// NATS gone: webhooks are refused (503), `/healthz` says why, the event
/// stream that `watch --remote` reads says `cluster unreachable` (its
/// footer shows it) and the metrics say so; NATS back: webhooks are held and answered 200 again,
/// by the same `serve` process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_answers_503_and_nats_back_answers_200_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path(), 1).await;
    let a = Replica::start(dir.path(), "a", &nats, 1, "");
    let http = http();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post(&http, &a.base(), &state_body("DOWN", now - 3, false)).await,
        200
    );
    assert_eq!(healthz(&http, &a).await.map(|h| h.0), Some(200));
    assert_eq!(metric(&http, &a, "zapi_cluster_connected").await, Some(1.0));

    // what `watch --remote` reads from this replica
    let mut stream = events(&http, &a, None).await;
    let mut buf = String::new();
    assert_eq!(next_sse(&mut stream, &mut buf).await.0, "snapshot");

    nats.kill(0);
    let (event, _, data) = next_sse(&mut stream, &mut buf).await;
    assert_eq!(event, "problem", "{data}");
    assert!(data.contains("cluster unreachable"), "{data}");
    // nothing can hold it now: refused, whether the client has noticed yet
    // (its PubAck never comes) or not (refused at once)
    let during = state_body("DOWN", now - 2, true);
    assert_eq!(post(&http, &a.base(), &during).await, 503);
    let (_, reason) = until("/healthz to answer 503", long(), || async {
        healthz(&http, &a).await.filter(|h| h.0 == 503)
    })
    .await;
    assert!(reason.contains("cluster unreachable"), "{reason}");
    assert_eq!(metric(&http, &a, "zapi_cluster_connected").await, Some(0.0));
    let failures = metric(&http, &a, "zapi_cluster_publish_failures_total").await;
    assert!(failures.is_some_and(|f| f >= 1.0), "{failures:?}");

    nats.restart(0).await;
    let after = state_body("DOWN", now - 1, false);
    until("a webhook accepted again", long(), || async {
        (post(&http, &a.base(), &after).await == 200).then_some(())
    })
    .await;
    assert_eq!(healthz(&http, &a).await.map(|h| h.0), Some(200));
    // the stream says it is over (before the webhook accepted since)
    let (event, _, data) = next_sse(&mut stream, &mut buf).await;
    assert_eq!(
        (event.as_str(), data.as_str()),
        ("problem_cleared", "\"cluster reachable again\"")
    );
    // both held events are in the state, in order: the refused one never was
    let snap = a.caught_up(&http, 2).await;
    assert_eq!(snap["events"], 2, "{snap}");
    let row = &snap["instances"][0];
    assert_eq!(row["state"], "disconnected", "{row}");
}

/// The next Server-Sent Event from `resp`: (event, id, data).
async fn next_sse(resp: &mut reqwest::Response, buf: &mut String) -> (String, String, String) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .filter_map(|l| l.strip_prefix(name))
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            if frame.lines().all(|l| l.starts_with(':')) {
                continue;
            }
            return (field("event:"), field("id:"), field("data:"));
        }
        let chunk = tokio::time::timeout(long(), resp.chunk())
            .await
            .expect("an event within the deadline")
            .unwrap()
            .expect("the stream to go on");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn events(http: &reqwest::Client, replica: &Replica, last: Option<u64>) -> reqwest::Response {
    let mut req = http
        .get(format!("{}/api/events", replica.base()))
        .bearer_auth(API_TOKEN)
        .timeout(long() * 2);
    if let Some(last) = last {
        req = req.header("last-event-id", last.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// What a `watch --remote` on replica A reads: its event stream carries
/// a webhook posted to replica B, with the stream's sequence as its id;
/// `Last-Event-ID` with that number means the same event on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_posted_to_one_replica_reaches_the_others_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let a = Replica::start(dir.path(), "a", &nats, 1, "");
    let b = Replica::start(dir.path(), "b", &nats, 1, "");
    let http = http();
    let mut on_a = events(&http, &a, None).await;
    let mut buf = String::new();
    let (event, _, _) = next_sse(&mut on_a, &mut buf).await;
    assert_eq!(event, "snapshot");

    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post(&http, &b.base(), &state_body("ACROSS", now, false)).await,
        200
    );
    let (event, id, data) = next_sse(&mut on_a, &mut buf).await;
    assert_eq!(event, "webhook", "{data}");
    assert!(data.contains("\"ACROSS\""), "{data}");
    let seq: u64 = id.parse().unwrap();

    // B answered 200 once the stream held it; its own copy may come a
    // moment later (asked before, B would rightly send its snapshot first)
    b.caught_up(&http, seq).await;
    let mut on_b = events(&http, &b, Some(seq - 1)).await;
    let mut buf = String::new();
    let (event, id, data) = next_sse(&mut on_b, &mut buf).await;
    assert_eq!(
        (event.as_str(), id.as_str()),
        ("webhook", seq.to_string().as_str())
    );
    assert!(data.contains("\"ACROSS\""), "{data}");
}

/// `/status` calls of a simulated Z-API.
fn status_calls(sim: &zapi_dash::sim::Sim) -> usize {
    sim.calls()
        .iter()
        .filter(|c| c.path.ends_with("/status"))
        .count()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A replica with its own simulated Z-API (so the test sees which replica
/// polls) and an `on_disconnect` that appends `<id> <moment>` to its own
/// file.
async fn polling_replica(dir: &Path, name: &str, nats: &Nats) -> Polling {
    let inst = zapi_dash::sim::demo_instances(1, 7).remove(0);
    let sim = zapi_dash::sim::Sim::start(zapi_dash::sim::SimOptions {
        client_token: "sim-client-token".into(),
        instances: vec![inst.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let alerts = dir.join(format!("{name}.alerts"));
    let top = format!(
        "api_base = \"{}\"\nclient_token = \"sim-client-token\"\npoll_interval = 1\n\
         on_disconnect = \"echo $ZAPI_INSTANCE_ID $ZAPI_MOMENT >> '{}'\"\n\
         [[instances]]\nid = \"{}\"\ntoken = \"{}\"\n",
        sim.base_url(),
        alerts.display(),
        inst.id,
        inst.token
    );
    Polling {
        replica: Replica::start(dir, name, nats, 1, &top),
        sim,
        alerts,
    }
}

/// A replica that polls its own simulated Z-API and writes its alerts to
/// its own file.
struct Polling {
    replica: Replica,
    sim: zapi_dash::sim::Sim,
    alerts: PathBuf,
}

/// Two polling replicas on `nats`: the leader (the one that polls Z-API)
/// first.
async fn leader_and_follower(dir: &Path, nats: &Nats) -> (Polling, Polling) {
    let a = polling_replica(dir, "a", nats).await;
    let b = polling_replica(dir, "b", nats).await;
    let first = until("a leader polling Z-API", long(), || async {
        match (status_calls(&a.sim), status_calls(&b.sim)) {
            (0, 0) => None,
            (_, 0) => Some(0),
            (0, _) => Some(1),
            _ => panic!("both replicas poll"),
        }
    })
    .await;
    if first == 0 { (a, b) } else { (b, a) }
}

/// `id` connects at `at` and drops a second later, both posted to `replica`.
async fn reconnect_and_drop(http: &reqwest::Client, replica: &Replica, id: &str, at: i64) {
    for (at, connected) in [(at, true), (at + 1, false)] {
        let body = state_body(id, at, connected);
        assert_eq!(post(http, &replica.base(), &body).await, 200);
    }
}

/// The line an alert of `id` for a webhook at `momment` writes.
fn alert_line(id: &str, momment: i64) -> String {
    let moment = chrono::DateTime::from_timestamp(momment, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("{id} {moment}")
}

/// Only the leader polls Z-API and runs the alert commands: one disconnect
/// runs `on_disconnect` once across the replicas. Killed, the leader is
/// followed by the other replica, which polls and alerts from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_polls_and_alerts_and_another_takes_over_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let (mut leader, follower) = leader_and_follower(dir.path(), &nats).await;
    let id = zapi_dash::sim::demo_instances(1, 7).remove(0).id;
    let http = http();
    // three polls of the leader: the follower made none meanwhile
    until("three polls of the leader", long(), || async {
        (status_calls(&leader.sim) >= 3).then_some(())
    })
    .await;
    assert_eq!(status_calls(&follower.sim), 0, "the follower polls too");
    assert_eq!(
        metric(&http, &leader.replica, "zapi_cluster_leader").await,
        Some(1.0)
    );
    assert_eq!(
        metric(&http, &follower.replica, "zapi_cluster_leader").await,
        Some(0.0)
    );

    // one disconnect, posted to the follower: one alert, on the leader
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post(
            &http,
            &follower.replica.base(),
            &state_body(&id, now, false)
        )
        .await,
        200
    );
    until("the leader's alert", long(), || async {
        (!lines(&leader.alerts).is_empty()).then_some(())
    })
    .await;
    until("the follower to apply the disconnect", long(), || async {
        let snap = follower.replica.snapshot(&http).await?;
        (snap["instances"][0]["state"] == "disconnected").then_some(())
    })
    .await;
    assert_eq!(lines(&leader.alerts), vec![alert_line(&id, now)]);

    // the leader dies: the other replica polls and alerts
    leader.replica.kill();
    let polled = status_calls(&follower.sim);
    until("the other replica to poll", long(), || async {
        (status_calls(&follower.sim) > polled).then_some(())
    })
    .await;
    assert_eq!(
        metric(&http, &follower.replica, "zapi_cluster_leader").await,
        Some(1.0)
    );
    reconnect_and_drop(&http, &follower.replica, &id, now + 1).await;
    until("the new leader's alert", long(), || async {
        (!lines(&follower.alerts).is_empty()).then_some(())
    })
    .await;
    until("the new leader to apply both", long(), || async {
        let snap = follower.replica.snapshot(&http).await?;
        (snap["seq"].as_u64()? >= 3).then_some(())
    })
    .await;
    // the disconnect the old leader alerted is not alerted again
    assert_eq!(lines(&follower.alerts), vec![alert_line(&id, now + 2)]);
    assert_eq!(
        lines(&leader.alerts),
        vec![alert_line(&id, now)],
        "the dead leader's alerts"
    );
}

/// A disconnect that comes after the leader died and before another
/// replica took its lease (no replica leads for up to the lease's TTL) is
/// alerted once, by the replica that takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_while_no_replica_leads_is_alerted_by_the_next_leader() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let (mut leader, follower) = leader_and_follower(dir.path(), &nats).await;
    let id = zapi_dash::sim::demo_instances(1, 7).remove(0).id;
    let http = http();
    // an event the leader took (and said so) before it dies
    let now = chrono::Utc::now().timestamp();
    let body = state_body(&id, now, true);
    assert_eq!(post(&http, &leader.replica.base(), &body).await, 200);
    follower.replica.caught_up(&http, 1).await;

    leader.replica.kill();
    let body = state_body(&id, now + 1, false);
    assert_eq!(post(&http, &follower.replica.base(), &body).await, 200);
    assert_eq!(
        metric(&http, &follower.replica, "zapi_cluster_leader").await,
        Some(0.0),
        "the survivor led already: the disconnect did not come while no replica led"
    );
    until("the next leader's alert", long(), || async {
        (!lines(&follower.alerts).is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        metric(&http, &follower.replica, "zapi_cluster_leader").await,
        Some(1.0)
    );
    // a later disconnect: alerted as usual, and the first one not again
    reconnect_and_drop(&http, &follower.replica, &id, now + 2).await;
    until("the second alert", long(), || async {
        (lines(&follower.alerts).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(
        lines(&follower.alerts),
        vec![alert_line(&id, now + 1), alert_line(&id, now + 3)]
    );
    assert!(lines(&leader.alerts).is_empty(), "the dead leader alerted");
}

/// What only the leader sees (its `/status` answers) reaches the
/// follower, which never asks Z-API itself: both show the same fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_shows_what_the_leaders_polls_saw() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let (leader, follower) = leader_and_follower(dir.path(), &nats).await;
    let id = zapi_dash::sim::demo_instances(1, 7).remove(0).id;
    let http = http();
    for (connected, state) in [(true, "connected"), (false, "disconnected")] {
        leader.sim.set_connected(&id, connected, None);
        let what = format!("the follower to show the leader's {state}");
        let row = until(&what, long(), || async {
            let snap = follower.replica.snapshot(&http).await?;
            let row = snap["instances"][0].clone();
            (row["state"] == state).then_some(row)
        })
        .await;
        let leaders = leader.replica.snapshot(&http).await.unwrap();
        assert_eq!(row["last_error"], leaders["instances"][0]["last_error"]);
        assert_eq!(row["state"], leaders["instances"][0]["state"]);
    }
    let snap = follower.replica.snapshot(&http).await.unwrap();
    assert_eq!(snap["seq"], 0, "no webhook came: the state is the polls'");
    assert_eq!(
        snap["instances"][0]["last_error"],
        zapi_dash::sim::ERR_NOT_CONNECTED
    );
    assert_eq!(status_calls(&follower.sim), 0, "the follower polled");
}

/// `(id, account, listing mark)` of every row, sorted.
async fn listed_rows(
    http: &reqwest::Client,
    replica: &Replica,
) -> Option<Vec<(String, String, String)>> {
    let snap = replica.snapshot(http).await?;
    let mut rows: Vec<(String, String, String)> = snap["instances"]
        .as_array()?
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["account"].as_str().unwrap_or_default().to_string(),
                r["listing"]["mark"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    rows.sort();
    Some(rows)
}

/// Discovery runs on the leader; its listings reach the follower, whose
/// rows are the account's, and an instance the account no longer lists is
/// marked so on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_shows_the_accounts_the_leader_lists() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let sim = zapi_dash::sim::Sim::start(zapi_dash::sim::SimOptions::default())
        .await
        .unwrap();
    let listed = zapi_dash::sim::demo_instances(3, 11);
    sim.add_account(
        zapi_dash::sim::SimAccount {
            client_token: "agency-client-token".into(),
            partner_token: Some("agency-partner-token".into()),
        },
        listed.clone(),
    );
    let top = format!(
        "api_base = \"{}\"\n[[accounts]]\nname = \"Agency\"\n\
         client_token = \"agency-client-token\"\npartner_token = \"agency-partner-token\"\n\
         discover_every = 1\n",
        sim.base_url()
    );
    let a = Replica::start(dir.path(), "a", &nats, 1, &top);
    let b = Replica::start(dir.path(), "b", &nats, 1, &top);
    let http = http();
    let a_leads = until("a leader", long(), || async {
        let lead_a = metric(&http, &a, "zapi_cluster_leader").await?;
        let lead_b = metric(&http, &b, "zapi_cluster_leader").await?;
        match (lead_a > 0.5, lead_b > 0.5) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    })
    .await;
    let (leader, follower) = if a_leads { (&a, &b) } else { (&b, &a) };
    let all: Vec<(String, String, String)> = listed
        .iter()
        .map(|i| (i.id.clone(), "Agency".to_string(), String::new()))
        .collect();
    let mut all = all;
    all.sort();
    for replica in [leader, follower] {
        until("every listed instance as a row", long(), || async {
            (listed_rows(&http, replica).await? == all).then_some(())
        })
        .await;
    }
    // one instance leaves the account: marked on the leader, then on the follower
    sim.remove_instance(&listed[0].id);
    let gone = until("the leader to see it leave", long(), || async {
        let rows = listed_rows(&http, leader).await?;
        (rows != all).then_some(rows)
    })
    .await;
    assert!(
        gone.iter()
            .any(|(id, _, mark)| id == &listed[0].id && mark == "removed"),
        "{gone:?}"
    );
    until("the follower to show the same rows", long(), || async {
        (listed_rows(&http, follower).await? == gone).then_some(())
    })
    .await;
}

/// `watch --remote` on a replica says in its header, in red, that the
/// replica's cluster is unreachable for as long as NATS is down, and stops
/// saying it once NATS is back (a webhook then reaches the screen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_a_replica_says_cluster_unreachable_while_nats_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path(), 1).await;
    let replica = Replica::start(dir.path(), "a", &nats, 1, "");
    let http = http();
    let now = chrono::Utc::now().timestamp();
    let body = state_body("WATCHED1", now, true);
    assert_eq!(post(&http, &replica.base(), &body).await, 200);
    let watch_dir = dir.path().join("watch");
    std::fs::create_dir_all(&watch_dir).unwrap();
    let url = replica.base();
    let args = ["watch", "--remote", &url, "--api-token", API_TOKEN];
    let watch = common::Dash::spawn(&args, &watch_dir, 120, 30);
    watch.wait_for("the row", |s| s.contains("WATCHED1"));
    assert!(!watch.screen.contents().contains("cluster unreachable"));

    nats.kill(0);
    let screen = watch.wait_for("the header to say the cluster is unreachable", |s| {
        s.contains("✗ server: cluster unreachable")
    });
    let header: Vec<&str> = screen.lines().take(2).collect();
    assert!(
        header
            .iter()
            .any(|l| l.contains("✗ server: cluster unreachable")),
        "not in the header:\n{screen}"
    );

    nats.restart(0).await;
    let body = state_body("WATCHED1", now + 1, false);
    until("the replica to take webhooks again", long(), || async {
        (post(&http, &replica.base(), &body).await == 200).then_some(())
    })
    .await;
    let screen = watch.wait_for("the trouble over and the disconnect shown", |s| {
        !s.contains("✗ server:")
            && s.lines()
                .any(|l| l.contains("WATCHED1") && l.contains("disconnected"))
    });
    assert!(
        screen.contains("server: over: cluster unreachable"),
        "the footer does not say it is over:\n{screen}"
    );
}

/// A replica forwarding every event to `url` (target `bot`).
fn relaying_replica(dir: &Path, name: &str, nats: &Nats, url: &str) -> Replica {
    let top = format!("[[forward]]\nname = \"bot\"\nurl = \"{url}\"\n");
    Replica::start(dir, name, nats, 1, &top)
}

/// Target `bot` of `GET /api/forward`.
async fn forward_status(http: &reqwest::Client, replica: &Replica) -> Option<Value> {
    let resp = http
        .get(format!("{}/api/forward", replica.base()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    body["targets"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "bot")
        .cloned()
}

/// Target `bot`'s cursor in the relay's KV bucket, as a new leader reads it.
async fn shared_cursor(url: &str) -> Option<u64> {
    let servers: Vec<async_nats::ServerAddr> = url.split(',').map(|u| u.parse().unwrap()).collect();
    let js = jetstream::new(async_nats::connect(servers).await.ok()?);
    let store = js.get_key_value("ZAPI_EVENTS_RELAY").await.ok()?;
    let value = store.get("bot").await.ok()??;
    String::from_utf8_lossy(&value).parse().ok()
}

/// How many deliveries carried each of `bodies`.
fn times_delivered(deliveries: &[common::receiver::Delivery], bodies: &[String]) -> Vec<usize> {
    bodies
        .iter()
        .map(|b| deliveries.iter().filter(|d| d.body == b.as_bytes()).count())
        .collect()
}

/// `[[forward]]` with `[cluster]`: two replicas with the same target, the
/// webhooks posted to both; only the leader delivers, each event once,
/// and the follower says it stands by. The leader killed, the other one
/// takes over from the cursor the leader shared: the new events arrive,
/// the old ones are not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_relays_and_a_new_leader_goes_on_from_the_shared_cursor() {
    use common::receiver::{Mode, Receiver};
    const BEFORE: usize = 40;
    const AFTER: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let receiver = Receiver::start(Mode::Up).await;
    let a = relaying_replica(dir.path(), "a", &nats, &receiver.url);
    let b = relaying_replica(dir.path(), "b", &nats, &receiver.url);
    let http = http();
    let first = until("a leader", long(), || async {
        let leads = (
            metric(&http, &a, "zapi_cluster_leader").await? > 0.5,
            metric(&http, &b, "zapi_cluster_leader").await? > 0.5,
        );
        match leads {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        }
    })
    .await;
    let mut replicas = [a, b];
    let (leader, follower) = replicas.split_at_mut(1);
    let (leader, follower) = if first == 0 {
        (&mut leader[0], &mut follower[0])
    } else {
        (&mut follower[0], &mut leader[0])
    };
    until("the leader's target to deliver", long(), || async {
        let status = forward_status(&http, leader).await?;
        (status["standby"] == false).then_some(())
    })
    .await;

    let now = chrono::Utc::now().timestamp();
    let bodies: Vec<String> = (0..BEFORE + AFTER)
        .map(|i| state_body(&format!("RELAY{:02}", i % 7), now + i as i64, i % 2 == 0))
        .collect();
    for (i, body) in bodies[..BEFORE].iter().enumerate() {
        let to = if i % 2 == 0 { &*leader } else { &*follower };
        assert_eq!(post(&http, &to.base(), body).await, 200, "webhook {i}");
    }
    receiver
        .wait("every webhook delivered", |d| {
            times_delivered(d, &bodies[..BEFORE]).iter().all(|&n| n > 0)
        })
        .await;
    // the cursor is shared once everything is delivered (the stream's
    // sequences: 1..=BEFORE); by then the follower would have sent its own
    until(
        "the shared cursor past every delivered event",
        long(),
        || async { (shared_cursor(&nats.url()).await? == BEFORE as u64).then_some(()) },
    )
    .await;
    let held = until("the follower to hold every event", long(), || async {
        let status = forward_status(&http, follower).await?;
        (status["log_seq"] == BEFORE as u64).then_some(status)
    })
    .await;
    assert_eq!(held["standby"], true, "{held}");
    assert_eq!(held["delivered"], 0, "{held}");
    assert_eq!(held["lag_events"], 0, "nothing waits on a follower: {held}");
    let status = forward_status(&http, leader).await.unwrap();
    assert_eq!(
        (&status["standby"], &status["delivered"], &status["cursor"]),
        (
            &Value::from(false),
            &Value::from(BEFORE),
            &Value::from(BEFORE)
        ),
        "{status}"
    );
    let once = times_delivered(&receiver.deliveries(), &bodies[..BEFORE]);
    assert!(once.iter().all(|&n| n == 1), "each exactly once: {once:?}");
    assert_eq!(receiver.deliveries().len(), BEFORE);

    // the leader dies; the survivor takes over and delivers what comes
    leader.kill();
    for (i, body) in bodies[BEFORE..].iter().enumerate() {
        assert_eq!(
            post(&http, &follower.base(), body).await,
            200,
            "webhook {i}"
        );
    }
    let all = receiver
        .wait("the new leader's deliveries", |d| {
            times_delivered(d, &bodies).iter().all(|&n| n > 0)
        })
        .await;
    let status = until("the new leader to count its deliveries", long(), || async {
        let status = forward_status(&http, follower).await?;
        (status["delivered"] == AFTER).then_some(status)
    })
    .await;
    assert_eq!(status["standby"], false, "{status}");
    // from the shared cursor, not from the start of the log: what the old
    // leader delivered (and shared) is not sent again
    let old = times_delivered(&all, &bodies[..BEFORE]);
    assert!(old.iter().all(|&n| n == 1), "sent again: {old:?}");
    assert!(all.len() < 2 * bodies.len(), "{} deliveries", all.len());
}

/// A replica that starts while the leader cannot deliver (the target is
/// down) copies the stream with the bodies; when it leads, it delivers
/// those events from its own log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_caught_up_at_start_relays_those_events_when_it_leads() {
    use common::receiver::{Mode, Receiver};
    const N: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let receiver = Receiver::start(Mode::Down).await;
    let mut a = relaying_replica(dir.path(), "a", &nats, &receiver.url);
    let http = http();
    until("a to lead", long(), || async {
        (metric(&http, &a, "zapi_cluster_leader").await? > 0.5).then_some(())
    })
    .await;
    until("a's target to deliver", long(), || async {
        let status = forward_status(&http, &a).await?;
        (status["standby"] == false).then_some(())
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let bodies: Vec<String> = (0..N)
        .map(|i| state_body(&format!("LATE{i}"), now + i as i64, i % 2 == 0))
        .collect();
    for body in &bodies {
        assert_eq!(post(&http, &a.base(), body).await, 200);
    }
    // b starts now: its log is the stream's copy made at start
    let b = relaying_replica(dir.path(), "b", &nats, &receiver.url);
    let held = until("b to hold every event", long(), || async {
        let status = forward_status(&http, &b).await?;
        (status["log_seq"] == N as u64).then_some(status)
    })
    .await;
    assert_eq!(held["standby"], true, "{held}");
    let accepted = |d: &[common::receiver::Delivery]| {
        let ok: Vec<_> = d.iter().filter(|d| d.accepted).cloned().collect();
        times_delivered(&ok, &bodies)
    };
    assert!(
        accepted(&receiver.deliveries()).iter().all(|&n| n == 0),
        "the target was down"
    );
    a.kill();
    receiver.set(Mode::Up);
    receiver
        .wait("b to deliver what it copied at start", |d| {
            accepted(d).iter().all(|&n| n > 0)
        })
        .await;
}

/// What the relay's replicas share lives in NATS (Debian's 2.9 included):
/// a cursor per target and the adopted targets, written through one
/// connection and read through another, as a new leader reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_cursors_and_adopted_targets_are_shared_through_nats() {
    use zapi_dash::cluster::relay_cursor::RelayCursors;
    use zapi_dash::cluster::{Cluster, ClusterConfig};
    use zapi_dash::relay::Shared;
    use zapi_dash::relay::adopt::Adopted;
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path(), 1).await;
    let config = ClusterConfig {
        nats_url: nats.url(),
        stream: "ZAPI_EVENTS".into(),
        replicas: 1,
        credentials: None,
    };
    let join = || async {
        let metrics = Arc::new(zapi_dash::metrics::Metrics::new().with_cluster());
        RelayCursors::new(&Cluster::join(&config, 0, metrics).await.unwrap())
    };
    let (one, other) = (join().await, join().await);
    // every replica reads the adopted targets: that alone makes no bucket
    assert_eq!(other.load_adopted().await, Ok(None));
    let servers: Vec<async_nats::ServerAddr> =
        nats.url().split(',').map(|u| u.parse().unwrap()).collect();
    let js = jetstream::new(async_nats::connect(servers).await.unwrap());
    assert!(js.get_stream("KV_ZAPI_EVENTS_RELAY").await.is_err());
    assert_eq!(other.load("bot").await, Ok(None));
    assert_eq!(other.load_adopted().await, Ok(None));
    let bot = Adopted {
        instance: "I1".into(),
        url: "https://bot.example/zapi".into(),
        types: vec!["DisconnectedCallback".into()],
    };
    one.save("bot", 41).await.unwrap();
    one.save("bot", 42).await.unwrap();
    one.save_adopted(vec![bot.clone()]).await.unwrap();
    assert_eq!(other.load("bot").await, Ok(Some(42)));
    assert_eq!(other.load_adopted().await, Ok(Some(vec![bot])));
    assert_eq!(other.load("adopted").await, Ok(None), "a target named so");
}

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

/// The shipped Caddyfile for replicas is valid as Debian's caddy reads it,
/// and checks each upstream's `/healthz`.
#[test]
fn the_cluster_caddyfile_validates_and_checks_healthz() {
    let caddy = require("caddy", "caddy");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(asset("Caddyfile.cluster")).unwrap();
    assert!(text.contains("health_uri /healthz"), "{text}");
    let out = Command::new(&caddy)
        .args(["adapt", "--adapter", "caddyfile", "--config"])
        .arg(asset("Caddyfile.cluster"))
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("ZAPI_DASH_UPSTREAMS", "127.0.0.1:1 127.0.0.1:2")
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "caddy adapt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // both upstreams, actively checked on /healthz
    let adapted: Value = serde_json::from_str(&json).unwrap();
    let found = json.contains("\"127.0.0.1:1\"") && json.contains("\"127.0.0.1:2\"");
    assert!(found, "{adapted}");
    assert!(json.contains("\"uri\":\"/healthz\""), "{adapted}");
}

/// An instance of the shipped template unit verifies and is as hardened as
/// the single unit (exposure 2.0 or lower).
#[test]
fn the_template_unit_verifies_and_is_hardened() {
    let analyze = require("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(asset("zapi-dash@.service")).unwrap();
    assert!(unit.contains("--config /etc/zapi-dash/%i.toml"), "{unit}");
    let unit = unit.replace("/usr/local/bin/zapi-dash", env!("CARGO_BIN_EXE_zapi-dash"));
    let instance = dir.path().join("zapi-dash@a.service");
    std::fs::write(dir.path().join("zapi-dash@.service"), &unit).unwrap();
    std::fs::write(&instance, &unit).unwrap();
    super::shipped::verifies_and_is_hardened(&analyze, &instance);
}
