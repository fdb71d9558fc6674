//! The report written out: a table for people (the default), CSV for
//! spreadsheets, JSON for programs.

use std::io::{self, Write};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::{Figures, InstanceReport, Report};
use crate::fleet::stats::short_duration;
use crate::words::count;

/// How `report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A readable table per instance, with a total.
    #[default]
    Table,
    /// One row per instance and day, durations in seconds.
    Csv,
    /// The days and totals of every instance, durations in seconds.
    Json,
}

/// What the log held besides the state changes, for the reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Intact records of other kinds (activity, kinds of a newer version).
    pub other: u64,
    /// Records that could not be read (CRC or JSON).
    pub corrupt: u64,
}

/// Writes `report` in `format`.
pub fn write(
    report: &Report,
    format: Format,
    skipped: Skipped,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        Format::Table => table(report, skipped, out),
        Format::Csv => csv(report, out),
        Format::Json => json(report, skipped, out),
    }
}

/// A ratio in [0, 1] in hundredths of a percent, rounded down, so that
/// `100.00` means no second of outage: "99.93".
pub fn percent(v: f64) -> String {
    let hundredths = if v >= 1.0 {
        10_000
    } else {
        ((v.max(0.0) * 10_000.0 + 1e-6).floor() as i64).clamp(0, 9_999)
    };
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// Text from the log or the config, safe to print on a terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

const HEAD: [&str; 5] = [
    "day",
    "uptime",
    "disconnects",
    "mean reconnect",
    "longest outage",
];

fn table(report: &Report, skipped: Skipped, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "zapi-dash report · {} to {} UTC · days in UTC · {}",
        stamp(report.from),
        stamp(report.to),
        count(report.instances.len(), "instance")
    )?;
    for inst in &report.instances {
        writeln!(out)?;
        writeln!(out, "{}", title(inst))?;
        if !inst.has_changes {
            writeln!(
                out,
                "  no connect or disconnect in the log: nothing to report"
            )?;
            continue;
        }
        table_row(out, HEAD.map(str::to_owned))?;
        for (day, f) in &inst.days {
            table_row(out, cells(&day.to_string(), f))?;
        }
        table_row(out, cells("total", &inst.total))?;
    }
    let mut notes = Vec::new();
    if skipped.other > 0 {
        notes.push(format!(
            "{} of other kinds (activity, acknowledgements) not counted",
            count(
                usize::try_from(skipped.other).unwrap_or(usize::MAX),
                "record"
            )
        ));
    }
    if skipped.corrupt > 0 {
        notes.push(format!(
            "{} could not be read and were skipped",
            count(
                usize::try_from(skipped.corrupt).unwrap_or(usize::MAX),
                "record"
            )
        ));
    }
    if !notes.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", notes.join("; "))?;
    }
    Ok(())
}

/// The instance's name and id (once when they are the same).
fn title(inst: &InstanceReport) -> String {
    let id = printable(inst.id.as_str());
    match inst.name.as_deref() {
        Some(name) if name != inst.id.as_str() => format!("{}  {id}", printable(name)),
        _ => id,
    }
}

fn cells(label: &str, f: &Figures) -> [String; 5] {
    let longest = match f.longest_outage {
        Some(d) if f.outage_open => format!("{} (open)", short_duration(Some(d))),
        d => short_duration(d),
    };
    [
        label.to_owned(),
        f.uptime()
            .map_or("—".to_owned(), |u| format!("{}%", percent(u))),
        f.disconnects.to_string(),
        short_duration(f.mean_reconnect()),
        longest,
    ]
}

fn table_row(out: &mut impl Write, cells: [String; 5]) -> io::Result<()> {
    let [day, uptime, disconnects, mean, longest] = cells;
    writeln!(
        out,
        "  {day:<10}  {uptime:>7}  {disconnects:>11}  {mean:>14}  {longest:>16}"
    )
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn secs(d: Option<TimeDelta>) -> String {
    d.map_or(String::new(), |d| d.num_seconds().to_string())
}

fn csv(report: &Report, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "instance_id,name,day,uptime_percent,known_seconds,disconnects,reconnects,mean_reconnect_seconds,longest_outage_seconds,outage_open"
    )?;
    for inst in report.instances.iter().filter(|i| i.has_changes) {
        for (day, f) in &inst.days {
            writeln!(
                out,
                "{},{},{day},{},{},{},{},{},{},{}",
                csv_field(inst.id.as_str()),
                csv_field(inst.name.as_deref().unwrap_or("")),
                f.uptime().map_or(String::new(), percent),
                f.known().num_seconds(),
                f.disconnects,
                f.reconnects,
                secs(f.mean_reconnect()),
                secs(f.longest_outage),
                f.outage_open
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonReport<'a> {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    days_in: &'static str,
    skipped_other_records: u64,
    skipped_corrupt_records: u64,
    instances: Vec<JsonInstance<'a>>,
}

#[derive(Serialize)]
struct JsonInstance<'a> {
    id: &'a str,
    name: Option<&'a str>,
    has_changes: bool,
    days: Vec<JsonFigures>,
    total: JsonFigures,
}

#[derive(Serialize)]
struct JsonFigures {
    #[serde(skip_serializing_if = "Option::is_none")]
    day: Option<String>,
    /// Two decimals, rounded down, as in the table.
    uptime_percent: Option<f64>,
    known_seconds: i64,
    disconnects: usize,
    reconnects: usize,
    mean_reconnect_seconds: Option<i64>,
    longest_outage_seconds: Option<i64>,
    outage_open: bool,
}

impl JsonFigures {
    fn new(day: Option<String>, f: &Figures) -> Self {
        Self {
            day,
            uptime_percent: f.uptime().and_then(|u| percent(u).parse().ok()),
            known_seconds: f.known().num_seconds(),
            disconnects: f.disconnects,
            reconnects: f.reconnects,
            mean_reconnect_seconds: f.mean_reconnect().map(|d| d.num_seconds()),
            longest_outage_seconds: f.longest_outage.map(|d| d.num_seconds()),
            outage_open: f.outage_open,
        }
    }
}

fn json(report: &Report, skipped: Skipped, out: &mut impl Write) -> io::Result<()> {
    let doc = JsonReport {
        from: report.from,
        to: report.to,
        days_in: "UTC",
        skipped_other_records: skipped.other,
        skipped_corrupt_records: skipped.corrupt,
        instances: report
            .instances
            .iter()
            .map(|i| JsonInstance {
                id: i.id.as_str(),
                name: i.name.as_deref(),
                has_changes: i.has_changes,
                days: i
                    .days
                    .iter()
                    .map(|(d, f)| JsonFigures::new(Some(d.to_string()), f))
                    .collect(),
                total: JsonFigures::new(None, &i.total),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnState, InstanceId};
    use crate::report::build;
    use crate::store::StateChange;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Sales down 10:00–10:30 on the 1st and from 22:00 on the 2nd to the
    /// end; "Odd, \"Co\"" never seen.
    fn report() -> Report {
        let change = |seq, id: &str, at, state| StateChange {
            seq,
            instance_id: InstanceId::new(id),
            at: t(at),
            state,
        };
        build(
            vec![
                change(1, "A", "2026-03-01T00:00:00Z", ConnState::Connected),
                change(2, "A", "2026-03-01T10:00:00Z", ConnState::Disconnected),
                change(3, "A", "2026-03-01T10:30:00Z", ConnState::Connected),
                change(4, "A", "2026-03-02T22:00:00Z", ConnState::Disconnected),
            ],
            &[
                (InstanceId::new("A"), Some("Sales".into())),
                (InstanceId::new("B"), Some("Odd, \"Co\"\u{1b}[2J".into())),
            ],
            t("2026-03-01T00:00:00Z"),
            t("2026-03-03T00:00:00Z"),
        )
    }

    fn text(format: Format, skipped: Skipped) -> String {
        let mut out = Vec::new();
        write(&report(), format, skipped, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn percent_is_rounded_down_and_100_only_when_whole() {
        assert_eq!(percent(1.0), "100.00");
        assert_eq!(percent(0.99999), "99.99");
        assert_eq!(percent(0.9375), "93.75");
        assert_eq!(percent(0.0), "0.00");
        assert_eq!(percent(-1.0), "0.00");
    }

    #[test]
    fn the_table_has_a_row_per_day_a_total_and_says_what_was_skipped() {
        let s = text(
            Format::Table,
            Skipped {
                other: 1,
                corrupt: 2,
            },
        );
        assert!(
            s.starts_with(
                "zapi-dash report · 2026-03-01 00:00 to 2026-03-03 00:00 UTC · days in UTC · 2 instances\n"
            ),
            "{s}"
        );
        let want = [
            "Sales  A",
            "  day          uptime  disconnects  mean reconnect    longest outage",
            "  2026-03-01   97.91%            1         30m 00s           30m 00s",
            "  2026-03-02   91.66%            1               —     2h 00m (open)",
            "  total        94.79%            2         30m 00s     2h 00m (open)",
        ];
        for line in want {
            assert!(s.lines().any(|l| l == line), "{line:?} in\n{s}");
        }
        assert!(s.contains("no connect or disconnect in the log"), "{s}");
        assert!(
            !s.contains('\u{1b}'),
            "no escape reaches the terminal:\n{s}"
        );
        assert!(
            s.contains("1 record of other kinds") && s.contains("2 records could not be read"),
            "{s}"
        );
    }

    #[test]
    fn csv_quotes_and_leaves_unknowns_empty() {
        let s = text(Format::Csv, Skipped::default());
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3, "a header and one row per day:\n{s}");
        assert_eq!(
            lines[1],
            "A,Sales,2026-03-01,97.91,86400,1,1,1800,1800,false"
        );
        assert_eq!(lines[2], "A,Sales,2026-03-02,91.66,86400,1,0,,7200,true");
        let quoted = csv_field("Odd, \"Co\"");
        assert_eq!(quoted, "\"Odd, \"\"Co\"\"\"");
    }

    #[test]
    fn json_has_days_and_totals_in_seconds() {
        let s = text(Format::Json, Skipped::default());
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let a = &v["instances"][0];
        assert_eq!(a["name"], "Sales");
        assert_eq!(a["days"][1]["day"], "2026-03-02");
        assert_eq!(a["days"][1]["outage_open"], true);
        assert_eq!(a["total"]["disconnects"], 2);
        assert_eq!(a["total"]["longest_outage_seconds"], 7200);
        assert_eq!(a["total"]["uptime_percent"], 94.79);
        assert!(a["days"][1]["mean_reconnect_seconds"].is_null());
        assert_eq!(v["instances"][1]["has_changes"], false);
        assert_eq!(v["days_in"], "UTC");
    }
}
