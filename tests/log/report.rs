//! `zapi-dash report` as scripts run it, against a log built in the test
//! and held open by a writer the whole time: known outages give known
//! numbers (one over midnight, one still open at the end), records of
//! kinds it does not know are skipped, and the writer is not disturbed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Days, NaiveDate, Utc};
use zapi_dash::model::{Event, EventKind, InstanceId};
use zapi_dash::store::{Appended, EventLog, LogOptions};

fn report(args: &[&str], config: &Path, state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .arg("report")
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .env_remove("ZAPI_CLIENT_TOKEN")
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `day` at `hh:mm` UTC.
fn at(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    day.and_hms_opt(hh, mm, 0).unwrap().and_utc()
}

fn change(id: &str, when: DateTime<Utc>, up: bool) -> Event {
    Event {
        instance_id: InstanceId::new(id),
        kind: if up {
            EventKind::Connected { phone: None }
        } else {
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into()),
            }
        },
        moment: when,
        received: when,
    }
}

/// A record of a kind this version does not know (as a newer one may
/// write: an acknowledgement), with its CRC.
fn unknown_record_line(seq: u64) -> String {
    let json = format!(
        r#"{{"seq":{seq},"fp":"0000000000000000","event":{{"instance_id":"A","kind":"ack","moment":"2026-01-01T00:00:00Z","received":"2026-01-01T00:00:00Z"}}}}"#
    );
    format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes()))
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
    log: EventLog,
    /// The four days before today, oldest first.
    days: [NaiveDate; 4],
}

/// Sales (A): connected from day 1 at 00:00, down 10:00–10:30 on day 1,
/// down 23:00 on day 1 to 01:00 on day 2 (over midnight), down from 22:00
/// on day 3 and still down. Z is in the log but not in the config; Quiet
/// is in the config but never in the log. Days 1–3 are yesterday and the
/// two days before; day 0, before them, holds the unknown record.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let events = state.join("events");
    std::fs::create_dir_all(&events).unwrap();
    let today = Utc::now().date_naive();
    let days = [4, 3, 2, 1].map(|back| today.checked_sub_days(Days::new(back)).unwrap());
    let [d0, d1, d2, d3] = days;
    std::fs::write(
        events.join(format!("events-{d0}.log")),
        unknown_record_line(1),
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[instances]]\nid = \"A\"\ntoken = \"TOKENA\"\nname = \"Sales\"\n\n\
         [[instances]]\nid = \"Q\"\ntoken = \"TOKENQ\"\nname = \"Quiet\"\n",
    )
    .unwrap();
    let log = EventLog::open(LogOptions {
        retention_days: 0,
        ..LogOptions::new(&events)
    })
    .unwrap();
    for event in [
        change("A", at(d1, 0, 0), true),
        change("A", at(d1, 10, 0), false),
        change("A", at(d1, 10, 30), true),
        change("A", at(d1, 23, 0), false),
        change("A", at(d2, 1, 0), true),
        change("Z", at(d2, 12, 0), false),
        change("Z", at(d2, 12, 5), true),
        change("A", at(d3, 22, 0), false),
    ] {
        let appended = log.append_arrival(event, None, None).await.unwrap();
        assert!(matches!(appended, Appended::Written { .. }));
    }
    Fixture {
        _dir: dir,
        config,
        state,
        log,
        days,
    }
}

fn files(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_gives_the_known_numbers_while_a_writer_holds_the_log() {
    let f = fixture().await;
    let [_, d1, d2, d3] = f.days;
    let before = files(&f.state.join("events"));
    let out = report(&["--since", "4d"], &f.config, &f.state);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}{table}", text(&out.stderr));
    let row = |label: String| -> String {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(&label))
            .unwrap_or_else(|| panic!("no row {label} in\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // day 1: two outages, 30 min and the first hour of the one over midnight
    assert_eq!(row(d1.to_string()), format!("{d1} 93.75% 2 30m 00s 1h 00m"));
    // day 2: the rest of it; its reconnect took 2 hours in all
    assert_eq!(row(d2.to_string()), format!("{d2} 95.83% 0 2h 00m 1h 00m"));
    // day 3: down from 22:00, not back
    assert_eq!(row(d3.to_string()), format!("{d3} 91.66% 1 — 2h 00m"));
    // the total: three disconnects, the open outage the longest
    let total = row("total".into());
    assert!(
        total.contains(" 3 ") && total.contains("(open)"),
        "{total}\n{table}"
    );
    assert!(table.contains("Sales  A"), "{table}");
    assert!(
        table.contains("\nZ\n"),
        "an instance only in the log:\n{table}"
    );
    assert!(
        table.contains("Quiet  Q\n  no connect or disconnect"),
        "{table}"
    );
    assert!(
        table.contains("1 record of other kinds"),
        "the unknown kind is skipped and said:\n{table}"
    );
    assert!(!table.contains("could not be read"), "{table}");
    // the report changed nothing, and the writer goes on
    assert_eq!(files(&f.state.join("events")), before);
    let appended = f
        .log
        .append_arrival(change("A", Utc::now(), true), None, None)
        .await;
    assert!(
        matches!(appended, Ok(Appended::Written { .. })),
        "{appended:?}"
    );
    f.log.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_json_carry_the_same_numbers_in_seconds() {
    let f = fixture().await;
    let [_, d1, d2, _] = f.days;
    let out = report(&["--since", "4d", "--format", "csv"], &f.config, &f.state);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(
        csv.starts_with("instance_id,name,day,uptime_percent,"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l == format!("A,Sales,{d1},93.75,86400,2,1,1800,3600,false")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l == format!("A,Sales,{d2},95.83,86400,0,1,7200,3600,false")),
        "{csv}"
    );
    assert!(
        csv.lines().any(|l| l.starts_with(&format!("Z,,{d2},"))),
        "{csv}"
    );

    let out = report(&["--since", "96h", "--format", "json"], &f.config, &f.state);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sales = &json["instances"][0];
    assert_eq!(sales["name"], "Sales");
    assert_eq!(sales["total"]["disconnects"], 3);
    assert_eq!(sales["total"]["reconnects"], 2);
    assert_eq!(sales["total"]["mean_reconnect_seconds"], (1800 + 7200) / 2);
    assert_eq!(sales["total"]["outage_open"], true);
    assert_eq!(json["skipped_other_records"], 1);
    f.log.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_since_exits_2_saying_what_it_takes() {
    let f = fixture().await;
    for bad in ["7", "7w", "-1d", "0h", "soon"] {
        let out = report(&[&format!("--since={bad}")], &f.config, &f.state);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("--since") && err.contains("7d, 24h or 30m"),
            "{bad}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    f.log.close().await.unwrap();
}

#[test]
fn a_missing_log_exits_3_and_a_bad_config_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let state = dir.path().join("state");
    let out = report(&[], &config, &state);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no event log at") && err.contains("--state-dir"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!state.exists(), "the report created nothing");

    std::fs::create_dir_all(state.join("events")).unwrap();
    let out = report(&[], &config, &state);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("holds no events yet"));

    std::fs::write(&config, "listen = \n").unwrap();
    let out = report(&[], &config, &state);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("config.toml"));
}
