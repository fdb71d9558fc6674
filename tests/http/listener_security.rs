//! The listener's defences over real loopback connections, served by
//! [`zapi_dash::listener::server::serve`] as in production: per-instance secret paths,
//! header and body timeouts, the connection limit, graceful shutdown, accept
//! errors, and TLS.
//!
//! Synchronisation is by events only: a response in hand means the event (if
//! any) is already in the channel (the handler sends before it answers); a
//! closed connection is observed by reading to EOF. Timeouts around reads
//! are guards that turn a hang into a failure, never the thing tested.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zapi_dash::listener::routes::{ListenerState, router_with_secret};
use zapi_dash::listener::secret::{WebhookSecret, hook_url_every, hook_urls};
use zapi_dash::listener::server::{self, ServerError, ServerOptions, load_tls};
use zapi_dash::model::{Event, EventKind, InstanceId, Secret};

const SECRET: &str = "correct horse battery staple 42";
/// Longest any single step may take before the test fails as hung.
const GUARD: Duration = Duration::from_secs(30);

fn secret() -> WebhookSecret {
    WebhookSecret::new(&Secret::new(SECRET)).unwrap()
}

fn disconnect_body(id: &str) -> String {
    json!({
        "type": "DisconnectedCallback", "instanceId": id, "momment": 1580163342,
        "error": "Device has been disconnected", "disconnected": true
    })
    .to_string()
}

/// A listener served by `server::serve` on 127.0.0.1:0.
struct Listener {
    addr: SocketAddr,
    rx: mpsc::Receiver<Event>,
    stop: Option<oneshot::Sender<()>>,
    /// Fires when `serve` has seen the shutdown signal.
    stopped: Option<oneshot::Receiver<()>>,
    task: JoinHandle<io::Result<()>>,
    client: Client,
}

impl Listener {
    async fn start(secret: Option<WebhookSecret>, opts: ServerOptions) -> Listener {
        let (tx, rx) = mpsc::channel(128);
        let router = router_with_secret(ListenerState::channel(tx), secret);
        Self::start_router(router, rx, opts).await
    }

    /// Binds before returning, so requests cannot race the start.
    async fn start_router(
        router: Router,
        rx: mpsc::Receiver<Event>,
        opts: ServerOptions,
    ) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
            let _ = stopped_tx.send(());
        };
        let task = tokio::spawn(server::serve(listener, router, opts, shutdown));
        Listener {
            addr,
            rx,
            stop: Some(stop),
            stopped: Some(stopped),
            task,
            client: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, url: &str, body: String) -> reqwest::Response {
        self.client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    fn one_event(&mut self) -> Event {
        let event = self.rx.try_recv().expect("an event on the channel");
        self.assert_no_event();
        event
    }

    fn assert_no_event(&mut self) {
        if let Ok(e) = self.rx.try_recv() {
            panic!("expected no event, got {e:?}");
        }
    }

    /// Asks `serve` to stop and returns once it has seen the request (the
    /// listening socket is closed and connections are told to finish by then).
    async fn begin_shutdown(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        guard(self.stopped.take().unwrap()).await.unwrap();
    }
}

fn client() -> Client {
    // No proxy: CI may set HTTP_PROXY, and these calls must stay on loopback.
    Client::builder().no_proxy().build().unwrap()
}

/// Fails the test instead of hanging forever.
async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("step did not finish: the server hangs")
}

async fn assert_ok(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"ok": true}));
}

async fn assert_not_found(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "not found"})
    );
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match guard(stream.read(&mut buf)).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn raw_request(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

// ---------------------------------------------------------------------------
// Secret paths

#[tokio::test]
async fn hook_urls_are_the_paths_that_are_accepted() {
    let mut s = Listener::start(Some(secret()), ServerOptions::default()).await;
    let id = InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11");
    let base = format!("http://{}", s.addr);
    let (disconnected, connected) = hook_urls(&base, Some(&secret()), &id);
    let token = secret().path_token(&id);
    assert_eq!(token.len(), 32);
    assert_eq!(disconnected, format!("{base}/hooks/{token}/disconnected"));
    assert_eq!(connected, format!("{base}/hooks/{token}/connected"));

    assert_ok(s.post(&disconnected, disconnect_body(id.as_str())).await).await;
    let e = s.one_event();
    assert_eq!(e.instance_id, id);
    assert_eq!(
        e.kind,
        EventKind::Disconnected {
            error: Some("Device has been disconnected".into())
        }
    );

    // Without `type`, the route decides, as on the plain routes.
    let body = json!({"instanceId": id.as_str(), "phone": "5544999999999"}).to_string();
    assert_ok(s.post(&connected, body).await).await;
    assert_eq!(
        s.one_event().kind,
        EventKind::Connected {
            phone: Some("5544999999999".into())
        }
    );

    let every = hook_url_every(&base, Some(&secret()), &id);
    assert_eq!(every, format!("{base}/hooks/{token}"));
    let body = json!({"type": "ReceivedCallback", "instanceId": id.as_str()}).to_string();
    assert_ok(s.post(&every, body).await).await;
    assert_eq!(
        s.one_event().kind,
        EventKind::Activity {
            callback: "ReceivedCallback".into()
        }
    );
}

#[tokio::test]
async fn plain_routes_are_404_when_a_secret_is_set() {
    let mut s = Listener::start(Some(secret()), ServerOptions::default()).await;
    for path in ["/hooks/disconnected", "/hooks/connected", "/hooks"] {
        assert_not_found(s.post(&s.url(path), disconnect_body("A")).await).await;
        // Not even a wrong method gives the route away.
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    s.assert_no_event();
    // The plain URLs are not what re-registration would send either.
    let (d, c) = hook_urls("https://x", Some(&secret()), &InstanceId::new("A"));
    assert_ne!(d, "https://x/hooks/disconnected");
    assert_ne!(c, "https://x/hooks/connected");
}

#[tokio::test]
async fn token_of_one_instance_cannot_post_for_another() {
    let mut s = Listener::start(Some(secret()), ServerOptions::default()).await;
    let a = InstanceId::new("INSTANCE-A");
    let (a_disconnected, a_connected) = hook_urls(&s.url(""), Some(&secret()), &a);
    let a_every = hook_url_every(&s.url(""), Some(&secret()), &a);
    for url in [&a_disconnected, &a_connected, &a_every] {
        assert_not_found(s.post(url, disconnect_body("INSTANCE-B")).await).await;
        s.assert_no_event();
    }
    // The same URL does take A's own events.
    assert_ok(s.post(&a_disconnected, disconnect_body("INSTANCE-A")).await).await;
    assert_eq!(s.one_event().instance_id, a);
}

#[tokio::test]
async fn wrong_or_malformed_tokens_are_404() {
    let mut s = Listener::start(Some(secret()), ServerOptions::default()).await;
    let id = InstanceId::new("A");
    let token = secret().path_token(&id);
    let mut flipped = token.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_secret = WebhookSecret::new(&Secret::new("a different secret, long enough"))
        .unwrap()
        .path_token(&id);
    for bad in [
        flipped.as_str(),
        other_secret.as_str(),
        &token[..31],
        &format!("{token}0"),
        &token.to_uppercase(),
        "disconnected",
        "%30%31",
    ] {
        for tail in ["/disconnected", "/connected", ""] {
            let url = s.url(&format!("/hooks/{bad}{tail}"));
            assert_not_found(s.post(&url, disconnect_body("A")).await).await;
        }
    }
    s.assert_no_event();
}

#[tokio::test]
async fn without_a_secret_token_routes_do_not_exist() {
    let mut s = Listener::start(None, ServerOptions::default()).await;
    let id = InstanceId::new("A");
    let token = secret().path_token(&id);
    for tail in ["/disconnected", "/connected", ""] {
        let url = s.url(&format!("/hooks/{token}{tail}"));
        assert_not_found(s.post(&url, disconnect_body("A")).await).await;
    }
    s.assert_no_event();
    let (disconnected, _) = hook_urls(&s.url(""), None, &id);
    assert_eq!(disconnected, s.url("/hooks/disconnected"));
    assert_ok(s.post(&disconnected, disconnect_body("A")).await).await;
    assert_eq!(s.one_event().instance_id, id);
}

// ---------------------------------------------------------------------------
// Slow and stuck clients

#[tokio::test]
async fn stalled_header_does_not_block_others_and_is_closed() {
    let mut s = Listener::start(
        None,
        ServerOptions {
            header_timeout: Duration::from_millis(300),
            ..ServerOptions::default()
        },
    )
    .await;
    // One client sends half a request head, another nothing at all.
    let mut half = TcpStream::connect(s.addr).await.unwrap();
    half.write_all(b"POST /hooks/disconnected HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(s.addr).await.unwrap();

    // A normal request on another connection is answered meanwhile.
    let url = s.url("/hooks/disconnected");
    assert_ok(guard(s.post(&url, disconnect_body("A"))).await).await;
    assert_eq!(s.one_event().instance_id, InstanceId::new("A"));

    // Both stalled connections are closed by the header timeout.
    let answer = read_until_closed(&mut half).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    read_until_closed(&mut silent).await;
    s.assert_no_event();
}

#[tokio::test]
async fn over_the_connection_limit_others_wait_for_a_free_slot() {
    let mut s = Listener::start(
        None,
        ServerOptions {
            max_connections: 1,
            // Long enough that a request served alongside the stalled
            // connection would be answered long before it is closed.
            header_timeout: Duration::from_secs(2),
            ..ServerOptions::default()
        },
    )
    .await;
    // `stalled` takes the only slot (connections are accepted in order).
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled
        .write_all(b"POST /hooks HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut waiting = TcpStream::connect(s.addr).await.unwrap();
    waiting
        .write_all(raw_request("/hooks/disconnected", &disconnect_body("B")).as_bytes())
        .await
        .unwrap();

    // The waiting request is served only once the stalled connection is
    // closed (by the header timeout), never alongside it.
    let mut waiting_answer = Vec::new();
    let mut closed_first = false;
    let mut buf = [0u8; 1];
    loop {
        tokio::select! {
            biased;
            r = stalled.read(&mut buf), if !closed_first => {
                if matches!(r, Ok(0) | Err(_)) {
                    closed_first = true;
                }
            }
            r = guard(waiting.read_to_end(&mut waiting_answer)) => {
                r.unwrap();
                break;
            }
        }
    }
    let answer = String::from_utf8_lossy(&waiting_answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        closed_first,
        "the second connection was served while the only slot was taken"
    );
    assert_eq!(s.one_event().instance_id, InstanceId::new("B"));
}

#[tokio::test]
async fn stalled_body_gets_408_and_is_closed() {
    let mut s = Listener::start(
        None,
        ServerOptions {
            body_timeout: Duration::from_millis(300),
            header_timeout: Duration::from_secs(60),
            ..ServerOptions::default()
        },
    )
    .await;
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(
        b"POST /hooks/disconnected HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"instanceId\"",
    )
    .await
    .unwrap();

    // Others are served while the body is awaited.
    let url = s.url("/hooks/disconnected");
    assert_ok(guard(s.post(&url, disconnect_body("A"))).await).await;
    assert_eq!(s.one_event().instance_id, InstanceId::new("A"));

    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("the request body did not arrive within 300ms"),
        "{answer}"
    );
    s.assert_no_event();
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    // Each request to /slow reports that it has started, then waits for
    // the oneshot the test put in `release`.
    let (entered_tx, mut entered) = mpsc::channel::<()>(4);
    let release = std::sync::Arc::new(tokio::sync::Mutex::new(None::<oneshot::Sender<()>>));
    let in_handler = release.clone();
    let router = Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let entered_tx = entered_tx.clone();
            let release = in_handler.clone();
            async move {
                let (tx, rx) = oneshot::channel();
                *release.lock().await = Some(tx);
                let _ = entered_tx.send(()).await;
                let _ = rx.await;
                "done"
            }
        }),
    );
    let (_tx, rx) = mpsc::channel(1);
    let opts = ServerOptions {
        // Far away: whatever closes connections here is the shutdown.
        header_timeout: Duration::from_secs(600),
        ..ServerOptions::default()
    };
    let mut s = Listener::start_router(router, rx, opts).await;

    // An idle keep-alive connection, after one request.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    guard(entered.recv()).await.unwrap();
    release.lock().await.take().unwrap().send(()).unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"done") {
        let mut buf = [0u8; 256];
        let n = guard(idle.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }

    // A request in flight.
    let request = tokio::spawn(s.client.get(s.url("/slow")).send());
    guard(entered.recv()).await.unwrap();

    s.begin_shutdown().await;
    // No new connections once shutdown has begun; the idle connection is
    // closed (so shutdown has reached the connections)...
    assert!(TcpStream::connect(s.addr).await.is_err());
    read_until_closed(&mut idle).await;
    // ...while the server still waits for the request in flight...
    assert!(
        !s.task.is_finished(),
        "serve returned with a request in flight"
    );
    release.lock().await.take().unwrap().send(()).unwrap();
    // ...which completes, and then the server returns.
    let resp = guard(request).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "done");
    guard(s.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_a_stuck_request() {
    let router = Router::new().route(
        "/stuck",
        axum::routing::get(std::future::pending::<&'static str>),
    );
    let (entered_tx, mut entered) = mpsc::channel::<()>(1);
    let router = router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let entered_tx = entered_tx.clone();
            async move {
                let _ = entered_tx.send(()).await;
                next.run(req).await
            }
        },
    ));
    let (_tx, rx) = mpsc::channel(1);
    let opts = ServerOptions {
        shutdown_grace: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let mut s = Listener::start_router(router, rx, opts).await;
    let request = tokio::spawn(s.client.get(s.url("/stuck")).send());
    guard(entered.recv()).await.unwrap();
    s.begin_shutdown().await;
    // The grace period ends; the stuck connection is dropped.
    guard(s.task).await.unwrap().unwrap();
    assert!(guard(request).await.unwrap().is_err());
}

/// Accept errors (here `EMFILE`, too many open files) must not end the
/// accept loop. The check runs in a child process with a low file limit
/// (`ulimit -n`), so the rest of this test binary is not starved of files.
#[cfg(unix)]
#[test]
fn accept_errors_do_not_stop_the_listener() {
    let exe = std::env::current_exe().unwrap();
    // the child's test name is its path below the test binary's crate root
    // (`listener_security::accept_errors_child`)
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let child = format!("{module}::accept_errors_child");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(&exe)
        .args([
            "--exact",
            &child,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ZAPI_DASH_TEST_EMFILE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

/// The child half of [`accept_errors_do_not_stop_the_listener`]; does
/// nothing unless started by it.
#[cfg(unix)]
#[tokio::test]
#[ignore = "run by accept_errors_do_not_stop_the_listener in a child process"]
async fn accept_errors_child() {
    if std::env::var_os("ZAPI_DASH_TEST_EMFILE_CHILD").is_none() {
        return;
    }
    // The server's error log, line by line.
    let (log_tx, mut log) = mpsc::unbounded_channel::<String>();
    tracing_subscriber::fmt()
        .with_writer(move || LineSender(log_tx.clone()))
        .with_max_level(tracing::Level::ERROR)
        .with_ansi(false)
        .init();

    let s = Listener::start(
        None,
        ServerOptions {
            header_timeout: Duration::from_secs(60),
            ..ServerOptions::default()
        },
    )
    .await;
    assert_ok(s.client.get(s.url("/healthz")).send().await.unwrap()).await;

    // Fill the file table, then free one slot for a client socket: the
    // server's accept of that connection has no file left and fails.
    let mut hogs = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hogs.push(f),
            Err(e) if e.raw_os_error() == Some(24) => break,
            Err(e) => panic!("unexpected error while filling the file table: {e}"),
        }
    }
    hogs.pop();
    let mut client = std::net::TcpStream::connect(s.addr).unwrap();
    io::Write::write_all(
        &mut client,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();

    // Wait for the server to report the failed accept...
    loop {
        let line = guard(log.recv()).await.expect("log channel open");
        if line.contains("accept failed") {
            break;
        }
    }
    // ...then give files back: the loop must still be running and serve it.
    hogs.clear();
    client.set_nonblocking(true).unwrap();
    let mut client = TcpStream::from_std(client).unwrap();
    let answer = read_until_closed(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert_ok(s.client.get(s.url("/healthz")).send().await.unwrap()).await;
}

/// A tracing writer that sends each write (one log line) to a channel.
struct LineSender(mpsc::UnboundedSender<String>);

impl io::Write for LineSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// TLS

/// A self-signed certificate for `localhost`, written as PEM files.
struct TestCert {
    dir: tempfile::TempDir,
    cert_pem: String,
}

impl TestCert {
    fn new() -> TestCert {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), signing_key.serialize_pem()).unwrap();
        TestCert {
            dir,
            cert_pem: cert.pem(),
        }
    }
    fn cert(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }
    fn key(&self) -> std::path::PathBuf {
        self.dir.path().join("key.pem")
    }
    /// A client that trusts only this certificate and finds `localhost` at `addr`.
    fn client(&self, addr: SocketAddr) -> Client {
        let root = reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap();
        Client::builder()
            .no_proxy()
            .tls_certs_only([root])
            .resolve("localhost", addr)
            .build()
            .unwrap()
    }
}

async fn start_tls(cert: &TestCert, header_timeout: Duration) -> Listener {
    let config = load_tls(&cert.cert(), &cert.key()).unwrap();
    Listener::start(
        Some(secret()),
        ServerOptions {
            tls: Some(config),
            header_timeout,
            ..ServerOptions::default()
        },
    )
    .await
}

#[tokio::test]
async fn tls_serves_webhooks_under_the_secret_path() {
    let cert = TestCert::new();
    let mut s = start_tls(&cert, Duration::from_secs(10)).await;
    let https = cert.client(s.addr);
    let id = InstanceId::new("TLS-1");
    let base = format!("https://localhost:{}", s.addr.port());
    let (disconnected, _) = hook_urls(&base, Some(&secret()), &id);
    let resp = https
        .post(&disconnected)
        .header(header::CONTENT_TYPE, "application/json")
        .body(disconnect_body("TLS-1"))
        .send()
        .await
        .unwrap();
    assert_ok(resp).await;
    assert_eq!(s.one_event().instance_id, id);

    // Plain HTTP to the TLS port gets no answer...
    let plain = s.client.get(s.url("/healthz")).send().await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    // ...and does not hurt the listener.
    let resp = https.get(format!("{base}/healthz")).send().await.unwrap();
    assert_ok(resp).await;
    s.assert_no_event();
}

#[tokio::test]
async fn tls_handshake_that_never_comes_is_closed() {
    let cert = TestCert::new();
    let s = start_tls(&cert, Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let mut half = TcpStream::connect(s.addr).await.unwrap();
    // The first bytes of a TLS record header, then nothing.
    half.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    // Another client is served meanwhile.
    let base = format!("https://localhost:{}", s.addr.port());
    let resp = guard(cert.client(s.addr).get(format!("{base}/healthz")).send())
        .await
        .unwrap();
    assert_ok(resp).await;
    read_until_closed(&mut silent).await;
    read_until_closed(&mut half).await;
}

fn load_err(cert: &Path, key: &Path) -> String {
    match load_tls(cert, key) {
        Ok(_) => panic!("load_tls accepted {} / {}", cert.display(), key.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn load_tls_errors_name_the_file() {
    let good = TestCert::new();
    let other = TestCert::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    assert!(load_tls(&good.cert(), &good.key()).is_ok());

    let e = load_err(&missing, &good.key());
    assert!(
        e.starts_with(&format!("{}: cannot read it", missing.display())),
        "{e}"
    );
    let e = load_err(&good.cert(), &missing);
    assert!(
        e.starts_with(&format!("{}: cannot read it", missing.display())),
        "{e}"
    );

    let e = load_err(&garbage, &good.key());
    assert!(
        e.starts_with(&format!("{}: no PEM certificate", garbage.display())),
        "{e}"
    );
    let e = load_err(&broken, &good.key());
    assert!(
        e.starts_with(&format!("{}: not valid PEM", broken.display())),
        "{e}"
    );

    let e = load_err(&good.cert(), &garbage);
    assert!(
        e.starts_with(&format!("{}: no PEM private key", garbage.display())),
        "{e}"
    );
    // A certificate where the key should be.
    let e = load_err(&good.cert(), &good.cert());
    assert!(e.contains("no PEM private key"), "{e}");

    let e = load_err(&good.cert(), &other.key());
    assert_eq!(
        e,
        format!(
            "{}: this private key does not belong to the certificate in {}",
            other.key().display(),
            good.cert().display()
        )
    );
    assert!(matches!(
        load_tls(&good.cert(), &other.key()),
        Err(ServerError::KeyMismatch { .. })
    ));
}
