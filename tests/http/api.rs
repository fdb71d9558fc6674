//! The HTTP API of `serve` over real loopback HTTP: auth, `/metrics` parsed
//! by a Prometheus parser, `/api/instances`, the SSE stream (fresh and
//! resumed) and the actions against the simulated Z-API.
//!
//! The pieces are started the way `serve` starts them: Listener + Hub +
//! `api::router`, with a simulated Z-API behind the hub's backend. Tests
//! wait for what they need (a hub broadcast, the next SSE event, a sim
//! call), never sleep; every wait is bounded by [`WAIT`] only so that a
//! broken feature fails instead of hanging.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use zapi_dash::fleet::Fleet;
use zapi_dash::listener::server::ServerOptions;
use zapi_dash::listener::{Listener, ListenerOptions};
use zapi_dash::metrics::Metrics;
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::runner::{Backend, Services};
use zapi_dash::serve::api;
use zapi_dash::serve::hub::{Hub, HubEvent, HubHandle, HubOptions, HubSettings};
use zapi_dash::sim::{self, Sim, SimInstance, SimOptions};
use zapi_dash::zapi::ZapiClient;

const CLIENT_TOKEN: &str = "CT-0123456789abcdef";
const API_TOKEN: &str = "api-token-0123456789abcdef";
/// The instance token the config holds for the third instance: not the
/// sim's, so Z-API answers "Instance not found".
const BAD_TOKEN: &str = "bad-token-0000000000000000";
/// Bound on every wait; never reached when the feature works.
const WAIT: Duration = Duration::from_secs(30);

/// A running `serve` without the binary: listener, log, hub, API, and a
/// simulated Z-API behind it.
struct Server {
    base: String,
    hub: HubHandle,
    sim: Sim,
    /// The sim's instances; the config holds all three, the third with a
    /// wrong token.
    insts: Vec<SimInstance>,
    http: reqwest::Client,
    service: Option<Listener>,
    _hub_task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(api_token: Option<&str>) -> Server {
        Self::start_with(api_token, Duration::ZERO).await
    }

    /// With `latency` before each answer of the simulated Z-API.
    async fn start_with(api_token: Option<&str>, latency: Duration) -> Server {
        let insts = sim::demo_instances(3, 7);
        let sim = Sim::start(SimOptions {
            client_token: CLIENT_TOKEN.into(),
            instances: insts.clone(),
            latency,
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("events");

        let tokens: HashMap<InstanceId, Secret> = insts
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let token = if i == 2 { BAD_TOKEN } else { &inst.token };
                (InstanceId::new(&inst.id), Secret::new(token))
            })
            .collect();
        let services = Services {
            client: Some(
                ZapiClient::new(&sim.base_url(), Secret::new(CLIENT_TOKEN))
                    .unwrap()
                    .with_retry_base(Duration::from_millis(1)),
            ),
            tokens,
            public_url: Some("https://dash.example.com".into()),
            secret: None,
            concurrency: 4,
            accounts: Default::default(),
            all_types: false,
        };
        let metrics = Arc::new(Metrics::new());
        let (hub, handle) = Hub::new(
            Backend::Zapi(Box::new(services)),
            Arc::clone(&metrics),
            log_dir.clone(),
        );
        let opts = ListenerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            log_dir,
            retention_days: 30,
            secret: None,
            server: ServerOptions::default(),
            extra_routes: Some(api::router(handle.clone(), api_token.map(Secret::new))),
            metrics: Some(metrics),
            token_header: Default::default(),
            relay: None,
        };
        let configured: Vec<_> = insts
            .iter()
            .map(|i| (InstanceId::new(&i.id), Some(i.name.clone())))
            .collect();
        let mut fleet = Fleet::with_configured(&configured, Utc::now());
        let mut last_seq = 0;
        let (service, committed, _) = Listener::start(opts, |seq, event| {
            last_seq = seq;
            fleet.apply_event(event, Utc::now());
        })
        .await
        .unwrap();
        let hub_task = hub.spawn(
            fleet,
            // no status calls at start: the sim sees only what a test asks
            HubSettings {
                rules: Default::default(),
                alerts: (false, false),
                can_check_hooks: false,
                can_query_status: false,
            },
            committed,
            HubOptions {
                poll_interval: Duration::ZERO,
                last_seq,
                tap: None,
            },
        );
        Server {
            base: format!("http://{}", service.addr),
            hub: handle,
            sim,
            insts,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            service: Some(service),
            _hub_task: hub_task,
            _dir: dir,
        }
    }

    fn id(&self, i: usize) -> &str {
        &self.insts[i].id
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    /// GET with the right token, as JSON.
    async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).bearer_auth(API_TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    /// POSTs a webhook and returns once the hub has applied it (its state,
    /// metrics and watchers have it); returns its `seq`.
    async fn webhook(&self, body: Value) -> u64 {
        let mut changes = self.hub.subscribe();
        let resp = self.post("/hooks").json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let id = body["instanceId"].as_str().unwrap().to_owned();
        wait_webhook(&mut changes, &id).await
    }

    /// An action with the right token: (status, JSON body).
    async fn act(&self, id: &str, action: &str) -> (u16, Value) {
        let resp = self
            .post(&format!("/api/instances/{id}/{action}"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// `/metrics` as a client that asks for nothing gets it: the classic
    /// text format, which prometheus-parse reads.
    async fn metrics(&self) -> prometheus_parse::Scrape {
        let (ct, text) = self.metrics_as(None).await;
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        assert!(!text.contains("# EOF"), "{text}");
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    /// `/metrics` with this `Accept` header: the content type and the body.
    async fn metrics_as(&self, accept: Option<&str>) -> (String, String) {
        let mut req = self.get("/metrics").bearer_auth(API_TOKEN);
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (ct, resp.text().await.unwrap())
    }

    /// The row of instance `id` in `/api/instances`.
    async fn row(&self, id: &str) -> Value {
        let snap = self.get_json("/api/instances").await;
        snap["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no row {id} in {snap}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            tokio::spawn(service.shutdown());
        }
    }
}

/// Waits for the hub's broadcast of a webhook of instance `id`; its `seq`.
async fn wait_webhook(changes: &mut broadcast::Receiver<HubEvent>, id: &str) -> u64 {
    tokio::time::timeout(WAIT, async {
        loop {
            if let HubEvent::Webhook { seq, event } = changes.recv().await.unwrap()
                && event.instance_id.as_str() == id
            {
                return seq;
            }
        }
    })
    .await
    .expect("the hub applies the webhook")
}

fn disconnected(id: &str, n: i64) -> Value {
    sim::webhook_body_disconnected(id, 1_764_000_000 + n, "Device has been disconnected")
}

fn connected(id: &str, n: i64) -> Value {
    sim::webhook_body_connected(id, 1_764_000_000 + n, "5544999999999")
}

/// The value of `name{labels}` in a scrape; `None` when absent.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: unexpected value {other:?}"),
        })
}

// ------------------------------------------------------------------ SSE

/// One server-sent event.
#[derive(Debug, Clone, Default)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

impl Sse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// Reads an SSE response event by event (a small parser of the format:
/// `field: value` lines, events ended by a blank line, `:` comments).
struct SseReader {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl SseReader {
    fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Self {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next event (keep-alive comments skipped).
    async fn next(&mut self) -> Sse {
        tokio::time::timeout(WAIT, self.next_inner())
            .await
            .expect("an event arrives")
    }

    async fn next_inner(&mut self) -> Sse {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let block = String::from_utf8(block).unwrap();
                let mut ev = Sse::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "event" => ev.event = value.to_owned(),
                        "id" => ev.id = Some(value.to_owned()),
                        "data" => data.push(value.to_owned()),
                        _ => {}
                    }
                }
                if ev.event.is_empty() && data.is_empty() {
                    continue; // a comment
                }
                ev.data = data.join("\n");
                return ev;
            }
            let chunk = self
                .resp
                .chunk()
                .await
                .expect("the stream reads")
                .expect("the stream goes on");
            self.buf.extend_from_slice(&chunk);
        }
    }
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn without_an_api_token_the_api_does_not_exist() {
    let s = Server::start(None).await;
    for path in ["/metrics", "/api/instances", "/api/events", "/api"] {
        let resp = s.get(path).bearer_auth(API_TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({ "error": "not found" })
        );
    }
    let resp = s
        .post(&format!("/api/instances/{}/restart", s.id(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(s.sim.calls().is_empty(), "nothing reached Z-API");
}

#[tokio::test]
async fn missing_or_wrong_tokens_get_401_and_are_counted() {
    let s = Server::start(Some(API_TOKEN)).await;
    let restart = format!("/api/instances/{}/restart", s.id(0));
    let refused = [
        s.get("/metrics"),
        s.get("/api/instances"),
        s.get("/api/events"),
        s.get("/api/nothing-here"),
        s.get("/api/instances")
            .bearer_auth("wrong-token-0123456789"),
        s.get("/api/instances").bearer_auth(format!("{API_TOKEN}x")),
        s.get("/metrics").basic_auth("user", Some(API_TOKEN)),
        s.post(&restart),
        s.post(&restart).bearer_auth("wrong-token-0123456789"),
    ];
    let n = refused.len();
    for req in refused {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(!body.to_string().contains(API_TOKEN));
    }
    assert!(s.sim.calls().is_empty(), "no action was carried out");

    let resp = s
        .get("/api/instances")
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // unknown routes exist only for those with the token
    let resp = s
        .get("/api/nothing-here")
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let m = s.metrics().await;
    assert_eq!(
        sample(&m, "zapi_api_unauthorized_total", &[]),
        Some(n as f64)
    );
    let text = s
        .get("/metrics")
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in [API_TOKEN, CLIENT_TOKEN, BAD_TOKEN, &s.insts[0].token] {
        assert!(!text.contains(secret), "a token in /metrics");
    }
}

// ----------------------------------------------------------- metrics

/// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[tokio::test]
async fn metrics_answer_the_format_the_client_asks_for() {
    let s = Server::start(Some(API_TOKEN)).await;
    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
    for (accept, want) in [
        (Some(PROMETHEUS_ACCEPT), OPENMETRICS),
        (Some("application/openmetrics-text"), OPENMETRICS),
        (
            Some("text/plain;q=0.2, application/openmetrics-text;q=0.9"),
            OPENMETRICS,
        ),
        (None, TEXT),
        (Some("*/*"), TEXT),
        (Some("text/plain"), TEXT),
        (Some("application/openmetrics-text;q=0"), TEXT),
        (Some("application/openmetrics-text;q=0.1, text/plain"), TEXT),
        (Some("application/json"), TEXT),
        (Some(",;;=garbage"), TEXT),
    ] {
        let (ct, text) = s.metrics_as(accept).await;
        assert_eq!(ct, want, "Accept: {accept:?}");
        let om = want == OPENMETRICS;
        assert_eq!(text.ends_with("# EOF\n"), om, "Accept: {accept:?}\n{text}");
        // either way a counter's samples are `<family>_total`
        assert!(
            text.contains("zapi_registration_failures_total 0\n"),
            "{text}"
        );
        if om {
            assert!(text.contains("# TYPE zapi_registration_failures counter\n"));
        } else {
            assert!(text.contains("# TYPE zapi_registration_failures_total counter\n"));
        }
    }
}

#[tokio::test]
async fn a_fresh_serve_has_every_known_counter_at_zero() {
    let s = Server::start(Some(API_TOKEN)).await;
    let m = s.metrics().await;
    for ty in zapi_dash::metrics::KNOWN_CALLBACKS.iter().chain(&["other"]) {
        assert_eq!(
            sample(&m, "zapi_webhooks_received_total", &[("type", ty)]),
            Some(0.0),
            "type {ty}"
        );
    }
    for reason in [
        "bad_request",
        "not_found",
        "method_not_allowed",
        "unsupported_media_type",
        "payload_too_large",
        "timeout",
        "unavailable",
        "client_error",
        "server_error",
    ] {
        assert_eq!(
            sample(&m, "zapi_webhooks_rejected_total", &[("reason", reason)]),
            Some(0.0),
            "reason {reason}"
        );
    }
    // the same in OpenMetrics, as Prometheus scrapes it
    let (_, text) = s.metrics_as(Some(PROMETHEUS_ACCEPT)).await;
    assert!(
        text.contains("zapi_webhooks_received_total{type=\"DisconnectedCallback\"} 0\n"),
        "{text}"
    );
}

// ------------------------------------------------------------- state

#[tokio::test]
async fn metrics_follow_the_state() {
    let s = Server::start(Some(API_TOKEN)).await;
    let (a, b, c) = (s.id(0), s.id(1), s.id(2));
    let label = |i: usize| [("instance_id", s.id(i)), ("name", s.insts[i].name.as_str())];

    let m = s.metrics().await;
    for i in 0..3 {
        // unknown: no connected gauge yet, but the counter is there at 0
        assert_eq!(sample(&m, "zapi_instance_connected", &label(i)), None);
        assert_eq!(sample(&m, "zapi_disconnects_total", &label(i)), Some(0.0));
    }
    assert_eq!(
        sample(&m, "zapi_instances", &[("state", "unknown")]),
        Some(3.0)
    );

    s.webhook(disconnected(a, 1)).await;
    s.webhook(connected(a, 2)).await;
    s.webhook(disconnected(a, 3)).await;
    s.webhook(connected(b, 4)).await;
    s.webhook(sim::webhook_body_received(c, 1_764_000_005, "1", "2", "hi"))
        .await;
    s.webhook(sim::webhook_body_received(c, 1_764_000_006, "1", "2", "ok"))
        .await;
    // a bad request and a wrong content type: refused and counted
    let resp = s
        .post("/hooks")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = s.post("/hooks").body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 415);
    let resp = s.get("/hooks/disconnected").send().await.unwrap();
    assert_eq!(resp.status(), 405);

    let m = s.metrics().await;
    assert_eq!(sample(&m, "zapi_instance_connected", &label(0)), Some(0.0));
    assert_eq!(sample(&m, "zapi_instance_connected", &label(1)), Some(1.0));
    assert_eq!(sample(&m, "zapi_instance_connected", &label(2)), None);
    assert_eq!(sample(&m, "zapi_disconnects_total", &label(0)), Some(2.0));
    assert_eq!(sample(&m, "zapi_disconnects_total", &label(1)), Some(0.0));
    assert_eq!(
        sample(&m, "zapi_instance_last_change_timestamp_seconds", &label(0)),
        Some(1_764_000_003.0)
    );
    for (state, n) in [("connected", 1.0), ("disconnected", 1.0), ("unknown", 1.0)] {
        assert_eq!(sample(&m, "zapi_instances", &[("state", state)]), Some(n));
    }
    for (ty, n) in [
        ("DisconnectedCallback", 2.0),
        ("ConnectedCallback", 2.0),
        ("ReceivedCallback", 2.0),
    ] {
        assert_eq!(
            sample(&m, "zapi_webhooks_received_total", &[("type", ty)]),
            Some(n),
            "{ty}"
        );
    }
    for (reason, n) in [
        ("bad_request", 1.0),
        ("unsupported_media_type", 1.0),
        ("method_not_allowed", 1.0),
    ] {
        assert_eq!(
            sample(&m, "zapi_webhooks_rejected_total", &[("reason", reason)]),
            Some(n),
            "{reason}"
        );
    }
    // the API's own answers are not webhook refusals
    assert_eq!(
        sample(
            &m,
            "zapi_webhooks_rejected_total",
            &[("reason", "not_found")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, "zapi_registration_failures_total", &[]),
        Some(0.0)
    );
}

#[tokio::test]
async fn instances_reflect_posted_webhooks() {
    let s = Server::start(Some(API_TOKEN)).await;
    let before = s.get_json("/api/instances").await;
    assert_eq!(before["seq"], 0);
    assert_eq!(before["events"], 0);
    assert_eq!(before["instances"].as_array().unwrap().len(), 3);
    assert_eq!(s.row(s.id(0)).await["state"], "unknown");

    s.webhook(disconnected(s.id(0), 1)).await;
    let seq = s.webhook(connected("STRANGER", 2)).await;

    let snap = s.get_json("/api/instances").await;
    assert_eq!(snap["seq"], seq);
    assert_eq!(snap["events"], 2);
    let a = s.row(s.id(0)).await;
    assert_eq!(a["state"], "disconnected");
    assert_eq!(a["last_error"], "Device has been disconnected");
    assert_eq!(a["name"], s.insts[0].name);
    assert_eq!(a["configured"], true);
    let stranger = s.row("STRANGER").await;
    assert_eq!(stranger["state"], "connected");
    assert_eq!(stranger["configured"], false);
    assert!(!snap.to_string().contains(&s.insts[0].token));
}

// ------------------------------------------------------------------ SSE

#[tokio::test]
async fn events_start_with_a_snapshot_then_live_changes() {
    let s = Server::start(Some(API_TOKEN)).await;
    let first = s.webhook(disconnected(s.id(0), 1)).await;

    let resp = s
        .get("/api/events")
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(resp);
    let snap = events.next().await;
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.id.as_deref(), Some(first.to_string().as_str()));
    let body = snap.json();
    assert_eq!(body["seq"], first);
    assert_eq!(body["instances"].as_array().unwrap().len(), 3);

    // the stream subscribed before it answered: this one is not missed
    let seq = s.webhook(connected(s.id(1), 2)).await;
    assert_eq!(seq, first + 1);
    let ev = events.next().await;
    assert_eq!(ev.event, "webhook");
    assert_eq!(ev.id.as_deref(), Some(seq.to_string().as_str()));
    let body = ev.json();
    assert_eq!(body["seq"], seq);
    assert_eq!(body["event"]["instance_id"], s.id(1));
    assert_eq!(body["event"]["kind"], "connected");

    // a status result changes a row: a `row` event
    let (code, _) = s.act(s.id(0), "status").await;
    assert_eq!(code, 200);
    let ev = events.next().await;
    assert_eq!(ev.event, "row");
    assert_eq!(ev.id, None);
    let row = ev.json();
    assert_eq!(row["id"], s.id(0));
    assert_eq!(row["status"]["state"], "ok");
}

#[tokio::test]
async fn last_event_id_resumes_with_exactly_the_events_after_it() {
    let s = Server::start(Some(API_TOKEN)).await;
    let one = s.webhook(disconnected(s.id(0), 1)).await;
    let two = s.webhook(connected(s.id(0), 2)).await;
    let three = s.webhook(disconnected(s.id(1), 3)).await;

    let resp = s
        .get("/api/events")
        .bearer_auth(API_TOKEN)
        .header("last-event-id", one.to_string())
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(resp);
    for (seq, id) in [(two, s.id(0)), (three, s.id(1))] {
        let ev = events.next().await;
        assert_eq!(ev.event, "webhook");
        assert_eq!(ev.id.as_deref(), Some(seq.to_string().as_str()));
        assert_eq!(ev.json()["seq"], seq);
        assert_eq!(ev.json()["event"]["instance_id"], id);
    }
    let snap = events.next().await;
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.id.as_deref(), Some(three.to_string().as_str()));
    let body = snap.json();
    assert_eq!(body["seq"], three);
    assert_eq!(body["events"], 3);

    // and live from there
    let four = s.webhook(connected(s.id(1), 4)).await;
    let ev = events.next().await;
    assert_eq!(
        (ev.event.as_str(), ev.id),
        ("webhook", Some(four.to_string()))
    );

    // resuming from the newest id: nothing to replay, just the snapshot
    let resp = s
        .get("/api/events")
        .bearer_auth(API_TOKEN)
        .header("last-event-id", four.to_string())
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(resp);
    let snap = events.next().await;
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.json()["seq"], four);
}

// --------------------------------------------------------------- actions

#[tokio::test]
async fn register_makes_both_puts_and_the_row_says_ok() {
    let s = Server::start(Some(API_TOKEN)).await;
    let (code, body) = s.act(s.id(0), "register").await;
    assert_eq!((code, body), (200, json!({ "ok": true })));
    let calls = s.sim.calls();
    let base = format!("/instances/{}/token/{}", s.id(0), s.insts[0].token);
    let puts: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "PUT")
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(
        puts,
        [
            format!("{base}/update-webhook-disconnected"),
            format!("{base}/update-webhook-connected")
        ]
    );
    let inst = s.sim.instance(s.id(0)).unwrap();
    assert_eq!(
        inst.disconnected_url.as_deref(),
        Some("https://dash.example.com/hooks/disconnected")
    );
    let row = s.row(s.id(0)).await;
    assert_eq!(row["registration"]["state"], "ok", "{row}");
}

#[tokio::test]
async fn status_answers_and_fails_like_z_api() {
    let s = Server::start(Some(API_TOKEN)).await;
    s.sim
        .set_connected(s.id(0), false, Some(sim::ERR_RESTORE_SESSION));
    let (code, body) = s.act(s.id(0), "status").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(body["status"]["connected"], false);
    assert_eq!(body["status"]["error"], sim::ERR_RESTORE_SESSION);
    let row = s.row(s.id(0)).await;
    assert_eq!(row["state"], "disconnected");
    assert_eq!(row["status"]["state"], "ok");

    // unknown id
    let (code, body) = s.act("NO-SUCH-INSTANCE", "status").await;
    assert_eq!(code, 404, "{body}");
    assert!(body["error"].is_string());

    // the config's token is wrong: Z-API's error, as a 502, with no token
    let (code, body) = s.act(s.id(2), "status").await;
    assert_eq!(code, 502, "{body}");
    let error = body["error"].as_str().unwrap();
    assert_eq!(error, "HTTP 400: Instance not found");
    assert!(!body.to_string().contains(BAD_TOKEN));
    let row = s.row(s.id(2)).await;
    assert_eq!(row["status"]["state"], "failed", "{row}");

    // a failed registration is counted
    let (code, _) = s.act(s.id(2), "register").await;
    assert_eq!(code, 502);
    let m = s.metrics().await;
    assert_eq!(
        sample(&m, "zapi_registration_failures_total", &[]),
        Some(1.0)
    );

    // an instance known only from its webhooks cannot be acted on
    s.webhook(connected("STRANGER", 1)).await;
    let (code, body) = s.act("STRANGER", "register").await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"], "instance is not configured");
}

#[tokio::test]
async fn restart_and_restore_session_reach_z_api() {
    let s = Server::start(Some(API_TOKEN)).await;
    let base = format!("/instances/{}/token/{}", s.id(1), s.insts[1].token);
    for action in ["restart", "restore-session"] {
        let (code, body) = s.act(s.id(1), action).await;
        assert_eq!((code, body), (200, json!({ "ok": true })), "{action}");
        let calls = s.sim.calls();
        let last = calls.last().unwrap();
        assert_eq!(last.method, "GET");
        assert_eq!(last.path, format!("{base}/{action}"));
        assert_eq!(last.client_token.as_deref(), Some(CLIENT_TOKEN));
    }
    // wrong method on an action route
    let resp = s
        .get(&format!("/api/instances/{}/restart", s.id(1)))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn one_action_at_a_time_per_instance_and_action() {
    // Z-API answers only after WAIT: the first call is still running when
    // the second one comes (it has reached the sim, which is what is awaited).
    let s = Arc::new(Server::start_with(Some(API_TOKEN), WAIT).await);
    let first = {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.act(s.id(0), "restart").await })
    };
    s.sim
        .wait_for_calls(|c| !c.is_empty(), WAIT)
        .await
        .expect("the first restart reaches Z-API");
    let (code, body) = s.act(s.id(0), "restart").await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        body["error"],
        "restart is already running for this instance"
    );
    assert_eq!(s.sim.calls().len(), 1, "the second one was not sent");
    first.abort();
}

#[tokio::test]
async fn an_undecodable_id_is_no_instance() {
    let s = Server::start(Some(API_TOKEN)).await;
    let (code, body) = s.act("%FF%FE", "status").await;
    assert_eq!(code, 404, "{body}");
    assert!(s.sim.calls().is_empty());
}

#[tokio::test]
async fn history_serves_the_log_newest_first_to_watch() {
    let s = Server::start(Some(API_TOKEN)).await;
    s.webhook(disconnected(s.id(0), 1)).await;
    s.webhook(connected(s.id(1), 2)).await;
    s.webhook(connected(s.id(0), 3)).await;
    let events = s
        .get_json(&format!("/api/instances/{}/history", s.id(0)))
        .await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["connected", "disconnected"],
        "newest first, only its own"
    );
    // the client `watch` uses reads the same
    let remote = zapi_dash::remote::RemoteApi::new(&s.base, Secret::new(API_TOKEN)).unwrap();
    let got = remote.history(&InstanceId::new(s.id(0))).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[0].moment > got[1].moment);
    // an unknown instance, and no token
    let resp = s
        .get("/api/instances/NOPE/history")
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = s
        .get(&format!("/api/instances/{}/history", s.id(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// A webhook pointing at another system (the operator's bot) is not
/// replaced unseen: 409 naming the URL (masked), nothing sent; with
/// `?replace=true` it is registered.
#[tokio::test]
async fn register_refuses_to_replace_another_systems_url_without_replace_true() {
    let s = Server::start(Some(API_TOKEN)).await;
    let bot = "https://bot.example.net/zapi/AbCdEfGh0123456789xyz/in?key=SECRETVALUE";
    s.sim.set_webhook_urls(s.id(0), Some(bot), None);
    let (code, body) = s.act(s.id(0), "register").await;
    assert_eq!(code, 409, "{body}");
    let masked = "https://bot.example.net/zapi/AbCd…/in?key=SECR…";
    assert_eq!(body["would_replace"], json!([masked]), "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(masked) && error.contains("replace=true"),
        "{error}"
    );
    assert!(!body.to_string().contains("SECRETVALUE"), "{body}");
    assert!(
        !s.sim.calls().iter().any(|c| c.method == "PUT"),
        "nothing sent"
    );
    assert_eq!(
        s.sim.instance(s.id(0)).unwrap().disconnected_url.as_deref(),
        Some(bot)
    );
    // the row learned where the webhooks go
    let row = s.row(s.id(0)).await;
    assert_eq!(
        row["hooks"]["detail"]["hooks"]["foreign"],
        json!([masked]),
        "{row}"
    );

    // a bad query is refused, nothing sent
    let (code, _) = s.act(s.id(0), "register?replace=maybe").await;
    assert_eq!(code, 400);
    assert!(!s.sim.calls().iter().any(|c| c.method == "PUT"));

    let (code, body) = s.act(s.id(0), "register?replace=true").await;
    assert_eq!((code, body), (200, json!({ "ok": true })));
    assert_eq!(
        s.sim.instance(s.id(0)).unwrap().disconnected_url.as_deref(),
        Some("https://dash.example.com/hooks/disconnected")
    );
    // pointing here now, a plain register needs no confirmation
    let (code, body) = s.act(s.id(0), "register").await;
    assert_eq!((code, body), (200, json!({ "ok": true })));
}

/// The Connect popup through `serve`: the payload and the pairing code go
/// to the caller alone, behind the token, never into the state or metrics.
#[tokio::test]
async fn qr_code_and_phone_code_answer_the_caller_alone() {
    let s = Server::start(Some(API_TOKEN)).await;
    let id = s.id(1).to_owned();
    // connected: no code
    let (code, body) = s.act(&id, "qr-code").await;
    assert_eq!((code, body), (200, json!({ "connected": true })));
    s.sim.set_connected(&id, false, None);
    let resp = s
        .post(&format!("/api/instances/{id}/qr-code"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    let payload = s.sim.qr_payload(&id).unwrap();
    assert_eq!(body, json!({ "connected": false, "payload": payload }));
    // the pairing code
    let pair = |phone: Value, token: &'static str| {
        s.post(&format!("/api/instances/{id}/phone-code"))
            .bearer_auth(token)
            .json(&json!({ "phone": phone }))
            .send()
    };
    let resp = pair(json!("5544999999999"), API_TOKEN).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let pairing = resp.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pairing.len(), 9);
    let resp = pair(json!("+55 44"), API_TOKEN).await.unwrap();
    assert_eq!(resp.status(), 400);
    // behind the token, both
    for path in ["qr-code", "phone-code"] {
        let resp = s
            .post(&format!("/api/instances/{id}/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    assert_eq!(
        pair(json!("5544999999999"), "wrong")
            .await
            .unwrap()
            .status(),
        401
    );
    // unknown instance
    assert_eq!(s.act("NOPE", "qr-code").await.0, 404);
    // Z-API's refusal is the caller's error text
    s.sim.set_connected(&id, true, None);
    let resp = pair(json!("5544999999999"), API_TOKEN).await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Instance already connected")
    );
    // never in the state or the metrics
    let state = s.get_json("/api/instances").await.to_string();
    let (_, metrics) = s.metrics_as(None).await;
    for secret in [payload.as_str(), pairing.as_str()] {
        assert!(!state.contains(secret));
        assert!(!metrics.contains(secret));
    }
}
