//! The durable event log against real files in a temporary directory:
//! round trips, group commit under concurrency, duplicates, torn and corrupt
//! records, retention, history and resumption, and arbitrary garbage.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Days, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use zapi_dash::model::{Event, EventKind, InstanceId};
use zapi_dash::store::{
    self, Appended, EventLog, LogOptions, ReplayStats, StoreError, fingerprint, history, replay,
    replay_after,
};

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

/// A varied event of instance `id`, the `n`th of its test.
fn event(id: &str, n: u64, received: DateTime<Utc>) -> Event {
    let kind = match n % 3 {
        0 => EventKind::Disconnected {
            error: Some(format!("error {n}: \"quoted\", new\nline, ünïcödé")),
        },
        1 => EventKind::Connected {
            phone: Some("5511999999999".into()),
        },
        _ => EventKind::Activity {
            callback: "ReceivedCallback".into(),
        },
    };
    Event {
        instance_id: InstanceId::new(id),
        kind,
        moment: received - Duration::seconds(i64::try_from(n).unwrap()),
        received,
    }
}

/// Options with retention off, so fixed dates in the past are kept.
fn opts(dir: &Path) -> LogOptions {
    LogOptions {
        dir: dir.to_path_buf(),
        retention_days: 0,
        max_batch: store::DEFAULT_MAX_BATCH,
        committed: None,
        bodies: false,
    }
}

fn segment(dir: &Path, d: NaiveDate) -> PathBuf {
    dir.join(format!("events-{}.log", d.format("%Y-%m-%d")))
}

fn replay_all(dir: &Path) -> (Vec<(u64, Event)>, ReplayStats) {
    let mut out = Vec::new();
    let stats = replay(dir, |seq, ev| out.push((seq, ev))).unwrap();
    (out, stats)
}

fn fp(n: u64) -> u64 {
    fingerprint(format!("body {n}").as_bytes())
}

async fn append_written(log: &EventLog, ev: Event, fp: u64) -> u64 {
    match log.append(ev, fp).await.unwrap() {
        Appended::Written { seq } => seq,
        Appended::Duplicate => panic!("unexpected duplicate"),
    }
}

#[tokio::test]
async fn append_then_replay_gives_the_same_events_and_reopen_continues_seq() {
    let dir = tempfile::tempdir().unwrap();
    let at = day(2026, 1, 5);
    let log = EventLog::open(opts(dir.path())).unwrap();
    let mut written = Vec::new();
    for n in 0..20 {
        let ev = event(if n % 2 == 0 { "A" } else { "B" }, n, at);
        let seq = append_written(&log, ev.clone(), fp(n)).await;
        written.push((seq, ev));
    }
    assert_eq!(log.stats().records, 20);
    log.close().await.unwrap();

    let (replayed, stats) = replay_all(dir.path());
    assert_eq!(replayed, written);
    assert!(replayed.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(
        stats,
        ReplayStats {
            records: 20,
            corrupt: 0,
            segments: 1,
            last_seq: written[19].0
        }
    );

    let log = EventLog::open(opts(dir.path())).unwrap();
    assert_eq!(log.stats().last_seq, written[19].0);
    let seq = append_written(&log, event("A", 100, at), fp(100)).await;
    assert_eq!(seq, written[19].0 + 1);
    log.close().await.unwrap();
    let (replayed, _) = replay_all(dir.path());
    assert_eq!(replayed.len(), 21);
    assert_eq!(replayed[20], (seq, event("A", 100, at)));
}

#[tokio::test]
async fn segments_follow_the_receipt_day_and_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let s1 = append_written(&log, event("A", 1, day(2026, 1, 5)), fp(1)).await;
    let s2 = append_written(&log, event("A", 2, day(2026, 1, 6)), fp(2)).await;
    // Late event of the previous day: goes to the newest segment.
    let s3 = append_written(&log, event("A", 3, day(2026, 1, 5)), fp(3)).await;
    log.close().await.unwrap();

    let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let d6 = NaiveDate::from_ymd_opt(2026, 1, 6).unwrap();
    let lines = |d| {
        fs::read_to_string(segment(dir.path(), d))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(lines(d5), 1);
    assert_eq!(lines(d6), 2);
    let (replayed, stats) = replay_all(dir.path());
    assert_eq!(stats.segments, 2);
    let seqs: Vec<u64> = replayed.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![s1, s2, s3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..50u64 {
        let log = log.clone();
        tasks.spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..200u64 {
                let n = task * 1000 + i;
                let ev = event(&format!("I{task}"), n, day(2026, 1, 5));
                match log.append(ev, fp(n)).await {
                    Ok(Appended::Written { seq }) => seqs.push(seq),
                    other => panic!("append {n}: {other:?}"),
                }
            }
            seqs
        });
    }
    let mut all = Vec::new();
    while let Some(seqs) = tasks.join_next().await {
        all.extend(seqs.unwrap());
    }
    let stats = log.stats();
    log.close().await.unwrap();

    assert_eq!(all.len(), 10_000);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 10_000, "every seq is distinct");
    assert_eq!(stats.records, 10_000);
    assert!(
        stats.fsyncs < 10_000,
        "group commit: {} fsyncs for 10,000 appends",
        stats.fsyncs
    );
    assert!(stats.largest_batch > 1);

    let (replayed, rstats) = replay_all(dir.path());
    assert_eq!(replayed.len(), 10_000);
    assert_eq!(rstats.corrupt, 0);
    assert!(replayed.windows(2).all(|w| w[0].0 < w[1].0));
    // Each instance's events are in the order its task sent them.
    for task in 0..50u64 {
        let id = format!("I{task}");
        let ns: Vec<DateTime<Utc>> = replayed
            .iter()
            .filter(|(_, e)| e.instance_id.as_str() == id)
            .map(|(_, e)| e.moment)
            .collect();
        assert_eq!(ns.len(), 200);
        assert!(
            ns.windows(2).all(|w| w[0] > w[1]),
            "moments decrease with n"
        );
    }
}

#[tokio::test]
async fn duplicates_are_written_once_even_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let at = day(2026, 1, 5);
    let log = EventLog::open(opts(dir.path())).unwrap();
    let first = log.append(event("A", 1, at), fp(1)).await.unwrap();
    assert!(matches!(first, Appended::Written { .. }));
    let again = log.append(event("A", 1, at), fp(1)).await.unwrap();
    assert_eq!(again, Appended::Duplicate);
    // Duplicates inside one batch: all answered, one written.
    let (a, b, c) = tokio::join!(
        log.append(event("B", 2, at), fp(2)),
        log.append(event("B", 2, at), fp(2)),
        log.append(event("B", 2, at), fp(2)),
    );
    let answers = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(
        answers
            .iter()
            .filter(|x| matches!(x, Appended::Written { .. }))
            .count(),
        1
    );
    assert_eq!(log.stats().duplicates, 3);
    log.close().await.unwrap();

    let (replayed, _) = replay_all(dir.path());
    assert_eq!(replayed.len(), 2);

    let log = EventLog::open(opts(dir.path())).unwrap();
    assert_eq!(
        log.append(event("A", 1, at), fp(1)).await.unwrap(),
        Appended::Duplicate,
        "the filter is primed from disk"
    );
    assert!(matches!(
        log.append(event("A", 3, at), fp(3)).await.unwrap(),
        Appended::Written { .. }
    ));
    log.close().await.unwrap();
    assert_eq!(replay_all(dir.path()).0.len(), 3);
}

#[tokio::test]
async fn torn_corrupt_and_garbage_records_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let at = day(2026, 1, 5);
    let log = EventLog::open(opts(dir.path())).unwrap();
    let mut written = Vec::new();
    for n in 0..10 {
        let ev = event("A", n, at);
        written.push((append_written(&log, ev.clone(), fp(n)).await, ev));
    }
    log.close().await.unwrap();

    let path = segment(dir.path(), d5);
    let mut bytes = fs::read(&path).unwrap();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // Flip one byte in the middle of record 4 (index 3).
    let mid = (line_starts[3] + line_starts[4]) / 2;
    bytes[mid] ^= 0x20;
    // Garbage lines between records 6 and 7.
    let garbage = b"not a record\n\x00\xff\xfe garbage\n12345678 {\"seq\":1}\n\n".to_vec();
    bytes.splice(line_starts[6]..line_starts[6], garbage);
    // Tear the last record in half.
    let cut = bytes.len() - (line_starts[10] - line_starts[9]) / 2;
    bytes.truncate(cut);
    fs::write(&path, &bytes).unwrap();
    // An empty segment of another day.
    fs::write(segment(dir.path(), d5.succ_opt().unwrap()), b"").unwrap();

    let (replayed, stats) = replay_all(dir.path());
    let expected: Vec<(u64, Event)> = written
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 9)
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(replayed, expected);
    assert_eq!(stats.records, 8);
    assert_eq!(stats.corrupt, 1 + 4 + 1, "flipped + 4 garbage lines + torn");
    assert_eq!(stats.segments, 2);

    // Appending after the torn tail: the new record gets its own line.
    let log = EventLog::open(opts(dir.path())).unwrap();
    let new = event("A", 50, at);
    let seq = append_written(&log, new.clone(), fp(50)).await;
    assert!(seq > written[8].0);
    log.close().await.unwrap();
    // The newest segment (the empty one, day 6) received it.
    let (replayed, stats) = replay_all(dir.path());
    assert_eq!(replayed.last(), Some(&(seq, new)));
    assert_eq!(stats.records, 9);
    assert_eq!(stats.corrupt, 6);
}

#[tokio::test]
async fn appending_to_a_segment_with_a_torn_tail_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let at = day(2026, 1, 5);
    let log = EventLog::open(opts(dir.path())).unwrap();
    let s1 = append_written(&log, event("A", 1, at), fp(1)).await;
    log.close().await.unwrap();
    let path = segment(dir.path(), d5);
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"0badc0de {\"seq\":2,\"fp\":\"00").unwrap();
    drop(f);

    let log = EventLog::open(opts(dir.path())).unwrap();
    let s2 = append_written(&log, event("A", 2, at), fp(2)).await;
    log.close().await.unwrap();
    let (replayed, stats) = replay_all(dir.path());
    assert_eq!(
        replayed,
        vec![(s1, event("A", 1, at)), (s2, event("A", 2, at))]
    );
    assert_eq!(stats.corrupt, 1);
    assert!(fs::read(&path).unwrap().ends_with(b"\n"));
}

#[tokio::test]
async fn retention_removes_old_segments_at_open_and_zero_keeps_them() {
    let today = Utc::now().date_naive();
    let old = today.checked_sub_days(Days::new(40)).unwrap();
    let recent = today.checked_sub_days(Days::new(10)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    fs::write(segment(dir.path(), old), b"garbage\n").unwrap();
    fs::write(segment(dir.path(), recent), b"").unwrap();
    fs::write(dir.path().join("notes.txt"), b"not a segment").unwrap();
    let log = EventLog::open(LogOptions {
        retention_days: 0,
        ..opts(dir.path())
    })
    .unwrap();
    log.close().await.unwrap();
    assert!(segment(dir.path(), old).exists(), "0 keeps everything");

    let log = EventLog::open(LogOptions {
        retention_days: 30,
        ..opts(dir.path())
    })
    .unwrap();
    assert_eq!(log.stats().segments_removed, 1);
    log.close().await.unwrap();
    assert!(!segment(dir.path(), old).exists());
    assert!(segment(dir.path(), recent).exists());
    assert!(dir.path().join("notes.txt").exists());
}

#[tokio::test]
async fn retention_keeps_the_newest_record_so_seq_continues() {
    let today = Utc::now().date_naive();
    let old = today.checked_sub_days(Days::new(40)).unwrap();
    let old_at = old.and_hms_opt(12, 0, 0).unwrap().and_utc();

    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let s1 = append_written(&log, event("A", 1, old_at), fp(1)).await;
    log.close().await.unwrap();

    let with_retention = LogOptions {
        retention_days: 30,
        ..opts(dir.path())
    };
    let log = EventLog::open(with_retention.clone()).unwrap();
    assert!(
        segment(dir.path(), old).exists(),
        "holds the last seq: kept at open"
    );
    let s2 = append_written(&log, event("A", 2, Utc::now()), fp(2)).await;
    assert!(s2 > s1);
    log.close().await.unwrap();
    // Moving to today's segment applied retention again.
    assert!(!segment(dir.path(), old).exists());
    let (replayed, _) = replay_all(dir.path());
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].0, s2);
}

#[tokio::test]
async fn history_is_newest_first_for_one_instance_and_honours_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let mut written = Vec::new();
    for n in 0..30u64 {
        let id = ["A", "B", "AB"][usize::try_from(n % 3).unwrap()];
        let at = if n < 15 {
            day(2026, 1, 5)
        } else {
            day(2026, 1, 6)
        };
        let ev = event(id, n, at);
        written.push((append_written(&log, ev.clone(), fp(n)).await, ev));
    }
    log.close().await.unwrap();

    let of_a: Vec<(u64, Event)> = written
        .iter()
        .rev()
        .filter(|(_, e)| e.instance_id.as_str() == "A")
        .cloned()
        .collect();
    let a = InstanceId::new("A");
    assert_eq!(history(dir.path(), &a, 4).unwrap(), of_a[..4]);
    assert_eq!(
        history(dir.path(), &a, 7).unwrap(),
        of_a[..7],
        "spans both segments"
    );
    assert_eq!(history(dir.path(), &a, 100).unwrap(), of_a);
    assert!(history(dir.path(), &a, 0).unwrap().is_empty());
    assert!(
        history(dir.path(), &InstanceId::new("nobody"), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        history(dir.path(), &InstanceId::new("AB"), 100)
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn replay_after_gives_only_newer_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let mut seqs = Vec::new();
    for n in 0..30u64 {
        let at = if n < 10 {
            day(2026, 1, 5)
        } else {
            day(2026, 1, 6)
        };
        seqs.push(append_written(&log, event("A", n, at), fp(n)).await);
    }
    log.close().await.unwrap();

    for after in [0, seqs[4], seqs[9], seqs[20], seqs[29], seqs[29] + 5] {
        let mut got = Vec::new();
        let stats = replay_after(dir.path(), after, |seq, _| got.push(seq)).unwrap();
        let want: Vec<u64> = seqs.iter().copied().filter(|s| *s > after).collect();
        assert_eq!(got, want, "after {after}");
        assert_eq!(stats.records, want.len() as u64);
        assert_eq!(stats.last_seq, want.last().copied().unwrap_or(0));
    }
    // Resuming inside the second segment does not read the first.
    let stats = replay_after(dir.path(), seqs[15], |_, _| {}).unwrap();
    assert_eq!(stats.segments, 1);
}

#[tokio::test]
async fn appends_after_shutdown_fail_and_every_acknowledged_event_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..500u64 {
        let log = log.clone();
        tasks.spawn(async move { log.append(event("A", n, day(2026, 1, 5)), fp(n)).await });
    }
    tokio::task::yield_now().await;
    log.shutdown().await.unwrap();
    let mut acknowledged = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(Appended::Written { seq }) => acknowledged.push(seq),
            Ok(Appended::Duplicate) => panic!("no duplicates were sent"),
            Err(StoreError::Closed { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let err = log.append(event("A", 999, day(2026, 1, 5)), fp(999)).await;
    assert!(matches!(err, Err(StoreError::Closed { .. })), "{err:?}");
    log.shutdown().await.unwrap();

    acknowledged.sort_unstable();
    let on_disk: Vec<u64> = replay_all(dir.path())
        .0
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(on_disk, acknowledged);
}

#[tokio::test]
async fn a_second_open_of_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(opts(dir.path())).unwrap();
    let err = EventLog::open(opts(dir.path())).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    log.close().await.unwrap();
    EventLog::open(opts(dir.path()))
        .unwrap()
        .close()
        .await
        .unwrap();
}

/// A full disk: the segment is a link to `/dev/full`, so every write fails.
/// The append must fail (never a false success), and once the disk has room
/// the same event (same fingerprint) is written.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_failed_write_is_an_error_and_the_retry_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let at = day(2026, 1, 5);
    let path = segment(dir.path(), d5);
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();

    let log = EventLog::open(opts(dir.path())).unwrap();
    let err = log.append(event("A", 1, at), fp(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("events-2026-01-05.log"), "{err}");
    assert_eq!(log.stats().failed, 1);
    assert_eq!(log.stats().records, 0);

    fs::remove_file(&path).unwrap();
    let seq = append_written(&log, event("A", 1, at), fp(1)).await;
    log.close().await.unwrap();
    assert_eq!(replay_all(dir.path()).0, vec![(seq, event("A", 1, at))]);
}

#[test]
fn replay_of_a_missing_dir_is_empty_and_fingerprint_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let (replayed, stats) = replay_all(&dir.path().join("nope"));
    assert!(replayed.is_empty());
    assert_eq!(stats, ReplayStats::default());
    assert_eq!(fingerprint(b"abc"), 0xba78_16bf_8f01_cfea);
    assert_ne!(fingerprint(b"abc"), fingerprint(b"abd"));
}

/// The bytes of a segment and the records in it.
type Segment = (Vec<u8>, Vec<(u64, Event)>);

/// A segment of 5 intact records, built once.
fn base_segment() -> &'static Segment {
    static BASE: std::sync::OnceLock<Segment> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let records = rt.block_on(async {
            let log = EventLog::open(opts(dir.path())).unwrap();
            let mut records = Vec::new();
            for n in 0..5 {
                let ev = event("A", n, day(2026, 1, 5));
                records.push((append_written(&log, ev.clone(), fp(n)).await, ev));
            }
            log.close().await.unwrap();
            records
        });
        let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        (fs::read(segment(dir.path(), d5)).unwrap(), records)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_trailing_bytes_never_panic_or_lose_intact_records(
        garbage in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let (base, records) = base_segment();
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = base.clone();
        bytes.extend_from_slice(&garbage);
        let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        fs::write(segment(dir.path(), d5), &bytes).unwrap();

        let (replayed, stats) = replay_all(dir.path());
        prop_assert!(replayed.len() >= records.len());
        prop_assert_eq!(&replayed[..records.len()], &records[..]);
        prop_assert_eq!(stats.records as usize, replayed.len());
        let a = InstanceId::new("A");
        let hist = history(dir.path(), &a, 100).unwrap();
        prop_assert!(hist.len() >= records.len());
    }

    #[test]
    fn appending_after_arbitrary_garbage_replays_the_new_record(
        garbage in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let (base, records) = base_segment();
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = base.clone();
        bytes.extend_from_slice(&garbage);
        let d5 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        fs::write(segment(dir.path(), d5), &bytes).unwrap();

        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let new = event("B", 77, day(2026, 1, 5));
        let seq = rt.block_on(async {
            let log = EventLog::open(opts(dir.path())).unwrap();
            let seq = append_written(&log, new.clone(), fp(77)).await;
            log.close().await.unwrap();
            seq
        });
        prop_assert!(seq > records[records.len() - 1].0);
        let (replayed, _) = replay_all(dir.path());
        prop_assert_eq!(&replayed[..records.len()], &records[..]);
        prop_assert_eq!(replayed.last(), Some(&(seq, new)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_feed_gets_every_written_record_in_seq_order_before_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    // room for every record, so the writer never waits on this test's reads
    let (tx, mut feed) = tokio::sync::mpsc::channel(256);
    let log = EventLog::open(LogOptions {
        committed: Some(tx),
        ..opts(dir.path())
    })
    .unwrap();
    let now = day(2026, 11, 24);
    let mut tasks = Vec::new();
    for n in 0..200u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(event("I", n, now), fp(n)).await.unwrap()
        }));
    }
    let (mut seqs, mut fed) = (Vec::new(), Vec::new());
    for t in tasks {
        let answer = t.await.unwrap();
        // whatever was handed to the feed so far is in the channel now
        while let Ok((seq, _)) = feed.try_recv() {
            fed.push(seq);
        }
        if let store::Appended::Written { seq } = answer {
            assert!(
                fed.contains(&seq),
                "seq {seq} was answered before it was fed"
            );
            seqs.push(seq);
        }
    }
    // a duplicate is answered but not fed again
    assert_eq!(
        log.append(event("I", 0, now), fp(0)).await.unwrap(),
        store::Appended::Duplicate
    );
    log.close().await.unwrap();
    while let Some((seq, _)) = feed.recv().await {
        fed.push(seq);
    }
    seqs.sort_unstable();
    assert_eq!(
        fed.len(),
        200,
        "each written record is fed once, the duplicate not at all"
    );
    assert!(
        fed.windows(2).all(|w| w[0] < w[1]),
        "the feed is in seq order"
    );
    assert_eq!(fed, seqs);
}

#[tokio::test]
async fn a_fingerprint_is_a_retry_only_within_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = day(2026, 1, 5);
    let at = |mins: i64, secs: i64| t0 + Duration::minutes(mins) + Duration::seconds(secs);
    let log = EventLog::open(opts(dir.path())).unwrap();
    append_written(&log, event("A", 1, at(0, 0)), fp(1)).await;
    assert_eq!(
        log.append(event("A", 1, at(9, 59)), fp(1)).await.unwrap(),
        Appended::Duplicate,
        "a retry within 10 minutes"
    );
    append_written(&log, event("A", 1, at(10, 1)), fp(1)).await;
    log.close().await.unwrap();

    // reopened: the filter is primed with what is within 10 minutes of the
    // newest record
    let log = EventLog::open(opts(dir.path())).unwrap();
    assert_eq!(
        log.append(event("A", 1, at(15, 0)), fp(1)).await.unwrap(),
        Appended::Duplicate,
        "the filter is primed from disk"
    );
    append_written(&log, event("A", 1, at(21, 0)), fp(1)).await;
    log.close().await.unwrap();
    assert_eq!(replay_all(dir.path()).0.len(), 3);
}

#[tokio::test]
async fn events_without_a_fingerprint_are_always_written() {
    let dir = tempfile::tempdir().unwrap();
    let at = day(2026, 1, 5);
    let log = EventLog::open(opts(dir.path())).unwrap();
    for n in 0..3 {
        let answer = log
            .append_arrival(event("A", 0, at), None, None)
            .await
            .unwrap();
        assert!(
            matches!(answer, Appended::Written { .. }),
            "{n}: {answer:?}"
        );
    }
    // several in one batch too
    let (a, b) = tokio::join!(
        log.append_arrival(event("A", 0, at), None, None),
        log.append_arrival(event("A", 0, at), None, None),
    );
    assert!(matches!(a.unwrap(), Appended::Written { .. }));
    assert!(matches!(b.unwrap(), Appended::Written { .. }));
    assert_eq!(log.stats().duplicates, 0);
    log.close().await.unwrap();

    let log = EventLog::open(opts(dir.path())).unwrap();
    append_written(&log, event("A", 0, at), fp(0)).await;
    let answer = log
        .append_arrival(event("A", 0, at), None, None)
        .await
        .unwrap();
    assert!(matches!(answer, Appended::Written { .. }));
    log.close().await.unwrap();
    assert_eq!(replay_all(dir.path()).0.len(), 7);
}

/// The listener with the durable log, on loopback, and what it replayed.
struct Logged {
    service: zapi_dash::listener::Listener,
    events: tokio::sync::mpsc::Receiver<(u64, Event)>,
    replayed: Vec<Event>,
    client: reqwest::Client,
}

impl Logged {
    async fn start(dir: &Path) -> Logged {
        let opts = zapi_dash::listener::ListenerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            log_dir: dir.to_path_buf(),
            retention_days: 0,
            secret: None,
            server: zapi_dash::listener::server::ServerOptions::default(),
            extra_routes: None,
            metrics: None,
            token_header: Default::default(),
            relay: None,
        };
        let mut replayed = Vec::new();
        let (service, events, _) =
            zapi_dash::listener::Listener::start(opts, |_, e| replayed.push(e))
                .await
                .unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Logged {
            service,
            events,
            replayed,
            client,
        }
    }

    /// Posts `body` to `path`, expects 200, and returns the event it stored
    /// (`None` when it was taken for a retry). The log hands a stored event
    /// to the feed before it answers, so `try_recv` is exact.
    async fn post(&mut self, path: &str, body: &serde_json::Value) -> Option<Event> {
        let resp = self
            .client
            .post(format!("http://{}{path}", self.service.addr))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path} {body}");
        let stored = self.events.try_recv().ok().map(|(_, e)| e);
        assert!(self.events.try_recv().is_err(), "one event at most");
        stored
    }
}

fn is_down(e: &Event) -> bool {
    matches!(e.kind, EventKind::Disconnected { .. })
}

/// Real presence and connected deliveries carry no `momment`: the same event
/// repeated is the same bytes, and must not be taken for a retry.
#[tokio::test]
async fn repeated_state_webhooks_without_momment_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let down = serde_json::json!({"instanceId": "S", "error": "Device has been disconnected", "disconnected": true});
    let up = serde_json::json!({"instanceId": "S", "connected": true, "phone": "5544999999999"});
    let mut s = Logged::start(dir.path()).await;
    let a = s.post("/hooks/disconnected", &down).await.expect("stored");
    let b = s.post("/hooks/connected", &up).await.expect("stored");
    let c = s.post("/hooks/disconnected", &down).await.expect("stored");
    assert!(is_down(&a) && !is_down(&b) && is_down(&c));
    // the last word on the instance is the second disconnect
    assert!(c.received >= b.received);

    // a retry carries its momment: the same body within 10 minutes is one event
    let with_moment = zapi_dash::sim::webhook_body_disconnected("S", 1_764_000_000, "x");
    assert!(s.post("/hooks", &with_moment).await.is_some());
    assert_eq!(s.post("/hooks", &with_moment).await, None, "a retry");
    s.service.shutdown().await.unwrap();

    // across a restart: every event without momment is replayed, in order,
    // and the retry with momment is still recognised
    let mut s = Logged::start(dir.path()).await;
    let kinds: Vec<bool> = s.replayed.iter().map(is_down).collect();
    assert_eq!(kinds, [true, false, true, true]);
    assert_eq!(s.post("/hooks", &with_moment).await, None, "still a retry");
    assert!(s.post("/hooks/disconnected", &down).await.is_some());
    assert_eq!(s.service.log.stats().duplicates, 1);
    s.service.shutdown().await.unwrap();

    let s = Logged::start(dir.path()).await;
    assert_eq!(s.replayed.len(), 5);
    s.service.shutdown().await.unwrap();
}
