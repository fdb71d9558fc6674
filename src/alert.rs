//! Alert commands: the operator's shell command lines (`on_disconnect`,
//! `on_connect`) run on an instance's events.
//!
//! [`run`] starts `sh -c <command>` with the event in its environment
//! (`ZAPI_INSTANCE_ID`, `ZAPI_INSTANCE_NAME`, `ZAPI_EVENT`, `ZAPI_ERROR`,
//! `ZAPI_MOMENT`) and without the dashboard's own secrets. The command never
//! sees the terminal: stdin is `/dev/null`, stdout and stderr are read (and
//! only the tail of stderr kept, for the error). It runs in its own process
//! group, and when it outlives its timeout, or the future is dropped, the
//! whole group is killed, so `sh -c 'sleep 100 | cat'` leaves nothing behind.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::{ENV_API_TOKEN, ENV_CLIENT_TOKEN, ENV_WEBHOOK_SECRET};

/// The dashboard's secrets: never passed on to an alert command.
pub const SCRUBBED_ENV: &[&str] = &[ENV_CLIENT_TOKEN, ENV_WEBHOOK_SECRET, ENV_API_TOKEN];

/// How much of the end of stderr is kept to find its last line.
const STDERR_TAIL: usize = 4096;
/// The longest stderr line an error carries, in characters.
const STDERR_LINE_MAX: usize = 200;

/// Which event an alert command runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    Disconnected,
    Connected,
}

impl AlertKind {
    /// The value of `ZAPI_EVENT`: `disconnected` or `connected`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Disconnected => "disconnected",
            AlertKind::Connected => "connected",
        }
    }
}

/// What an alert command is told, in its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    pub instance_id: String,
    pub instance_name: String,
    pub event: AlertKind,
    /// Why it disconnected, when known (`ZAPI_ERROR`, empty when `None`).
    pub error: Option<String>,
    pub moment: DateTime<Utc>,
}

impl AlertEvent {
    /// The variables [`run`] sets, in order. Values never contain NUL (it is
    /// removed), which the OS could not pass on.
    pub fn env(&self) -> [(&'static str, String); 5] {
        let clean = |s: &str| s.replace('\0', "");
        [
            ("ZAPI_INSTANCE_ID", clean(&self.instance_id)),
            ("ZAPI_INSTANCE_NAME", clean(&self.instance_name)),
            ("ZAPI_EVENT", self.event.as_str().to_string()),
            ("ZAPI_ERROR", clean(self.error.as_deref().unwrap_or(""))),
            (
                "ZAPI_MOMENT",
                self.moment.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
        ]
    }
}

/// Why an alert command did not succeed. Never contains the command line
/// (it may hold a webhook URL or a bot token).
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// `sh` could not be started.
    #[error("could not start the command: {0}")]
    Spawn(#[source] std::io::Error),
    /// Waiting for the command failed.
    #[error("could not wait for the command: {0}")]
    Wait(#[source] std::io::Error),
    /// It exited with a non-zero code; `stderr` is its last line of stderr.
    #[error("exited with code {code}{}", suffix(stderr))]
    Exit { code: i32, stderr: Option<String> },
    /// It was killed by a signal (not ours).
    #[error("killed by signal {signal}{}", suffix(stderr))]
    Signal { signal: i32, stderr: Option<String> },
    /// It ran longer than its timeout; its process group was killed.
    #[error("timed out after {} s (and was killed)", secs(*after))]
    Timeout { after: Duration },
}

fn suffix(stderr: &Option<String>) -> String {
    stderr
        .as_deref()
        .map(|line| format!(": {line}"))
        .unwrap_or_default()
}

fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

/// Runs `command` with `sh -c`, the event in the environment:
/// `ZAPI_INSTANCE_ID`, `ZAPI_INSTANCE_NAME`, `ZAPI_EVENT` (`disconnected` /
/// `connected`), `ZAPI_ERROR` (empty when none), `ZAPI_MOMENT` (RFC 3339 UTC,
/// seconds precision). `ZAPI_CLIENT_TOKEN`, `ZAPI_DASH_WEBHOOK_SECRET` and
/// `ZAPI_DASH_API_TOKEN` are removed from its environment.
///
/// Returns when the command has exited and closed its output, or at
/// `timeout`, when its whole process group is killed. Dropping the future
/// kills the group too.
pub async fn run(command: &str, event: &AlertEvent, timeout: Duration) -> Result<(), AlertError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in SCRUBBED_ENV {
        cmd.env_remove(name);
    }
    for (name, value) in event.env() {
        cmd.env(name, value);
    }
    #[cfg(unix)]
    cmd.process_group(0);

    let mut child = cmd.spawn().map_err(AlertError::Spawn)?;
    // Declared after `child`, so dropped before it: the group dies first.
    let mut group = GroupGuard::new(child.id());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let finished = async {
        let (status, _, tail) =
            tokio::join!(child.wait(), drain(stdout, 0), drain(stderr, STDERR_TAIL));
        (status, tail)
    };
    let result = tokio::time::timeout(timeout, finished).await;
    let (status, tail) = match result {
        Ok(done) => done,
        Err(_) => {
            group.kill();
            // Reap the leader (it is being killed); bounded, just in case.
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            return Err(AlertError::Timeout { after: timeout });
        }
    };
    // Exited, and every process holding its output has closed it.
    group.disarm();
    let status = status.map_err(AlertError::Wait)?;
    outcome(status, last_line(&tail))
}

fn outcome(status: ExitStatus, stderr: Option<String>) -> Result<(), AlertError> {
    if status.success() {
        return Ok(());
    }
    if let Some(code) = status.code() {
        return Err(AlertError::Exit { code, stderr });
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Err(AlertError::Signal { signal, stderr });
        }
    }
    Err(AlertError::Exit { code: -1, stderr })
}

/// Reads `from` to its end, keeping only the last `keep` bytes.
async fn drain(from: Option<impl AsyncRead + Unpin>, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let Some(mut from) = from else {
        return tail;
    };
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if keep == 0 {
                    continue;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > keep {
                    let cut = tail.len() - keep;
                    tail.drain(..cut);
                }
            }
        }
    }
    tail
}

/// The last non-blank line of `bytes`, control characters removed, at most
/// [`STDERR_LINE_MAX`] characters.
fn last_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .split(['\n', '\r'])
        .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
        .rfind(|l| !l.trim().is_empty())?;
    let line = line.trim();
    if line.chars().count() > STDERR_LINE_MAX {
        let mut short: String = line.chars().take(STDERR_LINE_MAX - 1).collect();
        short.push('…');
        Some(short)
    } else {
        Some(line.to_string())
    }
}

/// Kills the command's process group (SIGKILL to `-pgid`) when told to, or
/// when dropped while armed.
struct GroupGuard {
    pgid: Option<u32>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        Self { pgid: pid }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(unix)]
fn kill_group(pgid: u32) {
    // The leader is not reaped yet when this runs (or the group still has
    // members holding its pipes), so the id still names this group.
    if let Ok(pgid) = libc::pid_t::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: u32) {
    // kill_on_drop takes care of the direct child.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_is_clean_and_short() {
        assert_eq!(last_line(b""), None);
        assert_eq!(last_line(b"\n \n"), None);
        assert_eq!(
            last_line(b"first\nsecond \x1b[31mred\x1b[0m\n\n").as_deref(),
            Some("second [31mred[0m")
        );
        assert_eq!(last_line(b"a\r\nb\r\n").as_deref(), Some("b"));
        let long = "x".repeat(500);
        let line = last_line(long.as_bytes()).unwrap();
        assert_eq!(line.chars().count(), STDERR_LINE_MAX);
        assert!(line.ends_with('…'));
        assert_eq!(last_line(b"caf\xc3").as_deref(), Some("caf\u{fffd}"));
    }

    #[test]
    fn error_messages() {
        let e = AlertError::Exit {
            code: 3,
            stderr: Some("curl: (6) Could not resolve host".into()),
        };
        assert_eq!(
            e.to_string(),
            "exited with code 3: curl: (6) Could not resolve host"
        );
        let e = AlertError::Exit {
            code: 1,
            stderr: None,
        };
        assert_eq!(e.to_string(), "exited with code 1");
        let e = AlertError::Signal {
            signal: 9,
            stderr: None,
        };
        assert_eq!(e.to_string(), "killed by signal 9");
        let e = AlertError::Timeout {
            after: Duration::from_secs(10),
        };
        assert_eq!(e.to_string(), "timed out after 10 s (and was killed)");
        let e = AlertError::Timeout {
            after: Duration::from_millis(500),
        };
        assert_eq!(e.to_string(), "timed out after 0.5 s (and was killed)");
    }

    #[test]
    fn env_values_are_formatted_and_nul_free() {
        let event = AlertEvent {
            instance_id: "A\0B".into(),
            instance_name: "Sales".into(),
            event: AlertKind::Connected,
            error: None,
            moment: DateTime::parse_from_rfc3339("2026-03-04T05:06:07.891+02:00")
                .unwrap()
                .with_timezone(&Utc),
        };
        let env = event.env();
        assert_eq!(env[0], ("ZAPI_INSTANCE_ID", "AB".to_string()));
        assert_eq!(env[2], ("ZAPI_EVENT", "connected".to_string()));
        assert_eq!(env[3], ("ZAPI_ERROR", String::new()));
        assert_eq!(env[4], ("ZAPI_MOMENT", "2026-03-04T03:06:07Z".to_string()));
        assert_eq!(AlertKind::Disconnected.as_str(), "disconnected");
    }
}
