//! `report`: per instance and day, from the event log, the numbers an
//! agency sends its customers. Read-only: it takes no lock and writes
//! nothing (not even the diagnostics log), so it runs beside the dashboard
//! or `serve` that has the log open.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use chrono::{DateTime, TimeDelta, Utc};

use zapi_dash::cli::Flags;
use zapi_dash::report::{self, format::Format, format::Skipped};
use zapi_dash::store::scan_state_changes;

use super::{Fatal, load_config, state_dir};

/// Exit code when the state dir holds no event log (see `report --help`).
pub const NO_LOG: u8 = 3;

/// Prints the report of the last `since` on stdout; no runtime needed.
pub fn run(flags: &Flags, since: TimeDelta, format: Format) -> ExitCode {
    match report(flags, since, format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("zapi-dash: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn report(flags: &Flags, since: TimeDelta, format: Format) -> Result<(), Fatal> {
    let config = load_config(flags)?;
    let dir = state_dir(&config)?.join("events");
    if !dir.is_dir() {
        return Err(Fatal {
            code: NO_LOG,
            message: format!(
                "report: no event log at {}: nothing was recorded there yet, or the log is \
                 in another state dir (--state-dir, or `state_dir` in the config)",
                dir.display()
            ),
        });
    }
    let to = Utc::now();
    let from = to
        .checked_sub_signed(since)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut changes = Vec::new();
    let stats = scan_state_changes(&dir, |c| changes.push(c))
        .map_err(|e| Fatal::runtime(format!("report: {e}")))?;
    if stats.segments == 0 {
        return Err(Fatal {
            code: NO_LOG,
            message: format!(
                "report: the event log at {} holds no events yet",
                dir.display()
            ),
        });
    }
    let known: Vec<_> = config
        .instances
        .iter()
        .map(|i| (i.id.clone(), i.name.clone()))
        .collect();
    let report = report::build(changes, &known, from, to);
    let skipped = Skipped {
        other: stats.other,
        corrupt: stats.corrupt,
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let written =
        report::format::write(&report, format, skipped, &mut out).and_then(|()| out.flush());
    match written {
        // `| head`: the reader has what it wanted
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fatal::runtime(format!(
            "report: cannot write the report: {e}"
        ))),
        Ok(()) => Ok(()),
    }
}
