//! Alert commands, run as real processes.
#![cfg(unix)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Once;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use zapi_dash::alert::{self, AlertError, AlertEvent, AlertKind};
use zapi_dash::config::{ENV_API_TOKEN, ENV_CLIENT_TOKEN, ENV_WEBHOOK_SECRET};

const LONG: Duration = Duration::from_secs(30);

/// Puts the dashboard's secrets into this process's environment, once,
/// before any test spawns anything (every test calls this first, so no
/// thread reads the environment while it is written).
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: every test calls setup() before it starts a runtime or a
        // process, and Once makes the others wait until this is done.
        unsafe {
            std::env::set_var(ENV_CLIENT_TOKEN, "CLIENT-TOKEN-SECRET");
            std::env::set_var(ENV_WEBHOOK_SECRET, "WEBHOOK-SECRET-0123456789");
            std::env::set_var(ENV_API_TOKEN, "API-TOKEN-0123456789abcdef");
            std::env::set_var("ZAPI_DASH_TEST_INHERITED", "yes");
        }
    });
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn event() -> AlertEvent {
    AlertEvent {
        instance_id: "3C8A1F00D2E94B7A".into(),
        instance_name: "Sales & Co 'main' $HOME".into(),
        event: AlertKind::Disconnected,
        error: Some("phone offline; `rm -rf /` $(id)".into()),
        moment: Utc.with_ymd_and_hms(2026, 12, 1, 17, 47, 49).unwrap(),
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// `env -0` output as a map.
fn read_env(path: &Path) -> HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let e = String::from_utf8_lossy(e);
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Whether a process with this pid is still running. A zombie is not (it is
/// dead, waiting for a reaper; a container's init may never reap it).
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Waits (bounded) until the process is gone.
fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

fn read_pid(path: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(start.elapsed() < LONG, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_event_arrives_in_the_environment_and_the_secrets_do_not() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let command = format!("env -0 > {}", quote(&out));
    rt().block_on(alert::run(&command, &event(), LONG)).unwrap();
    let env = read_env(&out);
    assert_eq!(env["ZAPI_INSTANCE_ID"], "3C8A1F00D2E94B7A");
    // Values arrive verbatim: they are never part of the command line.
    assert_eq!(env["ZAPI_INSTANCE_NAME"], "Sales & Co 'main' $HOME");
    assert_eq!(env["ZAPI_EVENT"], "disconnected");
    assert_eq!(env["ZAPI_ERROR"], "phone offline; `rm -rf /` $(id)");
    assert_eq!(env["ZAPI_MOMENT"], "2026-12-01T17:47:49Z");
    // The rest of the environment is inherited (PATH, for curl) ...
    assert_eq!(env["ZAPI_DASH_TEST_INHERITED"], "yes");
    assert!(env.contains_key("PATH"));
    // ... except the dashboard's secrets.
    assert_eq!(
        std::env::var(ENV_CLIENT_TOKEN).as_deref(),
        Ok("CLIENT-TOKEN-SECRET")
    );
    for secret in [ENV_CLIENT_TOKEN, ENV_WEBHOOK_SECRET, ENV_API_TOKEN] {
        assert!(!env.contains_key(secret), "{secret} leaked");
    }
    let raw = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
    assert!(!raw.contains("CLIENT-TOKEN-SECRET"));
    assert!(!raw.contains("WEBHOOK-SECRET-0123456789"));
    assert!(!raw.contains("API-TOKEN-0123456789abcdef"));
}

#[test]
fn connected_without_error_gives_an_empty_zapi_error() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let ev = AlertEvent {
        event: AlertKind::Connected,
        error: None,
        ..event()
    };
    let command = format!("env -0 > {}", quote(&out));
    rt().block_on(alert::run(&command, &ev, LONG)).unwrap();
    let env = read_env(&out);
    assert_eq!(env["ZAPI_EVENT"], "connected");
    assert_eq!(env["ZAPI_ERROR"], "");
}

#[test]
fn a_failing_command_reports_its_code_and_last_stderr_line() {
    setup();
    let rt = rt();
    let e = rt
        .block_on(alert::run(
            "echo to-stdout; echo first >&2; printf 'curl: (22) \\033[1mHTTP 403\\033[0m\\n\\n' >&2; exit 7",
            &event(),
            LONG,
        ))
        .unwrap_err();
    match &e {
        AlertError::Exit { code, stderr } => {
            assert_eq!(*code, 7);
            assert_eq!(stderr.as_deref(), Some("curl: (22) [1mHTTP 403[0m"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "exited with code 7: curl: (22) [1mHTTP 403[0m"
    );

    let e = rt
        .block_on(alert::run("exit 3", &event(), LONG))
        .unwrap_err();
    assert!(
        matches!(
            e,
            AlertError::Exit {
                code: 3,
                stderr: None
            }
        ),
        "{e:?}"
    );

    let e = rt
        .block_on(alert::run("no-such-command-zapi-dash", &event(), LONG))
        .unwrap_err();
    match e {
        AlertError::Exit { code, stderr } => {
            assert_eq!(code, 127);
            assert!(
                stderr.is_some_and(|s| s.contains("no-such-command-zapi-dash")),
                "stderr names the command"
            );
        }
        other => panic!("{other:?}"),
    }

    // A very long stderr line is cut.
    let e = rt
        .block_on(alert::run(
            "head -c 5000 /dev/zero | tr '\\0' x >&2; exit 1",
            &event(),
            LONG,
        ))
        .unwrap_err();
    match e {
        AlertError::Exit { stderr, .. } => {
            assert_eq!(stderr.map(|s| s.chars().count()), Some(200));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_command_that_cannot_start_is_an_error_not_a_panic() {
    setup();
    // The OS cannot pass a NUL; config refuses it, run() reports it.
    let e = rt()
        .block_on(alert::run("echo a\0b", &event(), LONG))
        .unwrap_err();
    assert!(matches!(e, AlertError::Spawn(_)), "{e:?}");
    assert!(
        e.to_string().starts_with("could not start the command"),
        "{e}"
    );
}

#[test]
fn a_command_killed_by_a_signal_says_so() {
    setup();
    let e = rt()
        .block_on(alert::run("kill -TERM $$", &event(), LONG))
        .unwrap_err();
    assert!(matches!(e, AlertError::Signal { signal: 15, .. }), "{e:?}");
    assert!(e.to_string().starts_with("killed by signal 15"), "{e}");
}

#[test]
fn stdin_is_empty_and_lots_of_output_does_not_block() {
    setup();
    let rt = rt();
    // cat reads /dev/null: it returns at once instead of waiting on a terminal.
    rt.block_on(alert::run("cat", &event(), LONG)).unwrap();
    rt.block_on(alert::run(
        "test ! -t 0 && test ! -t 1 && test ! -t 2",
        &event(),
        LONG,
    ))
    .unwrap();
    // Far more than a pipe buffer, on both streams.
    rt.block_on(alert::run(
        "head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2",
        &event(),
        LONG,
    ))
    .unwrap();
}

#[test]
fn a_hanging_command_times_out_and_its_whole_group_is_killed() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let shell_pid = dir.path().join("sh.pid");
    let grandchild_pid = dir.path().join("sleep.pid");
    let command = format!(
        "echo $$ > {}; sleep 100 & echo $! > {}; wait",
        quote(&shell_pid),
        quote(&grandchild_pid)
    );
    let e = rt()
        .block_on(alert::run(&command, &event(), Duration::from_secs(1)))
        .unwrap_err();
    assert!(matches!(e, AlertError::Timeout { .. }), "{e:?}");
    assert_eq!(e.to_string(), "timed out after 1 s (and was killed)");
    for file in [&shell_pid, &grandchild_pid] {
        let pid = read_pid(file);
        assert!(
            gone_within(pid, LONG),
            "pid {pid} ({}) survived",
            file.display()
        );
    }
}

#[test]
fn a_background_process_holding_the_output_is_killed_at_the_timeout() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    // The shell exits at once; its background sleep keeps stdout open.
    let command = format!("sleep 100 & echo $! > {}", quote(&pid_file));
    let e = rt()
        .block_on(alert::run(&command, &event(), Duration::from_secs(1)))
        .unwrap_err();
    assert!(matches!(e, AlertError::Timeout { .. }), "{e:?}");
    let pid = read_pid(&pid_file);
    assert!(gone_within(pid, LONG), "pid {pid} survived");
}

#[test]
fn dropping_the_future_kills_the_group() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    let command = format!("sleep 100 & echo $! > {}; wait", quote(&pid_file));
    let rt = rt();
    let pid = rt.block_on(async {
        let ev = event();
        let run = alert::run(&command, &ev, LONG);
        tokio::pin!(run);
        // Run it until the grandchild exists, then drop it.
        let pid = tokio::select! {
            r = &mut run => panic!("finished early: {r:?}"),
            pid = tokio::task::spawn_blocking({
                let pid_file = pid_file.clone();
                move || read_pid(&pid_file)
            }) => pid.unwrap(),
        };
        pid
    });
    assert!(gone_within(pid, LONG), "pid {pid} survived");
}

/// The example config's commented `on_disconnect` / `on_connect`, uncommented.
fn example_commands() -> (String, String) {
    let text = include_str!("../../assets/config.example.toml");
    let pick = |key: &str| {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("# ").filter(|r| r.starts_with(key)))
            .unwrap_or_else(|| panic!("no {key} in the example"));
        let config = zapi_dash::config::Config::from_toml(line, Path::new("example")).unwrap();
        match key {
            "on_disconnect =" => config.on_disconnect.unwrap(),
            _ => config.on_connect.unwrap(),
        }
    };
    (pick("on_disconnect ="), pick("on_connect ="))
}

#[test]
fn the_example_slack_and_telegram_commands_send_what_they_say() {
    setup();
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A stub curl that records its arguments, one per line.
    let stub = dir.path().join("curl");
    let args = dir.path().join("args");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", quote(&args)),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (slack, telegram) = example_commands();
    let prelude = format!(
        "PATH={}:\"$PATH\" SLACK_WEBHOOK_URL=https://hooks.slack.invalid/T/B/X \
         TELEGRAM_BOT_TOKEN=123:abc TELEGRAM_CHAT_ID=-42; export SLACK_WEBHOOK_URL TELEGRAM_BOT_TOKEN TELEGRAM_CHAT_ID; ",
        quote(dir.path())
    );
    let ev = AlertEvent {
        instance_name: "Sales".into(),
        error: Some("phone offline".into()),
        ..event()
    };
    let rt = rt();

    rt.block_on(alert::run(&format!("{prelude}{slack}"), &ev, LONG))
        .unwrap();
    let sent = std::fs::read_to_string(&args).unwrap();
    let sent: Vec<&str> = sent.lines().collect();
    let body = sent[sent.iter().position(|a| *a == "-d").unwrap() + 1];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        json["text"],
        "Sales disconnected at 2026-12-01T17:47:49Z: phone offline"
    );
    assert_eq!(sent.last(), Some(&"https://hooks.slack.invalid/T/B/X"));

    let ev = AlertEvent {
        event: AlertKind::Connected,
        error: None,
        ..ev
    };
    rt.block_on(alert::run(&format!("{prelude}{telegram}"), &ev, LONG))
        .unwrap();
    let sent = std::fs::read_to_string(&args).unwrap();
    let sent: Vec<&str> = sent.lines().collect();
    assert_eq!(sent[1], "https://api.telegram.org/bot123:abc/sendMessage");
    assert!(sent.contains(&"chat_id=-42"), "{sent:?}");
    assert!(
        sent.contains(&"text=Sales is back (2026-12-01T17:47:49Z)"),
        "{sent:?}"
    );
}
