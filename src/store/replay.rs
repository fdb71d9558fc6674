//! Replay: every record from the start (or after a `seq`), read forwards in
//! chunks, decoded in parallel when the log is large.

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::model::Event;

use super::record::{Record, check_crc, decode_other, decode_record, quick_seq};
use super::segments::{first_segment_after, list_segments};
use super::{CHUNK_BYTES, MAX_RECORD_BYTES, MAX_WORKERS, StoreError};

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

/// Streams every intact event of the log in `dir`, oldest first, into `f`
/// with its sequence number, without holding them all in memory. Records
/// of other kinds (acknowledgements, see [`replay_records`], and kinds a
/// newer version wrote) are passed by.
///
/// Torn or corrupt records are skipped and counted, and so are segments that
/// cannot be read (with a warning in the diagnostics log); only a directory
/// that exists but cannot be listed is an error. A missing directory is an
/// empty log.
pub fn replay(dir: &Path, mut f: impl FnMut(u64, Event)) -> Result<ReplayStats, StoreError> {
    replay_inner(dir, 0, false, |seq, record| {
        if let Record::Event(event) = record {
            f(seq, event);
        }
    })
}

/// Like [`replay`], but with the acknowledgements too ([`Record::Ack`]),
/// in `seq` order with the events: what the dashboard rebuilds its state from.
pub fn replay_records(dir: &Path, f: impl FnMut(u64, Record)) -> Result<ReplayStats, StoreError> {
    replay_inner(dir, 0, true, f)
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
    replay_inner(dir, after, false, |seq, record| {
        if let Record::Event(event) = record {
            f(seq, event);
        }
    })
}

/// The replays above: records with `seq > after`, acknowledgements only
/// when `acks` (otherwise neither passed nor counted).
fn replay_inner(
    dir: &Path,
    after: u64,
    acks: bool,
    mut f: impl FnMut(u64, Record),
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
            for (seq, record) in decoded.records {
                if !acks && matches!(record, Record::Ack(_)) {
                    continue;
                }
                stats.records += 1;
                stats.last_seq = stats.last_seq.max(seq);
                f(seq, record);
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
pub(super) fn resume_offset(file: &mut File, after: u64) -> u64 {
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
pub(super) struct Decoded {
    records: Vec<(u64, Record)>,
    corrupt: u64,
}

/// Decodes every line of `chunk` (whole lines; only the last may lack its
/// `\n`), keeping records with `seq > after`.
pub(super) fn decode_chunk(chunk: &[u8], after: u64) -> Decoded {
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
            Some((seq, event)) if seq > after => out.records.push((seq, Record::Event(event))),
            Some(_) => {}
            // not an event: an acknowledgement, a kind a newer version
            // wrote (skipped, not corrupt), or damage
            None => match decode_other(json) {
                Some((seq, Some(ack))) if seq > after => out.records.push((seq, Record::Ack(ack))),
                Some(_) => {}
                None => out.corrupt += 1,
            },
        }
    });
    out
}

pub(super) fn replay_sequential(
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
pub(super) fn replay_parallel(
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

// ---------------------------------------------------------------------------
// Reading lines

/// Calls `f` with every line of `chunk` (split at `\n`, a final `\n` ends
/// the last line rather than starting an empty one), without its `\n`;
/// `None` for a line over [`MAX_RECORD_BYTES`].
pub(super) fn for_each_line(chunk: &[u8], mut f: impl FnMut(Option<&[u8]>)) {
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

/// Reads `file` from where it stands, chunk by chunk (whole lines), handing
/// each chunk to `on_chunk` until it breaks. A read error ends the segment:
/// logged under `what` and counted in `corrupt`; overlong lines are counted
/// too once the segment is read to its end. The readers of the relay and of
/// `report` share it.
pub(super) fn for_each_chunk(
    file: File,
    path: &Path,
    what: &str,
    corrupt: &mut u64,
    mut on_chunk: impl FnMut(&[u8]) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut reader = ChunkReader::new(file);
    loop {
        match reader.next_chunk() {
            Ok(Some(chunk)) => {
                if on_chunk(&chunk).is_break() {
                    return ControlFlow::Break(());
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "{what}: read error, rest of segment skipped");
                *corrupt += 1;
                break;
            }
        }
    }
    *corrupt += reader.overlong;
    ControlFlow::Continue(())
}

/// Reads a file in chunks of whole lines (about [`CHUNK_BYTES`] each; only
/// the last chunk may end without `\n`, when the file's last line is torn).
/// Lines over [`MAX_RECORD_BYTES`] that span reads are dropped without being
/// buffered and counted in `overlong`.
pub(super) struct ChunkReader {
    file: File,
    /// The start of a line whose end is not read yet.
    carry: Vec<u8>,
    /// Inside an overlong line: drop bytes up to the next `\n`.
    skipping: bool,
    eof: bool,
    pub(super) overlong: u64,
}

impl ChunkReader {
    pub(super) fn new(file: File) -> Self {
        Self {
            file,
            carry: Vec::new(),
            skipping: false,
            eof: false,
            overlong: 0,
        }
    }

    pub(super) fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, InstanceId};
    use crate::store::record::encode_record;
    use chrono::TimeZone;
    use chrono::Utc;
    use std::fs;

    #[test]
    fn acks_and_unknown_kinds_are_records_not_corruption() {
        use crate::store::record::{Ack, encode_ack_record};
        let dir = tempfile::tempdir().unwrap();
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let event = Event {
            instance_id: InstanceId::new("A"),
            kind: EventKind::Disconnected { error: None },
            moment: at,
            received: at,
        };
        let ack = Ack {
            instance_id: InstanceId::new("A"),
            acked: true,
            at,
        };
        let mut bytes = Vec::new();
        encode_record(&mut bytes, dir.path(), 1, 0, &event).unwrap();
        encode_ack_record(&mut bytes, dir.path(), 2, &ack).unwrap();
        // what a newer version may write: a record kind and an event kind unknown here
        for json in [
            r#"{"seq":3,"fp":"0000000000000000","note":{"text":"hi"}}"#,
            r#"{"seq":4,"fp":"0000000000000000","event":{"instance_id":"A","kind":"presence","moment":"2023-11-14T22:13:20Z","received":"2023-11-14T22:13:20Z"}}"#,
        ] {
            bytes.extend_from_slice(
                format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes())).as_bytes(),
            );
        }
        bytes.extend_from_slice(b"deadbeef {\"seq\":5}\n");
        fs::write(dir.path().join("events-2023-11-14.log"), &bytes).unwrap();

        let mut all = Vec::new();
        let stats = replay_records(dir.path(), |seq, r| all.push((seq, r))).unwrap();
        assert_eq!(
            all,
            vec![(1, Record::Event(event.clone())), (2, Record::Ack(ack))]
        );
        assert_eq!((stats.records, stats.corrupt, stats.last_seq), (2, 1, 2));
        let mut events = Vec::new();
        let stats = replay(dir.path(), |seq, e| events.push((seq, e))).unwrap();
        assert_eq!(events, vec![(1, event)]);
        assert_eq!((stats.records, stats.corrupt), (1, 1));
        let mut after = Vec::new();
        replay_after(dir.path(), 1, |seq, _| after.push(seq)).unwrap();
        assert!(after.is_empty(), "no events after 1: {after:?}");
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
                got.extend(d.records.into_iter().map(|(seq, r)| match r {
                    Record::Event(e) => (seq, e),
                    Record::Ack(a) => panic!("no acks were written: {a:?}"),
                }));
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
}
