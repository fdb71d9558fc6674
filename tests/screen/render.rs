//! Screen rendering: what each state of the screen shows (the snapshots of
//! every size are in `sizes.rs`), insta snapshots of the empty state, the
//! filtered table, the popups and `NO_COLOR`, with the clock and time zone
//! injected; cell-style checks where colour carries meaning.

use chrono::{DateTime, FixedOffset, TimeZone as _, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use zapi_dash::app::{App, Msg, Setup, TimeZone};
use zapi_dash::fleet::Hooks;
use zapi_dash::model::Status;
use zapi_dash::model::{Event, EventKind, InstanceId};
use zapi_dash::zapi::ApiError;

/// Asserts the snapshot `tests/snapshots/render__<name>.snap`: the names
/// these snapshots had when this file was its own test binary (insta would
/// otherwise name them after the module path, `screen__render__…`, beside
/// this file), so the recorded screens stay the ones compared.
macro_rules! assert_screen {
    ($name:literal, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(concat!("render__", $name), $value);
        })
    };
}

pub(super) fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
}

pub(super) fn setup(config_file: Option<&str>, instances: &[(&str, Option<&str>)]) -> Setup {
    Setup {
        listen: "http://127.0.0.1:8787".into(),
        config_file: config_file.map(Into::into),
        instances: instances
            .iter()
            .map(|(id, n)| (InstanceId::new(*id), n.map(Into::into)))
            .collect(),
        can_query_status: true,
        tz: TimeZone::Fixed(FixedOffset::east_opt(0).unwrap()),
        ..Setup::default()
    }
}

pub(super) fn webhook(id: &str, kind: EventKind, at: DateTime<Utc>) -> Msg {
    Msg::Webhook(Event {
        instance_id: InstanceId::new(id),
        kind,
        moment: at,
        received: at,
    })
}

/// A fleet in every state the table can show.
pub(super) fn fleet(w: u16, h: u16) -> App {
    let now = t(14, 6, 12);
    let mut app = App::new(
        setup(
            Some("/home/op/.config/zapi-dash/config.toml"),
            &[
                ("3C8A1F00D2E94B7A9F15C0DE2A7B6E11", Some("Sales")),
                ("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B", Some("Support")),
                ("A20DA9C0183A2D35A260F53F5D2B9244", Some("Billing")),
                ("B11C0FFEE0000000000000000000BEEF", None),
            ],
        ),
        now,
    );
    app.update(Msg::Resize(w, h), now);
    let down = |e: &str| EventKind::Disconnected {
        error: Some(e.into()),
    };
    app.update(
        webhook(
            "3C8A1F00D2E94B7A9F15C0DE2A7B6E11",
            EventKind::Connected { phone: None },
            t(13, 2, 0),
        ),
        now,
    );
    app.update(
        webhook(
            "7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B",
            down("Device has been disconnected"),
            t(14, 3, 12),
        ),
        now,
    );
    app.update(
        Msg::RegisterResult {
            id: InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11"),
            result: Ok(()),
        },
        t(14, 0, 5),
    );
    app.update(
        Msg::RegisterResult {
            id: InstanceId::new("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B"),
            result: Err(ApiError::Http {
                status: 400,
                message: "Instance not found".into(),
            }),
        },
        t(14, 1, 0),
    );
    app.update(
        Msg::StatusResult {
            id: InstanceId::new("A20DA9C0183A2D35A260F53F5D2B9244"),
            result: Ok(Status {
                connected: false,
                error: Some("You need to restore the session.".into()),
                smartphone_connected: Some(true),
            }),
        },
        t(14, 5, 0),
    );
    // an instance nobody configured, with hostile text in its error
    app.update(
        webhook(
            "UNCONFIGURED-99",
            down("evil\x1b[2J\x1b]0;pwned\x07 text"),
            t(12, 0, 0),
        ),
        now,
    );
    app.update(Msg::Tick, now);
    app
}

pub(super) fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| zapi_dash::ui::draw(app, f)).unwrap();
    terminal
}

pub(super) fn text(terminal: &Terminal<TestBackend>) -> String {
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

#[test]
fn help_overlay_lists_every_key_in_effect() {
    let mut app = fleet(160, 40);
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)),
        t(14, 6, 12),
    );
    let screen = text(&render(&app, 160, 40));
    let lines = zapi_dash::app::layout::help_lines(&app);
    assert!(lines.len() > 20, "every action has a line");
    for (keys, what) in &lines {
        assert!(
            screen.contains(keys.as_str()) && screen.contains(what.as_str()),
            "help lacks {keys}: {what}"
        );
    }
}

#[test]
fn help_overlay_scrolls_on_a_short_terminal() {
    let mut app = fleet(80, 24);
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)),
        t(14, 6, 12),
    );
    let first = text(&render(&app, 80, 24));
    assert!(first.contains("↑↓ scroll"), "{first}");
    let lines = zapi_dash::app::layout::help_lines(&app);
    let (last_keys, last_what) = lines.last().unwrap();
    assert!(
        !first.contains(last_what.as_str()),
        "the last line is below"
    );
    for _ in 0..lines.len() {
        app.update(
            Msg::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
            t(14, 6, 12),
        );
    }
    let scrolled = text(&render(&app, 80, 24));
    assert!(
        scrolled.contains(last_what.as_str()) && scrolled.contains(last_keys.as_str()),
        "{scrolled}"
    );
}

#[test]
fn empty_without_config_says_where_it_listens() {
    let app = App::new(setup(None, &[]), t(14, 6, 12));
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("no config file: waiting for webhooks on http://127.0.0.1:8787/hooks"));
    assert_screen!("empty_without_config_says_where_it_listens", screen);
}

#[test]
fn register_all_progress_is_visible() {
    let mut app = fleet(80, 24);
    // ctrl-r: every configured instance, whatever its webhooks say
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
        t(14, 6, 12),
    );
    app.update(
        Msg::RegisterResult {
            id: InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11"),
            result: Ok(()),
        },
        t(14, 6, 13),
    );
    let screen = text(&render(&app, 80, 24));
    assert!(
        screen.contains("re-registering webhooks: 1/4 done"),
        "{screen}"
    );
    assert!(screen.contains("registering…"), "{screen}");
}

#[test]
fn no_escape_sequence_or_token_reaches_the_screen() {
    let app = fleet(160, 40);
    let screen = text(&render(&app, 160, 40));
    assert!(!screen.contains('\x1b') && !screen.contains('\x07'));
    assert!(screen.contains("evil\u{FFFD}[2J"), "{screen}");
}

/// Finds the cell where `needle` starts and returns its foreground colour.
pub(super) fn fg_of(terminal: &Terminal<TestBackend>, needle: &str) -> Color {
    let buf = terminal.backend().buffer();
    let lines = text(terminal);
    for (y, line) in lines.lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            let x = line[..byte].chars().count();
            return buf[(x as u16, y as u16)].fg;
        }
    }
    panic!("{needle} not on screen");
}

#[test]
fn state_colours_are_right_and_words_are_there() {
    let outages = render(&fleet(160, 40), 160, 40);
    let buf = outages.backend().buffer();
    let lines = text(&outages);
    let (y, line) = lines
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("✗ OUTAGE"))
        .expect("an outage on screen");
    let x = line[..line.find("✗ OUTAGE").unwrap()].chars().count();
    assert_eq!(
        buf[(x as u16, y as u16)].bg,
        Color::Red,
        "outages are highlighted"
    );
    // with a longer alert_after, the same rows are only down
    let mut app = fleet(160, 40);
    let mut settings = app.settings.clone();
    settings.rules = zapi_dash::fleet::health::Rules::from_secs(86_400, 0);
    app.configure(settings);
    app.prepare();
    let term = render(&app, 160, 40);
    assert_eq!(fg_of(&term, "● connected"), Color::Green);
    assert_eq!(fg_of(&term, "✗ disconnected"), Color::Red);
    assert_eq!(fg_of(&term, "? unknown "), Color::Yellow);
    assert_eq!(fg_of(&term, "failed: HTTP 400"), Color::Red);
    assert_eq!(fg_of(&term, "ok 14:00"), Color::Green);
}

#[test]
fn any_size_renders_without_panic() {
    let app = fleet(80, 24);
    for (w, h) in [(1, 1), (20, 5), (10, 40), (200, 3), (80, 24), (300, 100)] {
        let mut a = app.clone();
        a.update(Msg::Resize(w, h), t(14, 6, 12));
        a.update(
            Msg::Key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)),
            t(14, 6, 12),
        );
        render(&a, w, h);
        a.update(
            Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)),
            t(14, 6, 12),
        );
        render(&a, w, h);
    }
}

// ---- the operator's view ------------------------------------------------

pub(super) fn key(app: &mut App, code: KeyCode) {
    app.update(
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)),
        t(14, 6, 12),
    );
}

/// The fleet with a day of history for "Support" (flapping), `/me` answers
/// (one pointing elsewhere) and a zombie (webhook up, Z-API down).
pub(super) fn operator_fleet(w: u16, h: u16) -> App {
    let mut app = fleet(w, h);
    let now = t(14, 6, 12);
    let support = "7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B";
    // Support: down 02:00–02:30, 09:00–09:05, and since 14:03:12
    for (at, up) in [
        (t(1, 0, 0), true),
        (t(2, 0, 0), false),
        (t(2, 30, 0), true),
        (t(9, 0, 0), false),
        (t(9, 5, 0), true),
    ] {
        let kind = if up {
            EventKind::Connected {
                phone: Some("5544999990000".into()),
            }
        } else {
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into()),
            }
        };
        app.update(webhook(support, kind, at), now);
    }
    app.update(
        Msg::HooksResult {
            id: InstanceId::new(support),
            result: Ok(Hooks {
                disconnected: Some("https://old-server.example/hooks/disc".into()),
                connected: Some("https://old-server.example/hooks/conn".into()),
                received: None,
                here: false,
                foreign: vec![
                    "https://old-server.example/hooks/disc".into(),
                    "https://old-server.example/hooks/conn".into(),
                ],
            }),
        },
        t(14, 5, 30),
    );
    app.update(
        Msg::HooksResult {
            id: InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11"),
            result: Ok(Hooks {
                disconnected: Some("https://dash.example/hooks/Abcd…/disconnected".into()),
                connected: Some("https://dash.example/hooks/Abcd…/connected".into()),
                received: None,
                here: true,
                foreign: Vec::new(),
            }),
        },
        t(14, 5, 30),
    );
    // Sales: the webhook said connected at 13:02, Z-API says otherwise now
    app.update(
        Msg::StatusResult {
            id: InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11"),
            result: Ok(Status {
                connected: false,
                error: Some("You are not connected.".into()),
                smartphone_connected: Some(false),
            }),
        },
        t(14, 6, 0),
    );
    app.update(Msg::Tick, now);
    app
}

pub(super) fn open_detail_of(app: &mut App, label: &str) {
    let pos = app
        .view
        .order
        .iter()
        .position(|&i| app.fleet.instances[i].label() == label)
        .expect("row on screen");
    key(app, KeyCode::Home);
    for _ in 0..pos {
        key(app, KeyCode::Down);
    }
    key(app, KeyCode::Enter);
}

#[test]
fn operator_table_sorted_problems_first() {
    let app = operator_fleet(200, 50);
    let screen = text(&render(&app, 200, 50));
    assert!(
        screen.contains("webhook says up, Z-API says down"),
        "{screen}"
    );
    assert!(
        // the warning first (what to do), then the down row's reason
        screen.contains("⚠ webhook points elsewhere · Device has"),
        "{screen}"
    );
    assert!(screen.contains("✗ OUTAGE"), "{screen}");
    assert!(screen.contains("4 problems"), "{screen}");
}

#[test]
fn filtered_and_sorted_table_80x24() {
    let mut app = operator_fleet(80, 24);
    key(&mut app, KeyCode::Char('o')); // by name
    key(&mut app, KeyCode::Char('f')); // down only
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("only down"), "{screen}");
    assert!(!screen.contains("● connected"), "{screen}");
    assert_screen!("filtered_and_sorted_table_80x24", screen);
    key(&mut app, KeyCode::Char('/'));
    for c in "bill".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let screen = text(&render(&app, 80, 24));
    assert!(
        screen.contains("Billing") && !screen.contains("Support"),
        "{screen}"
    );
    assert!(screen.contains("filter / bill"), "{screen}");
}

#[test]
fn detail_pane_80x24_and_tiny_sizes() {
    let mut app = operator_fleet(80, 24);
    open_detail_of(&mut app, "Sales");
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("smartphone connected NO"), "{screen}");
    // 24 rows hold the facts (the wrapped lines and the device's take the
    // room); the history starts below them when there is room
    let mut taller = app.clone();
    taller.update(Msg::Resize(80, 30), t(14, 6, 12));
    let screen = text(&render(&taller, 80, 30));
    assert!(screen.contains("reading the log"), "{screen}");
    for (w, h) in [(20, 5), (1, 1), (300, 100)] {
        let mut a = app.clone();
        a.update(Msg::Resize(w, h), t(14, 6, 12));
        render(&a, w, h);
    }
}

#[test]
fn confirmation_popup_80x24() {
    let mut app = operator_fleet(80, 24);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char('e'));
    let screen = text(&render(&app, 80, 24));
    assert!(
        screen.contains("Restore the session of 2 instances?"),
        "{screen}"
    );
    assert!(screen.contains("nothing is sent before y"), "{screen}");
    assert_screen!("confirmation_popup_80x24", screen);
}

#[test]
fn no_color_keeps_words_and_drops_every_colour() {
    let mut app = operator_fleet(160, 40);
    let mut settings = app.settings.clone();
    settings.no_color = true;
    app.configure(settings);
    app.prepare();
    let term = render(&app, 160, 40);
    let buf = term.backend().buffer();
    assert!(
        buf.content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "no colour anywhere"
    );
    let screen = text(&term);
    for word in [
        "✗ OUTAGE",
        "✗ disconnected",
        "? unknown",
        "⚠ webhook says up",
    ] {
        assert!(screen.contains(word), "{word}");
    }
    // the selection stays visible without colour
    assert!(
        buf.content
            .iter()
            .any(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED))
    );
    assert_screen!("no_color_keeps_words_and_drops_every_colour", screen);
}

/// No Client-Token: the header says so once; the rows are left alone (no
/// per-row failure), even when a call that could not be made reports back.
#[test]
fn without_client_token_the_header_says_it_once_and_rows_stay_clean() {
    let now = t(14, 6, 12);
    let mut s = setup(
        Some("/etc/zapi-dash/config.toml"),
        &[
            ("3C8A1F00D2E94B7A9F15C0DE2A7B6E11", Some("Sales")),
            ("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B", Some("Support")),
        ],
    );
    s.can_query_status = false;
    s.missing_for_register = Some("client_token");
    let mut app = App::new(s, now);
    app.update(Msg::Resize(80, 24), now);
    assert!(app.init().is_empty(), "nothing is asked of Z-API");
    // what a runner without a client answers, had anything asked
    app.update(
        Msg::StatusResult {
            id: InstanceId::new("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B"),
            result: Err(ApiError::Config("client_token is not set".into())),
        },
        now,
    );
    app.update(Msg::Tick, now);
    let screen = text(&render(&app, 80, 24));
    assert_eq!(
        screen.matches("client_token").count(),
        1,
        "said once:\n{screen}"
    );
    assert!(!screen.contains("failed"), "{screen}");
    assert!(!screen.contains("problems"), "{screen}");
    assert_screen!(
        "without_client_token_the_header_says_it_once_and_rows_stay_clean",
        screen
    );
}

/// `R` with a row whose webhooks point at another system: the popup names
/// it and the URL that would be replaced, and says what each key does.
#[test]
fn replace_confirmation_popup_80x24() {
    let mut app = operator_fleet(80, 24);
    key(&mut app, KeyCode::Char('R'));
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("point at another system"), "{screen}");
    assert!(screen.contains("Support"), "{screen}");
    assert!(
        screen.contains("https://old-server.example/hooks/disc"),
        "{screen}"
    );
    assert!(screen.contains("y adopts and registers"), "{screen}");
    assert!(screen.contains("o overwrites"), "{screen}");
    assert!(screen.contains("Esc sends nothing"), "{screen}");
    assert_screen!("replace_confirmation_popup_80x24", screen);
}

/// A plain-http `public_url` is a warning the header keeps showing, after
/// any key (the footer's start warnings go away on one).
#[test]
fn the_header_keeps_the_plain_http_warning() {
    for (w, h) in [(80, 24), (160, 40)] {
        let mut app = fleet(w, h);
        app.ops.header_warning = Some(zapi_dash::config::PLAIN_HTTP_HEADER.to_string());
        key(&mut app, KeyCode::Down);
        let terminal = render(&app, w, h);
        let screen = text(&terminal);
        let second = screen.lines().nth(1).unwrap();
        assert!(
            second.contains("⚠ public_url is plain http://"),
            "{w}x{h}: {second}"
        );
        assert_eq!(fg_of(&terminal, "⚠ public_url"), Color::Yellow);
    }
    let app = fleet(80, 24);
    assert!(!text(&render(&app, 80, 24)).contains("plain http"));
}

/// The restart confirmation at every size: the rows it acts on with their
/// state, a warning for the connected one, and the key line always there
/// (at 40×10 the list shrinks to a count, never the keys).
#[test]
fn confirmation_lists_rows_with_state_and_keeps_its_keys_at_every_size() {
    for (w, h) in [(200, 50), (120, 35), (80, 24), (40, 10)] {
        let mut app = fleet(w, h);
        key(&mut app, KeyCode::Char('A')); // every row shown
        key(&mut app, KeyCode::Char('x'));
        let screen = text(&render(&app, w, h));
        assert!(
            screen.contains("y sends"),
            "{w}×{h}: the key line:\n{screen}"
        );
        assert!(screen.contains("? unknown"), "{w}×{h}: states:\n{screen}");
        if w >= 80 {
            assert!(
                screen.contains("Restart 4 instances?"),
                "{w}×{h}:\n{screen}"
            );
            assert!(
                screen.contains("1 of them is connected: restarting drops it"),
                "{w}×{h}:\n{screen}"
            );
            assert!(screen.contains("● connected"), "{w}×{h}:\n{screen}");
            assert!(screen.contains("✗ OUTAGE"), "{w}×{h}:\n{screen}");
        }
        let name = format!("confirmation_lists_rows_{w}x{h}");
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(format!("render__{name}"), screen);
        });
    }
}

/// The replace confirmation keeps its keys on a 40×10 terminal too.
#[test]
fn replace_confirmation_keeps_its_keys_at_40x10() {
    let mut app = operator_fleet(40, 10);
    key(&mut app, KeyCode::Char('R'));
    let screen = text(&render(&app, 40, 10));
    assert!(screen.contains("y adopt"), "{screen}");
    assert!(screen.contains("o overwrite"), "{screen}");
    assert!(screen.contains("n nothing"), "{screen}");
    assert_screen!("replace_confirmation_40x10", screen);
}

/// Moving holds the order (the title says so); an acked row says `acked`.
#[test]
fn held_order_and_acked_rows_are_said_on_screen() {
    let now = t(14, 6, 12);
    let mut app = fleet(120, 35);
    key(&mut app, KeyCode::Down);
    app.update(
        webhook(
            "3C8A1F00D2E94B7A9F15C0DE2A7B6E11",
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into()),
            },
            now,
        ),
        now,
    );
    app.prepare();
    let screen = text(&render(&app, 120, 35));
    assert!(screen.contains("order held"), "{screen}");
    // Support is down since 14:03:12: acked, it says so and is no problem
    let support = InstanceId::new("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B");
    app.update(
        Msg::Acked {
            id: support,
            acked: true,
            at: now,
        },
        now,
    );
    app.update(Msg::Tick, t(14, 6, 20));
    let screen = text(&render(&app, 120, 35));
    assert!(!screen.contains("order held"), "{screen}");
    assert!(screen.contains("✗ acked"), "{screen}");
    assert_screen!("held_order_then_acked_120x35", screen);
}

/// `G` in the detail's history: the last page, and where it is.
#[test]
fn big_g_in_the_history_shows_the_last_page_and_its_position() {
    let mut app = operator_fleet(120, 35);
    open_detail_of(&mut app, "Support");
    let support = InstanceId::new("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B");
    let events: Vec<Event> = (0..65)
        .map(|i| Event {
            instance_id: support.clone(),
            kind: EventKind::Activity {
                callback: format!("ReceivedCallback #{}", 65 - i),
            },
            moment: t(14, 5, 0) - chrono::Duration::seconds(i),
            received: t(14, 5, 0) - chrono::Duration::seconds(i),
        })
        .collect();
    app.update(
        Msg::History {
            id: support,
            result: Ok(events),
        },
        t(14, 6, 12),
    );
    render(&app, 120, 35); // the view says how many lines it has room for
    key(&mut app, KeyCode::Char('G'));
    let screen = text(&render(&app, 120, 35));
    let rows = app.overlays.detail.as_ref().unwrap().history_rows.get();
    let want = format!("{}–65 of 65", 66 - rows);
    assert!(screen.contains(&want), "{want}:\n{screen}");
    assert!(
        screen.contains("ReceivedCallback #1 "),
        "the oldest:\n{screen}"
    );
    assert_screen!("detail_history_last_page_120x35", screen);
}

fn relay_status(name: &str, lag: u64, dead: usize) -> zapi_dash::relay::TargetStatus {
    zapi_dash::relay::TargetStatus {
        name: name.into(),
        url: format!("https://{name}.example.com/zapi"),
        lag_events: lag,
        dead_letters: dead,
        delivered: 1200,
        failures: 7,
        last_error: Some("HTTP 503: down for maintenance".into()),
        last_delivery: Some(t(14, 5, 0)),
        ..Default::default()
    }
}

#[test]
fn the_relay_in_the_header_the_target_list_and_the_detail() {
    let mut app = operator_fleet(80, 24);
    app.update(
        Msg::Relay(vec![
            relay_status("bot", 0, 0),
            zapi_dash::relay::TargetStatus {
                rate_per_s: 12.5,
                ..relay_status("crm", 12, 3)
            },
        ]),
        t(14, 6, 12),
    );
    let screen = text(&render(&app, 80, 24));
    assert!(
        screen.contains("⚠ relay: 2 targets · lag 12 · 3 dead"),
        "{screen}"
    );
    key(&mut app, KeyCode::Char('F'));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('d'));
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("Forward targets"), "{screen}");
    assert!(screen.contains("crm"), "{screen}");
    assert!(
        screen.contains("drop crm's dead letters for good? y drops"),
        "{screen}"
    );
    assert!(
        screen.contains("dead 3 · 12.5/s · delivered"),
        "the rate: {screen}"
    );
    assert_screen!("relay_target_list_80x24", screen);
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Esc);
    open_detail_of(&mut app, "Sales");
    let screen = text(&render(&app, 120, 35));
    assert!(screen.contains("Forwarded"), "{screen}");
    assert!(
        screen.contains("bot https://bot.example.com/zapi (no delivery yet)"),
        "{screen}"
    );
    // u asks before an adopted target stops being fed
    let sales = app.overlays.detail.as_ref().unwrap().id.to_string();
    app.update(
        Msg::Relay(vec![zapi_dash::relay::TargetStatus {
            adopted: true,
            instance_filter: vec![sales],
            url: "https://crm.example.com/hooks/AbCd…".into(),
            ..relay_status("adopted-5a1e5c0d", 0, 0)
        }]),
        t(14, 6, 13),
    );
    key(&mut app, KeyCode::Char('u'));
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("Stop forwarding?"), "{screen}");
    assert!(screen.contains("adopted-5a1e5c0d"), "{screen}");
    assert!(
        screen.contains("https://crm.example.com/hooks/AbCd…"),
        "{screen}"
    );
    assert!(screen.contains("y stops forwarding"), "{screen}");
    assert_screen!("unadopt_confirmation_80x24", screen);
    key(&mut app, KeyCode::Esc);
    assert!(app.overlays.unadopt.is_none());
    // without targets the header says nothing of a relay
    let plain = text(&render(&operator_fleet(80, 24), 80, 24));
    assert!(!plain.contains("relay"), "{plain}");
}
