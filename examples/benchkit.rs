//! The benchmark suite's tools, driven by `scripts/bench` (see BENCHMARKS.md).
//! Not part of the product and not a test: each subcommand sets something up
//! or measures something and prints one JSON object on stdout.
//!
//! ```text
//! benchkit config  --out FILE --instances N [--sim-info FILE]    a config with N instances
//! benchkit mklog   --dir DIR --events N --instances M           an event log of N records
//! benchkit bare    --listen ADDR                                bare axum handler (ingest baseline)
//! benchkit sim     --instances N --latency-ms MS --info FILE    simulated Z-API until killed
//! benchkit load    --addr ADDR --total N [--conns C] [--rate R] keep-alive HTTP/1.1 load
//! benchkit startup --bin B --config F --state DIR [--runs N]    spawn → first frame, in a pty
//! benchkit idle    --bin B --config F --state DIR [--seconds S] [--copies K]
//! benchkit memory  --bin B --config F --state DIR               VmHWM after start and a few keys
//! benchkit burst   --bin B --config F --state DIR --total N     N events, 200s = state = log, keys
//! benchkit latency --bin B --config F --state DIR --rate R --seconds S
//! benchkit register --bin B --dir DIR --instances N --latency-ms MS [--runs N]
//! ```
//!
//! Every dashboard runs in a 200×50 pseudo-terminal whose output is drained
//! and parsed by vt100 on a thread of its own, listening on 127.0.0.1:0 (the
//! port is read from the header). Only loopback addresses are ever used.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::num::NonZero;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use zapi_dash::model::{Event, EventKind, InstanceId};
use zapi_dash::store::{self, EventLog, LogOptions};

const COLS: u16 = 200;
const ROWS: u16 = 50;
/// Instance ids of the synthetic fleet: `BENCH00000`, `BENCH00001`, …
const PREFIX: &str = "BENCH";
/// `momment` of the first synthetic event (ms): 2025-11-24.
const MOMENT_BASE_MS: i64 = 1_764_000_000_000;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        bail!(
            "usage: benchkit <config|mklog|bare|sim|load|startup|idle|memory|burst|latency|register|fleet|relay> [--flag value]…"
        );
    };
    let flags = Flags::parse(&args[1..])?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let out = match cmd.as_str() {
        "config" => cmd_config(&flags)?,
        "mklog" => rt.block_on(cmd_mklog(&flags))?,
        "bare" => rt.block_on(cmd_bare(&flags))?,
        "sim" => rt.block_on(cmd_sim(&flags))?,
        "load" => {
            let addr: SocketAddr = flags.req("addr")?.parse()?;
            let opts = LoadOptions::from_flags(&flags)?;
            rt.block_on(load(addr, opts))?.to_json()
        }
        "startup" => cmd_startup(&flags)?,
        "idle" => cmd_idle(&flags)?,
        "memory" => cmd_memory(&flags)?,
        "burst" => cmd_burst(&rt, &flags)?,
        "latency" => cmd_latency(&rt, &flags)?,
        "register" => cmd_register(&rt, &flags)?,
        "fleet" => cmd_fleet(&rt, &flags)?,
        "relay" => rt.block_on(cmd_relay(&flags))?,
        "regclient" => rt.block_on(cmd_regclient(&flags))?,
        other => bail!("unknown subcommand {other}"),
    };
    println!("{}", serde_json::to_string(&out)?);
    // the sim and stray connections must not hold the exit up
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

// ---------------------------------------------------------------------------
// Flags

struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(args: &[String]) -> Result<Flags> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| anyhow!("expected --flag, got {k}"))?;
            let v = it.next().ok_or_else(|| anyhow!("--{key} needs a value"))?;
            map.insert(key.to_owned(), v.clone());
        }
        Ok(Flags(map))
    }
    fn req(&self, k: &str) -> Result<&str> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("--{k} is required"))
    }
    fn get<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(k) {
            Some(v) => v.parse().map_err(|e| anyhow!("--{k} {v}: {e}")),
            None => Ok(default),
        }
    }
    fn path(&self, k: &str) -> Result<PathBuf> {
        Ok(PathBuf::from(self.req(k)?))
    }
}

fn bench_id(i: usize) -> String {
    format!("{PREFIX}{i:05}")
}

// ---------------------------------------------------------------------------
// Setup: config, log, bare server, simulator

fn cmd_config(flags: &Flags) -> Result<Value> {
    let out = flags.path("out")?;
    let n: usize = flags.get("instances", 1000)?;
    let mut toml = String::from("# written by benchkit for scripts/bench\nretention_days = 0\n");
    if let Some(info) = flags.0.get("sim-info") {
        let info: Value = serde_json::from_str(&std::fs::read_to_string(info)?)?;
        toml.push_str(&format!(
            "api_base = \"{}\"\nclient_token = \"{}\"\npublic_url = \"https://zapi-dash.bench.invalid\"\n",
            info["base_url"].as_str().unwrap_or_default(),
            info["client_token"].as_str().unwrap_or_default()
        ));
        for inst in info["instances"].as_array().into_iter().flatten() {
            toml.push_str(&format!(
                "[[instances]]\nid = \"{}\"\ntoken = \"{}\"\nname = \"{}\"\n",
                inst["id"].as_str().unwrap_or_default(),
                inst["token"].as_str().unwrap_or_default(),
                inst["name"].as_str().unwrap_or_default()
            ));
        }
    } else {
        for i in 0..n {
            toml.push_str(&format!(
                "[[instances]]\nid = \"{}\"\ntoken = \"bench-token-{i:05}\"\nname = \"Bench {i}\"\n",
                bench_id(i)
            ));
        }
    }
    std::fs::write(&out, toml)?;
    set_private(&out);
    Ok(json!({"config": out, "instances": n}))
}

/// The config holds tokens: keep it private, or the dashboard warns (and the
/// warning changes the footer).
fn set_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

fn synthetic_event(i: u64, instances: usize, received: chrono::DateTime<Utc>) -> Event {
    let id = InstanceId::new(bench_id((i % instances as u64) as usize));
    let kind = if (i / instances as u64).is_multiple_of(2) {
        EventKind::Disconnected {
            error: Some("Device has been disconnected".into()),
        }
    } else {
        EventKind::Connected {
            phone: Some("5544999999999".into()),
        }
    };
    let moment =
        chrono::DateTime::from_timestamp_millis(MOMENT_BASE_MS + i as i64).unwrap_or(received);
    Event {
        instance_id: id,
        kind,
        moment,
        received,
    }
}

/// An event log of `--events` records over `--instances` instances, written
/// through the real [`EventLog`] (group commit and all).
async fn cmd_mklog(flags: &Flags) -> Result<Value> {
    use futures::StreamExt;
    let dir = flags.path("dir")?;
    let n: u64 = flags.get("events", 1_000_000)?;
    let instances: usize = flags.get("instances", 10_000)?;
    let _ = std::fs::remove_dir_all(&dir);
    let log = EventLog::open(LogOptions::new(&dir))?;
    let start = Instant::now();
    let now = Utc::now();
    let written = futures::stream::iter(0..n)
        .map(|i| {
            let log = log.clone();
            async move {
                let event = synthetic_event(i, instances, now);
                log.append(event, store::fingerprint(&i.to_le_bytes()))
                    .await
            }
        })
        .buffered(4096)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    log.close().await?;
    let bytes: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    Ok(
        json!({"dir": dir, "records": written, "bytes": bytes, "seconds": start.elapsed().as_secs_f64()}),
    )
}

/// The ingest baseline: axum parsing the same JSON with the same parser and
/// answering 200, nothing else (no log, no state, no screen).
async fn cmd_bare(flags: &Flags) -> Result<Value> {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::post;
    let listen: SocketAddr = flags.get("listen", "127.0.0.1:0".parse()?)?;
    async fn handler(body: Bytes) -> (StatusCode, &'static str) {
        match zapi_dash::listener::parse::parse_event(
            &body,
            zapi_dash::listener::parse::Route::Any,
            Utc::now(),
        ) {
            Ok(event) => {
                std::hint::black_box(event);
                (StatusCode::OK, "{\"ok\":true}")
            }
            Err(_) => (StatusCode::BAD_REQUEST, "{\"error\":\"bad\"}"),
        }
    }
    let app = axum::Router::new().route("/hooks", post(handler));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("bare: listening on {}", listener.local_addr()?);
    println!("{}", json!({"addr": listener.local_addr()?}));
    axum::serve(listener, app).await?;
    Ok(json!({}))
}

/// The simulated Z-API at `--latency-ms`, with `--instances` instances; its
/// URL, client token and instances go to `--info` as JSON. Runs until killed.
async fn cmd_sim(flags: &Flags) -> Result<Value> {
    let (sim, info) =
        start_sim(flags.get("instances", 1000)?, flags.get("latency-ms", 50)?).await?;
    std::fs::write(flags.path("info")?, serde_json::to_vec(&info)?)?;
    eprintln!("sim: {}", sim.base_url());
    std::future::pending::<()>().await;
    Ok(json!({}))
}

async fn start_sim(n: usize, latency_ms: u64) -> Result<(zapi_dash::sim::Sim, Value)> {
    let instances = zapi_dash::sim::demo_instances(n, 42);
    let client_token = "bench-client-token".to_string();
    let sim = zapi_dash::sim::Sim::start(zapi_dash::sim::SimOptions {
        client_token: client_token.clone(),
        instances: instances.clone(),
        latency: Duration::from_millis(latency_ms),
    })
    .await?;
    let info = json!({
        "base_url": sim.base_url(),
        "client_token": client_token,
        "instances": instances.iter().map(|i| json!({"id": i.id, "token": i.token, "name": i.name})).collect::<Vec<_>>(),
    });
    Ok((sim, info))
}

// ---------------------------------------------------------------------------
// Load generator: keep-alive HTTP/1.1 over raw TCP, one request in flight per
// connection, every body distinct (so the duplicate filter never answers).

#[derive(Clone)]
struct LoadOptions {
    total: u64,
    conns: usize,
    /// Requests per second overall; `None` = as fast as possible.
    rate: Option<f64>,
    instances: usize,
    /// Added to every `momment`, so two runs against one log do not collide.
    offset: u64,
}

impl LoadOptions {
    fn from_flags(flags: &Flags) -> Result<LoadOptions> {
        let rate: f64 = flags.get("rate", 0.0)?;
        Ok(LoadOptions {
            total: flags.get("total", 100_000)?,
            conns: flags.get("conns", 64)?,
            rate: (rate > 0.0).then_some(rate),
            instances: flags.get("instances", 1000)?,
            offset: flags.get("offset", 0)?,
        })
    }
}

#[derive(Debug, Default)]
struct LoadStats {
    sent: u64,
    ok: u64,
    other_status: u64,
    errors: u64,
    seconds: f64,
}

impl LoadStats {
    fn to_json(&self) -> Value {
        json!({
            "sent": self.sent, "ok": self.ok, "other_status": self.other_status,
            "errors": self.errors, "seconds": self.seconds,
            "per_s": if self.seconds > 0.0 { self.ok as f64 / self.seconds } else { 0.0 },
        })
    }
}

fn body_of(i: u64, instances: usize) -> String {
    let id = bench_id((i % instances as u64) as usize);
    let moment = MOMENT_BASE_MS as u64 + i;
    if i.is_multiple_of(2) {
        format!(
            r#"{{"type":"DisconnectedCallback","instanceId":"{id}","momment":{moment},"error":"Device has been disconnected","disconnected":true}}"#
        )
    } else {
        format!(
            r#"{{"type":"ConnectedCallback","instanceId":"{id}","momment":{moment},"phone":"5544999999999","connected":true}}"#
        )
    }
}

async fn load(addr: SocketAddr, opts: LoadOptions) -> Result<LoadStats> {
    let next = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.conns.max(1) {
        let next = Arc::clone(&next);
        let opts = opts.clone();
        tasks.spawn(async move {
            let mut stats = LoadStats::default();
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(4096);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= opts.total {
                    break;
                }
                if let Some(rate) = opts.rate {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate))
                        .await;
                }
                let body = body_of(i + opts.offset, opts.instances);
                let req = format!(
                    "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stats.sent += 1;
                // one retry on a fresh connection if a kept-alive one was closed
                let mut status = None;
                for _ in 0..2 {
                    if conn.is_none() {
                        match TcpStream::connect(addr).await {
                            Ok(s) => {
                                let _ = s.set_nodelay(true);
                                conn = Some(s);
                            }
                            Err(_) => break,
                        }
                    }
                    let Some(stream) = conn.as_mut() else { break };
                    match roundtrip(stream, req.as_bytes(), &mut buf).await {
                        Ok(s) => {
                            status = Some(s);
                            break;
                        }
                        Err(_) => conn = None,
                    }
                }
                match status {
                    Some(200) => stats.ok += 1,
                    Some(_) => stats.other_status += 1,
                    None => stats.errors += 1,
                }
            }
            stats
        });
    }
    let mut total = LoadStats::default();
    while let Some(r) = tasks.join_next().await {
        let s = r?;
        total.sent += s.sent;
        total.ok += s.ok;
        total.other_status += s.other_status;
        total.errors += s.errors;
    }
    total.seconds = start.elapsed().as_secs_f64();
    Ok(total)
}

/// Sends one request and reads one response (headers + Content-Length body).
async fn roundtrip(stream: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> Result<u16> {
    stream.write_all(req).await?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?;
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("bad status line"))?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    bail!("closed");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// The real binary in a pseudo-terminal

struct Screen {
    state: Mutex<(vt100::Parser, bool)>,
    changed: Condvar,
}

struct Dash {
    screen: Arc<Screen>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    started: Instant,
}

impl Dash {
    fn spawn(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<Dash> {
        let pty = native_pty_system().openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })?;
        let mut cmd = CommandBuilder::new(std::fs::canonicalize(bin)?);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("ZAPI_CLIENT_TOKEN");
        cmd.env_remove("ZAPI_DASH_WEBHOOK_SECRET");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = pty.slave.spawn_command(cmd)?;
        drop(pty.slave);
        let screen = Arc::new(Screen {
            state: Mutex::new((
                vt100::Parser::new(
                    NonZero::new(ROWS).unwrap_or(NonZero::<u16>::MIN),
                    NonZero::new(COLS).unwrap_or(NonZero::<u16>::MIN),
                    0,
                ),
                false,
            )),
            changed: Condvar::new(),
        });
        let mut reader = pty.master.try_clone_reader()?;
        let rs = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        rs.state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                            .process(&buf[..n]);
                        rs.changed.notify_all();
                    }
                }
            }
            rs.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
            rs.changed.notify_all();
        });
        let writer = pty.master.take_writer()?;
        Ok(Dash {
            screen,
            writer,
            child,
            _master: pty.master,
            started,
        })
    }

    fn pid(&self) -> Result<u32> {
        self.child.process_id().ok_or_else(|| anyhow!("no pid"))
    }

    fn contents(&self) -> String {
        self.screen
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .screen()
            .contents()
    }

    /// Waits until the screen satisfies `pred`; the screen then.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.screen.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = guard.0.screen().contents();
            if pred(&text) {
                return Ok(text);
            }
            let now = Instant::now();
            if now >= deadline || guard.1 {
                bail!("waiting for {what}; the screen is:\n{text}");
            }
            guard = self
                .screen
                .changed
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn send(&mut self, keys: &[u8]) -> Result<()> {
        self.writer.write_all(keys)?;
        self.writer.flush()?;
        Ok(())
    }

    /// The first frame: the table's title is drawn.
    fn first_frame(&self, timeout: Duration) -> Result<Duration> {
        self.wait_for("the first frame", timeout, |s| s.contains("Instances ("))?;
        Ok(self.started.elapsed())
    }

    /// The listener's address, from the header.
    fn addr(&self) -> Result<SocketAddr> {
        let text = self.contents();
        let at = text
            .find("http://")
            .ok_or_else(|| anyhow!("no address in the header:\n{text}"))?;
        let rest = &text[at + 7..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
            .unwrap_or(rest.len());
        Ok(rest[..end].parse()?)
    }

    /// Sends `q` and waits for the process to end.
    fn quit(mut self) -> Result<()> {
        let _ = self.send(b"q");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("zapi-dash exited with {status:?}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("zapi-dash did not quit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn dash_args<'a>(config: &'a str, state: &'a str) -> Vec<&'a str> {
    vec![
        "--config",
        config,
        "--state-dir",
        state,
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
    ]
}

/// utime + stime of a process, in seconds (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // fields after the command name (which is in parentheses)
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow!("bad stat"))? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = f[11].parse()?;
    let stime: f64 = f[12].parse()?;
    let hz = clock_ticks();
    Ok((utime + stime) / hz)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Run time of every thread of a process from schedstat, in seconds (ns resolution).
fn sched_seconds(pid: u32) -> Result<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(ns as f64 / 1e9)
}

fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| anyhow!("no {key} in /proc/{pid}/status"))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn common(flags: &Flags) -> Result<(PathBuf, String, PathBuf)> {
    Ok((
        flags.path("bin")?,
        flags.req("config")?.to_owned(),
        flags.path("state")?,
    ))
}

/// Spawn → first frame, `--runs` times (the log in `--state` is replayed each time).
fn cmd_startup(flags: &Flags) -> Result<Value> {
    let (bin, config, state) = common(flags)?;
    let runs: usize = flags.get("runs", 5)?;
    let state_s = state.to_string_lossy().to_string();
    let mut times = Vec::new();
    for _ in 0..runs {
        let dash = Dash::spawn(&bin, &dash_args(&config, &state_s), &[])?;
        let t = dash.first_frame(Duration::from_secs(60))?;
        times.push(t.as_secs_f64() * 1000.0);
        let events = header_events(&dash.contents());
        dash.quit()?;
        eprintln!(
            "startup: {:.0} ms ({events:?} events in state)",
            t.as_secs_f64() * 1000.0
        );
    }
    Ok(json!({"runs_ms": times, "median_ms": median(times.clone())}))
}

/// The number of events the header says are in the state.
fn header_events(screen: &str) -> Option<u64> {
    let line = screen.lines().nth(1)?;
    let before = line.rfind(" events")?;
    let digits: String = line[..before]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// `--copies` idle dashboards side by side, each measured over the same
/// `--seconds`: CPU time used, as a percentage of one core.
fn cmd_idle(flags: &Flags) -> Result<Value> {
    let (bin, config, state) = common(flags)?;
    let secs: f64 = flags.get("seconds", 60.0)?;
    let copies: usize = flags.get("copies", 3)?;
    let mut dashes = Vec::new();
    for k in 0..copies {
        let dir = state.join(format!("idle-{k}"));
        let _ = std::fs::remove_dir_all(&dir);
        let dir_s = dir.to_string_lossy().to_string();
        let dash = Dash::spawn(&bin, &dash_args(&config, &dir_s), &[])?;
        dash.first_frame(Duration::from_secs(60))?;
        dashes.push(dash);
    }
    // let start-up work (first frames, the first tick) settle
    std::thread::sleep(Duration::from_secs(3));
    let before: Vec<(f64, f64)> = dashes
        .iter()
        .map(|d| Ok((cpu_seconds(d.pid()?)?, sched_seconds(d.pid()?)?)))
        .collect::<Result<_>>()?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let wall = t0.elapsed().as_secs_f64();
    let mut pct = Vec::new();
    let mut pct_sched = Vec::new();
    for (d, (c0, s0)) in dashes.iter().zip(before) {
        let pid = d.pid()?;
        pct.push((cpu_seconds(pid)? - c0) / wall * 100.0);
        pct_sched.push((sched_seconds(pid)? - s0) / wall * 100.0);
    }
    for d in dashes {
        d.quit()?;
    }
    Ok(json!({
        "seconds": wall, "percent_of_core": pct, "median_percent": median(pct.clone()),
        "schedstat_percent": pct_sched, "median_schedstat_percent": median(pct_sched.clone()),
    }))
}

/// Peak RSS (VmHWM) after start (replay of the log in `--state`), a few
/// seconds and a few keys.
fn cmd_memory(flags: &Flags) -> Result<Value> {
    let (bin, config, state) = common(flags)?;
    let state_s = state.to_string_lossy().to_string();
    let mut dash = Dash::spawn(&bin, &dash_args(&config, &state_s), &[])?;
    dash.first_frame(Duration::from_secs(60))?;
    let events = header_events(&dash.contents());
    for k in [&b"G"[..], b"g", b"\x1b[6~", b"j", b"?", b"?"] {
        dash.send(k)?;
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(2));
    let pid = dash.pid()?;
    let hwm = status_kib(pid, "VmHWM:")?;
    let rss = status_kib(pid, "VmRSS:")?;
    dash.quit()?;
    Ok(
        json!({"vmhwm_kib": hwm, "vmhwm_mib": hwm as f64 / 1024.0, "vmrss_kib": rss, "events_in_state": events}),
    )
}

/// Row (0-based screen line) of the selection marker.
fn marker_line(screen: &str) -> Option<usize> {
    screen.lines().position(|l| l.contains('▶'))
}

fn read_probe(path: &Path) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("no probe output at {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `--total` events as fast as the generator sends them into a dashboard in
/// a pty, while a key is pressed every 200 ms and its effect waited for;
/// then the 200s, the state's count and the log's count are compared.
fn cmd_burst(rt: &tokio::runtime::Runtime, flags: &Flags) -> Result<Value> {
    let (bin, config, state) = common(flags)?;
    let total: u64 = flags.get("total", 100_000)?;
    let conns: usize = flags.get("conns", 64)?;
    let instances: usize = flags.get("instances", 1000)?;
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;
    let probe = state.join("probe.json");
    let state_s = state.to_string_lossy().to_string();
    let probe_s = probe.to_string_lossy().to_string();
    let mut dash = Dash::spawn(
        &bin,
        &dash_args(&config, &state_s),
        &[(zapi_dash::probe::PROBE_ENV, &probe_s)],
    )?;
    dash.first_frame(Duration::from_secs(60))?;
    // sorted by name, so rows do not move as states change and the marker
    // moves only for the keys (problems first, the default, re-sorts each frame)
    dash.send(b"o")?;
    dash.wait_for("the sort by name", Duration::from_secs(10), |s| {
        s.contains("by name")
    })?;
    let addr = dash.addr()?;
    let opts = LoadOptions {
        total,
        conns,
        rate: None,
        instances,
        offset: 0,
    };
    let gen_handle = rt.spawn(load(addr, opts));
    // keys during the burst: alternate j / k, wait for the marker to move
    let mut key_ms = Vec::new();
    let mut key_failures = 0;
    let mut down = true;
    while !gen_handle.is_finished() {
        let before = marker_line(&dash.contents());
        let t = Instant::now();
        dash.send(if down { b"j" } else { b"k" })?;
        match dash.wait_for("the selection to move", Duration::from_secs(2), |s| {
            marker_line(s) != before
        }) {
            Ok(_) => key_ms.push(t.elapsed().as_secs_f64() * 1000.0),
            Err(_) => key_failures += 1,
        }
        down = !down;
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = rt.block_on(gen_handle)??;
    // the state catches up with what was acknowledged
    let settle = Instant::now();
    let state_events = dash
        .wait_for(
            "the header to count every event",
            Duration::from_secs(30),
            |s| header_events(s).is_some_and(|n| n >= stats.ok),
        )
        .ok()
        .and_then(|s| header_events(&s))
        .or_else(|| header_events(&dash.contents()));
    let settle_ms = settle.elapsed().as_secs_f64() * 1000.0;
    dash.quit()?;
    let mut log_records = 0u64;
    let replay = store::replay(&state.join("events"), |_, _| log_records += 1)?;
    let p = read_probe(&probe)?;
    let max_key = key_ms.iter().copied().fold(0.0, f64::max);
    Ok(json!({
        "load": stats.to_json(),
        "ok_200": stats.ok,
        "state_events": state_events,
        "log_records": log_records,
        "log_corrupt": replay.corrupt,
        "lost": stats.ok.saturating_sub(log_records.min(state_events.unwrap_or(0))),
        "consistent": state_events == Some(stats.ok) && log_records == stats.ok && stats.sent == total,
        "keys_sent": key_ms.len() + key_failures,
        "keys_answered": key_ms.len(),
        "key_p50_ms": median(key_ms.clone()),
        "key_max_ms": max_key,
        "settle_ms": settle_ms,
        "max_frames_per_s": p["max_frames_per_s"],
        "probe": p,
    }))
}

/// Events at `--rate` per second for `--seconds` into a dashboard with the
/// probe on: event → screen latency and frame rate, as the app measured them.
fn cmd_latency(rt: &tokio::runtime::Runtime, flags: &Flags) -> Result<Value> {
    let (bin, config, state) = common(flags)?;
    let rate: f64 = flags.get("rate", 1000.0)?;
    let secs: f64 = flags.get("seconds", 10.0)?;
    let instances: usize = flags.get("instances", 1000)?;
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;
    let probe = state.join("probe.json");
    let state_s = state.to_string_lossy().to_string();
    let probe_s = probe.to_string_lossy().to_string();
    let dash = Dash::spawn(
        &bin,
        &dash_args(&config, &state_s),
        &[(zapi_dash::probe::PROBE_ENV, &probe_s)],
    )?;
    dash.first_frame(Duration::from_secs(60))?;
    let addr = dash.addr()?;
    let total = (rate * secs) as u64;
    let stats = rt.block_on(load(
        addr,
        LoadOptions {
            total,
            conns: 16,
            rate: Some(rate),
            instances,
            offset: 0,
        },
    ))?;
    std::thread::sleep(Duration::from_millis(300));
    dash.quit()?;
    let p = read_probe(&probe)?;
    Ok(json!({
        "load": stats.to_json(),
        "achieved_rate": stats.ok as f64 / stats.seconds,
        "p50_ms": p["latency_p50_ms"], "p99_ms": p["latency_p99_ms"], "max_ms": p["latency_max_ms"],
        "max_frames_per_s": p["max_frames_per_s"],
        "probe": p,
    }))
}

/// Re-registering every instance against the simulator at `--latency-ms`,
/// `--runs` times in one dashboard, from the key to the footer's
/// "re-registered all N instances". The key is `ctrl-r` (every configured
/// instance): `R` takes only the instances whose webhooks do not point
/// here yet, which after the first run is none of them.
fn cmd_register(rt: &tokio::runtime::Runtime, flags: &Flags) -> Result<Value> {
    let bin = flags.path("bin")?;
    let dir = flags.path("dir")?;
    let n: usize = flags.get("instances", 1000)?;
    let latency: u64 = flags.get("latency-ms", 50)?;
    let runs: usize = flags.get("runs", 3)?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (sim, info) = rt.block_on(start_sim(n, latency))?;
    let info_path = dir.join("sim.json");
    std::fs::write(&info_path, serde_json::to_vec(&info)?)?;
    let config = dir.join("config.toml");
    let flags_cfg = Flags(HashMap::from([
        ("out".to_string(), config.to_string_lossy().to_string()),
        (
            "sim-info".to_string(),
            info_path.to_string_lossy().to_string(),
        ),
    ]));
    cmd_config(&flags_cfg)?;
    let config_s = config.to_string_lossy().to_string();
    let state_s = dir.join("state").to_string_lossy().to_string();
    let mut dash = Dash::spawn(&bin, &dash_args(&config_s, &state_s), &[])?;
    dash.first_frame(Duration::from_secs(60))?;
    // the status of every instance is asked at start: let that finish first
    let done = format!("status refreshed: {n}/{n}");
    dash.wait_for(
        "the start-up status refresh",
        Duration::from_secs(120),
        |s| s.contains(&done),
    )?;
    let want = format!("re-registered all {n} instances");
    let mut times = Vec::new();
    for run in 0..runs {
        // a status refresh between runs, waited for to its end (its
        // progress first, then its "done": the previous one may still be on
        // screen), so no call of it overlaps the R that is measured
        dash.send(b"s")?;
        dash.wait_for("a status refresh to start", Duration::from_secs(120), |s| {
            s.contains("asking Z-API for status")
        })?;
        dash.wait_for("a status refresh", Duration::from_secs(120), |s| {
            s.contains(&done)
        })?;
        let puts_before = sim.calls().len();
        let t = Instant::now();
        dash.send(b"\x12")?; // ctrl-r
        dash.wait_for("ctrl-r to finish", Duration::from_secs(300), |s| {
            s.contains(&want)
        })?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let puts = sim
            .calls()
            .iter()
            .skip(puts_before)
            .filter(|c| c.method == "PUT")
            .count();
        eprintln!("register run {run}: {ms:.0} ms, {puts} PUTs");
        times.push(ms);
    }
    dash.quit()?;
    sim.shutdown();
    Ok(
        json!({"instances": n, "latency_ms": latency, "runs_ms": times, "median_ms": median(times.clone())}),
    )
}

/// Diagnostic: the Z-API client alone re-registering `--instances` against the
/// simulator, `--concurrency` at a time, `--runs` times (no dashboard).
async fn cmd_regclient(flags: &Flags) -> Result<Value> {
    let n: usize = flags.get("instances", 1000)?;
    let conc: usize = flags.get("concurrency", 32)?;
    let runs: usize = flags.get("runs", 3)?;
    let (sim, info) = start_sim(n, flags.get("latency-ms", 50)?).await?;
    let client = zapi_dash::zapi::ZapiClient::new(
        &sim.base_url(),
        zapi_dash::model::Secret::new(info["client_token"].as_str().unwrap_or_default()),
    )?;
    let insts: Vec<(InstanceId, zapi_dash::model::Secret)> = info["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                InstanceId::new(i["id"].as_str().unwrap_or_default()),
                zapi_dash::model::Secret::new(i["token"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..runs {
        let sem = Arc::new(tokio::sync::Semaphore::new(conc));
        let t = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for (id, token) in insts.clone() {
            let client = client.clone();
            let sem = Arc::clone(&sem);
            set.spawn(async move {
                let _p = sem.acquire_owned().await;
                client
                    .register_webhooks(&id, &token, "https://zapi-dash.bench.invalid", None)
                    .await
            });
        }
        let mut failed = 0;
        while let Some(r) = set.join_next().await {
            if !matches!(r, Ok(Ok(()))) {
                failed += 1;
            }
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        eprintln!(
            "regclient: {:.0} ms, {failed} failed",
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(json!({"runs_ms": times}))
}

// ---------------------------------------------------------------------------
// #15: a fleet discovered through the partner API, beside per-instance polling

/// `--instances` (10,000) over `--accounts` (2) discovered from the
/// simulator, no `[[instances]]`: spawn → every row counted in the header,
/// then Z-API calls and CPU over `--seconds` with discovery running every
/// `--discover-every` s. Beside it, `--polled` (1,000) configured instances
/// polled per instance at the default interval (60 s): the same window's
/// calls and CPU.
fn cmd_fleet(rt: &tokio::runtime::Runtime, flags: &Flags) -> Result<Value> {
    use zapi_dash::sim::{Sim, SimAccount, SimOptions, demo_instances};
    let bin = flags.path("bin")?;
    let dir = flags.path("dir")?;
    let n: usize = flags.get("instances", 10_000)?;
    let accounts: usize = flags.get("accounts", 2)?;
    let secs: f64 = flags.get("seconds", 60.0)?;
    let every: u64 = flags.get("discover-every", 300)?;
    let polled: usize = flags.get("polled", 1000)?;
    let windows: usize = flags.get("windows", 3)?;
    std::fs::create_dir_all(&dir)?;

    let sim = rt.block_on(Sim::start(SimOptions::default()))?;
    let all = demo_instances(n, 42);
    let mut toml = format!(
        "retention_days = 0\napi_base = \"{}\"\npublic_url = \"https://zapi-dash.bench.invalid\"\n",
        sim.base_url()
    );
    for (k, chunk) in all.chunks(n.div_ceil(accounts.max(1)).max(1)).enumerate() {
        let (ct, pt) = (format!("bench-ct-{k}"), format!("bench-pt-{k}"));
        sim.add_account(
            SimAccount {
                client_token: ct.clone(),
                partner_token: Some(pt.clone()),
            },
            chunk.to_vec(),
        );
        toml.push_str(&format!(
            "[[accounts]]\nname = \"Account {k}\"\nclient_token = \"{ct}\"\npartner_token = \"{pt}\"\ndiscover_every = {every}\n"
        ));
    }
    let config = dir.join("discovered.toml");
    std::fs::write(&config, toml)?;
    set_private(&config);
    let (config_s, state_s) = (
        config.to_string_lossy().to_string(),
        dir.join("state-discovered").to_string_lossy().to_string(),
    );
    let started = Instant::now();
    let dash = Dash::spawn(&bin, &dash_args(&config_s, &state_s), &[])?;
    let all_rows = format!("{n} instances");
    dash.wait_for("every row", Duration::from_secs(60), |s| {
        s.contains(&all_rows)
    })?;
    let rows_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (discovered_calls, discovered_pct, discovered_windows) =
        window(&dash, secs, windows, || sim.calls().len())?;
    dash.quit()?;
    drop(sim);

    let sim = rt.block_on(Sim::start(SimOptions {
        client_token: "bench-ct".into(),
        instances: demo_instances(polled, 7),
        latency: Duration::ZERO,
    }))?;
    let mut toml = format!(
        "retention_days = 0\napi_base = \"{}\"\nclient_token = \"bench-ct\"\n",
        sim.base_url()
    );
    for i in demo_instances(polled, 7) {
        toml.push_str(&format!(
            "[[instances]]\nid = \"{}\"\ntoken = \"{}\"\nname = \"{}\"\n",
            i.id, i.token, i.name
        ));
    }
    let config = dir.join("polled.toml");
    std::fs::write(&config, toml)?;
    set_private(&config);
    let (config_s, state_s) = (
        config.to_string_lossy().to_string(),
        dir.join("state-polled").to_string_lossy().to_string(),
    );
    let dash = Dash::spawn(&bin, &dash_args(&config_s, &state_s), &[])?;
    dash.first_frame(Duration::from_secs(60))?;
    let (polled_calls, polled_pct, polled_windows) =
        window(&dash, secs, windows, || sim.calls().len())?;
    dash.quit()?;
    let per_account = n.div_ceil(accounts.max(1));
    Ok(json!({
        "instances": n, "accounts": accounts, "seconds": secs, "discover_every": every,
        "all_rows_ms": rows_ms,
        "discovered_calls_in_window": discovered_calls,
        "discovered_calls_per_listing": accounts * per_account.div_ceil(1000),
        "discovered_cpu_percent": discovered_pct,
        "discovered_cpu_percent_windows": discovered_windows,
        "polled_instances": polled,
        "polled_calls_in_window": polled_calls,
        "polled_cpu_percent": polled_pct,
        "polled_cpu_percent_windows": polled_windows,
        "per_instance_calls_per_interval_for_the_fleet": 2 * n,
    }))
}

/// Z-API calls (as `calls` counts them) per window and CPU (% of one core,
/// the median of `windows` consecutive windows of `secs`: one window of a
/// process near 0.2 % moves by a few hundredths with what else the machine
/// does) of a running dashboard, after 3 s for the start to settle.
fn window(
    dash: &Dash,
    secs: f64,
    windows: usize,
    calls: impl Fn() -> usize,
) -> Result<(usize, f64, Vec<f64>)> {
    std::thread::sleep(Duration::from_secs(3));
    let pid = dash.pid()?;
    let c0 = calls();
    let mut pcts = Vec::new();
    for _ in 0..windows.max(1) {
        let cpu0 = cpu_seconds(pid)?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(secs));
        let wall = t0.elapsed().as_secs_f64();
        pcts.push((cpu_seconds(pid)? - cpu0) / wall * 100.0);
    }
    let per_window = (calls() - c0) / pcts.len();
    let mut sorted = pcts.clone();
    sorted.sort_by(f64::total_cmp);
    Ok((per_window, sorted[sorted.len() / 2], pcts))
}
// relay (#16)

/// When each webhook reached the local receiver, by its `n`.
type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

/// A receiver on loopback that answers 200 and notes when each body's
/// `n` arrived; its URL.
async fn relay_receiver(arrivals: Arrivals) -> Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let arrivals = Arc::clone(&arrivals);
            async move {
                let at = Instant::now();
                if let Some(n) = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["n"].as_u64())
                {
                    arrivals.lock().expect("lock").insert(n, at);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// `serve` with one `[[forward]]` target at `url`; its address.
fn relay_serve(bin: &str, dir: &Path, url: &str) -> Result<(std::process::Child, SocketAddr)> {
    use std::io::BufRead;
    let config = dir.join("relay.toml");
    std::fs::write(
        &config,
        format!("[[forward]]\nname = \"bench\"\nurl = \"{url}\"\n"),
    )?;
    let mut child = std::process::Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--config",
        ])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stderr = std::io::BufReader::new(child.stderr.take().ok_or_else(|| anyhow!("stderr"))?);
    let mut line = String::new();
    while !line.contains("listening on ") {
        line.clear();
        if stderr.read_line(&mut line)? == 0 {
            bail!("serve ended before it listened");
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| anyhow!("no address in {line:?}"))?
        .parse()?;
    Ok((child, addr))
}

/// Posts `total` webhooks (bodies numbered from `first`), at `rate` per
/// second when given, else as fast as 32 at a time go; when each was sent.
async fn relay_post(
    addr: SocketAddr,
    first: u64,
    total: u64,
    rate: Option<f64>,
) -> Result<HashMap<u64, Instant>> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let permits = Arc::new(tokio::sync::Semaphore::new(32));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (client, sent) = (client.clone(), Arc::clone(&sent));
        let n = first + i;
        tasks.spawn(async move {
            let body = format!(
                "{{\"type\":\"ReceivedCallback\",\"instanceId\":\"BENCH{:027}\",\"momment\":{},\"n\":{n}}}",
                n % 50,
                1_764_000_000_000u64 + n
            );
            let at = Instant::now();
            let ok = client
                .post(format!("http://{addr}/hooks"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                sent.lock().expect("lock").insert(n, at);
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    let sent = sent.lock().expect("lock").clone();
    Ok(sent)
}

/// Waits until the receiver has every `n` in `sent` (at most 60 s).
async fn relay_wait(arrivals: &Arrivals, sent: &HashMap<u64, Instant>) -> Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = {
            let got = arrivals.lock().expect("lock");
            sent.keys()
                .map(|n| got.get(n).copied())
                .collect::<Option<Vec<_>>>()
        };
        if let Some(times) = last {
            return times
                .into_iter()
                .max()
                .ok_or_else(|| anyhow!("nothing sent"));
        }
        if Instant::now() > deadline {
            bail!("the receiver did not get every event within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The relay: throughput (`--total` webhooks as fast as they go, until the
/// receiver has them all, beside the ingest rate of the same run) and the
/// latency from webhook sent to downstream 2xx at `--rate` per second.
async fn cmd_relay(flags: &Flags) -> Result<Value> {
    let bin = flags.req("bin")?.to_owned();
    let dir = PathBuf::from(flags.req("dir")?);
    let total: u64 = flags.get("total", 20_000)?;
    let rate: f64 = flags.get("rate", 1000.0)?;
    let secs: f64 = flags.get("seconds", 10.0)?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let url = relay_receiver(Arc::clone(&arrivals)).await?;
    let (mut child, addr) = relay_serve(&bin, &dir, &url)?;

    let start = Instant::now();
    let sent = relay_post(addr, 0, total, None).await?;
    let ingest_s = start.elapsed().as_secs_f64();
    let done = relay_wait(&arrivals, &sent).await?;
    let relay_s = done.duration_since(start).as_secs_f64();

    let paced = (rate * secs) as u64;
    let sent2 = relay_post(addr, total, paced, Some(rate)).await?;
    relay_wait(&arrivals, &sent2).await?;
    let got = arrivals.lock().expect("lock").clone();
    let mut ms: Vec<f64> = sent2
        .iter()
        .filter_map(|(n, at)| {
            got.get(n)
                .map(|r| r.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(json!({
        "total": total,
        "ingest_events_per_s": sent.len() as f64 / ingest_s,
        "relay_events_per_s": sent.len() as f64 / relay_s,
        "rate": rate,
        "latency_samples": ms.len(),
        "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0),
    }))
}
