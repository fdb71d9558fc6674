//! The binary wires the config's security settings into the listener:
//! `webhook_secret` (or its environment variable) turns on per-instance
//! secret paths, `tls_cert`/`tls_key` serve HTTPS, and `serve` prints one
//! JSON line per accepted event and stops cleanly on SIGTERM.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

use zapi_dash::listener::secret::{WebhookSecret, hook_urls};
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::sim::webhook_body_disconnected;

const SECRET: &str = "correct-horse-battery-staple-42";

struct Serve {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> Serve {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = common::serve_command(&path, &dir.join("state"));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (_, addr) = common::serve_listening(&mut BufReader::new(child.stderr.take().unwrap()));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Serve {
        child,
        addr,
        stdout,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(client: &reqwest::Client, url: &str, id: &str) -> u16 {
    client
        .post(url)
        .json(&webhook_body_disconnected(
            id,
            1_764_000_000,
            "Device has been disconnected",
        ))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn webhook_secret_turns_on_secret_paths_and_prints_accepted_events() {
    for (config, env) in [
        (
            format!("listen = \"127.0.0.1:0\"\nwebhook_secret = \"{SECRET}\"\n"),
            vec![],
        ),
        (
            "listen = \"127.0.0.1:0\"\n".to_string(),
            vec![("ZAPI_DASH_WEBHOOK_SECRET", SECRET)],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = serve(dir.path(), &config, &env);
        let base = format!("http://{}", s.addr);
        let secret = WebhookSecret::new(&Secret::new(SECRET)).unwrap();
        let (a_disconnected, _) = hook_urls(&base, Some(&secret), &InstanceId::new("A"));

        assert_eq!(
            post(&http(), &format!("{base}/hooks/disconnected"), "A").await,
            404,
            "plain path"
        );
        assert_eq!(
            post(&http(), &a_disconnected, "B").await,
            404,
            "A's path, B's body"
        );
        assert_eq!(
            post(&http(), &a_disconnected, "A").await,
            200,
            "A's path, A's body"
        );

        let mut line = String::new();
        s.stdout.read_line(&mut line).unwrap();
        let printed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(printed["instance_id"], "A", "{line}");
        assert_eq!(printed["kind"], "disconnected", "{line}");
        let log = std::fs::read_dir(dir.path().join("state/events")).unwrap();
        for entry in log {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            assert!(
                !text.contains(SECRET) && !text.contains(&secret.path_token(&InstanceId::new("A")))
            );
        }
    }
}

#[tokio::test]
async fn tls_cert_and_key_serve_https() {
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert_path.display(),
        key_path.display()
    );
    let s = serve(dir.path(), &config, &[]);
    let root = reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([root])
        .resolve("localhost", s.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/hooks/disconnected", s.addr.port());
    assert_eq!(post(&https, &url, "A").await, 200);
    let plain = http()
        .post(format!("http://{}/hooks/disconnected", s.addr))
        .body("{}")
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| r.status() != 200),
        "plain HTTP must not be served on the TLS port"
    );
}

#[tokio::test]
async fn bad_tls_files_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-cert.pem");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            missing.display(),
            missing.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing-cert.pem"), "{err}");
}

#[test]
fn sigterm_stops_serve_cleanly_with_the_log_flushed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "listen = \"127.0.0.1:0\"\n", &[]);
    let url = format!("http://{}/hooks/disconnected", s.addr);
    assert_eq!(rt.block_on(post(&http(), &url, "A")), 200);
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let status = s.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM: {status:?}");
    let replayed = zapi_dash::store::replay(&dir.path().join("state/events"), |_, _| {}).unwrap();
    assert_eq!((replayed.records, replayed.corrupt), (1, 0));
}

/// The stop signals are installed before `serve` says "listening on": a
/// SIGTERM right after that line is a clean stop (exit 0, "stopped" in the
/// diagnostics log), not the default action that kills it mid-start. (It
/// was: the handler was only installed when its future was first polled.)
#[test]
fn sigterm_right_after_listening_on_is_a_clean_stop() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let s = serve(dir.path(), "listen = \"127.0.0.1:0\"\n", &[]);
        let log = stop(s, dir.path());
        assert!(log.contains("stopped"), "{log}");
    }
}

#[test]
fn log_level_decides_what_reaches_the_diagnostics_log() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (level, expect_debug) in [("debug", true), ("info", false)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:0\"\n").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
            .args(["serve", "--log-level", level, "--config"])
            .arg(&path)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (_, addr) = common::serve_listening(&mut BufReader::new(child.stderr.take().unwrap()));
        let bad = rt.block_on(
            http()
                .post(format!("http://{addr}/hooks"))
                .header("content-type", "application/json")
                .body("{")
                .send(),
        );
        assert_eq!(bad.unwrap().status(), 400);
        assert!(
            Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(child.wait().unwrap().code(), Some(0));
        let log = std::fs::read_to_string(dir.path().join("state/zapi-dash.log")).unwrap();
        assert!(log.contains("listening"), "{log}");
        assert_eq!(
            log.contains("webhook request rejected"),
            expect_debug,
            "--log-level {level}: {log}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(["--log-level", "loud", "--help"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown level is a usage error"
    );
}

#[tokio::test]
async fn serve_runs_the_alert_commands_too() {
    let dir = tempfile::tempdir().unwrap();
    let alert_file = dir.path().join("alert.env");
    let config = format!(
        "listen = \"127.0.0.1:0\"\non_disconnect = \"env > '{}'\"\n",
        alert_file.display()
    );
    let s = serve(dir.path(), &config, &[]);
    let client = http();
    assert_eq!(
        post(&client, &format!("http://{}/hooks", s.addr), "INST-ALERT").await,
        200
    );
    let env = common::wait_file(&alert_file, |t| t.contains("ZAPI_MOMENT="));
    assert!(
        env.lines().any(|l| l == "ZAPI_INSTANCE_ID=INST-ALERT"),
        "{env}"
    );
    assert!(env.lines().any(|l| l == "ZAPI_EVENT=disconnected"), "{env}");
}

/// A certificate and key made by rcgen for `localhost`, as PEM, and a
/// client that trusts only that certificate.
struct Pair {
    cert: String,
    key: String,
}

impl Pair {
    fn new() -> Pair {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        Pair {
            cert: cert.pem(),
            key: signing_key.serialize_pem(),
        }
    }

    fn client(&self, addr: SocketAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([reqwest::Certificate::from_pem(self.cert.as_bytes()).unwrap()])
            .resolve("localhost", addr)
            .build()
            .unwrap()
    }
}

/// Points `link` at `target` the way certbot updates `live/`: a new
/// symlink renamed over the old one.
fn swap_link(link: &std::path::Path, target: &std::path::Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// Posts with `client` until it is answered 200 (bounded); the handshake
/// fails while the server presents a certificate the client does not trust.
async fn post_until_ok(client: &reqwest::Client, url: &str) {
    let deadline = std::time::Instant::now() + common::timeout();
    loop {
        let ok = client
            .post(url)
            .json(&webhook_body_disconnected("A", 1_764_000_000, "x"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never served {url}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, live) = (dir.path().join("archive"), dir.path().join("live"));
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    let (old, new) = (Pair::new(), Pair::new());
    for (n, pair) in [(1, &old), (2, &new)] {
        std::fs::write(archive.join(format!("cert{n}.pem")), &pair.cert).unwrap();
        std::fs::write(archive.join(format!("key{n}.pem")), &pair.key).unwrap();
    }
    let (cert, key) = (live.join("cert.pem"), live.join("key.pem"));
    swap_link(&cert, &archive.join("cert1.pem"));
    swap_link(&key, &archive.join("key1.pem"));
    let config = format!(
        "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let s = serve(dir.path(), &config, &[]);
    let url = format!("https://localhost:{}/hooks/disconnected", s.addr.port());
    // a keep-alive connection that trusts only the old certificate
    let kept = old.client(s.addr);
    assert_eq!(post(&kept, &url, "A").await, 200);

    // certbot's renewal: the links move one at a time (a moment with the
    // new certificate and the old key, which must not be taken)
    swap_link(&cert, &archive.join("cert2.pem"));
    post_until_ok(&old.client(s.addr), &url).await;
    swap_link(&key, &archive.join("key2.pem"));
    post_until_ok(&new.client(s.addr), &url).await;
    assert!(
        old.client(s.addr).post(&url).send().await.is_err(),
        "a new connection still got the old certificate"
    );
    // the connection opened before the renewal goes on
    assert_eq!(post(&kept, &url, "A").await, 200);

    // a half-written key: the current pair stays, and the log says why
    std::fs::write(archive.join("key2.pem"), &new.key[..new.key.len() / 2]).unwrap();
    assert_eq!(post(&new.client(s.addr), &url, "A").await, 200);
    // once for the moment of the mismatched pair, once for this
    let log = common::wait_file(&dir.path().join("state/zapi-dash.log"), |t| {
        t.matches("keeping the certificate in use").count() >= 2
    });
    assert!(log.contains("does not belong to the certificate"), "{log}");
    assert!(log.contains("key.pem"), "{log}");
}

#[test]
fn the_diagnostics_log_rotates_by_size() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(["serve", "--log-level", "debug", "--config"])
        .arg(&path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("ZAPI_DASH_LOG_MAX_BYTES", "2000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, addr) = common::serve_listening(&mut BufReader::new(child.stderr.take().unwrap()));
    let client = http();
    // each refusal is a debug line of the diagnostics log
    for _ in 0..200 {
        let bad = rt.block_on(
            client
                .post(format!("http://{addr}/hooks"))
                .header("content-type", "application/json")
                .body("{")
                .send(),
        );
        assert_eq!(bad.unwrap().status(), 400);
    }
    common::signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let state = dir.path().join("state");
    let current = std::fs::metadata(state.join("zapi-dash.log"))
        .unwrap()
        .len();
    assert!(current > 0 && current <= 2000, "{current}");
    for n in 1..=5 {
        let rotated = std::fs::read_to_string(state.join(format!("zapi-dash.log.{n}"))).unwrap();
        assert!(
            rotated.len() <= 2000 && rotated.ends_with('\n'),
            "{n}: {rotated}"
        );
        assert!(
            rotated.contains("webhook request rejected"),
            "{n}: {rotated}"
        );
    }
    assert!(!state.join("zapi-dash.log.6").exists());
}

const API_TOKEN: &str = "reload-test-api-token-0123456789";

/// `(id, name, configured)` of every row `/api/instances` lists.
async fn api_rows(addr: SocketAddr) -> Vec<(String, Option<String>, bool)> {
    let snapshot: serde_json::Value = http()
        .get(format!("http://{addr}/api/instances"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    snapshot["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["name"].as_str().map(str::to_owned),
                i["configured"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Polls `/api/instances` until `pred` holds (bounded).
async fn wait_rows(
    addr: SocketAddr,
    what: &str,
    pred: impl Fn(&[(String, Option<String>, bool)]) -> bool,
) -> Vec<(String, Option<String>, bool)> {
    let deadline = std::time::Instant::now() + common::timeout();
    loop {
        let rows = api_rows(addr).await;
        if pred(&rows) {
            return rows;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_config_and_a_broken_one_keeps_the_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let head = format!("api_token = \"{API_TOKEN}\"\n");
    let a = "[[instances]]\nid = \"A\"\ntoken = \"TOKEN-A-123\"\n";
    let mut s = serve(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\n{head}{a}"),
        &[],
    );
    let rows = wait_rows(s.addr, "A at start", |r| r.len() == 1).await;
    assert_eq!(rows[0].0, "A");

    // B added, A renamed, and a listen address only a restart can apply
    let b = "[[instances]]\nid = \"B\"\ntoken = \"TOKEN-B-123\"\nname = \"Bee\"\n";
    let renamed = a.replace(
        "token = \"TOKEN-A-123\"",
        "token = \"TOKEN-A-123\"\nname = \"Ay\"",
    );
    std::fs::write(
        dir.path().join("config.toml"),
        format!("listen = \"127.0.0.1:1\"\n{head}{renamed}{b}"),
    )
    .unwrap();
    common::signal(s.child.id(), "HUP");
    let rows = wait_rows(s.addr, "B after SIGHUP", |r| r.len() == 2).await;
    assert!(
        rows.contains(&("A".into(), Some("Ay".into()), true)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("B".into(), Some("Bee".into()), true)),
        "{rows:?}"
    );
    let log_path = dir.path().join("state/zapi-dash.log");
    let log = common::wait_file(&log_path, |t| t.contains("config reloaded"));
    assert!(
        log.contains("1 instances added, 0 removed; needs a restart to change: listen"),
        "{log}"
    );

    // a config that no longer parses: still serving, as before, and why
    std::fs::write(dir.path().join("config.toml"), "listen = [\n").unwrap();
    common::signal(s.child.id(), "HUP");
    let log = common::wait_file(&log_path, |t| t.contains("config reload failed"));
    assert!(log.contains("keeping the running config"), "{log}");
    assert!(
        log.contains("config.toml"),
        "the reason names the file: {log}"
    );
    assert_eq!(api_rows(s.addr).await, rows);
    let url = format!("http://{}/hooks/disconnected", s.addr);
    assert_eq!(post(&http(), &url, "B").await, 200);
    let mut line = String::new();
    s.stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"instance_id\":\"B\""), "{line}");
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "SIGHUP stopped serve"
    );

    // SIGINT still stops it (SIGTERM: `sigterm_stops_serve_cleanly_with_the_log_flushed`)
    common::signal(s.child.id(), "INT");
    assert_eq!(s.child.wait().unwrap().code(), Some(0));
}

const A_TOKEN: &str = "0123456789abcdef01234567";

/// The value of the sample `series` (name and labels as exposed) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

async fn scrape(base: &str) -> String {
    let resp = http()
        .get(format!("{base}/metrics"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// Posts a disconnect of `id` with `momment`, and `z-api-token: header`
/// when given.
async fn post_token(
    base: &str,
    id: &str,
    momment: serde_json::Value,
    header: Option<&str>,
) -> reqwest::StatusCode {
    let mut body = webhook_body_disconnected(id, 0, "Device has been disconnected");
    body["momment"] = momment;
    let mut req = http().post(format!("{base}/hooks")).json(&body);
    if let Some(value) = header {
        req = req.header("z-api-token", value);
    }
    req.send().await.unwrap().status()
}

/// Stops `serve` with SIGTERM and returns its diagnostics log.
fn stop(mut s: Serve, dir: &std::path::Path) -> String {
    common::signal(s.child.id(), "TERM");
    assert_eq!(s.child.wait().unwrap().code(), Some(0));
    std::fs::read_to_string(dir.join("state/zapi-dash.log")).unwrap()
}

/// `check_token_header`: on, a configured instance's delivery whose
/// `z-api-token` is not its token is refused (401); on or off, what the
/// header says is counted, so an operator can see whether turning it on is
/// safe. The header's value never reaches the log.
#[tokio::test]
async fn z_api_token_header_is_counted_and_checked_when_asked() {
    let wrong = "ffffffffffffffffffffffff";
    for check in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\ncheck_token_header = {check}\n\n[[instances]]\nid = \"A\"\ntoken = \"{A_TOKEN}\"\n"
        );
        let mut s = serve(dir.path(), &config, &[]);
        let base = format!("http://{}", s.addr);
        let text = scrape(&base).await;
        for series in [
            "zapi_webhooks_without_token_header_total",
            "zapi_webhooks_token_header_mismatch_total",
            r#"zapi_webhooks_rejected_total{reason="token_mismatch"}"#,
            "zapi_webhooks_bad_moment_total",
        ] {
            assert_eq!(sample(&text, series), Some(0.0), "{series} at 0:\n{text}");
        }

        let m = |n: i64| serde_json::json!(1_764_000_000 + n);
        let refused = post_token(&base, "A", m(1), Some(wrong)).await;
        let want = if check { 401 } else { 200 };
        assert_eq!(refused, want, "check_token_header = {check}");
        assert_eq!(post_token(&base, "A", m(2), Some(A_TOKEN)).await, 200);
        assert_eq!(post_token(&base, "A", m(3), None).await, 200, "no header");
        assert_eq!(
            post_token(&base, "B", m(4), Some(wrong)).await,
            200,
            "an instance not in the config is taken as before"
        );
        assert_eq!(
            post_token(&base, "A", serde_json::json!("abc"), Some(A_TOKEN)).await,
            200,
            "an unusable momment costs the momment"
        );

        let text = scrape(&base).await;
        let count = |series: &str| sample(&text, series).unwrap_or(-1.0);
        assert_eq!(count("zapi_webhooks_token_header_mismatch_total"), 1.0);
        assert_eq!(count("zapi_webhooks_without_token_header_total"), 1.0);
        assert_eq!(count("zapi_webhooks_bad_moment_total"), 1.0);
        assert_eq!(
            count(r#"zapi_webhooks_rejected_total{reason="token_mismatch"}"#),
            if check { 1.0 } else { 0.0 }
        );
        // one printed line per accepted event, the refused one not among
        // them; an event of another instance last, so that the reading ends
        // whatever was accepted
        assert_eq!(post_token(&base, "Z", m(9), None).await, 200);
        let mut moments = Vec::new();
        loop {
            let mut line = String::new();
            assert!(s.stdout.read_line(&mut line).unwrap() > 0, "serve ended");
            let printed: serde_json::Value = serde_json::from_str(&line).unwrap();
            if printed["instance_id"] == "Z" {
                break;
            }
            moments.push(printed["moment"].as_str().unwrap().to_owned());
        }
        assert_eq!(moments.len(), if check { 4 } else { 5 }, "{moments:?}");
        assert_eq!(
            moments.iter().any(|m| m.starts_with("2025-11-24T16:00:01")),
            !check,
            "{moments:?}"
        );
        let log = stop(s, dir.path());
        // a refusal is a warning; a mismatch only counted is not (one line
        // per delivery would flood the log)
        assert_eq!(log.contains("z-api-token"), check, "{log}");
        assert!(!log.contains(wrong) && !log.contains(A_TOKEN), "{log}");
        assert!(log.contains("momment"), "the bad momment is logged: {log}");
    }
}

/// Z-API has delivered to plain `http://` URLs: `serve` starts with such a
/// `public_url` and says why it warns, on stderr and in its log.
#[tokio::test]
async fn plain_http_public_url_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\npublic_url = \"http://dash.example.com\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut before = String::new();
    let mut line = String::new();
    while !line.contains("listening on ") {
        before.push_str(&line);
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "ended: {before}");
    }
    assert!(
        before.contains("warning: public_url is plain http://"),
        "{before}"
    );
    // an event printed: serve is in its loop, where SIGTERM stops it cleanly
    let addr = line.split("listening on ").nth(1).unwrap();
    let addr = addr.split_whitespace().next().unwrap();
    assert_eq!(
        post(&http(), &format!("http://{addr}/hooks"), "A").await,
        200
    );
    let mut printed = String::new();
    stdout.read_line(&mut printed).unwrap();
    assert!(printed.contains("\"A\""), "{printed}");
    common::signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("state/zapi-dash.log")).unwrap();
    assert!(log.contains("public_url is plain http://"), "{log}");
}

/// Real disconnected and connected deliveries may carry no `momment`: each
/// repeat is the same bytes, and none may be taken for a retry. Posting
/// disconnected, connected, disconnected leaves the instance disconnected,
/// live and after a restart (every event is replayed).
#[tokio::test]
async fn repeated_state_webhooks_without_momment_end_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\n");
    let down = serde_json::json!({"instanceId": "S", "error": "Device has been disconnected", "disconnected": true});
    let up = serde_json::json!({"instanceId": "S", "connected": true, "phone": "5544999999999"});
    let state = |base: String| async move {
        let resp = http()
            .get(format!("{base}/api/instances"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        let rows = body["instances"].as_array().unwrap();
        let s = rows.iter().find(|r| r["id"] == "S").expect("instance S");
        (
            s["state"].as_str().unwrap().to_owned(),
            body["events"].as_u64().unwrap(),
        )
    };

    let mut s = serve(dir.path(), &config, &[]);
    let base = format!("http://{}", s.addr);
    let post = |path: &'static str, body: serde_json::Value| {
        let url = format!("{base}/hooks/{path}");
        async move { http().post(url).json(&body).send().await.unwrap().status() }
    };
    for (path, body) in [
        ("disconnected", &down),
        ("connected", &up),
        ("disconnected", &down),
    ] {
        assert_eq!(post(path, body.clone()).await, 200, "{path}");
    }
    // then an event of another instance: once serve prints it (it prints
    // an event when the state has it), every event before it is applied
    assert_eq!(
        post("connected", serde_json::json!({"instanceId": "T"})).await,
        200
    );
    let mut printed = Vec::new();
    while !printed.last().is_some_and(|l: &String| l.contains("\"T\"")) {
        let mut line = String::new();
        assert!(s.stdout.read_line(&mut line).unwrap() > 0, "serve ended");
        printed.push(line);
    }
    let kinds: Vec<bool> = printed
        .iter()
        .map(|l| l.contains("\"disconnected\""))
        .collect();
    assert_eq!(kinds, [true, false, true, false], "{printed:?}");
    assert_eq!(state(base.clone()).await, ("disconnected".to_owned(), 4));
    stop(s, dir.path());

    let s = serve(dir.path(), &config, &[]);
    let base = format!("http://{}", s.addr);
    assert_eq!(
        state(base).await,
        ("disconnected".to_owned(), 4),
        "all replayed"
    );
}
