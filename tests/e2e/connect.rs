//! `c` end to end: the built binary in a pty against the simulator draws the
//! QR code, asks for a pairing code, and closes when the connect webhook
//! arrives, the row turning green; `watch --remote` does the same through a
//! real `serve`. Afterwards the QR payload and the pairing code are searched
//! for in every file the programs wrote (diagnostics logs, event logs), in
//! `serve`'s stdout and stderr and in an SSE capture: absent.

use crate::common;

use std::io::{BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::Dash;
use zapi_dash::sim::webhook_body_connected;

use crate::dashboard::{CLIENT_TOKEN, ID, TOKEN};

const API_TOKEN: &str = "connect-test-api-token-0123456789";
const PHONE: &str = "5511987654321";

/// Every file under `dir`, read as text (lossily).
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

/// Asserts that none of `secrets` is in any of `texts` (named).
fn assert_absent(texts: &[(String, String)], secrets: &[&str]) {
    assert!(!texts.is_empty());
    for (name, text) in texts {
        for secret in secrets {
            assert!(!secret.is_empty());
            assert!(!text.contains(secret), "a credential reached {name}");
        }
    }
}

/// The pairing code the popup shows spaced out (`A B C D - E F G H`).
fn pairing_code_on(screen: &str) -> String {
    let line = screen
        .lines()
        .find(|l| {
            l.contains(" - ")
                && l.chars()
                    .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                    .count()
                    >= 8
        })
        .unwrap_or_else(|| panic!("no pairing code on screen:\n{screen}"));
    line.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn has_code(screen: &str) -> bool {
    screen.contains('▀') && screen.contains('▄') && screen.contains("code 1 of 3")
}

/// In the popup: `p`, the phone typed over what was prefilled, Enter; the
/// code on screen.
fn pair(dash: &mut Dash) -> String {
    dash.send(b"p");
    dash.wait_for("the phone prompt", |s| {
        s.contains("digits only, country code first")
    });
    dash.send(&[0x7f; 16]); // Backspace over any prefill
    dash.send(PHONE.as_bytes());
    dash.send(b"\r");
    let screen = dash.wait_for("the pairing code", |s| s.contains("Link with phone number"));
    pairing_code_on(&screen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_draws_the_code_and_the_connect_webhook_turns_the_row_green_leaving_no_trace() {
    let sim = crate::dashboard::sim().await;
    sim.set_connected(ID, false, Some("Device has been disconnected"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\napi_base = \"{}\"\nclient_token = \"{CLIENT_TOKEN}\"\n\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n",
            sim.base_url()
        ),
    )
    .unwrap();
    let mut dash = Dash::spawn(
        &["--config", config.to_str().unwrap(), "--log-level", "trace"],
        dir.path(),
        100,
        45,
    );
    dash.wait_for("the row down", |s| s.contains("✗ disconnected"));

    dash.send(b"c");
    dash.wait_for("the QR code", has_code);
    let payload = sim.qr_payload(ID).expect("the sim served a code");
    let code = pair(&mut dash);
    assert_eq!(code.len(), 9, "{code}");

    // back to the QR code, then the phone links: the webhook closes the popup
    dash.send(b"c");
    dash.wait_for("the QR code again", has_code);
    post_connected(&format!("127.0.0.1:{}", dash.port())).await;
    dash.wait_for("who connected", |s| {
        s.contains(&format!("✓ connected as {PHONE}"))
    });
    dash.wait_for("the popup closed, the row green", |s| {
        !s.contains("connect Sales") && s.contains("● connected") && !s.contains('▀')
    });

    dash.send(b"q");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success());
    let written = files_under(&dir.path().join("state"));
    assert!(written.iter().any(|(n, _)| n.ends_with("zapi-dash.log")));
    assert_absent(&written, &[&payload, &code]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_remote_connects_through_serve_leaving_no_trace() {
    let sim = crate::dashboard::sim().await;
    sim.set_connected(ID, false, Some("Device has been disconnected"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\napi_base = \"{}\"\nclient_token = \"{CLIENT_TOKEN}\"\n\n[[instances]]\nid = \"{ID}\"\ntoken = \"{TOKEN}\"\nname = \"Sales\"\n",
            sim.base_url()
        ),
    )
    .unwrap();
    let mut child = common::serve_command(&config, &dir.path().join("server"))
        .args(["--log-level", "trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (_, addr) = common::serve_listening(&mut stderr);
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // an SSE client listening all along
    let sse = Arc::new(Mutex::new(Vec::<u8>::new()));
    let capture = {
        let sse = Arc::clone(&sse);
        let url = format!("http://{addr}/api/events");
        tokio::spawn(async move {
            let mut resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .unwrap();
            while let Ok(Some(chunk)) = resp.chunk().await {
                sse.lock().unwrap().extend_from_slice(&chunk);
            }
        })
    };

    let url = format!("http://{addr}");
    let mut watch = Dash::spawn(
        &[
            "watch",
            "--remote",
            &url,
            "--api-token",
            API_TOKEN,
            "--log-level",
            "trace",
        ],
        dir.path(),
        100,
        45,
    );
    watch.wait_for("the row down", |s| s.contains("✗ disconnected"));
    watch.send(b"c");
    watch.wait_for("the QR code through serve", has_code);
    let payload = sim.qr_payload(ID).expect("the sim served a code");
    let code = pair(&mut watch);
    watch.send(b"c");
    watch.wait_for("the QR code again", has_code);
    post_connected(&addr.to_string()).await;
    watch.wait_for("the popup closed, the row green", |s| {
        !s.contains("connect Sales") && s.contains("● connected") && !s.contains('▀')
    });
    watch.send(b"q");
    let status = tokio::task::spawn_blocking(move || watch.wait_exit())
        .await
        .unwrap();
    assert!(status.success());

    common::signal(child.id(), "TERM");
    let _ = child.wait();
    capture.abort();
    let mut texts = files_under(dir.path());
    texts.push(("serve's stdout".into(), out.join().unwrap()));
    texts.push(("serve's stderr".into(), err.join().unwrap()));
    let sse = String::from_utf8_lossy(&sse.lock().unwrap()).into_owned();
    assert!(
        sse.contains("event: snapshot"),
        "the capture saw the stream"
    );
    texts.push(("the SSE stream".into(), sse));
    assert_absent(&texts, &[&payload, &code]);
}

/// The phone linked: Z-API's `ConnectedCallback` for `ID`, posted to the
/// listener at `addr`, accepted.
async fn post_connected(addr: &str) {
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/hooks/connected"))
        .json(&webhook_body_connected(
            ID,
            chrono::Utc::now().timestamp(),
            PHONE,
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}
