//! The binary's contract with scripts: exit code 2 and one clear line for
//! bad configuration or a listen port already taken; nothing secret printed.

use std::process::{Command, Output};

fn run(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(args)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env_remove("ZAPI_CLIENT_TOKEN")
        .output()
        .unwrap()
}

fn config_error(body: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, body).unwrap();
    let out = run(&["--config", path.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got: {stderr}"
    );
    assert!(
        stderr.contains(path.to_str().unwrap()),
        "names the file: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn unknown_key_exits_2_naming_it() {
    let (code, err) = config_error("listen = \"127.0.0.1:0\"\nclient_tokn = \"SECRETSECRET\"\n");
    assert_eq!(code, 2);
    assert!(err.contains("client_tokn"), "{err}");
    assert!(!err.contains("SECRETSECRET"), "{err}");
}

#[test]
fn bad_toml_exits_2() {
    let (code, err) = config_error("listen = \n");
    assert_eq!(code, 2);
    assert!(err.contains(":1"), "names the line: {err}");
}

#[test]
fn public_url_that_is_not_http_exits_2() {
    // plain http:// is a warning now (Z-API has delivered to such URLs;
    // tests/http/serve.rs and tests/e2e/dashboard.rs check it starts)
    let (code, err) = config_error("public_url = \"ftp://dash.example.com\"\n");
    assert_eq!(code, 2);
    assert!(
        err.contains("public_url") && err.contains("https://"),
        "{err}"
    );
}

#[test]
fn duplicate_instance_exits_2() {
    let (code, err) = config_error(
        "[[instances]]\nid = \"A\"\ntoken = \"TOKEN1\"\n[[instances]]\nid = \"A\"\ntoken = \"TOKEN2\"\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("instances[1].id") && err.contains("twice"),
        "{err}"
    );
    assert!(!err.contains("TOKEN1") && !err.contains("TOKEN2"), "{err}");
}

#[test]
fn missing_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let out = run(&["--config", missing.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn taken_port_exits_2_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "").unwrap();
    let out = run(
        &["--config", path.to_str().unwrap(), "--listen", &addr],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr), "{err}");
}

#[test]
fn help_lists_every_flag_and_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["--help"], dir.path());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--config",
        "--listen",
        "--public-url",
        "--api-base",
        "--state-dir",
        "demo",
        "report",
        "needs a terminal",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let out = run(&["report", "--help"], dir.path());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--since",
        "7d, 24h, 30m",
        "--format",
        "table",
        "csv",
        "json",
        "--config",
        "--state-dir",
        "Exit codes: 0",
        "3 no event log",
    ] {
        assert!(help.contains(word), "report --help lacks {word}:\n{help}");
    }
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef zapi-dash"),
        ("fish", "complete -c zapi-dash"),
    ] {
        let out = run(&["completions", shell], dir.path());
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in [
            "serve",
            "demo",
            "completions",
            "report",
            "since",
            "format",
            "config",
            "listen",
            "public-url",
            "state-dir",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = run(&["completions", "tcsh"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// The binary with stdin from /dev/null and stdout and stderr piped, as
/// cron, `ssh` without `-t` or a pipe run it.
fn run_without_terminal(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zapi-dash"))
        .args(args)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env_remove("ZAPI_CLIENT_TOKEN")
        .env_remove("ZAPI_DASH_API_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn without_a_terminal_each_dashboard_exits_2_with_one_line_pointing_to_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").unwrap();
    let config = config.to_str().unwrap();
    for args in [
        vec!["--config", config],
        vec!["run", "--config", config],
        vec!["demo"],
        vec![
            "watch",
            "--config",
            config,
            "--remote",
            "http://127.0.0.1:9",
            "--api-token",
            "APITOKEN",
        ],
    ] {
        let out = run_without_terminal(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: one line: {stderr}"
        );
        assert!(
            stderr.contains("needs a terminal") && stderr.contains("zapi-dash serve"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        // nothing of a terminal set up: no escape sequence, nothing on stdout
        assert!(out.stdout.is_empty(), "{args:?}: {:?}", out.stdout);
        assert!(!stderr.contains('\u{1b}'), "{args:?}: {stderr:?}");
    }
}

#[test]
fn without_a_terminal_a_config_error_is_still_reported_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "listen = \n").unwrap();
    let out = run_without_terminal(&["--config", config.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("config.toml") && !stderr.contains("terminal"),
        "{stderr}"
    );
}

/// `--help` and the README say the same about every flag: each long flag
/// any command's `--help` lists is in the README.
#[test]
fn the_readme_names_every_flag_that_help_lists() {
    let dir = tempfile::tempdir().unwrap();
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let mut flags = std::collections::BTreeSet::new();
    for cmd in ["", "run", "serve", "watch", "report", "demo", "completions"] {
        let args: Vec<&str> = [cmd, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let out = run(&args, dir.path());
        assert!(out.status.success(), "{cmd} --help");
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("--") && word.len() > 2 && word != "--help" && word != "--version" {
                flags.insert(word.to_string());
            }
        }
    }
    assert!(flags.len() >= 10, "{flags:?}");
    let missing: Vec<_> = flags
        .iter()
        .filter(|f| !readme.contains(f.as_str()))
        .collect();
    assert!(missing.is_empty(), "README lacks {missing:?}");
}
