//! The Connect popup on screen: the QR code drawn in half blocks really
//! scans. The code is fetched from the simulator through the real client,
//! drawn by the view into ratatui's test backend, read back from the cells
//! into a bitmap and decoded with a QR decoder: it must be the payload the
//! simulator encoded. Below the size it needs, no code is drawn at all.

use chrono::{DateTime, TimeZone as _, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use zapi_dash::app::{App, Msg, Setup, TimeZone};
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::qr::{self, Credential, Modules};
use zapi_dash::sim::{Sim, SimInstance, SimOptions};
use zapi_dash::zapi::{QrAnswer, ZapiClient};

const ID: &str = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 14, 6, 12).unwrap()
}

fn app(w: u16, h: u16, no_color: bool) -> App {
    let setup = Setup {
        instances: vec![(InstanceId::new(ID), Some("Sales".into()))],
        can_query_status: true,
        tz: TimeZone::Fixed(chrono::FixedOffset::east_opt(0).unwrap()),
        ..Setup::default()
    };
    let mut app = App::new(setup, now());
    app.settings.no_color = no_color;
    app.update(Msg::Resize(w, h), now());
    app
}

/// The simulator's QR code for a disconnected instance, as the real client
/// reads it, and the payload the simulator encoded.
async fn code_from_sim() -> (QrAnswer, String) {
    let sim = Sim::start(SimOptions {
        instances: vec![SimInstance {
            id: ID.into(),
            token: "tok".into(),
            name: "Sales".into(),
        }],
        ..SimOptions::default()
    })
    .await
    .unwrap();
    sim.set_connected(ID, false, None);
    let client = ZapiClient::new(&sim.base_url(), Secret::new("sim-client-token")).unwrap();
    let answer = client
        .qr_code(&InstanceId::new(ID), &Secret::new("tok"))
        .await
        .unwrap();
    let payload = sim.qr_payload(ID).expect("the sim served a code");
    (answer, payload)
}

/// `c` pressed and the code answered, drawn at `w`×`h`.
fn shown(answer: &QrAnswer, w: u16, h: u16, no_color: bool) -> (App, Buffer) {
    let mut app = app(w, h, no_color);
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE)),
        now(),
    );
    app.update(
        Msg::QrResult {
            id: InstanceId::new(ID),
            result: Ok(answer.clone()),
        },
        now(),
    );
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| zapi_dash::ui::draw(&app, f)).unwrap();
    let buf = terminal.backend().buffer().clone();
    (app, buf)
}

/// The QR code's cells (light on dark) read back as half-block lines.
fn code_on_screen(buf: &Buffer) -> Option<Vec<String>> {
    let area = buf.area;
    let is_code = |x: u16, y: u16| {
        let c = &buf[(x, y)];
        c.fg == Color::White && c.bg == Color::Black
    };
    let cells: Vec<(u16, u16)> = (0..area.height)
        .flat_map(|y| (0..area.width).map(move |x| (x, y)))
        .filter(|&(x, y)| is_code(x, y))
        .collect();
    let (x0, y0) = (
        cells.iter().map(|c| c.0).min()?,
        cells.iter().map(|c| c.1).min()?,
    );
    let (x1, y1) = (
        cells.iter().map(|c| c.0).max()?,
        cells.iter().map(|c| c.1).max()?,
    );
    Some(
        (y0..=y1)
            .map(|y| {
                (x0..=x1)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect(),
    )
}

fn text(buf: &Buffer) -> String {
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode(lines: &[String]) -> Credential {
    let (w, h, px) = qr::bitmap_from_half_blocks(lines, 4).expect("only half blocks");
    qr::payload_from_luma(w, h, &px).expect("the code on screen scans")
}

#[tokio::test]
async fn the_code_on_screen_scans_to_the_simulators_payload() {
    let (answer, payload) = code_from_sim().await;
    let QrAnswer::Code(code) = &answer else {
        panic!("no code: {answer:?}")
    };
    assert_eq!(code.expose(), payload, "the client read the sim's PNG");
    let (w, h) = zapi_dash::ui::connect_size(&Modules::encode(&payload).unwrap());
    for (w, h) in [(w, h), (w.max(160), h.max(50)), (200, 60)] {
        for no_color in [false, true] {
            let (_, buf) = shown(&answer, w, h, no_color);
            let lines = code_on_screen(&buf).unwrap_or_else(|| panic!("no code at {w}×{h}"));
            assert_eq!(
                decode(&lines).expose(),
                payload,
                "{w}×{h} no_color={no_color}"
            );
            assert!(text(&buf).contains("code 1 of 3 · new code in 15 s"));
            if no_color {
                // the code alone keeps its black and white
                let coloured = buf
                    .content
                    .iter()
                    .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
                    .count();
                let code_cells: usize = lines.iter().map(|l| l.chars().count()).sum();
                assert_eq!(coloured, code_cells);
            }
        }
    }
}

#[tokio::test]
async fn below_the_size_it_needs_no_code_is_drawn_and_the_size_is_said() {
    let (answer, payload) = code_from_sim().await;
    let (w, h) = zapi_dash::ui::connect_size(&Modules::encode(&payload).unwrap());
    for (cw, ch) in [(w - 1, h), (w, h - 1), (80, 24)] {
        let (_, buf) = shown(&answer, cw, ch, false);
        assert!(code_on_screen(&buf).is_none(), "a code at {cw}×{ch}");
        let screen = text(&buf);
        assert!(screen.contains(&format!("at least {w}×{h};")), "{screen}");
        assert!(
            screen.contains(&format!("this one is {cw}×{ch}.")),
            "{screen}"
        );
        assert!(
            screen.contains("press p to link with a pairing code"),
            "{screen}"
        );
        for glyph in ['▀', '▄'] {
            assert!(!screen.contains(glyph), "half blocks at {cw}×{ch}");
        }
    }
}

#[test]
fn the_pairing_code_is_shown_large_with_how_to_enter_it() {
    let mut app = app(80, 24, false);
    let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
    app.update(key(KeyCode::Char('c')), now());
    app.update(key(KeyCode::Char('p')), now());
    for d in "5544999999999".chars() {
        app.update(key(KeyCode::Char(d)), now());
    }
    app.update(key(KeyCode::Enter), now());
    app.update(
        Msg::PhoneCodeResult {
            id: InstanceId::new(ID),
            result: Ok(Credential::new("ABCD-EFGH")),
        },
        now(),
    );
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| zapi_dash::ui::draw(&app, f)).unwrap();
    let screen = text(terminal.backend().buffer());
    assert!(screen.contains("A B C D - E F G H"), "{screen}");
    assert!(screen.contains("Link with phone number"), "{screen}");
    assert!(screen.contains("5544999999999"), "{screen}");
}

#[test]
fn a_long_zapi_error_wraps_in_the_popup_and_is_never_cut() {
    let mut app = app(80, 24, false);
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE)),
        now(),
    );
    let long = "error sending request: client error (Connect): tcp connect \
                error: Connection refused (os error 111)";
    app.update(
        Msg::QrResult {
            id: InstanceId::new(ID),
            result: Err(zapi_dash::zapi::ApiError::Network(long.into())),
        },
        now(),
    );
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| zapi_dash::ui::draw(&app, f)).unwrap();
    let screen = text(terminal.backend().buffer());
    // the end of the error is on screen, after the wrap
    assert!(screen.contains("(os error 111)"), "{screen}");
    assert!(screen.contains("c try again"), "{screen}");
}
