//! Durable, append-only event log with group commit.
//!
//! Every webhook the listener accepts goes through [`EventLog::append`], which
//! returns only after the `fsync` that covers the record. A dedicated writer
//! thread (a plain OS thread, so `fsync` never blocks the async runtime) takes
//! one request, drains whatever else is already queued (up to
//! [`LogOptions::max_batch`]; while more appends are announced with
//! [`EventLog::arrival`] it waits for them, at most [`LINGER`]), writes them
//! all with one `write`, calls
//! `sync_data` once and then answers every request of the batch: requests that
//! arrive together share one `fsync` (group commit). If the write or the
//! `fsync` fails, every request of that batch gets the error, never a false
//! success. At start the log is read back with [`replay`]; [`history`] and
//! [`replay_after`] read it on demand.
//!
//! # On-disk format
//!
//! The log is a directory of *segments*, one file per UTC day,
//! `events-YYYY-MM-DD.log`, named after the receipt time of the events it holds.
//! Each segment is a sequence of lines, one record per line:
//!
//! ```text
//! <crc32 of JSON as 8 lowercase hex digits> <JSON>\n
//! 9b012d84 {"seq":1,"fp":"00a1b2c3d4e5f607","event":{"instance_id":"X","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}
//! ```
//!
//! - `crc32` is CRC-32 (IEEE, as in zlib and gzip) of the JSON bytes, exactly
//!   as written, without the separating space and the trailing `\n`.
//! - The JSON object has `seq` (a `u64`, strictly increasing across segments
//!   and restarts, with possible gaps after a failed write; only the `seq` of
//!   a torn, unreadable last record may be given again), `fp` (the duplicate
//!   [`fingerprint`] as 16 lowercase hex digits, `0000000000000000` for an
//!   event that cannot be a retry, see below) and `event` (a
//!   [`model::Event`](crate::model::Event) as its serde implementation writes
//!   it). Writers emit the keys in this order; readers use the order only
//!   for shortcuts and parse the JSON whenever a line is not in that shape.
//! - An acknowledgement record (the dashboard's `a`, [`EventLog::append_ack`])
//!   has `ack` in place of `event`: `{"instance_id":…,"acked":true,"at":…}`.
//!   Readers skip records of a kind they do not know (neither `event` nor
//!   `ack`, or an event of an unknown `kind`) without counting them as
//!   corrupt, so a newer writer's records do not alarm an older reader;
//!   the writer still counts their `seq`.
//! - A line whose CRC or JSON does not check out (a write torn by a crash, bit
//!   rot, a full disk, garbage) is skipped and counted in
//!   [`ReplayStats::corrupt`], never an error. So is a line longer than
//!   [`MAX_RECORD_BYTES`].
//! - When a segment whose last line is torn (no trailing `\n`) is opened for
//!   append, a `\n` is written first so the next record starts on its own line.
//! - Segments are read in date order and records within a segment in file
//!   order, which is `seq` order: the writer never goes back to an older day.
//!   An event whose receipt day is earlier than the newest segment (the clock
//!   went back, or a late event around midnight) is written to the newest
//!   segment.
//! - Retention: at [`EventLog::open`] and whenever the writer moves to a new
//!   day, segments whose whole day is older than [`LogOptions::retention_days`]
//!   are deleted (0 keeps everything), except the segment holding the newest
//!   record (and any newer), so `seq` continues across restarts even after a
//!   long pause.
//! - `events.lock` in the directory is held (an OS file lock) by the process
//!   that has the log open, so two processes cannot append at once.
//!
//! # Reading
//!
//! [`replay`] streams records to a callback (memory stays flat whatever the
//! log's size); large segments are decoded on several threads in chunks of
//! whole lines and handed over in order. [`replay_after`] skips segments and
//! bisects inside a segment to its start. [`history`] reads segments
//! backwards, newest first, and stops at `limit`.
//!
//! # Duplicates
//!
//! Z-API retries a webhook it did not see answered, with the same body. But
//! a body without `momment` (presence, some connected deliveries) is the
//! same bytes every time the event happens, so identical bytes alone do not
//! make a retry. The rule: a body is a retry only if it carries a `momment`
//! and an identical body was accepted within the last [`RETRY_WINDOW`]
//! (10 minutes, by receipt time); anything else is a new event.
//!
//! The caller passes [`fingerprint`] of a body that carries a `momment`, and
//! no fingerprint otherwise (written as 0). An event whose fingerprint was
//! written within [`RETRY_WINDOW`] of its receipt time is not written again
//! and [`EventLog::append`] answers [`Appended::Duplicate`]. The filter is
//! primed at open from the records on disk received within
//! [`RETRY_WINDOW`] of the newest one, so the rule holds across a restart;
//! [`replay`] hands over every record on disk, which is every event the
//! rule took as new. At most [`DEDUP_WINDOW`] fingerprints are kept: beyond
//! that rate (over 100 a second for 10 minutes) the oldest are forgotten
//! early, and a late retry is stored twice rather than an event dropped.

use std::fmt;
use std::fs::{self};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};

use crate::model::Event;

mod dedup;
mod forward;
mod history;
mod record;
mod replay;
mod scan;
mod segments;
mod writer;

pub use forward::{
    Cursor, FORWARD_DIR, ForwardRead, Forwardable, read_cursor, read_forward, write_cursor,
};
pub use history::history;
pub(crate) use record::write_event_json_sorted;
pub use record::{Ack, Record};
pub use replay::{ReplayStats, replay, replay_after, replay_records};
pub use scan::{ScanStats, StateChange, scan_state_changes};

use dedup::DedupFilter;
use segments::{acquire_lock, apply_retention, list_segments, scan_tail};
use writer::Writer;

/// Segments older than this many days are deleted unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Default largest number of appends that share one `fsync`.
pub const DEFAULT_MAX_BATCH: usize = 1024;

/// Most fingerprints the duplicate filter remembers.
pub const DEDUP_WINDOW: usize = 65_536;

/// How long after an accepted body an identical one (with `momment`) is a
/// retry: 10 minutes, by receipt time.
pub const RETRY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The fingerprint written for an event that cannot be a retry (its body
/// had no `momment`); [`fingerprint`] never gives it.
const NO_FINGERPRINT: u64 = 0;

/// Longest record line, in bytes, that is written or read back. Webhook bodies
/// are at most 1 MiB, and a record holds only fields of the body (never
/// longer than they were there), so records stay below this. Longer lines on
/// disk are skipped as corrupt without being held in memory.
pub const MAX_RECORD_BYTES: usize = 2 << 20;

/// Longest a batch waits for appends that are announced ([`EventLog::arrival`])
/// but not queued yet, before it is written and synced without them.
pub const LINGER: Duration = Duration::from_micros(500);

/// How often the writer looks for the announced appends while it waits.
const LINGER_STEP: Duration = Duration::from_micros(40);

/// Replays read and decode the log in chunks of about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;

/// Most threads a replay decodes on.
const MAX_WORKERS: usize = 4;

/// Chunk size for reading a segment backwards.
const REV_CHUNK_BYTES: usize = 256 * 1024;

/// The lock file held while a log is open.
const LOCK_FILE: &str = "events.lock";

/// How long [`EventLog::open`] waits for a lock held by a log that is
/// still shutting down (in this or another process) before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Where the log lives and how it behaves.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Directory of the segments (created if missing).
    pub dir: PathBuf,
    /// Delete segments whose whole day is older than this many days; 0 keeps
    /// everything.
    pub retention_days: u32,
    /// Largest number of appends written and synced together (at least 1).
    pub max_batch: usize,
    /// Where every written record goes, in `seq` order, once it is synced
    /// and before its append is answered: the one ordered feed of the
    /// dashboard's state. The writer waits when the receiver falls behind
    /// (backpressure up to the listener).
    pub committed: Option<mpsc::Sender<(u64, Event)>>,
    /// Keep each webhook's original body in its record, for the relay
    /// (`[[forward]]`); off, records hold only the parsed event.
    pub bodies: bool,
}

impl LogOptions {
    /// Options for `dir` with the default retention ([`DEFAULT_RETENTION_DAYS`])
    /// and batch size ([`DEFAULT_MAX_BATCH`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            retention_days: DEFAULT_RETENTION_DAYS,
            max_batch: DEFAULT_MAX_BATCH,
            committed: None,
            bodies: false,
        }
    }
}

/// What went wrong with the event log. Every message names the file or
/// directory and what failed. Cheap to clone: one failed `fsync` is reported
/// to every request of its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("event log: cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "sync segment".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: Arc<io::Error>,
    },
    /// Another process (or another open log in this one) holds the log.
    #[error(
        "event log {}: already in use by another zapi-dash (lock file {} is held); stop it or use another state directory",
        dir.display(),
        dir.join(LOCK_FILE).display()
    )]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },
    /// The event could not be turned into JSON.
    #[error("event log {}: cannot encode an event: {source}", dir.display())]
    Encode {
        /// The log directory.
        dir: PathBuf,
        /// serde_json's error.
        source: Arc<serde_json::Error>,
    },
    /// The encoded record is longer than [`MAX_RECORD_BYTES`].
    #[error("event log {}: a record of {size} bytes is over the {MAX_RECORD_BYTES}-byte limit", dir.display())]
    TooLarge {
        /// The log directory.
        dir: PathBuf,
        /// Size of the encoded record line.
        size: usize,
    },
    /// The log was shut down; nothing more can be appended.
    #[error("event log {}: closed, no more events can be appended", dir.display())]
    Closed {
        /// The log directory.
        dir: PathBuf,
    },
    /// The writer thread ended without answering (it should never happen).
    #[error("event log {}: the writer thread stopped unexpectedly", dir.display())]
    WriterGone {
        /// The log directory.
        dir: PathBuf,
    },
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        source: Arc::new(source),
    }
}

/// The outcome of a successful [`EventLog::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The event is on disk (synced) with this sequence number.
    Written {
        /// The record's sequence number.
        seq: u64,
    },
    /// An event with the same fingerprint was written within
    /// [`RETRY_WINDOW`]; nothing new was written (the earlier record is on
    /// disk).
    Duplicate,
}

/// Counters of an open log, for diagnostics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records written and synced since open.
    pub records: u64,
    /// Appends answered [`Appended::Duplicate`] since open.
    pub duplicates: u64,
    /// `sync_data` calls that covered records (one per batch and segment).
    pub fsyncs: u64,
    /// Batches the writer took from the queue.
    pub batches: u64,
    /// Most appends taken in one batch.
    pub largest_batch: u64,
    /// Bytes written to segments since open.
    pub bytes: u64,
    /// Appends answered with an error (write, sync, encoding).
    pub failed: u64,
    /// Highest sequence number on disk (found at open or written since).
    pub last_seq: u64,
    /// Segments deleted by retention since open (including at open).
    pub segments_removed: u64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    duplicates: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    largest_batch: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    last_seq: AtomicU64,
    segments_removed: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LogStats {
        LogStats {
            records: self.records.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_seq: self.last_seq.load(Ordering::Relaxed),
            segments_removed: self.segments_removed.load(Ordering::Relaxed),
        }
    }
}

type AppendReply = oneshot::Sender<Result<Appended, StoreError>>;

enum Request {
    Append {
        event: Event,
        fp: Option<u64>,
        body: Option<Vec<u8>>,
        reply: AppendReply,
    },
    /// An event written with the `seq` it has elsewhere (a stream this log
    /// mirrors): never taken for a retry, a repeat when `seq` is not past
    /// the last written.
    Mirror {
        seq: u64,
        event: Event,
        fp: Option<u64>,
        body: Option<Vec<u8>>,
        reply: AppendReply,
    },
    /// An acknowledgement: written like an event, never a duplicate, not
    /// sent to [`LogOptions::committed`] (its maker has applied it).
    Ack {
        ack: Ack,
        reply: AppendReply,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A cheap, clonable handle to an open event log and its writer thread.
///
/// The writer stops when [`EventLog::shutdown`] (or [`EventLog::close`]) is
/// called, or when the last handle is dropped (everything acknowledged is
/// already on disk either way).
#[derive(Clone)]
pub struct EventLog {
    tx: mpsc::Sender<Request>,
    /// Appends announced by [`EventLog::arrival`] and not queued yet.
    arriving: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
    /// The highest `seq` on disk (synced), for readers that follow the log.
    synced: watch::Receiver<u64>,
    bodies: Arc<std::sync::atomic::AtomicBool>,
    dir: Arc<PathBuf>,
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLog")
            .field("dir", &self.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

impl EventLog {
    /// Opens the log in `opts.dir` (creating the directory), applies retention,
    /// finds the last sequence number, primes the duplicate filter from the
    /// newest records and starts the writer thread.
    ///
    /// Fails if the directory cannot be created or listed, or if another open
    /// log holds it (see [`StoreError::Locked`]). Corrupt records are not an
    /// error. Does not need a tokio runtime.
    pub fn open(opts: LogOptions) -> Result<EventLog, StoreError> {
        let dir = opts.dir;
        fs::create_dir_all(&dir).map_err(|e| io_error("create log directory", &dir, e))?;
        let lock = acquire_lock(&dir)?;

        let segments = list_segments(&dir)?;
        let tail = scan_tail(&segments, DEDUP_WINDOW, RETRY_WINDOW);
        let counters = Arc::new(Counters::default());
        counters.last_seq.store(tail.last_seq, Ordering::Relaxed);

        let today = Utc::now().date_naive();
        let removed = apply_retention(&segments, opts.retention_days, today, tail.last_day);
        Counters::add(&counters.segments_removed, removed.len() as u64);
        let newest_day = segments
            .iter()
            .rev()
            .find(|s| !removed.contains(&s.day))
            .map(|s| s.day);

        let mut filter = DedupFilter::new(DEDUP_WINDOW);
        for (fp, received) in tail.fps {
            filter.insert(fp, received);
        }

        let max_batch = opts.max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(4));
        let arriving = Arc::new(AtomicUsize::new(0));
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let (synced_tx, synced_rx) = watch::channel(tail.last_seq);
        let writer = Writer {
            dir: dir.clone(),
            retention_days: opts.retention_days,
            max_batch,
            next_seq: tail.last_seq.saturating_add(1),
            day: newest_day,
            retained_for: newest_day,
            seg: None,
            filter,
            counters: Arc::clone(&counters),
            committed: opts.committed,
            synced: synced_tx,
            arriving: Arc::clone(&arriving),
            spare_runs: Vec::new(),
            _lock: lock,
        };
        std::thread::Builder::new()
            .name("zapi-dash-log".into())
            .spawn(move || writer.run(rx, stopped_tx))
            .map_err(|e| io_error("start the writer thread for", &dir, e))?;

        Ok(EventLog {
            tx,
            arriving,
            counters,
            stopped: stopped_rx,
            synced: synced_rx,
            bodies: Arc::new(std::sync::atomic::AtomicBool::new(opts.bodies)),
            dir: Arc::new(dir),
        })
    }

    /// Appends one event and returns once the `fsync` that covers it is done.
    ///
    /// `fingerprint` (see [`fingerprint`]) identifies retries: if a record
    /// with it was received within [`RETRY_WINDOW`] of `event.received`,
    /// nothing is written and the answer is [`Appended::Duplicate`] (given
    /// only once the original is on disk). An error means the event may not
    /// be on disk: answer 503 so the sender retries. If the future is
    /// dropped after the request was queued, the event is still written.
    pub async fn append(&self, event: Event, fingerprint: u64) -> Result<Appended, StoreError> {
        self.append_arrival(event, Some(fingerprint), None).await
    }

    /// Announces an append that is on its way (a request whose body is
    /// being read and parsed) until the returned guard is dropped or passed
    /// to [`EventLog::append_arrival`]. While appends are announced, the
    /// writer lets a batch wait for them (at most [`LINGER`]) before it
    /// syncs it: under load one `fsync` then covers more appends, and an
    /// idle log never waits.
    pub fn arrival(&self) -> Arrival {
        self.arriving.fetch_add(1, Ordering::Relaxed);
        Arrival(Arc::clone(&self.arriving))
    }

    /// [`EventLog::append`] of an announced append: `arrival` ends once the
    /// request is queued. Without a `fingerprint` (a body without
    /// `momment`) the event is always new: written, never a duplicate.
    pub async fn append_arrival(
        &self,
        event: Event,
        fingerprint: Option<u64>,
        arrival: Option<Arrival>,
    ) -> Result<Appended, StoreError> {
        self.append_body(event, fingerprint, None, arrival).await
    }

    /// [`EventLog::append_arrival`] with the webhook's original `body`,
    /// kept in the record when the log keeps bodies ([`LogOptions::bodies`])
    /// so the relay can deliver it byte for byte.
    pub async fn append_body(
        &self,
        event: Event,
        fingerprint: Option<u64>,
        body: Option<Vec<u8>>,
        arrival: Option<Arrival>,
    ) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Append {
            event,
            fp: fingerprint,
            body: body.filter(|_| self.keeps_bodies()),
            reply,
        };
        self.request(request, answer, arrival).await
    }

    /// Queues `event` to be written with the sequence number `seq` it has
    /// in a stream this log mirrors (`[cluster]`: the JetStream stream's
    /// sequence), and returns once it is queued: the receiver answers once
    /// it is synced. Mirrored events are queued in `seq` order; one whose
    /// `seq` is not past the last written is answered
    /// [`Appended::Duplicate`] and not written. The retry filter is not
    /// asked (the stream dropped the retries); `fingerprint` is kept in the
    /// record.
    pub async fn mirror(
        &self,
        seq: u64,
        event: Event,
        fingerprint: Option<u64>,
        body: Option<Vec<u8>>,
    ) -> Result<oneshot::Receiver<Result<Appended, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Mirror {
            seq,
            event,
            fp: fingerprint,
            body: body.filter(|_| self.keeps_bodies()),
            reply,
        };
        match self.tx.send(request).await {
            Ok(()) => Ok(answer),
            Err(_) => Err(StoreError::Closed {
                dir: self.dir.to_path_buf(),
            }),
        }
    }

    /// Appends an acknowledgement record (the dashboard's `a`) and returns
    /// once the `fsync` that covers it is done. [`replay_records`] reads it
    /// back; [`replay`], [`replay_after`] and [`history`] pass it by.
    pub async fn append_ack(&self, ack: Ack) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.request(Request::Ack { ack, reply }, answer, None)
            .await
    }

    /// Queues a request for the writer (ending `arrival` once queued) and
    /// waits for its answer.
    async fn request(
        &self,
        request: Request,
        answer: oneshot::Receiver<Result<Appended, StoreError>>,
        arrival: Option<Arrival>,
    ) -> Result<Appended, StoreError> {
        let sent = self.tx.send(request).await;
        drop(arrival);
        if sent.is_err() {
            return Err(StoreError::Closed {
                dir: self.dir.to_path_buf(),
            });
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(StoreError::WriterGone {
                dir: self.dir.to_path_buf(),
            }),
        }
    }

    /// Stops the writer once every append queued before this call is written
    /// and synced, and waits for it to finish. Appends after this fail with
    /// [`StoreError::Closed`]. Calling it again (from any handle) just waits.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Request::Shutdown { reply }).await.is_ok() {
            // The writer answers after its last batch; a dropped reply means
            // it is already past that point, which `stopped` tells.
            let _ = answer.await;
        }
        let mut stopped = self.stopped.clone();
        match stopped.wait_for(|done| *done).await {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::WriterGone {
                dir: self.dir.to_path_buf(),
            }),
        }
    }

    /// [`EventLog::shutdown`], consuming this handle.
    pub async fn close(self) -> Result<(), StoreError> {
        self.shutdown().await
    }

    /// A snapshot of the log's counters.
    pub fn stats(&self) -> LogStats {
        self.counters.snapshot()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether records keep the webhooks' bodies ([`LogOptions::bodies`]).
    pub fn keeps_bodies(&self) -> bool {
        self.bodies.load(Ordering::Relaxed)
    }

    /// From now on records keep the bodies (or not): the relay turns it on
    /// when a target is adopted while running.
    pub fn set_keep_bodies(&self, keep: bool) {
        self.bodies.store(keep, Ordering::Relaxed);
    }

    /// The highest `seq` synced to disk, updated after every batch: a
    /// reader that follows the log waits on it.
    pub fn synced(&self) -> watch::Receiver<u64> {
        self.synced.clone()
    }
}

/// An append on its way to the log ([`EventLog::arrival`]); dropping it
/// ends the announcement.
pub struct Arrival(Arc<AtomicUsize>);

impl Drop for Arrival {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Arrival")
    }
}

/// The duplicate fingerprint of a webhook body: the first 8 bytes of its
/// SHA-256, big-endian (1 in the 2^-64 case where that is 0, which marks
/// records without a fingerprint). Stable across runs, platforms and Rust
/// versions.
pub fn fingerprint(body: &[u8]) -> u64 {
    let digest = Sha256::digest(body);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable() {
        // First 8 bytes of SHA-256("abc") = ba7816bf8f01cfea.
        assert_eq!(fingerprint(b"abc"), 0xba78_16bf_8f01_cfea);
    }
}
