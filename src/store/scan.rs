//! Reading the log for reports: the state changes (connects and
//! disconnects) of every instance, strictly read-only, so it runs beside the
//! dashboard or `serve` that has the log open and appends to it.

use std::ops::ControlFlow;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::model::{ConnState, InstanceId};

use super::StoreError;
use super::record::{check_crc, decode_record};
use super::replay::{for_each_chunk, for_each_line};
use super::segments::{list_segments, open_or_skip};

/// A connect or a disconnect read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The record's sequence number (orders changes at the same time).
    pub seq: u64,
    pub instance_id: InstanceId,
    /// When it happened: Z-API's `momment`, but never later than the
    /// receipt (a clock ahead of ours does not put it in the future), as the
    /// dashboard's statistics take it.
    pub at: DateTime<Utc>,
    /// [`ConnState::Connected`] or [`ConnState::Disconnected`].
    pub state: ConnState,
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Segment files read.
    pub segments: usize,
    /// State changes passed to the callback.
    pub changes: u64,
    /// Intact records that are not state changes: activity, and kinds this
    /// version does not know (written by a newer one): skipped.
    pub other: u64,
    /// Lines whose CRC or JSON does not check out, plus segments that could
    /// not be read: skipped.
    pub corrupt: u64,
    /// Last lines without their `\n`: a record being written right now, or
    /// torn by a crash. Skipped, not counted as corrupt.
    pub incomplete: u64,
}

/// Streams the state changes of the log in `dir` to `f`, oldest segment
/// first and in file order within each (which is `seq` order).
///
/// Read-only: it opens the segments for reading and nothing else: no file
/// is created, written or locked, so the process holding the log's lock
/// goes on appending undisturbed. A missing directory has no segments.
pub fn scan_state_changes(
    dir: &Path,
    mut f: impl FnMut(StateChange),
) -> Result<ScanStats, StoreError> {
    let segments = list_segments(dir)?;
    let mut stats = ScanStats::default();
    for seg in &segments {
        stats.segments += 1;
        let Some(file) = open_or_skip(&seg.path) else {
            stats.corrupt += 1;
            continue;
        };
        let mut corrupt = 0;
        let _ = for_each_chunk(file, &seg.path, "event log", &mut corrupt, |chunk| {
            scan_chunk(chunk, &mut stats, &mut f);
            ControlFlow::Continue(())
        });
        stats.corrupt += corrupt;
    }
    Ok(stats)
}

/// The records of one chunk of whole lines (the last may lack its `\n`).
fn scan_chunk(chunk: &[u8], stats: &mut ScanStats, f: &mut impl FnMut(StateChange)) {
    let whole = match chunk.iter().rposition(|&b| b == b'\n') {
        Some(last) if last + 1 == chunk.len() => chunk,
        Some(last) => {
            stats.incomplete += 1;
            &chunk[..=last]
        }
        None => {
            stats.incomplete += 1;
            return;
        }
    };
    for_each_line(whole, |line| {
        let Some(json) = line.and_then(check_crc) else {
            stats.corrupt += 1;
            return;
        };
        match decode_record(json) {
            Some((seq, event)) => match event.kind.state() {
                Some(state @ (ConnState::Connected | ConnState::Disconnected)) => {
                    stats.changes += 1;
                    f(StateChange {
                        seq,
                        at: event.moment.min(event.received),
                        instance_id: event.instance_id,
                        state,
                    });
                }
                _ => stats.other += 1,
            },
            // intact (the CRC checks out) and JSON, but not an event this
            // version knows: a record kind added later
            None if serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok() => {
                stats.other += 1;
            }
            None => stats.corrupt += 1,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, EventKind};
    use crate::store::record::encode_record;
    use chrono::TimeZone;

    fn line(seq: u64, kind: EventKind, secs: i64) -> Vec<u8> {
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        let event = Event {
            instance_id: InstanceId::new("A"),
            kind,
            moment: at,
            received: at,
        };
        let mut buf = Vec::new();
        encode_record(&mut buf, Path::new("x"), seq, 0, &event).unwrap();
        buf
    }

    /// A record of a kind this version does not know, CRC and all.
    fn unknown_kind(seq: u64) -> Vec<u8> {
        let json = format!(
            r#"{{"seq":{seq},"fp":"0000000000000000","ack":{{"instance_id":"A","at":"2026-01-01T00:00:00Z"}}}}"#
        );
        format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes())).into_bytes()
    }

    #[test]
    fn changes_only_unknown_kinds_and_activity_skipped_torn_tail_not_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        bytes.extend(line(1, EventKind::Disconnected { error: None }, 1_000));
        bytes.extend(unknown_kind(2));
        bytes.extend(line(
            3,
            EventKind::Activity {
                callback: "ReceivedCallback".into(),
            },
            1_100,
        ));
        bytes.extend(b"0badc0de {\"seq\":4}\n");
        bytes.extend(line(5, EventKind::Connected { phone: None }, 1_200));
        let mut torn = line(6, EventKind::Disconnected { error: None }, 1_300);
        torn.truncate(torn.len() / 2);
        bytes.extend(torn);
        std::fs::write(dir.path().join("events-2026-01-01.log"), bytes).unwrap();

        let mut seen = Vec::new();
        let stats = scan_state_changes(dir.path(), |c| seen.push((c.seq, c.state))).unwrap();
        assert_eq!(
            seen,
            vec![(1, ConnState::Disconnected), (5, ConnState::Connected)]
        );
        assert_eq!(
            stats,
            ScanStats {
                segments: 1,
                changes: 2,
                other: 2,
                corrupt: 1,
                incomplete: 1,
            }
        );
    }

    #[test]
    fn a_missing_directory_is_an_empty_log_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("events");
        let stats = scan_state_changes(&missing, |_| {}).unwrap();
        assert_eq!(stats, ScanStats::default());
        assert!(!missing.exists());
    }
}
