//! [`spawn_feed`]: the server's event stream followed, reconnected with
//! backoff, and turned into [`Msg`]s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::app::{Link, Msg};
use crate::fleet::Instance;
use crate::fleet::Snapshot;
use crate::http_retry;
use crate::model::Event;

use super::client::{Failure, RemoteApi, describe};
use super::sse::{SseEvent, SseParser};
use super::{HEALTHY_AFTER, IDLE_TIMEOUT, MAX_EVENT_BYTES, REFUSED_RETRY, RETRY_BASE, RETRY_CAP};

/// The data of an `event: webhook`.
#[derive(Deserialize)]
struct WebhookData {
    seq: u64,
    event: Event,
}

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
            // the server's own trouble (`[cluster]`: cluster unreachable)
            "problem" => match serde_json::from_str::<String>(&ev.data) {
                Ok(text) => Msg::ServerProblem(Some(text)),
                Err(e) => unreadable("problem", &e),
            },
            "problem_cleared" => Msg::ServerProblem(None),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
