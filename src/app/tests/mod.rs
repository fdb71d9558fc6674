use super::*;
use crate::model::EventKind;
use chrono::TimeZone as _;
use crossterm::event::KeyEventState;

mod calls;
mod connect;
mod discovery;
mod events;
mod failures;
mod keys;
mod operator;
mod relay;

pub(super) fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_764_000_000 + secs, 0).unwrap()
}

fn setup(n: usize, missing: Option<&'static str>) -> Setup {
    Setup {
        listen: "http://127.0.0.1:8787".into(),
        config_file: Some("/tmp/c.toml".into()),
        instances: (0..n)
            .map(|i| (InstanceId::new(format!("I{i}")), Some(format!("Name {i}"))))
            .collect(),
        missing_for_register: missing,
        can_query_status: missing != Some("client_token"),
        tz: TimeZone::Fixed(FixedOffset::east_opt(0).unwrap()),
        banner: None,
        warnings: Vec::new(),
        secret_paths: false,
    }
}

pub(super) fn app(n: usize) -> App {
    App::new(setup(n, None), t(0))
}

pub(super) fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ev(id: &str, kind: EventKind, moment: i64, received: i64) -> Msg {
    Msg::Webhook(Event {
        instance_id: InstanceId::new(id),
        kind,
        moment: t(moment),
        received: t(received),
    })
}

fn down(id: &str, moment: i64, error: &str) -> Msg {
    ev(
        id,
        EventKind::Disconnected {
            error: Some(error.into()),
        },
        moment,
        moment,
    )
}

fn up(id: &str, moment: i64) -> Msg {
    ev(
        id,
        EventKind::Connected {
            phone: Some("5544999999999".into()),
        },
        moment,
        moment,
    )
}

fn inst<'a>(app: &'a App, id: &str) -> &'a Instance {
    app.get(&InstanceId::new(id)).unwrap()
}

fn http_err(status: u16, message: &str) -> ApiError {
    ApiError::Http {
        status,
        message: message.into(),
    }
}

// ---- the operator's view ----------------------------------------

pub(super) fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

pub(super) fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn status(connected: bool, error: Option<&str>) -> Status {
    Status {
        connected,
        error: error.map(Into::into),
        smartphone_connected: Some(true),
    }
}

fn hooks(here: bool) -> Hooks {
    Hooks {
        disconnected: Some("https://elsewhere.example/hook".into()),
        connected: Some("https://elsewhere.example/hook".into()),
        received: None,
        here,
        foreign: Vec::new(),
    }
}

fn labels(a: &App) -> Vec<String> {
    a.view
        .order
        .iter()
        .map(|&i| a.fleet.instances[i].id.to_string())
        .collect()
}
