//! The webhook listener over real loopback HTTP: routes, status codes, JSON
//! error bodies, and the events handed to the dashboard's channel.
//!
//! The handler awaits the channel send before it answers, so once a response
//! is in hand the event (if any) is already in the channel: `try_recv` is
//! exact, no sleeps needed.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, error::TryRecvError};
use zapi_dash::listener::parse::UNTYPED_CALLBACK;
use zapi_dash::listener::routes::{
    ListenerState, MAX_MESSAGE_BODY_BYTES, MAX_STATE_BODY_BYTES, router, router_with_secret,
};
use zapi_dash::listener::secret::WebhookSecret;
use zapi_dash::model::{Event, EventKind, InstanceId, Secret, moment_from_raw};

const JSON: &str = "application/json";

struct Server {
    base: String,
    addr: std::net::SocketAddr,
    rx: mpsc::Receiver<Event>,
    client: Client,
}

impl Server {
    /// Binds 127.0.0.1:0 before returning, so requests cannot race the start.
    async fn start() -> Server {
        let (tx, rx) = mpsc::channel(128);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(ListenerState::channel(tx));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // No proxy: CI may set HTTP_PROXY, and these calls must stay on loopback.
        let client = Client::builder().no_proxy().build().unwrap();
        Server {
            base: format!("http://{addr}"),
            addr,
            rx,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, JSON)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// The one event the last request produced; fails if none or more.
    fn one_event(&mut self) -> Event {
        let event = self.rx.try_recv().expect("an event on the channel");
        self.assert_no_event();
        event
    }

    fn assert_no_event(&mut self) {
        match self.rx.try_recv() {
            Err(TryRecvError::Empty) => {}
            other => panic!("expected no event, got {other:?}"),
        }
    }
}

async fn assert_ok(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::OK);
    assert_json_content_type(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"ok": true}));
}

/// Asserts the status and that the body is exactly `{"error": "<text>"}`;
/// returns the text.
async fn error_of(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    assert_json_content_type(&resp);
    let body: Value = resp.json().await.unwrap();
    let obj = body.as_object().expect("error body is an object");
    assert_eq!(obj.len(), 1, "error body has only `error`: {body}");
    let text = obj["error"].as_str().expect("`error` is a string");
    assert!(!text.is_empty());
    text.to_owned()
}

fn assert_json_content_type(resp: &reqwest::Response) {
    let ct = resp.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with(JSON), "content-type {ct}");
}

fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/zapi-examples")
}

fn secs(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).unwrap()
}

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

#[tokio::test]
async fn healthz_answers_ok() {
    let s = Server::start().await;
    let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_ok(resp).await;
}

#[tokio::test]
async fn disconnect_with_momment_in_seconds() {
    let mut s = Server::start().await;
    let body = json!({
        "momment": 1580163342, "error": "Device has been disconnected",
        "disconnected": true, "type": "DisconnectedCallback", "instanceId": "instance.id"
    });
    assert_ok(s.post_json("/hooks/disconnected", body.to_string()).await).await;
    let e = s.one_event();
    assert_eq!(e.instance_id, InstanceId::new("instance.id"));
    assert_eq!(
        e.kind,
        EventKind::Disconnected {
            error: Some("Device has been disconnected".into())
        }
    );
    assert_eq!(e.moment, secs(1_580_163_342));
}

#[tokio::test]
async fn disconnect_with_momment_in_milliseconds() {
    let mut s = Server::start().await;
    let body = json!({"momment": 1632228638123_i64, "instanceId": "A1", "error": "gone"});
    assert_ok(s.post_json("/hooks/disconnected", body.to_string()).await).await;
    let e = s.one_event();
    assert_eq!(
        e.kind,
        EventKind::Disconnected {
            error: Some("gone".into())
        }
    );
    assert_eq!(e.moment, millis(1_632_228_638_123));
}

#[tokio::test]
async fn connected_route_without_type_is_a_connect() {
    let mut s = Server::start().await;
    let body = json!({"connected": true, "momment": 1732400000000_i64,
                      "instanceId": "B2", "phone": "5544999999999"});
    assert_ok(s.post_json("/hooks/connected", body.to_string()).await).await;
    let e = s.one_event();
    assert_eq!(e.instance_id, InstanceId::new("B2"));
    assert_eq!(
        e.kind,
        EventKind::Connected {
            phone: Some("5544999999999".into())
        }
    );
    assert_eq!(e.moment, millis(1_732_400_000_000));
}

#[tokio::test]
async fn catch_all_route_dispatches_on_type() {
    let mut s = Server::start().await;
    let cases = [
        (
            json!({"type": "ConnectedCallback", "instanceId": "C", "phone": "55"}),
            EventKind::Connected {
                phone: Some("55".into()),
            },
        ),
        (
            json!({"type": "DisconnectedCallback", "instanceId": "C"}),
            EventKind::Disconnected { error: None },
        ),
        (
            json!({"type": "ReceivedCallback", "instanceId": "C", "phone": "55"}),
            EventKind::Activity {
                callback: "ReceivedCallback".into(),
            },
        ),
    ];
    for (body, kind) in cases {
        assert_ok(s.post_json("/hooks", body.to_string()).await).await;
        assert_eq!(s.one_event().kind, kind, "body {body}");
    }
}

#[tokio::test]
async fn catch_all_route_without_type_is_untyped_activity() {
    let mut s = Server::start().await;
    let body = json!({"instanceId": "C", "momment": 1580163342});
    assert_ok(s.post_json("/hooks", body.to_string()).await).await;
    let e = s.one_event();
    assert_eq!(e.instance_id, InstanceId::new("C"));
    assert_eq!(
        e.kind,
        EventKind::Activity {
            callback: UNTYPED_CALLBACK.into()
        }
    );
    assert_eq!(e.moment, secs(1_580_163_342));
}

#[tokio::test]
async fn missing_momment_uses_receive_time() {
    let mut s = Server::start().await;
    let before = Utc::now();
    let body = json!({"instanceId": "D", "error": "x"});
    assert_ok(s.post_json("/hooks/disconnected", body.to_string()).await).await;
    let after = Utc::now();
    let e = s.one_event();
    assert_eq!(e.moment, e.received);
    assert!(before <= e.received && e.received <= after);
}

#[tokio::test]
async fn extra_unknown_fields_are_accepted() {
    let mut s = Server::start().await;
    let body = json!({
        "type": "DisconnectedCallback", "instanceId": "E", "momment": 1580163342,
        "disconnected": true, "brandNewField": {"nested": [1, 2, {"deep": null}]},
        "another": "value", "n": 3.5
    });
    assert_ok(s.post_json("/hooks", body.to_string()).await).await;
    let e = s.one_event();
    assert_eq!(e.instance_id, InstanceId::new("E"));
    assert_eq!(e.kind, EventKind::Disconnected { error: None });
    assert_eq!(e.moment, secs(1_580_163_342));
}

#[tokio::test]
async fn content_type_with_charset_is_accepted() {
    let mut s = Server::start().await;
    let resp = s
        .client
        .post(s.url("/hooks"))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(r#"{"type": "PresenceChatCallback", "instanceId": "F"}"#)
        .send()
        .await
        .unwrap();
    assert_ok(resp).await;
    assert_eq!(
        s.one_event().kind,
        EventKind::Activity {
            callback: "PresenceChatCallback".into()
        }
    );
}

#[tokio::test]
async fn bad_json_is_400_and_sends_nothing() {
    let mut s = Server::start().await;
    let err = error_of(
        s.post_json("/hooks", "{not json").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(err.starts_with("body is not valid JSON: "), "{err}");
    assert!(err.contains("line 1 column"), "{err}");
    s.assert_no_event();
}

#[tokio::test]
async fn non_object_body_is_400() {
    let mut s = Server::start().await;
    let err = error_of(
        s.post_json("/hooks", r#"["instanceId"]"#).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err, "body must be a JSON object");
    s.assert_no_event();
}

#[tokio::test]
async fn missing_instance_id_is_400() {
    let mut s = Server::start().await;
    let body = json!({"type": "DisconnectedCallback", "momment": 1580163342});
    let err = error_of(
        s.post_json("/hooks", body.to_string()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err, "missing field `instanceId`");
    s.assert_no_event();
}

#[tokio::test]
async fn non_string_instance_id_is_400() {
    let mut s = Server::start().await;
    for bad in [json!(42), json!(""), json!(["a"]), json!({"id": "a"})] {
        let body = json!({"type": "DisconnectedCallback", "instanceId": bad});
        let err = error_of(
            s.post_json("/hooks/disconnected", body.to_string()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(err, "`instanceId` must be a non-empty string", "{body}");
    }
    s.assert_no_event();
}

/// Z-API's own attribute table types `momment` as a string, and real
/// deliveries carry fields of other types than the docs say: a field that
/// cannot be used costs that field, never the event.
#[tokio::test]
async fn a_bad_field_costs_only_that_field() {
    let mut s = Server::start().await;
    let before = Utc::now();
    let cases = [
        (
            "/hooks",
            json!({"type": 7, "instanceId": "G", "momment": 1580163342}),
            EventKind::Activity {
                callback: UNTYPED_CALLBACK.into(),
            },
            Some(secs(1_580_163_342)),
        ),
        (
            "/hooks/disconnected",
            json!({"instanceId": "G", "momment": "1580163342", "error": "e"}),
            EventKind::Disconnected {
                error: Some("e".into()),
            },
            Some(secs(1_580_163_342)),
        ),
        (
            "/hooks",
            json!({"type": "ConnectedCallback", "instanceId": "G", "momment": "1632228638000"}),
            EventKind::Connected { phone: None },
            Some(millis(1_632_228_638_000)),
        ),
        (
            "/hooks/disconnected",
            json!({"instanceId": "G", "error": false, "momment": 1580163342}),
            EventKind::Disconnected { error: None },
            Some(secs(1_580_163_342)),
        ),
        (
            "/hooks/connected",
            json!({"instanceId": "G", "phone": 5544999999999_i64, "connected": "yes"}),
            EventKind::Connected { phone: None },
            None,
        ),
    ];
    for (path, body, kind, moment) in cases {
        assert_ok(s.post_json(path, body.to_string()).await).await;
        let e = s.one_event();
        assert_eq!(e.kind, kind, "{path} {body}");
        assert_eq!(e.instance_id, InstanceId::new("G"));
        match moment {
            Some(m) => assert_eq!(e.moment, m, "{body}"),
            None => assert_eq!(e.moment, e.received),
        }
        assert!(e.received >= before);
    }
}

#[tokio::test]
async fn an_unusable_momment_is_the_receipt_time() {
    let mut s = Server::start().await;
    for bad in [
        json!(null),
        json!(true),
        json!({"s": 1}),
        json!([1]),
        json!("abc"),
        json!(-1_580_163_342),
        json!(0),
        json!(1.5),
        json!(9.3e18),
        json!(99_999_999_999_999_999_i64),
    ] {
        let body = json!({
            "type": "DisconnectedCallback", "instanceId": "M", "error": "e", "momment": bad
        });
        assert_ok(s.post_json("/hooks", body.to_string()).await).await;
        let e = s.one_event();
        assert_eq!(e.moment, e.received, "momment {bad}");
        assert_eq!(
            e.kind,
            EventKind::Disconnected {
                error: Some("e".into())
            }
        );
    }
}

#[tokio::test]
async fn wrong_method_is_405() {
    let mut s = Server::start().await;
    let cases = [
        (reqwest::Method::GET, "/hooks", "POST"),
        (reqwest::Method::PUT, "/hooks/disconnected", "POST"),
        (reqwest::Method::DELETE, "/hooks/connected", "POST"),
        (reqwest::Method::POST, "/healthz", "GET"),
    ];
    for (method, path, allowed) in cases {
        let resp = s
            .client
            .request(method.clone(), s.url(path))
            .header(header::CONTENT_TYPE, JSON)
            .body(r#"{"type": "DisconnectedCallback", "instanceId": "H"}"#)
            .send()
            .await
            .unwrap();
        let allow = resp.headers()[header::ALLOW].to_str().unwrap().to_owned();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow}");
        let err = error_of(resp, StatusCode::METHOD_NOT_ALLOWED).await;
        assert!(err.contains(method.as_str()), "{err}");
    }
    s.assert_no_event();
}

#[tokio::test]
async fn missing_or_wrong_content_type_is_415() {
    let mut s = Server::start().await;
    let body = r#"{"type": "DisconnectedCallback", "instanceId": "I"}"#;
    let resp = s
        .client
        .post(s.url("/hooks"))
        .body(body)
        .send()
        .await
        .unwrap();
    let err = error_of(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(err.contains("application/json"), "{err}");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
    ] {
        let resp = s
            .client
            .post(s.url("/hooks/disconnected"))
            .header(header::CONTENT_TYPE, ct)
            .body(body)
            .send()
            .await
            .unwrap();
        error_of(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    s.assert_no_event();
}

/// A valid JSON object of exactly `len` bytes.
fn padded_body(len: usize) -> String {
    let head = r#"{"type": "ReceivedCallback", "instanceId": "J", "pad": ""#;
    let tail = r#""}"#;
    let pad = "x".repeat(len - head.len() - tail.len());
    let body = format!("{head}{pad}{tail}");
    assert_eq!(body.len(), len);
    body
}

/// The documented received-message example with a text at WhatsApp's
/// 65,536-character limit (Portuguese, so some characters take two bytes):
/// a ~72 KB body.
fn longest_text_message() -> String {
    let path = shared_dir().join("on-message-received-01.json");
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let text: String = "Oi, tudo bem? Até amanhã. "
        .chars()
        .cycle()
        .take(65_536)
        .collect();
    body["text"]["message"] = json!(text);
    let body = body.to_string();
    assert!(body.len() > 70_000 && body.len() < 80_000, "{}", body.len());
    body
}

/// Sends a request head declaring `len` body bytes and no body: a body over
/// the limit must be refused unread. Returns the raw answer.
async fn declare_body(addr: std::net::SocketAddr, path: &str, len: usize) -> String {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JSON}\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let _ = tcp.read_to_end(&mut resp).await;
    String::from_utf8_lossy(&resp).into_owned()
}

/// Sends `body` chunked (no `Content-Length`), so the limit applies while
/// reading. Returns the raw answer.
async fn post_chunked(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JSON}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(4096) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    // The server closes after answering; read until it does.
    let _ = tcp.read_to_end(&mut resp).await;
    String::from_utf8_lossy(&resp).into_owned()
}

/// A raw answer is a 413 whose JSON error names `limit`.
fn assert_raw_413(resp: &str, limit: usize) {
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    let json_body = resp.split("\r\n\r\n").nth(1).unwrap();
    let v: Value = serde_json::from_str(json_body).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains(&limit.to_string()),
        "{v}"
    );
}

#[tokio::test]
async fn a_text_at_whatsapp_limit_is_accepted_on_hooks() {
    let mut s = Server::start().await;
    let body = longest_text_message();
    assert_ok(s.post_json("/hooks", body.clone()).await).await;
    let e = s.one_event();
    assert_eq!(
        e.instance_id,
        InstanceId::new("A20DA9C0183A2D35A260F53F5D2B9244")
    );
    assert_eq!(
        e.kind,
        EventKind::Activity {
            callback: "ReceivedCallback".into()
        }
    );
    assert_eq!(e.moment, millis(1_632_228_638_000));
}

#[tokio::test]
async fn hooks_takes_bodies_up_to_1_mib() {
    let mut s = Server::start().await;
    assert_eq!(MAX_MESSAGE_BODY_BYTES, 1024 * 1024);
    assert_ok(
        s.post_json("/hooks", padded_body(MAX_MESSAGE_BODY_BYTES))
            .await,
    )
    .await;
    assert_eq!(s.one_event().instance_id, InstanceId::new("J"));

    let resp = declare_body(s.addr, "/hooks", MAX_MESSAGE_BODY_BYTES + 1).await;
    assert_raw_413(&resp, MAX_MESSAGE_BODY_BYTES);
    let body = padded_body(MAX_MESSAGE_BODY_BYTES + 1024);
    assert_raw_413(
        &post_chunked(s.addr, "/hooks", &body).await,
        MAX_MESSAGE_BODY_BYTES,
    );
    s.assert_no_event();
}

#[tokio::test]
async fn state_routes_keep_64_kib() {
    let mut s = Server::start().await;
    assert_eq!(MAX_STATE_BODY_BYTES, 64 * 1024);
    for path in ["/hooks/disconnected", "/hooks/connected"] {
        assert_ok(s.post_json(path, padded_body(MAX_STATE_BODY_BYTES)).await).await;
        s.one_event();
        let resp = s.post_json(path, padded_body(65 * 1024)).await;
        let err = error_of(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
        assert!(err.contains("65536"), "{err}");
        let resp = s.post_json(path, longest_text_message()).await;
        error_of(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
        assert_raw_413(
            &post_chunked(s.addr, path, &padded_body(65 * 1024)).await,
            MAX_STATE_BODY_BYTES,
        );
    }
    s.assert_no_event();
}

/// The secret-path variants of the routes have the same limits.
#[tokio::test]
async fn secret_paths_have_the_same_limits() {
    let (tx, mut rx) = mpsc::channel(16);
    let secret = WebhookSecret::new(&Secret::new("a-long-enough-webhook-secret")).unwrap();
    let token = secret.path_token(&InstanceId::new("A20DA9C0183A2D35A260F53F5D2B9244"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router_with_secret(ListenerState::channel(tx), Some(secret));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::builder().no_proxy().build().unwrap();
    let post = |path: String, body: String| {
        client
            .post(format!("http://{addr}{path}"))
            .header(header::CONTENT_TYPE, JSON)
            .body(body)
            .send()
    };

    let resp = post(format!("/hooks/{token}"), longest_text_message())
        .await
        .unwrap();
    assert_ok(resp).await;
    assert!(rx.try_recv().is_ok(), "the long message was handed over");
    for tail in ["disconnected", "connected"] {
        let resp = post(format!("/hooks/{token}/{tail}"), longest_text_message())
            .await
            .unwrap();
        error_of(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    let resp = declare_body(addr, &format!("/hooks/{token}"), MAX_MESSAGE_BODY_BYTES + 1).await;
    assert_raw_413(&resp, MAX_MESSAGE_BODY_BYTES);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
}

#[tokio::test]
async fn unknown_route_is_404() {
    let mut s = Server::start().await;
    let resp = s.post_json("/hooks/received", "{}").await;
    error_of(resp, StatusCode::NOT_FOUND).await;
    let resp = s.client.get(s.url("/")).send().await.unwrap();
    error_of(resp, StatusCode::NOT_FOUND).await;
    s.assert_no_event();
}

#[tokio::test]
async fn closed_channel_is_503() {
    let s = Server::start().await;
    let Server {
        rx, client, base, ..
    } = s;
    drop(rx);
    let resp = client
        .post(format!("{base}/hooks/disconnected"))
        .header(header::CONTENT_TYPE, JSON)
        .body(r#"{"instanceId": "K"}"#)
        .send()
        .await
        .unwrap();
    let err = error_of(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(err, "dashboard is shutting down");
}

#[tokio::test]
async fn every_documented_example_is_accepted() {
    let mut s = Server::start().await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 58, "examples in {}", shared_dir().display());

    let mut disconnects = 0;
    for file in &files {
        let body = std::fs::read(file).unwrap();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        let resp = s.post_json("/hooks", body).await;
        assert_eq!(resp.status(), StatusCode::OK, "{}", file.display());
        assert_ok(resp).await;

        let e = s.one_event();
        assert_eq!(
            e.instance_id.as_str(),
            doc["instanceId"].as_str().unwrap(),
            "{}",
            file.display()
        );
        let ty = doc["type"].as_str().unwrap();
        if ty == "DisconnectedCallback" {
            disconnects += 1;
            assert!(
                matches!(e.kind, EventKind::Disconnected { .. }),
                "{}: {:?}",
                file.display(),
                e.kind
            );
        } else {
            assert_eq!(
                e.kind,
                EventKind::Activity {
                    callback: ty.to_owned()
                },
                "{}",
                file.display()
            );
        }
        match doc["momment"].as_i64() {
            Some(raw) => assert_eq!(Some(e.moment), moment_from_raw(raw), "{}", file.display()),
            None => assert_eq!(e.moment, e.received, "{}", file.display()),
        }
    }
    assert_eq!(disconnects, 1);
}

#[tokio::test]
async fn connected_example_as_documented_is_400() {
    let mut s = Server::start().await;
    let body =
        std::fs::read(shared_dir().join("invalid/on-webhook-connected-as-documented.txt")).unwrap();
    for path in ["/hooks", "/hooks/connected"] {
        let err = error_of(
            s.post_json(path, body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(err.starts_with("body is not valid JSON: "), "{err}");
    }
    s.assert_no_event();
}

#[tokio::test]
async fn server_stays_up_after_bad_requests() {
    let mut s = Server::start().await;
    let garbage: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    error_of(
        s.post_json("/hooks", garbage).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error_of(s.post_json("/hooks", "{").await, StatusCode::BAD_REQUEST).await;
    error_of(
        s.post_json("/hooks/disconnected", padded_body(100 * 1024))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let resp = s
        .client
        .post(s.url("/hooks"))
        .body("{}")
        .send()
        .await
        .unwrap();
    error_of(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let resp = s.client.get(s.url("/hooks")).send().await.unwrap();
    error_of(resp, StatusCode::METHOD_NOT_ALLOWED).await;
    error_of(s.post_json("/nope", "{}").await, StatusCode::NOT_FOUND).await;
    s.assert_no_event();

    let body = json!({"type": "DisconnectedCallback", "instanceId": "L", "momment": 1580163342});
    assert_ok(s.post_json("/hooks", body.to_string()).await).await;
    let e = s.one_event();
    assert_eq!(e.instance_id, InstanceId::new("L"));
    assert_eq!(e.moment, secs(1_580_163_342));
    let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_ok(resp).await;
}

/// The simulated Z-API delivers like the real one: with the instance token
/// in `z-api-token`, so `check_token_header` takes every delivery of it.
#[tokio::test]
async fn the_simulated_fleet_passes_the_token_header_check() {
    use std::sync::Arc;
    use zapi_dash::listener::routes::{HookOptions, router_with};
    use zapi_dash::listener::token_header::TokenHeaderCheck;
    use zapi_dash::metrics::Metrics;
    use zapi_dash::sim::{FleetOptions, Sim, SimOptions, demo_instances, spawn_fleet};

    let instances = demo_instances(3, 2);
    let sim = Sim::start(SimOptions {
        instances: instances.clone(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let check = TokenHeaderCheck::new(
        instances
            .iter()
            .map(|i| (InstanceId::new(&i.id), Secret::new(&i.token))),
        true,
    );
    let (tx, mut rx) = mpsc::channel(128);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router_with(
        ListenerState::channel(tx),
        HookOptions {
            secret: None,
            token_header: check,
            metrics: Some(Arc::clone(&metrics)),
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fleet = spawn_fleet(
        &sim,
        format!("http://{addr}"),
        FleetOptions {
            interval: std::time::Duration::from_millis(5),
            seed: 9,
        },
    );
    for _ in 0..20 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("the fleet's webhooks are accepted")
            .unwrap();
        assert!(instances.iter().any(|i| i.id == event.instance_id.as_str()));
    }
    sim.shutdown();
    fleet.await.unwrap();
    let text = metrics.encode();
    for series in [
        "zapi_webhooks_without_token_header_total 0",
        "zapi_webhooks_token_header_mismatch_total 0",
        "zapi_webhooks_rejected_total{reason=\"token_mismatch\"} 0",
    ] {
        assert!(text.lines().any(|l| l == series), "{series}:\n{text}");
    }
}
