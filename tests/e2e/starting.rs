//! The first moments of the dashboard, in a real pseudo-terminal: the demo
//! draws its starting screen at once, keys typed while it starts neither
//! echo nor act, and `q` leaves before it is up.

use std::time::{Duration, Instant};

use crate::common::{self, Dash};

/// The starting screen of `demo --instances n`.
fn starting(n: usize) -> String {
    format!("starting {n} simulated instances…")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_draws_at_once_and_keys_typed_while_it_starts_do_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spawned = Instant::now();
    let mut dash = Dash::spawn(&["demo", "--instances", "200"], dir.path(), 120, 30);
    // typed at once, before any frame: arrows, moves, help, filter, Enter
    dash.send(b"\x1b[B\x1b[Bjj?/zz\r");
    // the assertion is the bound: the first frame within 500 ms of the spawn
    let first = dash
        .screen
        .wait_for_until(spawned + Duration::from_millis(500), |s| {
            s.contains(&starting(200))
        });
    assert!(
        first.is_some(),
        "no starting screen within 500 ms; the screen is:\n{}",
        dash.screen.contents()
    );
    // and more while the simulator starts
    dash.send(b"\x1b[A\x1b[Dkj?/yy\r\x1bOB");
    let screen = dash.wait_for("the dashboard", |s| s.contains("Instances (200)"));
    for garbage in ["[A", "[B", "[D", "OB", "^["] {
        assert!(
            !screen.contains(garbage),
            "{garbage:?} echoed on the dashboard:\n{screen}"
        );
    }
    // none of those keys acted: no help, no filter, no detail, and the
    // selection is still on the first row
    assert!(!screen.contains("Keys"), "the help opened:\n{screen}");
    assert!(
        !screen.contains("zz") && !screen.contains("yy"),
        "a filter was typed:\n{screen}"
    );
    let first_row = screen
        .lines()
        .skip_while(|l| !l.contains("Instances (200)"))
        .nth(2)
        .unwrap_or_default();
    assert!(
        first_row.starts_with("│▶"),
        "the selection moved:\n{screen}"
    );
    dash.send(b"q");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_while_the_demo_starts_leaves_at_once_and_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // thousands of instances: the start takes seconds, `q` must not wait for it
    let mut dash = Dash::spawn(&["demo", "--instances", "5000"], dir.path(), 100, 24);
    dash.wait_for("the starting screen", |s| s.contains(&starting(5000)));
    dash.send(b"q");
    let screen = std::sync::Arc::clone(&dash.screen);
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let text = screen.contents();
    assert!(
        !text.contains("simulated instances") && !text.contains("Instances ("),
        "the alternate screen was left:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_while_the_demo_starts_is_a_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let dash = Dash::spawn(&["demo", "--instances", "5000"], dir.path(), 100, 24);
    dash.wait_for("the starting screen", |s| s.contains(&starting(5000)));
    common::signal(dash.pid(), "TERM");
    let status = tokio::task::spawn_blocking(move || dash.wait_exit())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}
