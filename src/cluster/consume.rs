//! Every replica reads the whole stream into its own event log, each
//! record with the stream's sequence as its `seq` ([`EventLog::mirror`]).
//!
//! At start, [`catch_up`] copies what the stream holds beyond the log
//! (before the log is replayed into the state, so nothing old is taken for
//! news and no alert runs for it); then [`follow`] copies each new message
//! as it comes, through the log's committed feed into the hub, the SSE
//! clients and the stdout lines, as a single `serve`'s own webhooks.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::ClusterError;
use super::publish::{RECEIVED_HEADER, ROUTE_HEADER};
use crate::listener::parse::{Route, parse_webhook};
use crate::listener::publish::route_named;
use crate::model::Event;
use crate::store::{Appended, EventLog, LogOptions, StoreError};

/// The file beside the log's segments that names the stream it mirrors.
pub const MARKER_FILE: &str = "cluster-stream";

/// Most mirrored records queued before the oldest one's answer is awaited.
const MAX_UNANSWERED: usize = 4096;

/// How long the consumer may say nothing before the stream is asked
/// whether messages are waiting.
const QUIET_CHECK: Duration = Duration::from_secs(3);

/// How long to wait before reading the stream again after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One message of the stream, as the log takes it.
struct Mirrored {
    seq: u64,
    event: Event,
    fingerprint: Option<u64>,
    body: Vec<u8>,
}

/// Copies the stream's messages after the log's last `seq` into the log
/// in `log_dir`, up to the stream's last message at the time of the call
/// (with their bodies when `bodies`); returns how many. The log must not be open elsewhere. Refuses a log that
/// holds events of no stream, or of another one, or more than the stream.
pub async fn catch_up(
    stream: &jetstream::stream::Stream,
    stream_name: &str,
    log_dir: &Path,
    retention_days: u32,
    bodies: bool,
) -> Result<u64, ClusterError> {
    let log_error = |reason: String| ClusterError::Log {
        dir: log_dir.display().to_string(),
        reason,
    };
    let log = EventLog::open(LogOptions {
        retention_days,
        bodies,
        ..LogOptions::new(log_dir)
    })
    .map_err(|e| log_error(e.to_string()))?;
    let local = log.stats().last_seq;
    check_marker(log_dir, stream_name, local).map_err(log_error)?;
    let info = stream.get_info().await.map_err(|e| ClusterError::Stream {
        stream: stream_name.to_string(),
        reason: e.to_string(),
    })?;
    let last = info.state.last_sequence;
    if local > last {
        let _ = log.close().await;
        return Err(log_error(format!(
            "holds events up to seq {local}, but stream {stream_name} ends at {last} (was it recreated?): move the log away to read the stream again"
        )));
    }
    let mut copied = 0;
    // nothing to read when every message left the stream (its max_age)
    if local < last && info.state.messages > 0 {
        let mut messages = ordered(stream, local + 1).await.map_err(log_error)?;
        let mut unanswered = VecDeque::new();
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| log_error(format!("reading the stream: {e}")))?;
            let Some(m) = decode(&message) else {
                continue;
            };
            let seq = m.seq;
            mirror(&log, m, &mut unanswered).await;
            copied += 1;
            if seq >= last {
                break;
            }
        }
        drain(&mut unanswered).await;
    }
    log.close().await.map_err(|e| log_error(e.to_string()))?;
    Ok(copied)
}

/// Copies every message after `after` into `log`, for as long as the log
/// is open, reading the stream again (from the last copied) after a
/// failure and whenever `reconnects` says the connection was made again:
/// the consumer may have lived on a server that is gone.
pub fn follow(
    stream: jetstream::stream::Stream,
    log: EventLog,
    mut after: u64,
    mut reconnects: watch::Receiver<u64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut unanswered = VecDeque::new();
        reconnects.borrow_and_update();
        loop {
            let mut messages = match ordered(&stream, after + 1).await {
                Ok(messages) => messages,
                Err(e) => {
                    tracing::warn!("cluster: cannot read the stream: {e}; again in 1 s");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            };
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = reconnects.changed() => break,
                    // quiet for a while: a consumer lost with a node (it
                    // lives on one) says nothing; the stream says if
                    // messages wait, and the consumer starts over
                    () = tokio::time::sleep(QUIET_CHECK) => {
                        match stream.get_info().await {
                            Ok(info) if info.state.last_sequence > after => break,
                            _ => continue,
                        }
                    }
                };
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => {
                        tracing::warn!("cluster: reading the stream: {e}");
                        break;
                    }
                    None => break,
                };
                let Some(m) = decode(&message) else {
                    continue;
                };
                after = m.seq;
                if !mirror(&log, m, &mut unanswered).await {
                    // the log is closed: serve is stopping
                    return;
                }
            }
            reconnects.borrow_and_update();
            tokio::time::sleep(RETRY_AFTER / 10).await;
        }
    })
}

/// An ordered consumer of the whole stream from `start`.
async fn ordered(
    stream: &jetstream::stream::Stream,
    start: u64,
) -> Result<consumer::pull::Ordered, String> {
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create a consumer: {e}"))?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("cannot read messages: {e}"))
}

/// A message as the log takes it: its stream sequence, the event parsed
/// from the body as the listener parsed it. `None` (logged) for a message
/// that is not a webhook.
fn decode(message: &jetstream::Message) -> Option<Mirrored> {
    let seq = match message.info() {
        Ok(info) => info.stream_sequence,
        Err(e) => {
            tracing::warn!("cluster: a message without its stream sequence: {e}");
            return None;
        }
    };
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let route = header(ROUTE_HEADER)
        .and_then(|r| route_named(&r))
        .unwrap_or(Route::Any);
    let received = header(RECEIVED_HEADER)
        .and_then(|r| r.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .unwrap_or_else(Utc::now);
    let body = message.payload.to_vec();
    match parse_webhook(&body, route, received) {
        Ok(parsed) => Some(Mirrored {
            seq,
            fingerprint: parsed.has_moment.then(|| crate::store::fingerprint(&body)),
            event: parsed.event,
            body,
        }),
        Err(e) => {
            tracing::warn!(
                seq,
                "cluster: stream message is not a webhook, skipped: {e}"
            );
            None
        }
    }
}

type Answer = oneshot::Receiver<Result<Appended, StoreError>>;

/// Queues `m` in the log; the answers of earlier ones are looked at (and
/// the oldest awaited when too many are waiting). False when the log is
/// closed.
async fn mirror(log: &EventLog, m: Mirrored, unanswered: &mut VecDeque<Answer>) -> bool {
    let seq = m.seq;
    match log.mirror(seq, m.event, m.fingerprint, Some(m.body)).await {
        Ok(answer) => unanswered.push_back(answer),
        Err(_) => return false,
    }
    // the writer answers in order: the ready ones are at the front
    while let Some(front) = unanswered.front_mut() {
        match front.try_recv() {
            Ok(Err(e)) => tracing::error!("cluster: event log: {e}"),
            Ok(Ok(_)) | Err(oneshot::error::TryRecvError::Closed) => {}
            Err(oneshot::error::TryRecvError::Empty) => break,
        }
        unanswered.pop_front();
    }
    if unanswered.len() > MAX_UNANSWERED
        && let Some(oldest) = unanswered.pop_front()
        && let Ok(Err(e)) = oldest.await
    {
        tracing::error!("cluster: event log: {e}");
    }
    true
}

/// Awaits every queued answer.
async fn drain(unanswered: &mut VecDeque<Answer>) {
    while let Some(answer) = unanswered.pop_front() {
        if let Ok(Err(e)) = answer.await {
            tracing::error!("cluster: event log: {e}");
        }
    }
}

/// The log in `dir` mirrors `stream` (its marker says so), or is empty
/// and becomes its mirror; else the reason why it cannot.
fn check_marker(dir: &Path, stream: &str, last_seq: u64) -> Result<(), String> {
    let path = dir.join(MARKER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(named) if named.trim() == stream => Ok(()),
        Ok(named) => Err(format!(
            "mirrors stream {}, not {stream}: use another state_dir for another stream",
            named.trim()
        )),
        Err(_) if last_seq > 0 => Err(format!(
            "holds {last_seq} events of a serve without [cluster]: use another state_dir for the cluster (the stream numbers events its own way)"
        )),
        Err(_) => std::fs::write(&path, format!("{stream}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
    }
}
