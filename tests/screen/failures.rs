//! When Z-API fails, on screen: the link state in the header, the
//! operator's own result in the footer (and how many more the log has),
//! the message log (`l`) and the detail pane wrapping long errors, at
//! 200×50, 120×35, 80×24 and 40×10.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone as _, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use zapi_dash::app::{App, Msg, Setup, TimeZone};
use zapi_dash::fleet::{Hooks, InstanceAction};
use zapi_dash::model::{Event, EventKind, InstanceId};
use zapi_dash::zapi::ApiError;

macro_rules! assert_screen {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(format!("failures__{}", $name), $value);
        })
    };
}

const SIZES: [(u16, u16); 4] = [(200, 50), (120, 35), (80, 24), (40, 10)];

fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
}

const SHOP1: &str = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";
const SHOP2: &str = "7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B";
const SHOP3: &str = "A20DA9C0183A2D35A260F53F5D2B9244";

fn refused() -> ApiError {
    ApiError::Network(
        "error sending request for url: client error (Connect): tcp connect error: Connection refused (os error 111)"
            .into(),
    )
}

fn key_at(app: &mut App, code: KeyCode, at: DateTime<Utc>) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)), at);
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| zapi_dash::ui::draw(app, f)).unwrap();
    terminal
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The style of the cell where `needle` starts.
fn cell_of(terminal: &Terminal<TestBackend>, needle: &str) -> (Color, Color) {
    let buf = terminal.backend().buffer();
    for (y, line) in text(terminal).lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            let x = line[..byte].chars().count();
            let cell = &buf[(x as u16, y as u16)];
            return (cell.fg, cell.bg);
        }
    }
    panic!("{needle} not on screen");
}

/// Three shops, Z-API unreachable since 14:03: every status call refused;
/// the operator restarted two of them (refused too).
fn unreachable(w: u16, h: u16) -> App {
    let setup = Setup {
        listen: "http://127.0.0.1:8787".into(),
        config_file: Some("/home/op/.config/zapi-dash/config.toml".into()),
        instances: [(SHOP1, "Shop 1"), (SHOP2, "Shop 2"), (SHOP3, "Shop 3")]
            .iter()
            .map(|(id, n)| (InstanceId::new(*id), Some(n.to_string())))
            .collect(),
        can_query_status: true,
        tz: TimeZone::Fixed(FixedOffset::east_opt(0).unwrap()),
        ..Setup::default()
    };
    let mut app = App::new(setup, t(14, 3, 0));
    app.update(Msg::Resize(w, h), t(14, 3, 0));
    app.init();
    // Shop 2 went down first, with a long reason
    app.update(
        Msg::Webhook(Event {
            instance_id: InstanceId::new(SHOP2),
            kind: EventKind::Disconnected {
                error: Some(
                    "Device has been disconnected: WhatsApp closed the session of this linked device after a long time without a connection; read the QR code again"
                        .into(),
                ),
            },
            moment: t(14, 2, 0),
            received: t(14, 2, 0),
        }),
        t(14, 2, 0),
    );
    // /me answered before Z-API went away
    app.update(
        Msg::HooksResult {
            id: InstanceId::new(SHOP2),
            result: Ok(Hooks {
                disconnected: Some(
                    "https://old-server.example/zapi/webhooks/instances/disconnected/with/a/very/long/path".into(),
                ),
                connected: Some("https://old-server.example/hooks/conn".into()),
                received: None,
                here: false,
                foreign: vec!["https://old-server.example/hooks/conn".into()],
            }),
        },
        t(14, 2, 30),
    );
    for id in [SHOP1, SHOP2, SHOP3] {
        app.update(
            Msg::Timed {
                took: Duration::from_millis(4),
                msg: Box::new(Msg::StatusResult {
                    id: InstanceId::new(id),
                    result: Err(refused()),
                }),
            },
            t(14, 3, 5),
        );
    }
    // restart Shop 1 and Shop 3, marked
    let at = t(14, 4, 0);
    key_at(&mut app, KeyCode::Home, at);
    for _ in 0..app.view.order.len() {
        let label = app.selected_instance().unwrap().label().to_string();
        if label != "Shop 2" {
            key_at(&mut app, KeyCode::Char(' '), at);
        } else {
            key_at(&mut app, KeyCode::Down, at);
        }
    }
    key_at(&mut app, KeyCode::Char('x'), at);
    key_at(&mut app, KeyCode::Char('y'), at);
    for (id, result) in [(SHOP1, Err(refused())), (SHOP3, Err(refused()))] {
        app.update(
            Msg::ActionResult {
                id: InstanceId::new(id),
                action: InstanceAction::Restart,
                result,
            },
            t(14, 4, 2),
        );
    }
    app.update(Msg::Tick, t(14, 4, 10));
    app
}

#[test]
fn the_header_says_z_api_is_unreachable_since_when_and_why() {
    let app = unreachable(120, 35);
    let term = render(&app, 120, 35);
    let screen = text(&term);
    assert!(
        screen.contains("✗ Z-API unreachable since 14:03 (connection refused)"),
        "{screen}"
    );
    // as loud as watch's CUT OFF banner: white on red
    assert_eq!(
        cell_of(&term, "✗ Z-API unreachable"),
        (Color::White, Color::Red)
    );
    // the operator's own batch result, every answer, the failure named
    assert!(
        screen.contains(
            "error: restart: 0 accepted, 2 failed: Shop 1 (connection refused), Shop 3 (connection refused)"
        ),
        "{screen}"
    );
}

#[test]
fn the_header_says_when_z_api_refuses_the_token_or_is_slow() {
    let mut app = unreachable(120, 35);
    app.update(
        Msg::StatusResult {
            id: InstanceId::new(SHOP1),
            result: Err(ApiError::Http {
                status: 403,
                message: "Client-Token not allowed".into(),
            }),
        },
        t(14, 5, 0),
    );
    let screen = text(&render(&app, 120, 35));
    assert!(
        screen.contains("✗ Z-API refuses the Client-Token (HTTP 403)"),
        "{screen}"
    );
    for _ in 0..5 {
        app.update(
            Msg::Timed {
                took: Duration::from_millis(2100),
                msg: Box::new(Msg::HooksResult {
                    id: InstanceId::new(SHOP1),
                    result: Ok(Hooks::default()),
                }),
            },
            t(14, 5, 10),
        );
    }
    let term = render(&app, 120, 35);
    let screen = text(&term);
    assert!(screen.contains("⚠ Z-API slow (p50 2.1 s)"), "{screen}");
    assert_eq!(cell_of(&term, "⚠ Z-API slow").0, Color::Yellow);
    for _ in 0..20 {
        app.update(
            Msg::Timed {
                took: Duration::from_millis(60),
                msg: Box::new(Msg::HooksResult {
                    id: InstanceId::new(SHOP1),
                    result: Ok(Hooks::default()),
                }),
            },
            t(14, 5, 20),
        );
    }
    let screen = text(&render(&app, 120, 35));
    assert!(screen.contains("✓ Z-API ok"), "{screen}");
}

#[test]
fn the_message_log_at_every_size() {
    for (w, h) in SIZES {
        let mut app = unreachable(w, h);
        key_at(&mut app, KeyCode::Char('l'), t(14, 4, 10));
        let screen = text(&render(&app, w, h));
        assert!(screen.contains("Messages"), "{w}x{h}: {screen}");
        if h >= 24 {
            // nothing the footer showed is lost: the start's summary, the
            // operator's batch, with time and level
            for needle in [
                "status: 3 of 3 failed: connection refused",
                "restart: sent for 2 instances…",
                "14:04:02 error",
            ] {
                assert!(screen.contains(needle), "{w}x{h} lacks {needle}: {screen}");
            }
        }
        assert_screen!(format!("message_log_{w}x{h}"), screen);
    }
}

#[test]
fn the_detail_pane_wraps_a_long_error_at_every_size() {
    for (w, h) in SIZES {
        let mut app = unreachable(w, h);
        let at = t(14, 4, 10);
        key_at(&mut app, KeyCode::Home, at);
        while app.selected_instance().unwrap().label() != "Shop 2" {
            key_at(&mut app, KeyCode::Down, at);
        }
        key_at(&mut app, KeyCode::Enter, at);
        app.update(
            Msg::History {
                id: InstanceId::new(SHOP2),
                result: Ok(Vec::new()),
            },
            at,
        );
        let screen = text(&render(&app, w, h));
        if w >= 120 {
            // the whole reason, over as many lines as it takes
            let flat: String = screen
                .lines()
                .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
                .collect::<Vec<_>>()
                .join(" ");
            assert!(flat.contains("read the QR code again"), "{w}x{h}: {screen}");
            assert!(flat.contains("⚠ webhook points elsewhere"), "{screen}");
            assert!(flat.contains("x restarts the instance"), "{screen}");
        }
        assert_screen!(format!("detail_long_error_{w}x{h}"), screen);
    }
}

#[test]
fn a_stale_error_on_a_connected_row_is_the_last_disconnects_and_dimmed() {
    let mut app = unreachable(120, 35);
    app.update(
        Msg::Webhook(Event {
            instance_id: InstanceId::new(SHOP2),
            kind: EventKind::Connected { phone: None },
            moment: t(14, 4, 5),
            received: t(14, 4, 5),
        }),
        t(14, 4, 10),
    );
    let at = t(14, 4, 10);
    key_at(&mut app, KeyCode::Home, at);
    while app.selected_instance().unwrap().label() != "Shop 2" {
        key_at(&mut app, KeyCode::Down, at);
    }
    key_at(&mut app, KeyCode::Enter, at);
    let term = render(&app, 120, 35);
    let screen = text(&term);
    assert!(
        screen.contains("(before reconnecting 14:04 · 5s ago) Device has been disconnected:"),
        "{screen}"
    );
    assert_eq!(cell_of(&term, "(before reconnecting").0, Color::DarkGray);
    // received (none) explained, in words a newcomer reads
    assert!(
        screen.contains("received     (none) · Z-API sends no \"message received\" webhook"),
        "{screen}"
    );
}

#[test]
fn the_footer_points_to_the_log_when_more_came_after_the_notice() {
    let mut app = unreachable(120, 35);
    app.update(Msg::Problem("event log: disk full".into()), t(14, 4, 11));
    let screen = text(&render(&app, 120, 35));
    // the operator's fresh result stays; the background line waits in the log
    assert!(screen.contains("error: restart: 0 accepted"), "{screen}");
    assert!(screen.contains("· 1 more in the log (l)"), "{screen}");
    // hints name the log's key
    app.update(Msg::Tick, t(14, 9, 0));
    let screen = text(&render(&app, 120, 35));
    assert!(screen.contains("error: event log: disk full"), "{screen}");
}

/// `watch` on a `[cluster]` replica cut off from NATS: the header says so
/// first, white on red, with since when, at every size (40 columns keep
/// its start), and nothing of it once the server says it is over.
#[test]
fn watch_says_the_servers_cluster_is_unreachable_in_the_header_at_every_size() {
    for (w, h) in SIZES {
        let setup = Setup {
            banner: Some("watching https://replica-a.example".into()),
            tz: TimeZone::Fixed(FixedOffset::east_opt(0).unwrap()),
            ..Setup::default()
        };
        let mut app = App::new(setup, t(14, 3, 0));
        app.update(Msg::Resize(w, h), t(14, 3, 0));
        app.init();
        app.update(Msg::Link(zapi_dash::app::Link::Up), t(14, 3, 0));
        app.update(
            Msg::ServerProblem(Some("cluster unreachable: NATS is not connected".into())),
            t(14, 3, 7),
        );
        app.update(Msg::Tick, t(14, 5, 10));
        let term = render(&app, w, h);
        let screen = text(&term);
        let header: String = screen.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(header.contains("✗ server: cluster"), "{w}x{h}:\n{screen}");
        assert_eq!(
            cell_of(&term, "✗ server:"),
            (Color::White, Color::Red),
            "{w}x{h}"
        );
        if w >= 80 {
            assert!(
                header.contains(
                    "✗ server: cluster unreachable: NATS is not connected since 14:03:07 (2m ago)"
                ),
                "{w}x{h}:\n{screen}"
            );
        }
        assert_screen!(format!("server_trouble_{w}x{h}"), screen);
        app.update(Msg::ServerProblem(None), t(14, 5, 11));
        let screen = text(&render(&app, w, h));
        assert!(!screen.contains("✗ server:"), "{w}x{h}:\n{screen}");
    }
}
