//! The tools operators run, for real, against what the project ships:
//! Debian's `caddy` in front of a real `zapi-dash serve` with the shipped
//! `assets/Caddyfile`, `promtool check metrics` and a strict OpenMetrics
//! parser on a real `/metrics`, the completion scripts in real bash, zsh
//! and fish, and `systemd-analyze` on the shipped unit.
//!
//! A missing tool fails its test with the tool's name and how to get it
//! ([`require`]): `scripts/test` installs them all.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

const API_TOKEN: &str = "tools-api-token-0123456789abcdef";

/// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The tool `tool` (a command on `PATH`, or an absolute path to a file a
/// package installs), or a failed test that says it is missing and how to
/// get it: never a test that passes without it.
pub(crate) fn require(tool: &str, package: &str) -> PathBuf {
    let found = if tool.starts_with('/') {
        Some(PathBuf::from(tool)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(tool))
                .find(|p| p.is_file())
        })
    };
    found.unwrap_or_else(|| {
        panic!(
            "`{tool}` is missing, so this test cannot run (it is not skipped): run \
             scripts/test, which installs every tool these tests need, or \
             `apt-get install {package}`"
        )
    })
}

/// Runs `cmd` with `input` on its stdin; its output.
fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_missing_tool_fails_saying_how_to_get_it() {
    let err = std::panic::catch_unwind(|| require("zapi-dash-no-such-tool", "no-such-package"))
        .expect_err("a missing tool is a failure");
    let message = err.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("`zapi-dash-no-such-tool` is missing"),
        "{message}"
    );
    assert!(message.contains("scripts/test"), "{message}");
    assert!(
        message.contains("apt-get install no-such-package"),
        "{message}"
    );
    assert!(require("sh", "dash").is_file());
}

// ------------------------------------------------------------- serve

/// A real `zapi-dash serve` on loopback with an API token and one instance.
struct Serve {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first configured instance, whose disconnect the tests post.
const INSTANCE: &str = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";

/// A config with a small fleet: six instances, so that the first event of
/// `/api/events` (the snapshot) is over Caddy's `encode` threshold of 512
/// bytes, as with any real fleet (a smaller first write is never compressed).
fn fleet_config() -> String {
    let mut config = format!(
        "listen = \"127.0.0.1:0\"\napi_token = \"{API_TOKEN}\"\n\
         api_base = \"http://127.0.0.1:9\"\npoll_interval = 0\n\
         [[instances]]\nid = \"{INSTANCE}\"\ntoken = \"the-instance-token\"\nname = \"Sales\"\n"
    );
    for i in 2..=6 {
        config.push_str(&format!(
            "[[instances]]\nid = \"B{i}000000000000000000000000000000\"\n\
             token = \"the-instance-token\"\nname = \"Team {i}\"\n"
        ));
    }
    config
}

fn serve() -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, fleet_config()).unwrap();
    let mut child = common::serve_command(&config, &dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (_, addr) = common::serve_listening(&mut stderr);
    // keep reading, so that serve never writes into a closed pipe
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Serve {
        child,
        addr,
        stdout,
        _dir: dir,
    }
}

impl Serve {
    /// Posts a disconnect of the configured instance to `base` and waits
    /// until serve has applied it (it prints the event's JSON line).
    async fn disconnect(&mut self, http: &reqwest::Client, base: &str) {
        let body = zapi_dash::sim::webhook_body_disconnected(
            INSTANCE,
            1_764_000_000,
            "Device has been disconnected",
        );
        let resp = http
            .post(format!("{base}/hooks/disconnected"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(line.contains(INSTANCE), "{line}");
    }

    /// `/metrics` with this `Accept` header: content type and body.
    async fn metrics(&self, accept: Option<&str>) -> (String, String) {
        let mut req = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{}/metrics", self.addr))
            .bearer_auth(API_TOKEN);
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (ct, resp.text().await.unwrap())
    }
}

// ----------------------------------------------------------- metrics

/// Prints each sample the reference OpenMetrics parser (Prometheus'
/// client_python, strict: `# EOF`, counters' `_total`, one family per
/// name) reads on stdin: `<type> <name> <labels> <value>`.
const OPENMETRICS_PARSER: &str = "
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        print(f.type, s.name, ','.join(f'{k}={v}' for k, v in sorted(s.labels.items())), s.value)
";

const PYTHON_CLIENT: &str =
    "/usr/lib/python3/dist-packages/prometheus_client/openmetrics/parser.py";

fn openmetrics_parse(exposition: &str) -> Output {
    require(PYTHON_CLIENT, "python3-prometheus-client");
    // Debian's interpreter, the one python3-prometheus-client installs into
    let python = require("/usr/bin/python3", "python3");
    run_with_input(
        Command::new(python).args(["-c", OPENMETRICS_PARSER]),
        exposition,
    )
}

#[tokio::test]
async fn promtool_and_a_strict_openmetrics_parser_accept_the_metrics() {
    let promtool = require("promtool", "prometheus");
    let mut s = serve();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    s.disconnect(&http, &format!("http://{}", s.addr)).await;

    let (ct, body) = s.metrics(None).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(body.contains("zapi_disconnects_total{"), "{body}");
    let out = run_with_input(Command::new(&promtool).args(["check", "metrics"]), &body);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n{body}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );

    let (ct, body) = s.metrics(Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let out = openmetrics_parse(&body);
    let samples = text(&out.stdout);
    assert!(out.status.success(), "{}\n{body}", text(&out.stderr));
    for want in [
        "counter zapi_webhooks_received_total type=DisconnectedCallback 1",
        "counter zapi_webhooks_received_total type=PresenceChatCallback 0",
        "counter zapi_webhooks_rejected_total reason=payload_too_large 0",
        "counter zapi_disconnects_total instance_id=3C8A1F00D2E94B7A9F15C0DE2A7B6E11,name=Sales 1",
        "gauge zapi_instance_connected instance_id=3C8A1F00D2E94B7A9F15C0DE2A7B6E11,name=Sales 0",
    ] {
        assert!(samples.lines().any(|l| l == want), "{want}\n{samples}");
    }
    // the parser is strict: the same text without its `# EOF` is refused
    let cut = body.strip_suffix("# EOF\n").expect("ends with # EOF");
    assert!(!openmetrics_parse(cut).status.success());
}

// ------------------------------------------------------------- caddy

/// A port free on loopback now (the OS picks it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Caddy running the shipped Caddyfile for `https://127.0.0.1:<port>` in
/// front of `upstream`, its state in `dir`.
struct Caddy {
    child: Child,
    port: u16,
    root_cert: PathBuf,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Caddyfile with the options a test on loopback needs and then the
/// shipped one, imported as it is.
fn caddy_config(dir: &Path) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/Caddyfile");
    let config = dir.join("Caddyfile");
    std::fs::write(
        &config,
        format!(
            "{{\n\tadmin off\n\tskip_install_trust\n\tauto_https disable_redirects\n\
             \thttp_port {}\n\tdefault_bind 127.0.0.1\n\tstorage file_system {}\n}}\n\
             import {}\n",
            free_port(),
            dir.join("storage").display(),
            shipped.display()
        ),
    )
    .unwrap();
    config
}

fn caddy_command(caddy: &Path, dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(caddy);
    cmd.args(args)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("ZAPI_DASH_SITE")
        .env_remove("ZAPI_DASH_UPSTREAM");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts caddy and waits until it serves with its certificate.
fn start_caddy(caddy: &Path, dir: &Path, upstream: SocketAddr) -> Caddy {
    let config = caddy_config(dir);
    let port = free_port();
    let env = [
        ("ZAPI_DASH_SITE", format!("https://127.0.0.1:{port}")),
        ("ZAPI_DASH_UPSTREAM", upstream.to_string()),
    ];
    let config_arg = config.to_str().unwrap();
    let out = caddy_command(
        caddy,
        dir,
        &["validate", "--adapter", "caddyfile", "--config", config_arg],
        &env,
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "caddy validate: {}",
        text(&out.stderr)
    );
    let mut child = caddy_command(
        caddy,
        dir,
        &["run", "--adapter", "caddyfile", "--config", config_arg],
        &env,
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut serving, mut certified, mut log) = (false, false, String::new());
    while !(serving && certified) {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "caddy stopped:\n{log}"
        );
        serving |= line.contains("serving initial configuration");
        certified |= line.contains("certificate obtained successfully");
        log.push_str(&line);
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Caddy {
        child,
        port,
        root_cert: dir.join("storage/pki/authorities/local/root.crt"),
    }
}

/// The next event of a Server-Sent Events stream: (event, data).
async fn next_event(resp: &mut reqwest::Response, buf: &mut String) -> (String, String) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .filter_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim_start().to_owned())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let event = field("event:");
            if !event.is_empty() {
                return (event, field("data:"));
            }
            continue; // a comment (keep-alive)
        }
        let chunk = resp.chunk().await.unwrap().expect("the stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_shipped_caddyfile_streams_events_to_a_client_that_accepts_gzip() {
    let caddy_bin = require("caddy", "caddy");
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve();
    let caddy = start_caddy(&caddy_bin, dir.path(), s.addr);
    let root = reqwest::Certificate::from_pem(&std::fs::read(&caddy.root_cert).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", caddy.port);

    let mut events = http
        .get(format!("{base}/api/events"))
        .bearer_auth(API_TOKEN)
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    // a compressed stream is a buffered one: the events wait in the encoder
    assert_eq!(
        events.headers().get("content-encoding"),
        None,
        "caddy compresses the event stream"
    );
    let mut buf = String::new();
    let (event, snapshot) =
        tokio::time::timeout(common::timeout(), next_event(&mut events, &mut buf))
            .await
            .expect("the snapshot comes through caddy");
    assert_eq!(event, "snapshot");
    assert!(snapshot.len() > 512, "a fleet's snapshot: {snapshot}");

    s.disconnect(&http, &base).await;
    let (event, data) =
        tokio::time::timeout(Duration::from_secs(2), next_event(&mut events, &mut buf))
            .await
            .expect("the webhook's event comes through caddy at once, not when a buffer fills");
    assert_eq!(event, "webhook", "{data}");
    assert!(data.contains(INSTANCE), "{data}");

    // the rest of the site is still compressed
    let resp = http
        .get(format!("{base}/metrics"))
        .bearer_auth(API_TOKEN)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
}

#[test]
fn caddy_adapts_the_shipped_caddyfile_with_events_uncompressed() {
    let caddy = require("caddy", "caddy");
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/Caddyfile");
    let out = caddy_command(
        &caddy,
        dir.path(),
        &[
            "adapt",
            "--adapter",
            "caddyfile",
            "--config",
            shipped.to_str().unwrap(),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "caddy adapt: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let site = &json["apps"]["http"]["servers"]["srv0"]["routes"][0];
    assert_eq!(site["match"][0]["host"][0], "dash.example.com");
    let routes = site["handle"][0]["routes"].as_array().unwrap();
    let encode = routes
        .iter()
        .find(|r| r["handle"][0]["handler"] == "encode")
        .expect("the site compresses");
    assert_eq!(
        encode["match"][0]["not"][0]["path"][0], "/api/events",
        "{encode}"
    );
    assert!(
        text(&out.stdout).contains("\"dial\":\"127.0.0.1:8787\""),
        "{json}"
    );
}

// ------------------------------------------------------- completions

fn completion_script(dir: &Path, shell: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = dir.join(format!("zapi-dash.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// What bash offers for each line (words, the last one being completed),
/// the way bash-completion calls the function `complete -p` names.
const BASH_COMPLETE: &str = r#"
source /usr/share/bash-completion/bash_completion
source "$1"
spec=$(complete -p zapi-dash) || exit 1
fn=${spec##* -F }; fn=${fn%% *}
comp() {
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    "$fn" zapi-dash "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "[$*] ${COMPREPLY[*]}"
}
comp zapi-dash serve --
comp zapi-dash completions ''
comp zapi-dash report --
comp zapi-dash report --format ''
comp zapi-dash ''
"#;

#[test]
fn bash_completes_after_a_subcommand() {
    require(
        "/usr/share/bash-completion/bash_completion",
        "bash-completion",
    );
    let bash = require("bash", "bash");
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path(), "bash");
    let out = Command::new(bash)
        .args(["--norc", "--noprofile", "-c", BASH_COMPLETE, "bash"])
        .arg(&script)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let got = text(&out.stdout);
    assert!(out.status.success(), "{got}{}", text(&out.stderr));
    let offered = |line: &str| -> Vec<String> {
        let head = format!("[{line}] ");
        got.lines()
            .find_map(|l| l.strip_prefix(&head))
            .unwrap_or_else(|| panic!("no answer for {line}:\n{got}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let serve = offered("zapi-dash serve --");
    assert!(serve.contains(&"--config".to_owned()), "{serve:?}");
    assert!(serve.contains(&"--listen".to_owned()), "{serve:?}");
    assert!(!serve.iter().any(|o| o == "--debug-panic"), "{serve:?}");
    let shells = offered("zapi-dash completions ");
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell.to_owned()), "{shells:?}");
    }
    let report = offered("zapi-dash report --");
    for flag in ["--since", "--format", "--config", "--state-dir"] {
        assert!(report.contains(&flag.to_owned()), "{report:?}");
    }
    let formats = offered("zapi-dash report --format ");
    assert_eq!(formats, ["table", "csv", "json"], "{formats:?}");
    let top = offered("zapi-dash ");
    assert!(top.contains(&"serve".to_owned()), "{top:?}");
    assert!(top.contains(&"report".to_owned()), "{top:?}");
}

/// An interactive shell in a pseudo-terminal, its screen kept by vt100.
struct Pty {
    screen: std::sync::Arc<(std::sync::Mutex<vt100::Parser>, std::sync::Condvar)>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Pty {
    fn spawn(cmd: portable_pty::CommandBuilder) -> Pty {
        use portable_pty::{PtySize, native_pty_system};
        let size = PtySize {
            rows: 24,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pty = native_pty_system().openpty(size).unwrap();
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let rows = std::num::NonZero::new(24).unwrap();
        let cols = std::num::NonZero::new(100).unwrap();
        let screen = std::sync::Arc::new((
            std::sync::Mutex::new(vt100::Parser::new(rows, cols, 0)),
            std::sync::Condvar::new(),
        ));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let shared = std::sync::Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shared
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .process(&buf[..n]);
                shared.1.notify_all();
            }
        });
        let writer = pty.master.take_writer().unwrap();
        std::mem::forget(pty.master); // the pty lives as long as the test
        Pty {
            screen,
            writer,
            child,
        }
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits (bounded) until the screen satisfies `pred`.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + common::timeout();
        let mut parser = self.screen.0.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = parser.screen().contents();
            if pred(&text) {
                return text;
            }
            let now = std::time::Instant::now();
            assert!(now < deadline, "waiting for {what}; the screen is:\n{text}");
            parser = self
                .screen
                .1
                .wait_timeout(parser, deadline - now)
                .unwrap()
                .0;
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interactive_bash_completes_flags_after_a_subcommand_on_tab() {
    require(
        "/usr/share/bash-completion/bash_completion",
        "bash-completion",
    );
    let bash = require("bash", "bash");
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path(), "bash");
    let mut cmd = portable_pty::CommandBuilder::new(bash);
    cmd.args(["--norc", "--noprofile", "-i"]);
    cmd.env("HOME", dir.path());
    cmd.env("TERM", "xterm");
    cmd.env("PS1", "READY$ ");
    cmd.env("INPUTRC", "/dev/null");
    let mut shell = Pty::spawn(cmd);
    shell.wait_for("the prompt", |s| s.contains("READY$"));
    // what /etc/bash.bashrc and a completions directory do, by hand
    shell.send(&format!(
        "source /usr/share/bash-completion/bash_completion; source {}; clear\n",
        script.display()
    ));
    shell.wait_for("the cleared prompt", |s| s.trim() == "READY$");
    shell.send("zapi-dash serve --\t\t");
    let screen = shell.wait_for("the flags of serve", |s| s.contains("--config"));
    assert!(screen.contains("--listen"), "{screen}");
    assert!(!screen.contains("--debug-panic"), "{screen}");
    // ctrl-u empties the line
    shell.send("\x15clear\n");
    shell.wait_for("the cleared prompt", |s| s.trim() == "READY$");
    shell.send("zapi-dash completions \t\t");
    shell.wait_for("the shells", |s| {
        ["bash", "zsh", "fish", "powershell"]
            .iter()
            .all(|sh| s.lines().skip(1).any(|l| l.contains(sh)))
    });
}

#[test]
fn zsh_loads_the_script_and_registers_it() {
    let zsh = require("zsh", "zsh");
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path(), "zsh");
    let out = Command::new(zsh)
        .args([
            "-f",
            "-c",
            "autoload -U compinit && compinit -u -d \"$HOME/.zcompdump\" && source \"$1\" && print -r -- \"reg=${_comps[zapi-dash]}\"",
            "zsh",
        ])
        .arg(&script)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let got = text(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{got}{}",
        text(&out.stderr)
    );
    assert!(got.lines().any(|l| l == "reg=_zapi-dash"), "{got}");
}

/// fish's candidates for `line`, without their descriptions.
fn fish_complete(fish: &Path, dir: &Path, script: &Path, line: &str) -> Vec<String> {
    let mut child = Command::new(fish);
    child
        .args([
            "--no-config",
            "-c",
            "source $argv[1]; and complete -C $argv[2]",
        ])
        .arg(script)
        .arg(line)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"));
    let out = child.output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "fish: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn fish_completes_subcommand_flags_and_shells() {
    let fish = require("fish", "fish");
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path(), "fish");
    let flags = fish_complete(&fish, dir.path(), &script, "zapi-dash serve --");
    assert!(flags.contains(&"--config".to_owned()), "{flags:?}");
    assert!(!flags.iter().any(|f| f == "--debug-panic"), "{flags:?}");
    let shells = fish_complete(&fish, dir.path(), &script, "zapi-dash completions ");
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell.to_owned()), "{shells:?}");
    }
}

// ----------------------------------------------------------- systemd

/// The shipped unit with its ExecStart pointing at the built binary
/// (`verify` checks that the binary exists).
fn unit_copy(dir: &Path) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/zapi-dash.service");
    let mut unit = String::new();
    std::fs::File::open(shipped)
        .unwrap()
        .read_to_string(&mut unit)
        .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/zapi-dash serve"));
    let unit = unit.replace("/usr/local/bin/zapi-dash", env!("CARGO_BIN_EXE_zapi-dash"));
    let path = dir.join("zapi-dash.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let analyze = require("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    verifies_and_is_hardened(&analyze, &unit);
}

/// `systemd-analyze verify` of the unit file `unit` says nothing, and
/// `systemd-analyze security` gives it an exposure of 2.0 at most.
pub(super) fn verifies_and_is_hardened(analyze: &Path, unit: &Path) {
    let out = Command::new(analyze)
        .arg("verify")
        .arg(unit)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .output()
        .unwrap();
    let report = text(&out.stdout);
    // "→ Overall exposure level for zapi-dash.service: 1.2 OK 🙂"
    let name = unit.file_name().unwrap().to_string_lossy();
    let prefix = format!("Overall exposure level for {name}: ");
    let score: f64 = report
        .lines()
        .find_map(|l| l.split(prefix.as_str()).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{report}{}", text(&out.stderr)));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{report}");
}
