//! The file set: one segment per UTC day, listing, the tail scan at open,
//! retention, the directory lock, opening a segment for appends.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::history::lines_backward;
use super::record::{check_crc, decode_head};
use super::{LOCK_FILE, LOCK_WAIT, NO_FINGERPRINT, StoreError, io_error};

#[derive(Debug, Clone)]
pub(super) struct Segment {
    pub(super) day: NaiveDate,
    pub(super) path: PathBuf,
}

pub(super) fn segment_file_name(day: NaiveDate) -> String {
    format!("events-{}.log", day.format("%Y-%m-%d"))
}

pub(super) fn parse_segment_name(name: &str) -> Option<NaiveDate> {
    let date = name.strip_prefix("events-")?.strip_suffix(".log")?;
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    (segment_file_name(day) == name).then_some(day)
}

/// The segments in `dir`, oldest first. A missing directory has none.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<Segment>, StoreError> {
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
pub(super) fn first_segment_after(segments: &[Segment], after: u64) -> usize {
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
pub(super) struct Tail {
    pub(super) last_seq: u64,
    /// Day of the segment holding `last_seq`.
    pub(super) last_day: Option<NaiveDate>,
    /// Fingerprints of the newest records that may still be retried, with
    /// their receipt times, oldest first.
    pub(super) fps: Vec<(u64, DateTime<Utc>)>,
}

/// Reads segments backwards from the newest until a record received more
/// than `window` (plus a minute of slack: batches are not strictly in
/// receipt order) before the newest one, or until `want` fingerprints are
/// found, or the log ends. Records without a fingerprint are not retries
/// of anything and are skipped.
pub(super) fn scan_tail(segments: &[Segment], want: usize, window: chrono::TimeDelta) -> Tail {
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
        let Some(mut file) = open_or_skip(&seg.path) else {
            continue;
        };
        let result = lines_backward(&mut file, |line| {
            let Some((seq, fp, received)) = line.and_then(check_crc).and_then(decode_head) else {
                return ControlFlow::Continue(());
            };
            if seq > tail.last_seq {
                tail.last_seq = seq;
                tail.last_day = Some(seg.day);
            }
            // a kind of record this version does not know: its seq counts, no more
            let Some(received) = received else {
                return ControlFlow::Continue(());
            };
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
/// (none if `days` is 0), never `protect` or a newer one, nor one that a
/// relay target's cursor still needs within its `max_age` (see
/// [`super::forward`]). Returns the days deleted. Failures are logged, not returned: a segment that cannot be
/// deleted stays readable.
pub(super) fn apply_retention(
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
    let mut holds: Option<Vec<(usize, super::Cursor)>> = None;
    for (index, seg) in segments.iter().enumerate() {
        if seg.day >= oldest_kept || protect.is_some_and(|p| seg.day >= p) {
            continue;
        }
        let dir = seg.path.parent().unwrap_or(Path::new("."));
        let holds = holds.get_or_insert_with(|| {
            super::forward::hold_indexes(segments, super::forward::holds(dir))
        });
        if super::forward::held(segments, index, holds, today) {
            tracing::info!(path = %seg.path.display(), "event log: segment past retention kept for a relay target");
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

pub(super) fn acquire_lock(dir: &Path) -> Result<File, StoreError> {
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
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync log directory", dir, e))
}

#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// The segment open for append.
pub(super) struct OpenSegment {
    pub(super) day: NaiveDate,
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) len: u64,
    /// The file ends in a torn line: write `\n` before the next record.
    pub(super) needs_newline: bool,
}

pub(super) fn open_segment(dir: &Path, day: NaiveDate) -> Result<OpenSegment, StoreError> {
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

/// A segment opened for reading, or `None` (logged at warn) when it cannot
/// be: reads skip it and go on with the others.
pub(super) fn open_or_skip(path: &Path) -> Option<File> {
    File::open(path)
        .inspect_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "event log: cannot open segment, skipped");
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
