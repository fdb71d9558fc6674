//! `watch`: the dashboard fed by a remote `serve` instead of a local
//! listener.
//!
//! [`RemoteApi`] carries out the action keys through the server's HTTP API
//! (`POST /api/instances/{id}/register`, `…/status`, …), so the instance
//! tokens never leave the server. [`spawn_feed`] follows the server's
//! Server-Sent Events stream (`GET /api/events`) and turns it into the same
//! [`Msg`]s a local dashboard gets: [`Msg::Snapshot`], [`Msg::Webhook`],
//! [`Msg::Row`], and [`Msg::Link`] for the state of the link itself.
//!
//! When the stream is lost the feed reconnects by itself, with exponential
//! backoff and jitter, and resumes with `Last-Event-ID` set to the `seq` of
//! the last event it received: the server first sends every stored event
//! after it, then a snapshot, so nothing sent while the link was down is
//! missed.
//!
//! The API token travels only in the `Authorization` header; it is kept as a
//! [`Secret`] and a sensitive header value, and never appears in an error,
//! a log line or the screen.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::app::{Instance, Link, Msg, Snapshot};
use crate::http_retry;
use crate::model::{Event, InstanceId, Secret};
use crate::zapi::{ApiError, Status};

/// Timeout of one API call, and of connecting to the event stream.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The stream is taken for dead after this long without a byte (the server
/// sends keep-alive comments far more often).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// First delay of the reconnection backoff.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest delay between two reconnection attempts.
pub const RETRY_CAP: Duration = Duration::from_secs(10);
/// Delay between attempts the server refused (401, 403, 404, …): retried,
/// but slowly, since waiting rarely fixes them.
pub const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// A connection that delivered its snapshot and lasted this long was
/// healthy: when it ends, the feed tries again at once.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(1);
/// Largest event the stream may send (a snapshot of a very large fleet).
pub const MAX_EVENT_BYTES: usize = 64 << 20;
/// Longest error text kept from an answer body.
const MAX_ERROR_CHARS: usize = 200;

/// The remote server's HTTP API. Cloning is cheap.
#[derive(Clone)]
pub struct RemoteApi {
    base: Url,
    token: Secret,
    auth: HeaderValue,
    /// For the actions: every request times out after [`REQUEST_TIMEOUT`].
    http: reqwest::Client,
    /// For the event stream: no overall timeout (it is meant to last).
    stream: reqwest::Client,
}

impl std::fmt::Debug for RemoteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteApi")
            .field("base", &self.display_url())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// `{"ok":true,"status":{…}}`
#[derive(Deserialize)]
struct StatusAnswer {
    status: Status,
}

/// The data of an `event: webhook`.
#[derive(Deserialize)]
struct WebhookData {
    seq: u64,
    event: Event,
}

impl RemoteApi {
    /// The API of the server at `remote` (`http://host:port`, or with a path
    /// prefix behind a reverse proxy), with its API token.
    pub fn new(remote: &str, token: Secret) -> Result<Self, ApiError> {
        let base = crate::zapi::base_url("server URL", remote)?;
        if token.expose().trim().is_empty() {
            return Err(ApiError::Config("the API token is empty".into()));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
            .map_err(|_| {
                ApiError::Config("the API token holds characters not allowed in a header".into())
            })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Config(describe(e)))?;
        let stream = reqwest::Client::builder()
            .connect_timeout(REQUEST_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Config(describe(e)))?;
        Ok(Self {
            base,
            token,
            auth,
            http,
            stream,
        })
    }

    /// The server's URL as shown on screen: without any user or password.
    pub fn display_url(&self) -> String {
        let mut url = self.base.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.as_str().trim_end_matches('/').to_string()
    }

    /// `POST /api/instances/{id}/status`: the server asks Z-API.
    pub async fn status(&self, id: &InstanceId) -> Result<Status, ApiError> {
        let body = self.action(id, "status").await?;
        let answer: StatusAnswer = serde_json::from_slice(&body)
            .map_err(|e| ApiError::Decode(format!("status answer of the server: {e}")))?;
        let mut status = answer.status;
        if status.error.as_deref().is_some_and(str::is_empty) {
            status.error = None;
        }
        Ok(status)
    }

    /// `POST /api/instances/{id}/register`: the server re-registers the
    /// instance's webhooks on Z-API.
    /// `replace`: the operator confirmed replacing another system's webhook
    /// URL (`?replace=true`); without it the server refuses (409) to.
    pub async fn register(&self, id: &InstanceId, replace: bool) -> Result<(), ApiError> {
        if !replace {
            return self.action(id, "register").await.map(drop);
        }
        let mut url = self.url(&["instances", id.as_str(), "register"])?;
        url.query_pairs_mut().append_pair("replace", "true");
        self.send(self.http.post(url)).await.map(drop)
    }

    /// `POST /api/instances/{id}/restart`.
    pub async fn restart(&self, id: &InstanceId) -> Result<(), ApiError> {
        self.action(id, "restart").await.map(drop)
    }

    /// `POST /api/instances/{id}/restore-session`.
    pub async fn restore_session(&self, id: &InstanceId) -> Result<(), ApiError> {
        self.action(id, "restore-session").await.map(drop)
    }

    /// `GET /api/instances/{id}/history`: the instance's newest events from
    /// the server's log, newest first.
    pub async fn history(&self, id: &InstanceId) -> Result<Vec<crate::model::Event>, ApiError> {
        let url = self.url(&["instances", id.as_str(), "history"])?;
        let body = self.send(self.http.get(url)).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Decode(format!("history answer of the server: {e}")))
    }

    /// `{base}/api/…`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Config("the server URL cannot take a path".into()))?
            .pop_if_empty()
            .push("api")
            .extend(segments);
        Ok(url)
    }

    /// One POST; the body of a 2xx answer, or the error with the server's text.
    async fn action(&self, id: &InstanceId, action: &str) -> Result<Vec<u8>, ApiError> {
        let url = self.url(&["instances", id.as_str(), action])?;
        self.send(self.http.post(url)).await
    }

    /// Sends a request with the token; the body of a 2xx answer, or the
    /// error with the server's text.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, ApiError> {
        let resp = req
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ApiError::Network(self.scrub(describe(e))))?;
        let status = resp.status();
        let body = resp.bytes().await;
        match body {
            Ok(body) if status.is_success() => Ok(body.to_vec()),
            Err(e) if status.is_success() => Err(ApiError::Network(self.scrub(describe(e)))),
            body => Err(ApiError::Http {
                status: status.as_u16(),
                message: self.scrub(error_message(body.as_deref().unwrap_or_default(), status)),
            }),
        }
    }

    /// Masks the token wherever it appears in a text (an answer might echo it).
    fn scrub(&self, text: String) -> String {
        let token = self.token.expose().trim();
        if !token.is_empty() && text.contains(token) {
            text.replace(token, &self.token.to_string())
        } else {
            text
        }
    }

    /// Opens the event stream, resuming after `last_seq` if there is one.
    async fn connect(&self, last_seq: Option<u64>) -> Result<reqwest::Response, Failure> {
        let url = self
            .url(&["events"])
            .map_err(|e| Failure::NoRetry(e.to_string()))?;
        let mut req = self
            .stream
            .get(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(seq) = last_seq {
            req = req.header("Last-Event-ID", seq.to_string());
        }
        let resp = match tokio::time::timeout(REQUEST_TIMEOUT, req.send()).await {
            Err(_) => {
                return Err(Failure::Retry(
                    format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
                    None,
                ));
            }
            Ok(Err(e)) => return Err(Failure::Retry(self.scrub(describe(e)), None)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = read_bounded(resp, 64 << 10).await;
            let mut text = ApiError::Http {
                status: status.as_u16(),
                message: self.scrub(error_message(&body, status)),
            }
            .to_string();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    text.push_str(" (check --api-token or ZAPI_DASH_API_TOKEN)");
                    Failure::NoRetry(text)
                }
                StatusCode::NOT_FOUND => {
                    text.push_str(" (is api_token set in the server's config?)");
                    Failure::NoRetry(text)
                }
                StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                    Failure::Retry(text, None)
                }
                s if s.is_client_error() => Failure::NoRetry(text),
                _ => Failure::Retry(text, None),
            });
        }
        let is_stream = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return Err(Failure::NoRetry(format!(
                "{} answered, but not with an event stream: is it a zapi-dash serve?",
                self.display_url()
            )));
        }
        Ok(resp)
    }
}

/// The error text of a non-2xx answer: the `error` field of a JSON body,
/// else the trimmed body text, else the reason phrase; at most
/// [`MAX_ERROR_CHARS`] characters.
fn error_message(body: &[u8], status: StatusCode) -> String {
    http_retry::error_text(body, status.canonical_reason(), MAX_ERROR_CHARS, true)
}

/// A transport error's text, without the URL, with its causes.
fn describe(e: reqwest::Error) -> String {
    if e.is_connect() && !e.is_timeout() {
        // the deepest cause says it best ("Connection refused (os error 111)")
        let mut root = std::error::Error::source(&e);
        while let Some(cause) = root.and_then(std::error::Error::source) {
            root = Some(cause);
        }
        return match root {
            Some(cause) => format!("cannot connect: {cause}"),
            None => "cannot connect".into(),
        };
    }
    http_retry::describe(e, REQUEST_TIMEOUT)
}

/// At most `limit` bytes of an answer body, within [`REQUEST_TIMEOUT`].
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= limit {
                body.truncate(limit);
                break;
            }
        }
    };
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, read).await;
    body
}

/// Why a connection attempt failed: worth retrying soon (network, 5xx:
/// the backoff), or refused by the server (401, 404, …: retried slowly).
type Failure = http_retry::Failure<String>;

/// The delay before reconnection attempt number `failures` (1 after the
/// first failure): 0.5 s doubling up to [`RETRY_CAP`], of which the second
/// half is random (`jitter` in 0..1), so that many watchers cut off together
/// do not all come back at the same instant.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    http_retry::backoff(RETRY_BASE, RETRY_CAP, failures, jitter)
}

/// Follows the server's event stream for as long as `to_app` is open,
/// reconnecting by itself. Every event becomes a [`Msg`] on `to_app`, in
/// the server's order; the link's state too ([`Link::Up`] on connect,
/// [`Link::Down`] with the error and the time of the next try while cut
/// off).
pub fn spawn_feed(api: RemoteApi, to_app: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(
        Feed {
            api,
            to_app,
            last_seq: None,
        }
        .run(),
    )
}

struct Feed {
    api: RemoteApi,
    to_app: mpsc::UnboundedSender<Msg>,
    /// `seq` of the last event received (or of the last snapshot).
    last_seq: Option<u64>,
}

/// How one connection ended.
struct End {
    /// It delivered a snapshot (so it was a working stream).
    got_snapshot: bool,
    why: String,
}

impl Feed {
    /// Sends a message to the app; `false` when the app is gone.
    fn send(&self, msg: Msg) -> bool {
        self.to_app.send(msg).is_ok()
    }

    async fn run(mut self) {
        let mut failures: u32 = 0;
        // when the link was lost (set at the end of a stream, or at the first failure)
        let mut down_since: Option<DateTime<Utc>> = None;
        loop {
            let started = Instant::now();
            let failure = match self.api.connect(self.last_seq).await {
                Ok(resp) => {
                    tracing::info!(server = %self.api.display_url(), resume_after = ?self.last_seq, "event stream connected");
                    if !self.send(Msg::Link(Link::Up)) {
                        return;
                    }
                    let end = self.follow(resp).await;
                    if self.to_app.is_closed() {
                        return;
                    }
                    tracing::warn!(why = %end.why, "event stream lost");
                    down_since = Some(Utc::now());
                    if end.got_snapshot && started.elapsed() >= HEALTHY_AFTER {
                        // it was working: try again at once, and only say
                        // "cut off" if that fails
                        failures = 0;
                        continue;
                    }
                    Failure::Retry(end.why, None)
                }
                Err(f) => f,
            };
            failures = failures.saturating_add(1);
            let (delay, error) = match failure {
                Failure::Retry(e, _) => (backoff(failures, rand::random()), e),
                Failure::NoRetry(e) => (REFUSED_RETRY, e),
            };
            let now = Utc::now();
            let since = *down_since.get_or_insert(now);
            let retry_at = chrono::Duration::from_std(delay).ok().map(|d| now + d);
            tracing::debug!(%error, ?delay, "cannot reach the server");
            if !self.send(Msg::Link(Link::Down {
                since,
                error,
                retry_at,
            })) {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.to_app.closed() => return,
            }
        }
    }

    /// Reads one connection's stream until it ends.
    async fn follow(&mut self, mut resp: reqwest::Response) -> End {
        let mut parser = SseParser::new(MAX_EVENT_BYTES);
        let mut got_snapshot = false;
        let end = |got_snapshot, why: String| End { got_snapshot, why };
        loop {
            let chunk = tokio::select! {
                chunk = tokio::time::timeout(IDLE_TIMEOUT, resp.chunk()) => chunk,
                () = self.to_app.closed() => return end(got_snapshot, "quitting".into()),
            };
            let bytes = match chunk {
                Err(_) => {
                    return end(
                        got_snapshot,
                        format!("nothing from the server for {} s", IDLE_TIMEOUT.as_secs()),
                    );
                }
                Ok(Err(e)) => return end(got_snapshot, self.api.scrub(describe(e))),
                Ok(Ok(None)) => return end(got_snapshot, "the server ended the stream".into()),
                Ok(Ok(Some(bytes))) => bytes,
            };
            let events = match parser.feed(&bytes) {
                Ok(events) => events,
                Err(e) => return end(got_snapshot, e.to_string()),
            };
            for ev in events {
                match self.handle(ev) {
                    Some(snapshot) => got_snapshot |= snapshot,
                    None => return end(got_snapshot, "quitting".into()),
                }
            }
        }
    }

    /// Turns one event into a message. `Some(true)` for a snapshot, `None`
    /// when the app is gone.
    fn handle(&mut self, ev: SseEvent) -> Option<bool> {
        let msg = match ev.event.as_str() {
            "snapshot" => match serde_json::from_str::<Snapshot>(&ev.data) {
                Ok(snapshot) => {
                    // the snapshot is the truth, even with a lower seq (a
                    // server whose log was wiped): live events follow it
                    self.last_seq = Some(snapshot.seq);
                    return self.send(Msg::Snapshot(snapshot)).then_some(true);
                }
                Err(e) => unreadable("snapshot", &e),
            },
            "webhook" => match serde_json::from_str::<WebhookData>(&ev.data) {
                // already applied (or in the snapshot): skip
                Ok(w) if self.last_seq.is_some_and(|last| w.seq <= last) => return Some(false),
                Ok(w) => {
                    self.last_seq = Some(w.seq);
                    Msg::Webhook(w.event)
                }
                Err(e) => unreadable("webhook", &e),
            },
            "row" => match serde_json::from_str::<Instance>(&ev.data) {
                Ok(row) => Msg::Row(Box::new(row)),
                Err(e) => unreadable("row", &e),
            },
            other => {
                tracing::debug!(event = other, "ignoring an unknown event type");
                return Some(false);
            }
        };
        self.send(msg).then_some(false)
    }
}

/// An event whose data cannot be read: said in the footer, then skipped
/// (the next snapshot brings the state back in line).
fn unreadable(kind: &str, e: &serde_json::Error) -> Msg {
    tracing::warn!(kind, error = %e, "unreadable event from the server");
    Msg::Problem(format!(
        "the server sent a `{kind}` event this watcher cannot read: {e}"
    ))
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream so far (`id:` persists).
    pub id: Option<String>,
}

/// The stream broke the parser's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("the server sent an event over {0} bytes")]
    TooLarge(usize),
}

/// An incremental `text/event-stream` parser, as the HTML standard defines
/// it: lines end with `\r\n`, `\n` or `\r` (also split across chunks);
/// `:` starts a comment; `field: value` with one optional space; several
/// `data` lines join with `\n`; a blank line dispatches; an event without
/// data is not dispatched; a leading BOM is skipped; unknown fields are
/// ignored. Memory is bounded by `limit` bytes per event.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    first_line: bool,
    event: String,
    data: String,
    id: Option<String>,
    limit: usize,
}

impl SseParser {
    pub fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            event: String::new(),
            data: String::new(),
            id: None,
            limit,
        }
    }

    /// Feeds the next bytes of the stream; returns the events they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if std::mem::take(&mut self.after_cr) && bytes[0] == b'\n' {
                bytes = &bytes[1..];
                continue;
            }
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.push(&bytes[..i])?;
                    self.after_cr = bytes[i] == b'\r';
                    self.end_line(&mut out);
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.push(bytes)?;
                    break;
                }
            }
        }
        Ok(out)
    }

    fn push(&mut self, part: &[u8]) -> Result<(), SseError> {
        if self.line.len() + self.data.len() + part.len() > self.limit {
            return Err(SseError::TooLarge(self.limit));
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        let mut line = line.as_slice();
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix("\u{FEFF}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        out.push(SseEvent {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn sse_fields_comments_and_multi_line_data() {
        let mut p = SseParser::new(1 << 20);
        let got = p
            .feed(
                b": keep-alive\n\nevent: snapshot\ndata: {\"a\":\ndata:1}\n\n\
                  id: 7\nevent: webhook\ndata: x\nretry: 10\nunknown: y\n\ndata\n\n",
            )
            .unwrap();
        assert_eq!(
            got,
            vec![
                ev("snapshot", "{\"a\":\n1}", None),
                ev("webhook", "x", Some("7")),
                // no `data:` value is an empty data line; the id persists
                ev("message", "", Some("7")),
            ]
        );
    }

    #[test]
    fn sse_any_line_ending_even_split_across_chunks() {
        let stream: &[u8] =
            b"\xEF\xBB\xBFevent: row\r\ndata: 1\r\n\r\nevent: row\rdata:  2\r\revent: row\ndata: 3\n\n";
        let whole = SseParser::new(1 << 20).feed(stream).unwrap();
        assert_eq!(
            whole,
            vec![
                ev("row", "1", None),
                ev("row", " 2", None),
                ev("row", "3", None)
            ]
        );
        // every split point, byte by byte too, gives the same events
        for cut in 0..stream.len() {
            let mut p = SseParser::new(1 << 20);
            let mut got = p.feed(&stream[..cut]).unwrap();
            got.extend(p.feed(&stream[cut..]).unwrap());
            assert_eq!(got, whole, "cut at {cut}");
        }
        let mut p = SseParser::new(1 << 20);
        let mut got = Vec::new();
        for b in stream {
            got.extend(p.feed(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn sse_event_without_data_is_not_dispatched_and_size_is_bounded() {
        let mut p = SseParser::new(1 << 20);
        assert_eq!(p.feed(b"event: snapshot\n\n\n").unwrap(), vec![]);
        assert_eq!(
            p.feed(b"data: a\n\n").unwrap(),
            vec![ev("message", "a", None)]
        );
        let mut p = SseParser::new(16);
        assert!(p.feed(b"data: 0123456789\n").is_ok());
        assert_eq!(p.feed(b"data: 0123456789\n"), Err(SseError::TooLarge(16)));
        // invalid UTF-8 is replaced, not a panic
        let mut p = SseParser::new(1 << 20);
        assert_eq!(
            p.feed(b"data: \xff\xfe\n\n").unwrap(),
            vec![ev("message", "\u{FFFD}\u{FFFD}", None)]
        );
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_the_cap_with_jitter() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(6, 1.0), RETRY_CAP);
        assert_eq!(backoff(u32::MAX, 1.0), RETRY_CAP);
        assert_eq!(backoff(u32::MAX, 0.0), RETRY_CAP / 2);
        assert_eq!(backoff(0, 1.0), Duration::from_millis(500));
    }

    #[test]
    fn urls_keep_a_path_prefix_and_encode_ids() {
        let api = RemoteApi::new(
            "https://u:p@dash.example.com/zapi/",
            Secret::new("T0KEN-0123456789abc"),
        )
        .unwrap();
        assert_eq!(
            api.url(&["instances", "A/B", "register"]).unwrap().path(),
            "/zapi/api/instances/A%2FB/register"
        );
        assert_eq!(api.display_url(), "https://dash.example.com/zapi");
        assert!(!format!("{api:?}").contains("0123456789"));
        assert!(RemoteApi::new("ftp://x", Secret::new("t")).is_err());
        assert!(RemoteApi::new("http://x", Secret::new(" ")).is_err());
        assert!(RemoteApi::new("not a url", Secret::new("t")).is_err());
    }

    #[test]
    fn error_text_comes_from_the_json_error_field() {
        assert_eq!(
            error_message(
                br#"{"error":"instance is not configured"}"#,
                StatusCode::CONFLICT
            ),
            "instance is not configured"
        );
        assert_eq!(error_message(b"", StatusCode::BAD_GATEWAY), "Bad Gateway");
        assert_eq!(
            error_message(b" plain \n", StatusCode::BAD_GATEWAY),
            "plain"
        );
        assert_eq!(
            error_message(&[b'x'; 500], StatusCode::BAD_GATEWAY)
                .chars()
                .count(),
            MAX_ERROR_CHARS
        );
    }
}
