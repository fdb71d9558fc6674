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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};

use crate::model::{Event, EventKind, InstanceId};

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
        let (reply, answer) = oneshot::channel();
        let request = Request::Append {
            event,
            fp: fingerprint,
            reply,
        };
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

/// What a replay read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records passed to the callback.
    pub records: u64,
    /// Lines skipped because their CRC or JSON did not check out (plus one per
    /// segment that could not be opened or read to its end).
    pub corrupt: u64,
    /// Segment files read.
    pub segments: usize,
    /// Highest sequence number passed to the callback (0 if none).
    pub last_seq: u64,
}

/// Streams every intact record of the log in `dir`, oldest first, into `f`
/// with its sequence number, without holding them all in memory.
///
/// Torn or corrupt records are skipped and counted, and so are segments that
/// cannot be read (with a warning in the diagnostics log); only a directory
/// that exists but cannot be listed is an error. A missing directory is an
/// empty log.
pub fn replay(dir: &Path, f: impl FnMut(u64, Event)) -> Result<ReplayStats, StoreError> {
    replay_after(dir, 0, f)
}

/// Like [`replay`], but only records with `seq > after`, oldest first: for
/// resuming a stream (e.g. SSE `Last-Event-ID`). Segments that hold only
/// older records are not read, the start inside a segment is found by
/// bisection, and older records that are read are only CRC-checked; so
/// [`ReplayStats::corrupt`] counts only what was read.
pub fn replay_after(
    dir: &Path,
    after: u64,
    mut f: impl FnMut(u64, Event),
) -> Result<ReplayStats, StoreError> {
    let segments = list_segments(dir)?;
    let start = if after == 0 {
        0
    } else {
        first_segment_after(&segments, after)
    };
    let mut stats = ReplayStats::default();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS));
    for seg in &segments[start..] {
        stats.segments += 1;
        let file = match File::open(&seg.path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(path = %seg.path.display(), error = %e, "event log: cannot open segment, skipped");
                stats.corrupt += 1;
                continue;
            }
        };
        let big = file
            .metadata()
            .is_ok_and(|m| m.len() > 2 * CHUNK_BYTES as u64);
        let mut emit = |decoded: Decoded| {
            stats.corrupt += decoded.corrupt;
            for (seq, event) in decoded.records {
                stats.records += 1;
                stats.last_seq = stats.last_seq.max(seq);
                f(seq, event);
            }
        };
        let mut file = file;
        if after > 0 {
            let start = resume_offset(&mut file, after);
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                tracing::warn!(path = %seg.path.display(), error = %e, "event log: cannot seek in segment, skipped");
                stats.corrupt += 1;
                continue;
            }
        }
        let mut reader = ChunkReader::new(file);
        let result = if big && workers > 1 {
            replay_parallel(&mut reader, after, workers, &mut emit)
        } else {
            replay_sequential(&mut reader, after, &mut emit)
        };
        stats.corrupt += reader.overlong;
        if let Err(e) = result {
            tracing::warn!(path = %seg.path.display(), error = %e, "event log: read error, rest of segment skipped");
            stats.corrupt += 1;
        }
    }
    Ok(stats)
}

/// A byte offset in a segment from which reading finds every record with
/// `seq > after`: the start of a record with `seq <= after` (so every record
/// before it is older too, records being in `seq` order within a segment),
/// found by bisection; 0 when in doubt.
fn resume_offset(file: &mut File, after: u64) -> u64 {
    const WINDOW: u64 = 64 * 1024;
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return 0;
    };
    let (mut lo, mut hi) = (0u64, len);
    let mut buf = Vec::with_capacity(WINDOW as usize);
    while hi - lo > WINDOW {
        let mid = lo + (hi - lo) / 2;
        buf.clear();
        let read = file
            .seek(SeekFrom::Start(mid))
            .and_then(|_| (&mut *file).take(WINDOW).read_to_end(&mut buf));
        if read.is_err() {
            return 0;
        }
        // The first whole line after `mid`, then the first intact record.
        let mut probe = None;
        if let Some(first) = buf.iter().position(|&b| b == b'\n') {
            let mut offset = mid + first as u64 + 1;
            let mut rest = &buf[first + 1..];
            while let Some(n) = rest.iter().position(|&b| b == b'\n') {
                if let Some(seq) = check_crc(&rest[..n]).and_then(quick_seq) {
                    probe = Some((offset, seq));
                    break;
                }
                offset += n as u64 + 1;
                rest = &rest[n + 1..];
            }
        }
        match probe {
            Some((offset, seq)) if seq <= after => lo = offset,
            _ => hi = mid,
        }
    }
    lo
}

/// The intact records of a run of lines, and how many lines were not.
struct Decoded {
    records: Vec<(u64, Event)>,
    corrupt: u64,
}

/// Decodes every line of `chunk` (whole lines; only the last may lack its
/// `\n`), keeping records with `seq > after`.
fn decode_chunk(chunk: &[u8], after: u64) -> Decoded {
    let mut out = Decoded {
        records: Vec::with_capacity(chunk.len() / 256),
        corrupt: 0,
    };
    for_each_line(chunk, |line| {
        let Some(json) = line.and_then(check_crc) else {
            out.corrupt += 1;
            return;
        };
        if after > 0 && quick_seq(json).is_some_and(|seq| seq <= after) {
            return;
        }
        match decode_record(json) {
            Some((seq, event)) if seq > after => out.records.push((seq, event)),
            Some(_) => {}
            None => out.corrupt += 1,
        }
    });
    out
}

fn replay_sequential(
    reader: &mut ChunkReader,
    after: u64,
    emit: &mut impl FnMut(Decoded),
) -> io::Result<()> {
    while let Some(chunk) = reader.next_chunk()? {
        emit(decode_chunk(&chunk, after));
    }
    Ok(())
}

/// Decodes chunks on `workers` threads while this thread reads the file and
/// hands the results to `emit` in file order. At most a few chunks are in
/// flight, so memory stays bounded.
fn replay_parallel(
    reader: &mut ChunkReader,
    after: u64,
    workers: usize,
    emit: &mut impl FnMut(Decoded),
) -> io::Result<()> {
    use std::sync::Mutex;
    use std::sync::mpsc::sync_channel;

    let in_flight_max = workers * 2;
    std::thread::scope(|scope| {
        // Both queues can hold every chunk in flight: no send ever blocks
        // for good.
        let (job_tx, job_rx) = sync_channel::<(u64, Vec<u8>)>(in_flight_max);
        let (done_tx, done_rx) = sync_channel::<(u64, Decoded)>(in_flight_max);
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..workers {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((index, chunk)) = job else { return };
                    if done_tx.send((index, decode_chunk(&chunk, after))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);

        let mut result = Ok(());
        let mut eof = false;
        let (mut sent, mut emitted) = (0u64, 0u64);
        let mut ready = std::collections::BTreeMap::new();
        loop {
            while !eof && sent - emitted < in_flight_max as u64 {
                match reader.next_chunk() {
                    Ok(Some(chunk)) => {
                        if job_tx.send((sent, chunk)).is_err() {
                            eof = true;
                        } else {
                            sent += 1;
                        }
                    }
                    Ok(None) => eof = true,
                    Err(e) => {
                        result = Err(e);
                        eof = true;
                    }
                }
            }
            if emitted == sent {
                break;
            }
            let Ok((index, decoded)) = done_rx.recv() else {
                break;
            };
            ready.insert(index, decoded);
            while let Some(decoded) = ready.remove(&emitted) {
                emit(decoded);
                emitted += 1;
            }
        }
        drop(job_tx);
        result
    })
}

/// The newest records of instance `id`, newest first, at most `limit`, read
/// from the log in `dir` on demand (segments are read backwards, so recent
/// history costs little however large the log is). Corrupt records are
/// skipped; a missing directory gives an empty history.
pub fn history(dir: &Path, id: &InstanceId, limit: usize) -> Result<Vec<(u64, Event)>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let encoded_id = serde_json::to_vec(id.as_str()).map_err(|e| StoreError::Encode {
        dir: dir.to_path_buf(),
        source: Arc::new(e),
    })?;
    let segments = list_segments(dir)?;
    for seg in segments.iter().rev() {
        let mut file = match File::open(&seg.path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(path = %seg.path.display(), error = %e, "event log: cannot open segment, skipped");
                continue;
            }
        };
        let result = lines_backward(&mut file, |line| {
            let Some(json) = line.and_then(check_crc) else {
                return ControlFlow::Continue(());
            };
            if quick_instance_match(json, &encoded_id) == Some(false) {
                return ControlFlow::Continue(());
            }
            if let Some((seq, event)) = decode_record(json)
                && event.instance_id == *id
            {
                out.push((seq, event));
                if out.len() >= limit {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = result {
            tracing::warn!(path = %seg.path.display(), error = %e, "event log: read error, rest of segment skipped");
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Records

/// A fingerprint, written as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FpHex(u64);

impl Serialize for FpHex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digits = [0u8; 16];
        hex_into(self.0, &mut digits);
        let text = std::str::from_utf8(&digits).map_err(ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for FpHex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FpVisitor;
        impl Visitor<'_> for FpVisitor {
            type Value = FpHex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("16 hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FpHex, E> {
                let digits = v.as_bytes();
                (digits.len() == 16)
                    .then(|| parse_hex(digits))
                    .flatten()
                    .map(FpHex)
                    .ok_or_else(|| E::custom("fingerprint must be 16 hex digits"))
            }
        }
        deserializer.deserialize_str(FpVisitor)
    }
}

/// A record as serde would write it; [`encode_record`] writes the same by
/// hand, and the tests compare the two.
#[cfg(test)]
#[derive(Serialize)]
struct RecordOut<'a> {
    seq: u64,
    fp: FpHex,
    event: &'a Event,
}

#[derive(Deserialize)]
struct RecordIn {
    seq: u64,
    #[allow(dead_code)]
    fp: FpHex,
    event: Event,
}

/// Just enough of a record to prime the writer.
#[derive(Deserialize)]
struct RecordHead {
    seq: u64,
    fp: FpHex,
    event: HeadEvent,
}

/// Of the event, only when it was received.
#[derive(Deserialize)]
struct HeadEvent {
    received: FastTime,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(value: u64, out: &mut [u8]) {
    let n = out.len();
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 4 * (n - 1 - i);
        *byte = HEX[((value >> shift) & 0xf) as usize];
    }
}

fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        Some((acc << 4) | u64::from(d))
    })
}

/// Appends one record line to `buf`. On error `buf` is left as it was.
///
/// The JSON is written by hand ([`write_event_json`]), byte for byte what
/// serde gives for [`RecordOut`] (`record_encoding_is_what_serde_gives`):
/// serde's flattened enum and chrono's `Display`-based timestamps were the
/// writer thread's largest costs.
fn encode_record(
    buf: &mut Vec<u8>,
    dir: &Path,
    seq: u64,
    fp: u64,
    event: &Event,
) -> Result<(), StoreError> {
    let start = buf.len();
    buf.extend_from_slice(b"00000000 ");
    let json_start = buf.len();
    buf.extend_from_slice(b"{\"seq\":");
    write_u64(buf, seq);
    buf.extend_from_slice(b",\"fp\":\"");
    let mut digits = [0u8; 16];
    hex_into(fp, &mut digits);
    buf.extend_from_slice(&digits);
    buf.extend_from_slice(b"\",\"event\":");
    write_event_json(buf, event);
    buf.push(b'}');
    let size = buf.len() - start + 1;
    if size > MAX_RECORD_BYTES {
        buf.truncate(start);
        return Err(StoreError::TooLarge {
            dir: dir.to_path_buf(),
            size,
        });
    }
    let crc = crc32fast::hash(&buf[json_start..]);
    hex_into(u64::from(crc), &mut buf[start..start + 8]);
    buf.push(b'\n');
    Ok(())
}

/// An [`Event`] as its `Serialize` writes it with serde_json:
/// `{"instance_id":…,"kind":…,<the kind's field>,"moment":…,"received":…}`.
fn write_event_json(buf: &mut Vec<u8>, event: &Event) {
    buf.extend_from_slice(b"{\"instance_id\":");
    write_json_str(buf, event.instance_id.as_str());
    match &event.kind {
        EventKind::Disconnected { error } => {
            buf.extend_from_slice(b",\"kind\":\"disconnected\",\"error\":");
            write_json_opt_str(buf, error.as_deref());
        }
        EventKind::Connected { phone } => {
            buf.extend_from_slice(b",\"kind\":\"connected\",\"phone\":");
            write_json_opt_str(buf, phone.as_deref());
        }
        EventKind::Activity { callback } => {
            buf.extend_from_slice(b",\"kind\":\"activity\",\"callback\":");
            write_json_str(buf, callback);
        }
    }
    buf.extend_from_slice(b",\"moment\":");
    write_json_time(buf, &event.moment);
    buf.extend_from_slice(b",\"received\":");
    write_json_time(buf, &event.received);
    buf.push(b'}');
}

/// `n` in decimal.
pub(crate) fn write_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// `s` as a JSON string, exactly as serde_json writes it: copied as is when
/// nothing needs escaping, serde_json's own escaping otherwise.
pub(crate) fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else if serde_json::to_writer(&mut *buf, s).is_err() {
        // Writing a string to a Vec cannot fail.
        buf.extend_from_slice(b"null");
    }
}

/// `null` or [`write_json_str`].
pub(crate) fn write_json_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// A timestamp as chrono's serde writes it (RFC 3339, `Z`, fraction of 0,
/// 3, 6 or 9 digits): by hand for years 0 to 9999 outside leap seconds,
/// through chrono otherwise.
pub(crate) fn write_json_time(buf: &mut Vec<u8>, t: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    /// `n` in exactly `out.len()` decimal digits.
    fn digits(out: &mut [u8], mut n: u32) {
        for d in out.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    let naive = t.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = date.year();
    let nano = time.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        if serde_json::to_writer(&mut *buf, t).is_err() {
            buf.extend_from_slice(b"null");
        }
        return;
    }
    let mut text = *b"\"0000-00-00T00:00:00.000000000Z\"";
    digits(&mut text[1..5], year as u32);
    digits(&mut text[6..8], date.month());
    digits(&mut text[9..11], date.day());
    digits(&mut text[12..14], time.hour());
    digits(&mut text[15..17], time.minute());
    digits(&mut text[18..20], time.second());
    let fraction = if nano == 0 {
        0
    } else if nano.is_multiple_of(1_000_000) {
        digits(&mut text[21..24], nano / 1_000_000);
        4
    } else if nano.is_multiple_of(1_000) {
        digits(&mut text[21..27], nano / 1_000);
        7
    } else {
        digits(&mut text[21..30], nano);
        10
    };
    buf.extend_from_slice(&text[..20 + fraction]);
    buf.extend_from_slice(b"Z\"");
}

/// The JSON part of a record line (without its `\n`) if the CRC checks out.
fn check_crc(line: &[u8]) -> Option<&[u8]> {
    if line.len() < 10 || line[8] != b' ' {
        return None;
    }
    let crc = parse_hex(&line[..8])?;
    let json = &line[9..];
    (u64::from(crc32fast::hash(json)) == crc).then_some(json)
}

/// Decodes a record's JSON. Tries [`FastRecord`] first and falls back to
/// [`Event`]'s own `Deserialize` whenever the fast path does not match exactly,
/// so the result is always what `Event` itself would give.
fn decode_record(json: &[u8]) -> Option<(u64, Event)> {
    // One UTF-8 check for the whole line is cheaper than one per string.
    let json = std::str::from_utf8(json).ok()?;
    if let Some(decoded) = decode_canonical(json) {
        return Some(decoded);
    }
    if let Ok(record) = serde_json::from_str::<FastRecord>(json)
        && let Some(event) = record.event.into_event()
    {
        return Some((record.seq, event));
    }
    let record: RecordIn = serde_json::from_str(json).ok()?;
    Some((record.seq, record.event))
}

/// Decodes a record exactly as [`encode_record`] writes it, byte for byte:
/// `{"seq":N,"fp":"<16 hex>","event":{"instance_id":"…","kind":"…",<the
/// kind's field>,"moment":"…","received":"…"}}` with strings free of escapes
/// and control characters. Anything else (an escape, another key order, a
/// field that does not belong to the kind) gives `None` and the caller takes
/// the serde path, so the result is always what serde would give. Replay
/// spends most of its time here: this is about three times faster than serde.
fn decode_canonical(json: &str) -> Option<(u64, Event)> {
    /// A JSON string without escapes at the start of `s` (after its opening
    /// quote): its text and what follows the closing quote.
    fn plain_str(s: &str) -> Option<(&str, &str)> {
        let bytes = s.as_bytes();
        let end = bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        (bytes[end] == b'"').then(|| (&s[..end], &s[end + 1..]))
    }
    /// `null` or a plain string, then what follows.
    fn opt_str(s: &str) -> Option<(Option<String>, &str)> {
        if let Some(rest) = s.strip_prefix("null") {
            return Some((None, rest));
        }
        let (text, rest) = plain_str(s.strip_prefix('"')?)?;
        Some((Some(text.to_owned()), rest))
    }
    let rest = json.strip_prefix("{\"seq\":")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest.starts_with('0')) {
        return None;
    }
    let seq: u64 = rest[..digits].parse().ok()?;
    let rest = rest[digits..].strip_prefix(",\"fp\":\"")?;
    if !rest.get(..16)?.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest[16..].strip_prefix("\",\"event\":{\"instance_id\":\"")?;
    let (id, rest) = plain_str(rest)?;
    let rest = rest.strip_prefix(",\"kind\":\"")?;
    let (kind, rest) = if let Some(rest) = rest.strip_prefix("disconnected\",\"error\":") {
        let (error, rest) = opt_str(rest)?;
        (EventKind::Disconnected { error }, rest)
    } else if let Some(rest) = rest.strip_prefix("connected\",\"phone\":") {
        let (phone, rest) = opt_str(rest)?;
        (EventKind::Connected { phone }, rest)
    } else {
        let rest = rest.strip_prefix("activity\",\"callback\":\"")?;
        let (callback, rest) = plain_str(rest)?;
        (
            EventKind::Activity {
                callback: callback.to_owned(),
            },
            rest,
        )
    };
    let rest = rest.strip_prefix(",\"moment\":\"")?;
    let (moment, rest) = plain_str(rest)?;
    let rest = rest.strip_prefix(",\"received\":\"")?;
    let (received, rest) = plain_str(rest)?;
    if rest != "}}" {
        return None;
    }
    Some((
        seq,
        Event {
            instance_id: InstanceId::new(id),
            kind,
            moment: parse_utc_fast(moment.as_bytes())?,
            received: parse_utc_fast(received.as_bytes())?,
        },
    ))
}

/// A record decoded without `Event`'s `#[serde(flatten)]` (which buffers
/// every field) and with a direct parser for the timestamps chrono writes:
/// about twice as fast. `fp` is not needed for replay and is skipped.
#[derive(Deserialize)]
struct FastRecord {
    seq: u64,
    event: FastEvent,
}

/// The JSON of an [`Event`] as its `Serialize` writes it, field for field.
/// Unknown fields are refused, so a change to `Event` makes this fail (and
/// the caller fall back) rather than drop data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastEvent {
    instance_id: String,
    kind: FastKind,
    error: Option<String>,
    phone: Option<String>,
    callback: Option<String>,
    moment: FastTime,
    received: FastTime,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FastKind {
    Disconnected,
    Connected,
    Activity,
}

impl FastEvent {
    /// The event, or `None` if the fields do not match the kind exactly.
    fn into_event(self) -> Option<Event> {
        let kind = match (self.kind, self.error, self.phone, self.callback) {
            (FastKind::Disconnected, error, None, None) => EventKind::Disconnected { error },
            (FastKind::Connected, None, phone, None) => EventKind::Connected { phone },
            (FastKind::Activity, None, None, Some(callback)) => EventKind::Activity { callback },
            _ => return None,
        };
        Some(Event {
            instance_id: InstanceId::new(self.instance_id),
            kind,
            moment: self.moment.0,
            received: self.received.0,
        })
    }
}

/// A `DateTime<Utc>` read by [`parse_utc_fast`], or by chrono when that
/// declines.
struct FastTime(DateTime<Utc>);

impl<'de> Deserialize<'de> for FastTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = FastTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FastTime, E> {
                if let Some(t) = parse_utc_fast(v.as_bytes()) {
                    return Ok(FastTime(t));
                }
                DateTime::<Utc>::deserialize(de::value::StrDeserializer::<E>::new(v)).map(FastTime)
            }
        }
        deserializer.deserialize_str(TimeVisitor)
    }
}

/// Parses exactly the shape chrono's serde writes for `DateTime<Utc>`:
/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`. Anything else (other offsets, leap
/// seconds, years beyond 4 digits) gives `None`.
fn parse_utc_fast(s: &[u8]) -> Option<DateTime<Utc>> {
    fn num(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    }
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
        || s.last() != Some(&b'Z')
    {
        return None;
    }
    let year = i32::try_from(num(&s[0..4])?).ok()?;
    let (month, day) = (num(&s[5..7])?, num(&s[8..10])?);
    let (hour, min, sec) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    let nano = match &s[19..s.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    if sec > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    Some(date.and_hms_nano_opt(hour, min, sec, nano)?.and_utc())
}

/// A record's `seq`, `fp` and receipt time.
fn decode_head(json: &[u8]) -> Option<(u64, u64, DateTime<Utc>)> {
    let head: RecordHead = serde_json::from_slice(json).ok()?;
    Some((head.seq, head.fp.0, head.event.received.0))
}

/// The `seq` of a record as this module writes it (`{"seq":N,...`), without
/// parsing the rest; `None` if the line is not in that shape.
fn quick_seq(json: &[u8]) -> Option<u64> {
    let rest = json.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || rest.get(digits) != Some(&b',') {
        return None;
    }
    rest[..digits].iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Whether a record as this module writes it belongs to the instance whose id
/// encodes (as a JSON string) to `encoded_id`; `None` if the line is not in
/// the expected shape (the caller then parses it).
fn quick_instance_match(json: &[u8], encoded_id: &[u8]) -> Option<bool> {
    let rest = json.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest.get(digits..)?.strip_prefix(b",\"fp\":\"")?;
    let rest = rest
        .get(16..)?
        .strip_prefix(b"\",\"event\":{\"instance_id\":")?;
    Some(rest.starts_with(encoded_id) && rest.get(encoded_id.len()) == Some(&b','))
}

// ---------------------------------------------------------------------------
// Reading lines

/// Calls `f` with every line of `chunk` (split at `\n`, a final `\n` ends
/// the last line rather than starting an empty one), without its `\n`;
/// `None` for a line over [`MAX_RECORD_BYTES`].
fn for_each_line(chunk: &[u8], mut f: impl FnMut(Option<&[u8]>)) {
    let mut rest = chunk;
    while !rest.is_empty() {
        // `skip_until` on a slice finds the `\n` with memchr and copies nothing.
        let Ok(n) = rest.skip_until(b'\n') else {
            return;
        };
        let Some(line) = chunk.get(chunk.len() - rest.len() - n..chunk.len() - rest.len()) else {
            return;
        };
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        f((line.len() <= MAX_RECORD_BYTES).then_some(line));
    }
}

/// Reads a file in chunks of whole lines (about [`CHUNK_BYTES`] each; only
/// the last chunk may end without `\n`, when the file's last line is torn).
/// Lines over [`MAX_RECORD_BYTES`] that span reads are dropped without being
/// buffered and counted in `overlong`.
struct ChunkReader {
    file: File,
    /// The start of a line whose end is not read yet.
    carry: Vec<u8>,
    /// Inside an overlong line: drop bytes up to the next `\n`.
    skipping: bool,
    eof: bool,
    overlong: u64,
}

impl ChunkReader {
    fn new(file: File) -> Self {
        Self {
            file,
            carry: Vec::new(),
            skipping: false,
            eof: false,
            overlong: 0,
        }
    }

    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let mut buf = std::mem::take(&mut self.carry);
            if self.eof {
                return Ok((!buf.is_empty()).then_some(buf));
            }
            buf.reserve(CHUNK_BYTES);
            let n = (&mut self.file)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut buf)?;
            if n == 0 {
                self.eof = true;
                self.carry = buf;
                continue;
            }
            let mut from = 0;
            if self.skipping {
                // `buf` holds only new bytes here (nothing is carried while
                // skipping).
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        from = i + 1;
                        self.skipping = false;
                    }
                    None => continue,
                }
            }
            match buf[from..].iter().rposition(|&b| b == b'\n') {
                Some(last) => {
                    let end = from + last + 1;
                    self.carry = buf[end..].to_vec();
                    buf.truncate(end);
                    if from > 0 {
                        buf.drain(..from);
                    }
                    return Ok(Some(buf));
                }
                None if buf.len() - from > MAX_RECORD_BYTES => {
                    self.overlong += 1;
                    self.skipping = true;
                }
                None => {
                    if from > 0 {
                        buf.drain(..from);
                    }
                    self.carry = buf;
                }
            }
        }
    }
}

/// Calls `f` with every line of `file` from the last to the first, without
/// its `\n`; `None` for a line over [`MAX_RECORD_BYTES`]. Stops when `f`
/// breaks.
fn lines_backward(
    file: &mut File,
    mut f: impl FnMut(Option<&[u8]>) -> ControlFlow<()>,
) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut chunk = vec![0u8; REV_CHUNK_BYTES];
    // The end of a line whose start lies in an earlier chunk.
    let mut carry: Vec<u8> = Vec::new();
    let mut overlong = false;
    let mut joined: Vec<u8> = Vec::new();
    let mut at_file_end = true;

    let mut emit = |piece: &[u8], carry: &mut Vec<u8>, overlong: &mut bool, at_end: &mut bool| {
        let was_end = std::mem::replace(at_end, false);
        let flow = if *overlong || piece.len() + carry.len() > MAX_RECORD_BYTES {
            f(None)
        } else if carry.is_empty() {
            if piece.is_empty() && was_end {
                // Nothing after the final `\n`: not a line.
                ControlFlow::Continue(())
            } else {
                f(Some(piece))
            }
        } else {
            joined.clear();
            joined.extend_from_slice(piece);
            joined.extend_from_slice(carry);
            f(Some(&joined))
        };
        carry.clear();
        *overlong = false;
        flow
    };

    while pos > 0 {
        let n = usize::try_from(pos.min(REV_CHUNK_BYTES as u64)).unwrap_or(REV_CHUNK_BYTES);
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk[..n])?;
        let data = &chunk[..n];
        let mut end = n;
        while let Some(i) = data[..end].iter().rposition(|&b| b == b'\n') {
            if emit(
                &data[i + 1..end],
                &mut carry,
                &mut overlong,
                &mut at_file_end,
            )
            .is_break()
            {
                return Ok(());
            }
            end = i;
        }
        if !overlong {
            if end + carry.len() > MAX_RECORD_BYTES {
                overlong = true;
                carry.clear();
            } else {
                carry.splice(0..0, data[..end].iter().copied());
            }
        }
    }
    // What is left is the first line of the file (if the file has any `\n`,
    // that line exists even when empty).
    if overlong || !carry.is_empty() || !at_file_end {
        let _ = emit(&[], &mut carry, &mut overlong, &mut at_file_end);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Segments

#[derive(Debug, Clone)]
struct Segment {
    day: NaiveDate,
    path: PathBuf,
}

fn segment_file_name(day: NaiveDate) -> String {
    format!("events-{}.log", day.format("%Y-%m-%d"))
}

fn parse_segment_name(name: &str) -> Option<NaiveDate> {
    let date = name.strip_prefix("events-")?.strip_suffix(".log")?;
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    (segment_file_name(day) == name).then_some(day)
}

/// The segments in `dir`, oldest first. A missing directory has none.
fn list_segments(dir: &Path) -> Result<Vec<Segment>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list log directory", dir, e)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list log directory", dir, e))?;
        let name = entry.file_name();
        if let Some(day) = name.to_str().and_then(parse_segment_name) {
            segments.push(Segment {
                day,
                path: entry.path(),
            });
        }
    }
    segments.sort_by_key(|s| s.day);
    Ok(segments)
}

/// Index of the oldest segment that may hold a record with `seq > after`.
fn first_segment_after(segments: &[Segment], after: u64) -> usize {
    for (i, seg) in segments.iter().enumerate().rev() {
        let Ok(mut file) = File::open(&seg.path) else {
            continue;
        };
        let mut last = None;
        let _ = lines_backward(&mut file, |line| {
            match line.and_then(check_crc).and_then(decode_head) {
                Some((seq, _, _)) => {
                    last = Some(seq);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        });
        if last.is_some_and(|seq| seq <= after) {
            return i + 1;
        }
    }
    0
}

/// What the newest records say, for priming a writer.
struct Tail {
    last_seq: u64,
    /// Day of the segment holding `last_seq`.
    last_day: Option<NaiveDate>,
    /// Fingerprints of the newest records that may still be retried, with
    /// their receipt times, oldest first.
    fps: Vec<(u64, DateTime<Utc>)>,
}

/// Reads segments backwards from the newest until a record received more
/// than `window` (plus a minute of slack: batches are not strictly in
/// receipt order) before the newest one, or until `want` fingerprints are
/// found, or the log ends. Records without a fingerprint are not retries
/// of anything and are skipped.
fn scan_tail(segments: &[Segment], want: usize, window: chrono::TimeDelta) -> Tail {
    let mut tail = Tail {
        last_seq: 0,
        last_day: None,
        fps: Vec::new(),
    };
    let mut horizon: Option<DateTime<Utc>> = None;
    let mut done = false;
    for seg in segments.iter().rev() {
        if done || tail.fps.len() >= want {
            break;
        }
        let mut file = match File::open(&seg.path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(path = %seg.path.display(), error = %e, "event log: cannot open segment, skipped");
                continue;
            }
        };
        let result = lines_backward(&mut file, |line| {
            let Some((seq, fp, received)) = line.and_then(check_crc).and_then(decode_head) else {
                return ControlFlow::Continue(());
            };
            if seq > tail.last_seq {
                tail.last_seq = seq;
                tail.last_day = Some(seg.day);
            }
            let horizon = *horizon.get_or_insert(received - window - chrono::TimeDelta::minutes(1));
            if received < horizon {
                done = true;
                return ControlFlow::Break(());
            }
            if fp != NO_FINGERPRINT {
                tail.fps.push((fp, received));
            }
            if tail.fps.len() >= want {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = result {
            tracing::warn!(path = %seg.path.display(), error = %e, "event log: read error, rest of segment skipped");
        }
    }
    tail.fps.reverse();
    tail
}

/// Deletes the segments whose whole day is older than `days` before `today`
/// (none if `days` is 0), never `protect` or a newer one. Returns the days
/// deleted. Failures are logged, not returned: a segment that cannot be
/// deleted stays readable.
fn apply_retention(
    segments: &[Segment],
    days: u32,
    today: NaiveDate,
    protect: Option<NaiveDate>,
) -> Vec<NaiveDate> {
    let mut removed = Vec::new();
    if days == 0 {
        return removed;
    }
    let Some(oldest_kept) = today.checked_sub_days(Days::new(u64::from(days))) else {
        return removed;
    };
    for seg in segments {
        if seg.day >= oldest_kept || protect.is_some_and(|p| seg.day >= p) {
            continue;
        }
        match fs::remove_file(&seg.path) {
            Ok(()) => {
                tracing::info!(path = %seg.path.display(), "event log: segment past retention deleted");
                removed.push(seg.day);
            }
            Err(e) => {
                tracing::warn!(path = %seg.path.display(), error = %e, "event log: cannot delete segment past retention")
            }
        }
    }
    removed
}

fn acquire_lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("open lock file", &path, e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                // A log being shut down (e.g. its last handle just dropped)
                // releases the lock within moments.
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error("lock", &path, e)),
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync log directory", dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

// ---------------------------------------------------------------------------
// The writer

/// The fingerprints accepted within [`RETRY_WINDOW`], with their receipt
/// times; at most `cap` of them.
struct DedupFilter {
    seen: HashMap<u64, DateTime<Utc>>,
    /// Insertion order, for forgetting: (fingerprint, receipt time).
    ring: VecDeque<(u64, DateTime<Utc>)>,
    cap: usize,
}

impl DedupFilter {
    fn new(cap: usize) -> Self {
        Self {
            seen: HashMap::with_capacity(cap.min(4096)),
            ring: VecDeque::with_capacity(cap.min(4096)),
            cap,
        }
    }

    /// Whether a body with `fp` received at `at` is a retry: the same
    /// fingerprint was accepted within [`RETRY_WINDOW`] of `at` (either way,
    /// should the clock have gone back).
    fn is_retry(&self, fp: u64, at: DateTime<Utc>) -> bool {
        self.seen
            .get(&fp)
            .is_some_and(|&then| (at - then).abs() <= RETRY_WINDOW)
    }

    /// Remembers `fp` accepted at `at`, and forgets what is older than
    /// [`RETRY_WINDOW`] before `at` or beyond `cap`.
    fn insert(&mut self, fp: u64, at: DateTime<Utc>) {
        self.seen.insert(fp, at);
        self.ring.push_back((fp, at));
        while let Some(&(old, then)) = self.ring.front() {
            if self.ring.len() <= self.cap && at - then <= RETRY_WINDOW {
                break;
            }
            self.ring.pop_front();
            // only if not seen again since
            if self.seen.get(&old) == Some(&then) {
                self.seen.remove(&old);
            }
        }
    }
}

/// The segment open for append.
struct OpenSegment {
    day: NaiveDate,
    path: PathBuf,
    file: File,
    len: u64,
    /// The file ends in a torn line: write `\n` before the next record.
    needs_newline: bool,
}

fn open_segment(dir: &Path, day: NaiveDate) -> Result<OpenSegment, StoreError> {
    let path = dir.join(segment_file_name(day));
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| io_error("open segment", &path, e))?;
    // Make the file's name durable too (it may have just been created).
    sync_dir(dir)?;
    let len = file
        .metadata()
        .map_err(|e| io_error("read metadata of segment", &path, e))?
        .len();
    let mut needs_newline = false;
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| io_error("read the end of segment", &path, e))?;
        needs_newline = last[0] != b'\n';
    }
    Ok(OpenSegment {
        day,
        path,
        file,
        len,
        needs_newline,
    })
}

enum Outcome {
    Written(u64),
    Duplicate,
}

/// The records of one batch that go to one segment.
struct Run {
    day: NaiveDate,
    buf: Vec<u8>,
    /// One per record: its fingerprint (if it may be retried) and receipt time.
    fps: Vec<(Option<u64>, DateTime<Utc>)>,
    last_seq: u64,
    waiters: Vec<(AppendReply, Outcome)>,
    /// The written records, for [`LogOptions::committed`].
    events: Vec<(u64, Event)>,
}

struct Writer {
    dir: PathBuf,
    retention_days: u32,
    max_batch: usize,
    next_seq: u64,
    /// Day of the newest segment; never goes back.
    day: Option<NaiveDate>,
    /// Day of the segment for which retention last ran.
    retained_for: Option<NaiveDate>,
    seg: Option<OpenSegment>,
    filter: DedupFilter,
    counters: Arc<Counters>,
    committed: Option<mpsc::Sender<(u64, Event)>>,
    /// Appends announced and not queued yet ([`EventLog::arrival`]).
    arriving: Arc<AtomicUsize>,
    /// Emptied runs of earlier batches, whose buffers the next reuse.
    spare_runs: Vec<Run>,
    _lock: File,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Request>, stopped: watch::Sender<bool>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut shutdowns = Vec::new();
        let mut pending = HashMap::new();
        let mut stop = false;
        while !stop {
            let Some(first) = rx.blocking_recv() else {
                break;
            };
            let mut next = Some(first);
            let mut lingering: Option<Instant> = None;
            loop {
                while let Some(request) = next.take() {
                    match request {
                        Request::Append { event, fp, reply } => batch.push((event, fp, reply)),
                        Request::Shutdown { reply } => {
                            shutdowns.push(reply);
                            stop = true;
                            break;
                        }
                    }
                    if batch.len() < self.max_batch {
                        next = rx.try_recv().ok();
                    }
                }
                // Appends on their way join this batch (and its fsync)
                // rather than wait for the next one; bounded by LINGER.
                if stop
                    || batch.len() >= self.max_batch
                    || self.arriving.load(Ordering::Relaxed) == 0
                    || lingering.get_or_insert_with(Instant::now).elapsed() >= LINGER
                {
                    break;
                }
                std::thread::sleep(LINGER_STEP);
                next = rx.try_recv().ok();
            }
            if !batch.is_empty() {
                self.commit(&mut batch, &mut pending);
            }
        }
        rx.close();
        while let Some(request) = rx.blocking_recv() {
            match request {
                Request::Append { reply, .. } => {
                    let _ = reply.send(Err(StoreError::Closed {
                        dir: self.dir.clone(),
                    }));
                }
                Request::Shutdown { reply } => shutdowns.push(reply),
            }
        }
        // Close the segment and release the lock before saying we stopped.
        drop(self);
        for reply in shutdowns {
            let _ = reply.send(());
        }
        stopped.send_replace(true);
    }

    /// Writes one batch: every append is answered once its run is synced.
    fn commit(
        &mut self,
        batch: &mut Vec<(Event, Option<u64>, AppendReply)>,
        pending: &mut HashMap<u64, usize>,
    ) {
        Counters::add(&self.counters.batches, 1);
        self.counters
            .largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        pending.clear();
        let mut runs: Vec<Run> = Vec::new();
        for (event, fp, reply) in batch.drain(..) {
            if fp.is_some_and(|fp| self.filter.is_retry(fp, event.received)) {
                Counters::add(&self.counters.duplicates, 1);
                let _ = reply.send(Ok(Appended::Duplicate));
                continue;
            }
            if let Some(&run) = fp.and_then(|fp| pending.get(&fp)) {
                // Same fingerprint earlier in this batch: same fate.
                if let Some(run) = runs.get_mut(run) {
                    run.waiters.push((reply, Outcome::Duplicate));
                }
                continue;
            }
            let event_day = event.received.date_naive();
            let day = match self.day {
                Some(newest) if newest > event_day => newest,
                _ => event_day,
            };
            self.day = Some(day);
            if runs.last().is_none_or(|run| run.day != day) {
                let mut run = self.spare_runs.pop().unwrap_or_else(|| Run {
                    day,
                    buf: Vec::with_capacity(64 * 1024),
                    fps: Vec::new(),
                    last_seq: 0,
                    waiters: Vec::new(),
                    events: Vec::new(),
                });
                run.day = day;
                runs.push(run);
            }
            let index = runs.len() - 1;
            let Some(run) = runs.last_mut() else {
                continue;
            };
            let seq = self.next_seq;
            let written_fp = fp.unwrap_or(NO_FINGERPRINT);
            match encode_record(&mut run.buf, &self.dir, seq, written_fp, &event) {
                Ok(()) => {
                    // Saturating: only a crafted log can bring seq near u64::MAX.
                    self.next_seq = self.next_seq.saturating_add(1);
                    run.fps.push((fp, event.received));
                    run.last_seq = seq;
                    run.waiters.push((reply, Outcome::Written(seq)));
                    if self.committed.is_some() {
                        run.events.push((seq, event));
                    }
                    if let Some(fp) = fp {
                        pending.insert(fp, index);
                    }
                }
                Err(e) => {
                    Counters::add(&self.counters.failed, 1);
                    let _ = reply.send(Err(e));
                }
            }
        }
        for mut run in runs.drain(..) {
            self.finish_run(&mut run);
            // the buffers serve the next batches (a run holds 64 KiB)
            run.buf.clear();
            run.fps.clear();
            run.waiters.clear();
            run.events.clear();
            if self.spare_runs.len() < 2 {
                self.spare_runs.push(run);
            }
        }
    }

    /// Writes and syncs one run of a batch, then answers its appends.
    fn finish_run(&mut self, run: &mut Run) {
        if run.fps.is_empty() {
            return;
        }
        match self.write_run(run) {
            Ok(()) => {
                if let Some(sink) = &self.committed {
                    for record in run.events.drain(..) {
                        // waits only when the feed is full; a gone
                        // receiver (shutting down) is not an error
                        if let Err(mpsc::error::TrySendError::Full(record)) = sink.try_send(record)
                        {
                            let _ = sink.blocking_send(record);
                        }
                    }
                }
                for &(fp, received) in &run.fps {
                    if let Some(fp) = fp {
                        self.filter.insert(fp, received);
                    }
                }
                Counters::add(&self.counters.records, run.fps.len() as u64);
                self.counters
                    .last_seq
                    .fetch_max(run.last_seq, Ordering::Relaxed);
                for (reply, outcome) in run.waiters.drain(..) {
                    let answer = match outcome {
                        Outcome::Written(seq) => Appended::Written { seq },
                        Outcome::Duplicate => {
                            Counters::add(&self.counters.duplicates, 1);
                            Appended::Duplicate
                        }
                    };
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = run.fps.len(), "event log: batch not written");
                Counters::add(&self.counters.failed, run.waiters.len() as u64);
                for (reply, _) in run.waiters.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Appends `run` to its day's segment and syncs it. On failure the
    /// segment is cut back to its previous length (best effort) and closed,
    /// so the next batch reopens it and starts on a fresh line.
    fn write_run(&mut self, run: &Run) -> Result<(), StoreError> {
        let mut seg = match self.seg.take() {
            Some(seg) if seg.day == run.day => seg,
            _ => open_segment(&self.dir, run.day)?,
        };
        let before = seg.len;
        let mut written = 0u64;
        let result = (|| {
            if seg.needs_newline {
                seg.file.write_all(b"\n")?;
                written += 1;
            }
            seg.file.write_all(&run.buf)?;
            written += run.buf.len() as u64;
            seg.file.sync_data()
        })();
        if let Err(e) = result {
            if let Err(cut) = seg.file.set_len(before) {
                tracing::warn!(path = %seg.path.display(), error = %cut, "event log: cannot cut back a failed write");
            }
            return Err(io_error("write and sync segment", &seg.path, e));
        }
        Counters::add(&self.counters.fsyncs, 1);
        Counters::add(&self.counters.bytes, written);
        seg.len += written;
        seg.needs_newline = false;
        self.seg = Some(seg);

        if self.retained_for != Some(run.day) {
            self.retained_for = Some(run.day);
            match list_segments(&self.dir) {
                Ok(segments) => {
                    let today = Utc::now().date_naive();
                    let removed =
                        apply_retention(&segments, self.retention_days, today, Some(run.day));
                    Counters::add(&self.counters.segments_removed, removed.len() as u64);
                }
                Err(e) => tracing::warn!(error = %e, "event log: retention skipped"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike};

    fn event(id: &str) -> Event {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Event {
            instance_id: InstanceId::new(id),
            kind: EventKind::Disconnected {
                error: Some("bye \"quoted\"\n".into()),
            },
            moment: at,
            received: at,
        }
    }

    #[test]
    fn record_round_trip_and_crc() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            Path::new("d"),
            42,
            0x00ab_cdef_0123_4567,
            &event("A"),
        )
        .unwrap();
        assert_eq!(buf.last(), Some(&b'\n'));
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1);
        let line = &buf[..buf.len() - 1];
        let json = check_crc(line).unwrap();
        assert!(
            json.starts_with(br#"{"seq":42,"fp":"00abcdef01234567","event":{"instance_id":"A","#)
        );
        assert_eq!(decode_record(json), Some((42, event("A"))));
        assert_eq!(
            decode_head(json),
            Some((42, 0x00ab_cdef_0123_4567, event("A").received))
        );
        assert_eq!(quick_seq(json), Some(42));
        assert_eq!(quick_instance_match(json, br#""A""#), Some(true));
        assert_eq!(quick_instance_match(json, br#""AB""#), Some(false));
        let mut flipped = line.to_vec();
        flipped[20] ^= 1;
        assert_eq!(check_crc(&flipped), None);
    }

    /// The record line as serde writes it (what `encode_record` did before
    /// it wrote by hand).
    fn encode_by_serde(seq: u64, fp: u64, event: &Event) -> Vec<u8> {
        let json = serde_json::to_vec(&RecordOut {
            seq,
            fp: FpHex(fp),
            event,
        })
        .unwrap();
        let mut line = format!("{:08x} ", crc32fast::hash(&json)).into_bytes();
        line.extend_from_slice(&json);
        line.push(b'\n');
        line
    }

    #[test]
    fn record_encoding_is_what_serde_gives() {
        let base = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let times = [
            base,
            base + chrono::Duration::milliseconds(7),
            base + chrono::Duration::microseconds(120),
            base + chrono::Duration::nanoseconds(1),
            base + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        let texts = [
            "",
            "Device has been disconnected",
            "quote \" back \\ nl \n cr \r tab \t bs \u{8} ff \u{c} nul \0 esc \u{1b} del \u{7f}",
            "ação/日本 😀",
            "\u{1f}",
        ];
        let mut n = 0u64;
        for t in times {
            for text in texts {
                let kinds = crate::model::awkward_kinds();
                for kind in kinds {
                    n += 1;
                    let event = Event {
                        instance_id: InstanceId::new(format!("{text}{n}")),
                        kind,
                        moment: t,
                        received: base,
                    };
                    let (seq, fp) = (
                        n * 7_919_000_000_007 % u64::MAX,
                        n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    let mut buf = b"before".to_vec();
                    encode_record(&mut buf, Path::new("d"), seq, fp, &event).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&buf[6..]),
                        String::from_utf8_lossy(&encode_by_serde(seq, fp, &event))
                    );
                }
            }
        }
        for seq in [0, 1, 9, 10, u64::MAX] {
            let mut buf = Vec::new();
            encode_record(&mut buf, Path::new("d"), seq, 0, &event("A")).unwrap();
            assert_eq!(buf, encode_by_serde(seq, 0, &event("A")));
        }
    }

    fn slow(json: &[u8]) -> Option<(u64, Event)> {
        let record: RecordIn = serde_json::from_slice(json).ok()?;
        Some((record.seq, record.event))
    }

    fn fast(json: &[u8]) -> Option<(u64, Event)> {
        let record: FastRecord = serde_json::from_slice(json).ok()?;
        Some((record.seq, record.event.into_event()?))
    }

    #[test]
    fn canonical_decoding_is_what_serde_gives_or_declines() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let kinds = crate::model::awkward_kinds();
        for (n, kind) in kinds.into_iter().enumerate() {
            for id in ["A", "3C8A1F00D2E94B7A9F15C0DE2A7B6E11", "x\"y", "ünï"] {
                let event = Event {
                    instance_id: InstanceId::new(id),
                    kind: kind.clone(),
                    moment: at + chrono::Duration::milliseconds(n as i64 * 1001),
                    received: at,
                };
                let mut buf = Vec::new();
                encode_record(&mut buf, Path::new("d"), 9_000_000_001, 77, &event).unwrap();
                let json = check_crc(&buf[..buf.len() - 1]).unwrap();
                let text = std::str::from_utf8(json).unwrap();
                let canonical = decode_canonical(text);
                if !text.contains('\\') {
                    assert!(canonical.is_some(), "declined {text}");
                }
                if let Some(decoded) = canonical {
                    assert_eq!(Some(decoded), slow(json), "{text}");
                }
                assert_eq!(decode_record(json), Some((9_000_000_001, event)));
            }
        }
        // not the writer's shape: declined, and serde decides
        for text in [
            r#"{"seq":01,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#,
            r#"{"seq":1,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}} "#,
            r#"{"seq":1,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","error":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#,
            r#"{"seq":1,"fp":"0000000000000001","event":{"instance_id":"A","kind":"connected","phone":null,"moment":"2016-12-31T23:59:60Z","received":"2026-01-02T03:04:05Z"}}"#,
        ] {
            assert_eq!(decode_canonical(text), None, "{text}");
        }
    }

    #[test]
    fn fast_decoding_falls_back_to_event_on_any_difference() {
        let base = r#"{"seq":7,"fp":"0000000000000001","event":{"instance_id":"A","kind":"KIND","moment":"MOMENT","received":"2026-01-02T03:04:05Z"EXTRA}}"#;
        let variants = [
            (
                "disconnected",
                "2026-01-02T03:04:05Z",
                r#","error":null"#,
                true,
            ),
            ("disconnected", "2026-01-02T03:04:05Z", "", true),
            (
                "disconnected",
                "2026-01-02T03:04:05.5Z",
                r#","error":"x""#,
                true,
            ),
            (
                "connected",
                "2026-01-02T03:04:05.123456Z",
                r#","phone":"1""#,
                true,
            ),
            (
                "activity",
                "2026-01-02T03:04:05Z",
                r#","callback":"ReceivedCallback""#,
                true,
            ),
            // Timestamps the direct parser declines go to chrono.
            ("disconnected", "2026-01-02T05:04:05+02:00", "", true),
            ("disconnected", "2016-12-31T23:59:60.5Z", "", true),
            ("disconnected", "+12026-01-02T03:04:05Z", "", true),
            ("disconnected", "2026-01-02 03:04:05Z", "", true),
            ("connected", "2026-01-02T03:04:05.1234567890Z", "", true),
            // The fast path declines these; the result is Event's own.
            (
                "disconnected",
                "2026-01-02T03:04:05Z",
                r#","phone":"1""#,
                false,
            ),
            (
                "connected",
                "2026-01-02T03:04:05Z",
                r#","error":"e""#,
                false,
            ),
            ("activity", "2026-01-02T03:04:05Z", "", false),
            (
                "activity",
                "2026-01-02T03:04:05Z",
                r#","callback":null"#,
                false,
            ),
            (
                "disconnected",
                "2026-01-02T03:04:05Z",
                r#","future_field":1"#,
                false,
            ),
            ("teleported", "2026-01-02T03:04:05Z", "", false),
            ("connected", "2026-02-30T03:04:05Z", "", false),
        ];
        for (kind, moment, extra, fast_ok) in variants {
            let json = base
                .replace("KIND", kind)
                .replace("MOMENT", moment)
                .replace("EXTRA", extra);
            let json = json.as_bytes();
            assert_eq!(decode_record(json), slow(json), "{kind} {moment} {extra}");
            if fast_ok {
                assert!(slow(json).is_some(), "{kind} {moment} {extra}");
                assert_eq!(fast(json), slow(json), "{kind} {moment} {extra}");
            } else {
                assert_eq!(fast(json), None, "{kind} {moment} {extra}");
            }
        }
    }

    fn arb_time() -> impl proptest::strategy::Strategy<Value = DateTime<Utc>> {
        use proptest::prelude::*;
        let nanos = prop_oneof![
            Just(0u32),
            (0u32..1000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..1_000_000_000,
            1_000_000_000u32..2_000_000_000,
        ];
        (-70_000_000_000i64..300_000_000_000, nanos)
            .prop_filter_map("in range", |(s, n)| DateTime::from_timestamp(s, n))
    }

    proptest::proptest! {
        #[test]
        fn fast_decoding_equals_event_decoding(
            id in ".{0,40}",
            which in 0u8..3,
            text in proptest::option::of(".{0,40}"),
            moment in arb_time(),
            received in arb_time(),
            seq in proptest::prelude::any::<u64>(),
        ) {
            let kind = match which {
                0 => EventKind::Disconnected { error: text },
                1 => EventKind::Connected { phone: text },
                _ => EventKind::Activity { callback: text.unwrap_or_default() },
            };
            let event = Event { instance_id: InstanceId::new(id), kind, moment, received };
            let mut buf = Vec::new();
            encode_record(&mut buf, Path::new("d"), seq, 1, &event).unwrap();
            let json = check_crc(&buf[..buf.len() - 1]).unwrap();
            proptest::prop_assert_eq!(slow(json), Some((seq, event.clone())));
            proptest::prop_assert_eq!(decode_record(json), Some((seq, event)));
            // Timestamps chrono writes in the plain form take the fast path.
            let plain = |t: DateTime<Utc>| (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000;
            if plain(moment) && plain(received) {
                proptest::prop_assert!(fast(json).is_some());
            }
        }
    }

    #[test]
    fn the_documented_example_line_is_a_valid_record() {
        let line = br#"9b012d84 {"seq":1,"fp":"00a1b2c3d4e5f607","event":{"instance_id":"X","kind":"connected","phone":null,"moment":"2026-01-02T03:04:05Z","received":"2026-01-02T03:04:05Z"}}"#;
        let json = check_crc(line).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let event = Event {
            instance_id: InstanceId::new("X"),
            kind: EventKind::Connected { phone: None },
            moment: at,
            received: at,
        };
        assert_eq!(decode_record(json), Some((1, event.clone())));
        assert_eq!(decode_head(json), Some((1, 0x00a1_b2c3_d4e5_f607, at)));
        let mut buf = Vec::new();
        encode_record(&mut buf, Path::new("d"), 1, 0x00a1_b2c3_d4e5_f607, &event).unwrap();
        assert_eq!(&buf[..buf.len() - 1], &line[..]);
    }

    #[test]
    fn segment_names() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        assert_eq!(segment_file_name(day), "events-2026-03-09.log");
        assert_eq!(parse_segment_name("events-2026-03-09.log"), Some(day));
        assert_eq!(parse_segment_name("events-2026-3-9.log"), None);
        assert_eq!(parse_segment_name("events-2026-03-09.log.bak"), None);
        assert_eq!(parse_segment_name("zapi-dash.log"), None);
    }

    #[test]
    fn fingerprint_is_stable() {
        // First 8 bytes of SHA-256("abc") = ba7816bf8f01cfea.
        assert_eq!(fingerprint(b"abc"), 0xba78_16bf_8f01_cfea);
    }

    #[test]
    fn dedup_filter_forgets_the_oldest() {
        let t0 = Utc.timestamp_opt(1_764_000_000, 0).unwrap();
        let mut filter = DedupFilter::new(3);
        for fp in 1..=4 {
            filter.insert(fp, t0);
        }
        assert!(!filter.is_retry(1, t0));
        assert!((2..=4).all(|fp| filter.is_retry(fp, t0)));
        assert_eq!(filter.ring.len(), 3);
    }

    #[test]
    fn dedup_filter_forgets_after_the_retry_window() {
        let t0 = Utc.timestamp_opt(1_764_000_000, 0).unwrap();
        let mut filter = DedupFilter::new(DEDUP_WINDOW);
        filter.insert(7, t0);
        assert!(filter.is_retry(7, t0 + RETRY_WINDOW));
        assert!(!filter.is_retry(7, t0 + RETRY_WINDOW + chrono::TimeDelta::seconds(1)));
        // a clock that went back a little is still within the window
        assert!(filter.is_retry(7, t0 - chrono::TimeDelta::seconds(30)));
        // accepting anything later forgets what is out of the window
        filter.insert(8, t0 + RETRY_WINDOW + chrono::TimeDelta::seconds(1));
        assert!(!filter.seen.contains_key(&7));
        assert_eq!(filter.ring.len(), 1);
        // accepted again later: remembered from then on
        filter.insert(8, t0 + RETRY_WINDOW * 3);
        assert!(filter.is_retry(8, t0 + RETRY_WINDOW * 3));
        assert_eq!(filter.ring.len(), 1);
    }

    fn backward_lines(content: &[u8]) -> Vec<Option<Vec<u8>>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, content).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut out = Vec::new();
        lines_backward(&mut file, |line| {
            out.push(line.map(<[u8]>::to_vec));
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    }

    fn forward_lines(content: &[u8]) -> Vec<Option<Vec<u8>>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, content).unwrap();
        let mut out = Vec::new();
        let mut reader = ChunkReader::new(File::open(&path).unwrap());
        while let Some(chunk) = reader.next_chunk().unwrap() {
            assert!(chunk.len() <= CHUNK_BYTES + MAX_RECORD_BYTES + 1);
            for_each_line(&chunk, |line| out.push(line.map(<[u8]>::to_vec)));
        }
        // Overlong lines the reader dropped count as `None`s (their
        // position is not kept).
        out.extend((0..reader.overlong).map(|_| None));
        out
    }

    #[test]
    fn lines_both_ways_agree() {
        let long = vec![b'x'; REV_CHUNK_BYTES * 2 + 17];
        let mut big = b"a\n".to_vec();
        big.extend_from_slice(&long);
        big.extend_from_slice(b"\nb\n\nc");
        let huge = vec![b'y'; MAX_RECORD_BYTES + 5];
        let mut over = b"first\n".to_vec();
        over.extend_from_slice(&huge);
        over.extend_from_slice(b"\nlast\n");
        let mut exact = b"a\n".to_vec();
        exact.extend_from_slice(&vec![b'z'; MAX_RECORD_BYTES]);
        exact.push(b'\n');
        exact.extend_from_slice(&vec![b'z'; MAX_RECORD_BYTES + 1]);
        exact.extend_from_slice(b"\nend");
        let mut torn_over = b"a\n".to_vec();
        torn_over.extend_from_slice(&vec![b'y'; MAX_RECORD_BYTES + 10]);
        let mut first_over = vec![b'y'; CHUNK_BYTES * 2 + 3];
        first_over.extend_from_slice(b"\nafter\n");
        let mut many = Vec::new();
        for i in 0..(3 * CHUNK_BYTES / 10) {
            many.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"\n\n".to_vec(),
            b"one".to_vec(),
            b"one\n".to_vec(),
            b"one\ntwo".to_vec(),
            b"one\ntwo\n".to_vec(),
            big,
            over,
            exact,
            torn_over,
            first_over,
            many,
        ];
        let split = |v: Vec<Option<Vec<u8>>>| {
            let nones = v.iter().filter(|l| l.is_none()).count();
            (v.into_iter().flatten().collect::<Vec<_>>(), nones)
        };
        for case in cases {
            let fwd = forward_lines(&case);
            let mut bwd = backward_lines(&case);
            bwd.reverse();
            assert_eq!(split(fwd), split(bwd), "case of {} bytes", case.len());
        }
        assert_eq!(forward_lines(b"\n\n"), vec![Some(vec![]), Some(vec![])]);
        assert_eq!(
            forward_lines(b"a\nb"),
            vec![Some(b"a".to_vec()), Some(b"b".to_vec())]
        );
    }

    #[test]
    fn parallel_replay_matches_sequential_on_a_big_damaged_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        let mut corrupt = 0;
        for seq in 1..=20_000u64 {
            let at = Utc
                .timestamp_opt(1_700_000_000 + i64::try_from(seq).unwrap(), 0)
                .unwrap();
            let ev = Event {
                instance_id: InstanceId::new(format!("I{}", seq % 7)),
                kind: EventKind::Activity {
                    callback: "ReceivedCallback".into(),
                },
                moment: at,
                received: at,
            };
            let start = bytes.len();
            encode_record(&mut bytes, dir.path(), seq, seq, &ev).unwrap();
            if seq % 997 == 0 {
                bytes[start + 30] ^= 0x01;
                corrupt += 1;
            } else {
                expected.push((seq, ev));
            }
            if seq == 12_000 {
                // An overlong line across chunk boundaries, then garbage.
                bytes.extend_from_slice(&vec![b'q'; MAX_RECORD_BYTES + CHUNK_BYTES]);
                bytes.extend_from_slice(b"\ngarbage\n\n");
                corrupt += 3;
            }
        }
        bytes.extend_from_slice(b"0badf00d {\"seq\":");
        corrupt += 1;
        let path = dir.path().join("events-2026-01-01.log");
        fs::write(&path, &bytes).unwrap();

        for workers in [1, 2, 3] {
            let mut got = Vec::new();
            let mut bad = 0;
            let mut emit = |d: Decoded| {
                bad += d.corrupt;
                got.extend(d.records);
            };
            let mut reader = ChunkReader::new(File::open(&path).unwrap());
            if workers == 1 {
                replay_sequential(&mut reader, 0, &mut emit).unwrap();
            } else {
                replay_parallel(&mut reader, 0, workers, &mut emit).unwrap();
            }
            assert_eq!(bad + reader.overlong, corrupt, "workers {workers}");
            assert!(got == expected, "workers {workers}: {} records", got.len());
        }
        // Resuming bisects to the start; any point gives exactly the rest.
        for after in [
            1, 996, 997, 998, 11_999, 12_000, 12_001, 15_000, 19_999, 20_000, 25_000,
        ] {
            let mut got = Vec::new();
            let stats = replay_after(dir.path(), after, |seq, _| got.push(seq)).unwrap();
            let want: Vec<u64> = expected
                .iter()
                .map(|(s, _)| *s)
                .filter(|s| *s > after)
                .collect();
            assert!(got == want, "after {after}: {} records", got.len());
            assert_eq!(stats.records, want.len() as u64);
        }
        let mut file = File::open(&path).unwrap();
        // Records 1..=11_000 fill the first ~2 MB; the bisection lands near
        // their end (a probe inside garbage only makes it start earlier).
        let needle = b"{\"seq\":11001,";
        let end_of_11000 = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap() as u64;
        let start = resume_offset(&mut file, 11_000);
        assert!(start <= end_of_11000, "bisected to {start}");
        assert!(start + 128 * 1024 > end_of_11000, "bisected to {start}");
    }

    #[test]
    fn retention_keeps_recent_and_protected() {
        let dir = tempfile::tempdir().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let mut segments = Vec::new();
        for back in [40u64, 31, 30, 0] {
            let day = today.checked_sub_days(Days::new(back)).unwrap();
            let path = dir.path().join(segment_file_name(day));
            fs::write(&path, b"").unwrap();
            segments.push(Segment { day, path });
        }
        let removed = apply_retention(&segments, 30, today, None);
        assert_eq!(removed, vec![segments[0].day, segments[1].day]);
        assert!(segments[2].path.exists() && segments[3].path.exists());
        // The segment holding the last record is never deleted.
        let removed = apply_retention(&segments[2..], 1, today, Some(segments[2].day));
        assert!(removed.is_empty());
    }
}
