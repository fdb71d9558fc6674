//! What the relay reads and keeps beside the log: the records after a
//! target's cursor with their original bodies, and the cursors themselves
//! (`forward/<target>.cursor`), which retention respects.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::record::{check_crc, decode_other, decode_record, quick_fp, quick_seq, record_body};
use super::replay::{for_each_chunk, for_each_line, resume_offset};
use super::segments::{Segment, first_segment_after, list_segments, sync_dir};
use super::{StoreError, io_error};
use crate::model::Event;

/// The directory beside the segments that holds the relay's files.
pub const FORWARD_DIR: &str = "forward";

/// An event the relay may deliver: its record's `seq` and fingerprint, the
/// parsed event and the original body (none when the record was written
/// without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwardable {
    pub seq: u64,
    pub fp: u64,
    pub event: Event,
    pub body: Option<Vec<u8>>,
}

/// What [`read_forward`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardRead {
    pub records: Vec<Forwardable>,
    /// The highest `seq` read, events or not: every record up to it was seen.
    pub last_seen: u64,
    /// Lines whose CRC or JSON did not check out.
    pub corrupt: u64,
}

/// The events with `seq > after`, oldest first, stopping at the end of the
/// chunk in which `limit` events are reached. Segments and the start in a
/// segment are found as [`super::replay_after`] finds them.
pub fn read_forward(dir: &Path, after: u64, limit: usize) -> Result<ForwardRead, StoreError> {
    let segments = list_segments(dir)?;
    let start = if after == 0 {
        0
    } else {
        first_segment_after(&segments, after)
    };
    let mut out = ForwardRead {
        last_seen: after,
        ..ForwardRead::default()
    };
    for seg in &segments[start..] {
        let Ok(mut file) = File::open(&seg.path) else {
            out.corrupt += 1;
            continue;
        };
        if after > 0 {
            let offset = resume_offset(&mut file, after);
            if file.seek(SeekFrom::Start(offset)).is_err() {
                out.corrupt += 1;
                continue;
            }
        }
        let mut corrupt = 0;
        let flow = for_each_chunk(file, &seg.path, "relay", &mut corrupt, |chunk| {
            for_each_line(chunk, |line| read_line(line, after, &mut out));
            if out.records.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        out.corrupt += corrupt;
        if flow.is_break() {
            return Ok(out);
        }
    }
    Ok(out)
}

fn read_line(line: Option<&[u8]>, after: u64, out: &mut ForwardRead) {
    let Some(json) = line.and_then(check_crc) else {
        out.corrupt += 1;
        return;
    };
    if quick_seq(json).is_some_and(|seq| seq <= after) {
        return;
    }
    match decode_record(json) {
        Some((seq, event)) if seq > after => {
            out.last_seen = out.last_seen.max(seq);
            out.records.push(Forwardable {
                seq,
                fp: quick_fp(json).unwrap_or(0),
                event,
                body: record_body(json).flatten(),
            });
        }
        Some(_) => {}
        None => match decode_other(json) {
            Some((seq, _)) => out.last_seen = out.last_seen.max(seq),
            None => out.corrupt += 1,
        },
    }
}

/// A target's durable position: every event with `seq <= after` is
/// delivered (or dead-lettered), and how long the target keeps trying,
/// which bounds how long retention keeps segments for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub after: u64,
    pub max_age_secs: u64,
}

fn cursor_path(dir: &Path, target: &str) -> PathBuf {
    dir.join(FORWARD_DIR).join(format!("{target}.cursor"))
}

/// The cursor of `target`; `None` if it has none yet (or it is unreadable,
/// which is logged).
pub fn read_cursor(dir: &Path, target: &str) -> Option<Cursor> {
    let path = cursor_path(dir, target);
    let text = fs::read(&path).ok()?;
    match serde_json::from_slice(&text) {
        Ok(cursor) => Some(cursor),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "relay: unreadable cursor, starting at the end of the log");
            None
        }
    }
}

/// Writes `target`'s cursor durably: a temporary file, synced, renamed over
/// the old one, the directory synced. A crash leaves the old or the new.
pub fn write_cursor(dir: &Path, target: &str, cursor: Cursor) -> Result<(), StoreError> {
    let forward = dir.join(FORWARD_DIR);
    fs::create_dir_all(&forward).map_err(|e| io_error("create relay directory", &forward, e))?;
    let path = cursor_path(dir, target);
    let tmp = path.with_extension("cursor.tmp");
    let json = serde_json::to_vec(&cursor).map_err(|e| StoreError::Encode {
        dir: dir.to_path_buf(),
        source: std::sync::Arc::new(e),
    })?;
    let mut file = File::create(&tmp).map_err(|e| io_error("create cursor", &tmp, e))?;
    file.write_all(&json)
        .and_then(|()| file.sync_data())
        .map_err(|e| io_error("write cursor", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| io_error("rename cursor", &path, e))?;
    sync_dir(&forward)
}

/// Every target's cursor in `dir` (for retention).
pub(super) fn holds(dir: &Path) -> Vec<Cursor> {
    let Ok(entries) = fs::read_dir(dir.join(FORWARD_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let target = name.to_str()?.strip_suffix(".cursor")?;
            read_cursor(dir, target)
        })
        .collect()
}

/// Whether a cursor in `holds` still needs segment `index` of `segments`
/// on `today`: the segment may hold a record after the cursor, and its day
/// is within the target's `max_age`.
pub(super) fn held(
    segments: &[Segment],
    index: usize,
    holds: &[(usize, Cursor)],
    today: NaiveDate,
) -> bool {
    holds.iter().any(|(first, cursor)| {
        let days = Duration::from_secs(cursor.max_age_secs)
            .as_secs()
            .div_ceil(86_400);
        let oldest = today
            .checked_sub_days(Days::new(days))
            .unwrap_or(NaiveDate::MIN);
        index >= *first && segments[index].day >= oldest
    })
}

/// `holds` with the index of the first segment each needs.
pub(super) fn hold_indexes(segments: &[Segment], holds: Vec<Cursor>) -> Vec<(usize, Cursor)> {
    holds
        .into_iter()
        .map(|c| (first_segment_after(segments, c.after), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, InstanceId};
    use crate::store::segments::{apply_retention, segment_file_name};
    use crate::store::{EventLog, LogOptions};
    use chrono::{TimeZone, Utc};

    fn event(id: &str, day: NaiveDate) -> Event {
        let at = Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).expect("time"));
        Event {
            instance_id: InstanceId::new(id),
            kind: EventKind::Activity {
                callback: "ReceivedCallback".into(),
            },
            moment: at,
            received: at,
        }
    }

    #[tokio::test]
    async fn bodies_come_back_byte_for_byte_after_the_cursor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = LogOptions::new(dir.path());
        opts.bodies = true;
        let log = EventLog::open(opts).expect("open");
        let today = Utc::now().date_naive();
        // spaces, escapes, non-ASCII and a quote: what a re-encoder would change
        let bodies: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                format!("{{ \"type\" : \"ReceivedCallback\", \"n\": {i}, \"t\": \"é \\\" }}\" }}")
                    .into_bytes()
            })
            .collect();
        for (i, body) in bodies.iter().enumerate() {
            log.append_body(
                event(&format!("I{i}"), today),
                Some(i as u64 + 1),
                Some(body.clone()),
                None,
            )
            .await
            .expect("append");
        }
        log.append_ack(crate::store::Ack {
            instance_id: InstanceId::new("I0"),
            acked: true,
            at: Utc::now(),
        })
        .await
        .expect("ack");
        let all = read_forward(dir.path(), 0, 100).expect("read");
        assert_eq!(all.records.len(), 5);
        assert_eq!(all.last_seen, 6, "the ack's seq is seen too");
        for (record, body) in all.records.iter().zip(&bodies) {
            assert_eq!(record.body.as_deref(), Some(body.as_slice()));
        }
        assert_eq!(all.records[2].fp, 3);
        let after = read_forward(dir.path(), 3, 100).expect("read");
        assert_eq!(
            after.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![4, 5]
        );
        // replay (the dashboard's reader) still reads every record
        let mut n = 0;
        crate::store::replay(dir.path(), |_, _| n += 1).expect("replay");
        assert_eq!(n, 5);
        log.close().await.expect("close");
    }

    #[tokio::test]
    async fn without_bodies_kept_records_carry_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EventLog::open(LogOptions::new(dir.path())).expect("open");
        log.append_body(
            event("I", Utc::now().date_naive()),
            None,
            Some(b"{}".to_vec()),
            None,
        )
        .await
        .expect("append");
        let read = read_forward(dir.path(), 0, 10).expect("read");
        assert_eq!(read.records[0].body, None);
        log.close().await.expect("close");
    }

    #[test]
    fn cursors_round_trip_and_hold_segments_within_max_age() {
        let dir = tempfile::tempdir().expect("tempdir");
        let today = NaiveDate::from_ymd_opt(2026, 2, 1).expect("day");
        let mut segments = Vec::new();
        // seq 1 on day -40, 2 on day -35, 3 on day -31, 4 today
        for (seq, back) in [(1u64, 40u64), (2, 35), (3, 31), (4, 0)] {
            let day = today.checked_sub_days(Days::new(back)).expect("day");
            let path = dir.path().join(segment_file_name(day));
            let mut buf = Vec::new();
            crate::store::record::encode_record(&mut buf, dir.path(), seq, 0, &event("I", day))
                .expect("encode");
            fs::write(&path, &buf).expect("write");
            segments.push(Segment { day, path });
        }
        // a target delivered up to seq 1, retrying for 36 days: it needs
        // seq 2 (day -35) and 3 (day -31); seq 1's segment may go
        let cursor = Cursor {
            after: 1,
            max_age_secs: 36 * 86_400,
        };
        write_cursor(dir.path(), "bot", cursor).expect("write cursor");
        assert_eq!(read_cursor(dir.path(), "bot"), Some(cursor));
        let removed = apply_retention(&segments, 30, today, Some(segments[3].day));
        assert_eq!(removed, vec![segments[0].day]);
        // with a shorter max_age the target no longer holds day -35
        write_cursor(
            dir.path(),
            "bot",
            Cursor {
                after: 1,
                max_age_secs: 32 * 86_400,
            },
        )
        .expect("write cursor");
        let removed = apply_retention(&segments[1..], 30, today, Some(segments[3].day));
        assert_eq!(removed, vec![segments[1].day]);
        assert!(segments[2].path.exists());
    }
}
