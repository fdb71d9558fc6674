//! One full frame of a 200×50 terminal, from the app state to the backend,
//! as the fleet grows from 100 to 100,000 instances. Run by `scripts/bench`
//! (or `cargo bench --bench render`); criterion keeps its numbers under
//! `target/criterion/render_200x50/`.
//!
//! Each iteration clears the backend first, so every cell is drawn and
//! written (a full repaint: the most a frame can cost), not just the diff.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use zapi_dash::app::{App, Msg, Setup, TimeZone};
use zapi_dash::model::{Event, EventKind, InstanceId};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_764_000_000 + secs, 0).unwrap()
}

/// A fleet of `n` configured instances in mixed states, selection in the middle.
fn fleet(n: usize) -> App {
    let setup = Setup {
        listen: "http://127.0.0.1:8787".into(),
        config_file: Some("/etc/zapi-dash/config.toml".into()),
        instances: (0..n)
            .map(|i| {
                (
                    InstanceId::new(format!("BENCH{i:06}")),
                    Some(format!("Bench {i}")),
                )
            })
            .collect(),
        missing_for_register: None,
        can_query_status: true,
        tz: TimeZone::Fixed(chrono::FixedOffset::east_opt(0).unwrap()),
        banner: None,
        warnings: Vec::new(),
        secret_paths: false,
    };
    let mut app = App::new(setup, t(0));
    app.update(Msg::Resize(200, 50), t(0));
    for i in 0..n {
        let kind = if i % 3 == 0 {
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into()),
            }
        } else {
            EventKind::Connected {
                phone: Some("5544999999999".into()),
            }
        };
        let event = Event {
            instance_id: InstanceId::new(format!("BENCH{i:06}")),
            kind,
            moment: t(i as i64 % 3600),
            received: t(i as i64 % 3600),
        };
        app.update(Msg::Webhook(event), t(3600));
    }
    // the selection in the middle of the fleet
    for _ in 0..(n / 2) / app.page_rows().max(1) {
        app.update(
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::PageDown,
                crossterm::event::KeyModifiers::NONE,
            )),
            t(3600),
        );
    }
    app
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_200x50");
    group
        .sample_size(40)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [100usize, 1_000, 10_000, 100_000] {
        let app = fleet(n);
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(n), &app, |b, app| {
            b.iter(|| {
                terminal.clear().unwrap();
                terminal
                    .draw(|f| zapi_dash::ui::draw(black_box(app), f))
                    .unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
