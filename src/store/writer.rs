//! The writer thread: takes a batch of appends, writes them with one `write`
//! and one `fsync` (group commit), then answers every request of the batch.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{mpsc, watch};

use super::dedup::DedupFilter;
use super::record::{Record, encode_ack_record, encode_record_with_body};
use super::segments::{OpenSegment, apply_retention, list_segments, open_segment};
use super::{
    AppendReply, Appended, Counters, LINGER, LINGER_STEP, NO_FINGERPRINT, Request, StoreError,
    io_error,
};
use crate::model::Event;

/// An append taken from the queue: the record, its fingerprint (if it may
/// be a retry), the webhook's body (when the log keeps bodies) and who
/// waits for the answer.
/// A record, its fingerprint, its body, the `seq` it must have (a mirror of
/// a stream, [`super::EventLog::mirror`]) and who waits for it.
type Queued = (
    Record,
    Option<u64>,
    Option<Vec<u8>>,
    Option<u64>,
    AppendReply,
);

/// The records of one batch that go to one segment.
pub(super) struct Run {
    day: NaiveDate,
    buf: Vec<u8>,
    /// One per record: its fingerprint (if it may be retried) and receipt time.
    fps: Vec<(Option<u64>, DateTime<Utc>)>,
    last_seq: u64,
    /// Each request of the batch with the answer it gets once the batch is synced.
    waiters: Vec<(AppendReply, Appended)>,
    /// The written records, for [`LogOptions::committed`].
    events: Vec<(u64, Event)>,
}

pub(super) struct Writer {
    pub(super) dir: PathBuf,
    pub(super) retention_days: u32,
    pub(super) max_batch: usize,
    pub(super) next_seq: u64,
    /// Day of the newest segment; never goes back.
    pub(super) day: Option<NaiveDate>,
    /// Day of the segment for which retention last ran.
    pub(super) retained_for: Option<NaiveDate>,
    pub(super) seg: Option<OpenSegment>,
    pub(super) filter: DedupFilter,
    pub(super) counters: Arc<Counters>,
    pub(super) committed: Option<mpsc::Sender<(u64, Event)>>,
    /// The highest `seq` synced, for readers that follow the log.
    pub(super) synced: watch::Sender<u64>,
    /// Appends announced and not queued yet ([`EventLog::arrival`]).
    pub(super) arriving: Arc<AtomicUsize>,
    /// Emptied runs of earlier batches, whose buffers the next reuse.
    pub(super) spare_runs: Vec<Run>,
    pub(super) _lock: File,
}

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Request>, stopped: watch::Sender<bool>) {
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
                        Request::Append {
                            event,
                            fp,
                            body,
                            reply,
                        } => batch.push((Record::Event(event), fp, body, None, reply)),
                        Request::Mirror {
                            seq,
                            event,
                            fp,
                            body,
                            reply,
                        } => batch.push((Record::Event(event), fp, body, Some(seq), reply)),
                        Request::Ack { ack, reply } => {
                            batch.push((Record::Ack(ack), None, None, None, reply))
                        }
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
                Request::Append { reply, .. }
                | Request::Mirror { reply, .. }
                | Request::Ack { reply, .. } => {
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

    /// A record not to write again: a mirrored one (`at`: its seq already
    /// given) at or below the last written, or a retry of one written
    /// within the retry window (the stream drops the retries of mirrored
    /// ones).
    fn is_repeat(
        &self,
        at: Option<u64>,
        retry_check: Option<u64>,
        received: DateTime<Utc>,
    ) -> bool {
        at.is_some_and(|at| at < self.next_seq)
            || retry_check.is_some_and(|fp| self.filter.is_retry(fp, received))
    }

    /// Writes one batch: every append is answered once its run is synced.
    fn commit(&mut self, batch: &mut Vec<Queued>, pending: &mut HashMap<u64, usize>) {
        Counters::add(&self.counters.batches, 1);
        self.counters
            .largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        pending.clear();
        let mut runs: Vec<Run> = Vec::new();
        for (record, fp, body, at, reply) in batch.drain(..) {
            let received = record.received();
            let retry_check = fp.filter(|_| at.is_none());
            if self.is_repeat(at, retry_check, received) {
                Counters::add(&self.counters.duplicates, 1);
                let _ = reply.send(Ok(Appended::Duplicate));
                continue;
            }
            if let Some(&run) = retry_check.and_then(|fp| pending.get(&fp)) {
                // Same fingerprint earlier in this batch: same fate.
                if let Some(run) = runs.get_mut(run) {
                    run.waiters.push((reply, Appended::Duplicate));
                }
                continue;
            }
            let event_day = received.date_naive();
            let day = match self.day {
                Some(newest) if newest > event_day => newest,
                _ => event_day,
            };
            self.day = Some(day);
            if runs.last().is_none_or(|run| run.day != day) {
                runs.push(self.new_run(day));
            }
            let index = runs.len() - 1;
            let Some(run) = runs.last_mut() else {
                continue;
            };
            let seq = at.unwrap_or(self.next_seq);
            let written_fp = fp.unwrap_or(NO_FINGERPRINT);
            let encoded = match &record {
                Record::Event(event) => {
                    // EventLog::append_body dropped it unless bodies are kept
                    let body = body.as_deref();
                    encode_record_with_body(&mut run.buf, &self.dir, seq, written_fp, event, body)
                }
                Record::Ack(ack) => encode_ack_record(&mut run.buf, &self.dir, seq, ack),
            };
            match encoded {
                Ok(()) => {
                    // Saturating: only a crafted log can bring seq near u64::MAX.
                    self.next_seq = seq.saturating_add(1);
                    run.fps.push((fp, received));
                    run.last_seq = seq;
                    run.waiters.push((reply, Appended::Written { seq }));
                    // the committed feed carries events; an ack's maker applied it
                    if let (Some(_), Record::Event(event)) = (&self.committed, record) {
                        run.events.push((seq, event));
                    }
                    if let Some(fp) = retry_check {
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

    /// An empty run for `day`, reusing an earlier batch's buffers.
    fn new_run(&mut self, day: NaiveDate) -> Run {
        let mut run = self.spare_runs.pop().unwrap_or_else(|| Run {
            day,
            buf: Vec::with_capacity(64 * 1024),
            fps: Vec::new(),
            last_seq: 0,
            waiters: Vec::new(),
            events: Vec::new(),
        });
        run.day = day;
        run
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
                self.synced.send_if_modified(|synced| {
                    let newer = run.last_seq > *synced;
                    *synced = (*synced).max(run.last_seq);
                    newer
                });
                for (reply, answer) in run.waiters.drain(..) {
                    if answer == Appended::Duplicate {
                        Counters::add(&self.counters.duplicates, 1);
                    }
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
