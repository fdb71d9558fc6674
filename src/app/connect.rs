//! `c`: the Connect popup. It asks Z-API for a QR code, draws it (the view
//! does), asks for a new one every [`QR_EVERY_SECS`] up to [`QR_MAX_CODES`]
//! codes, then stops until the operator presses `c` again, as Z-API asks.
//! `p` asks for a pairing code instead. A `ConnectedCallback` (or a
//! `/status` saying connected) for the instance shows who connected and
//! closes the popup after [`CLOSE_AFTER_SECS`]; the marked instances are
//! then connected one after another.
//!
//! Nothing is fetched while the popup is closed, and closing it drops the
//! payload and the pairing code it held.

use super::*;
use crate::qr::{Credential, Modules};
use crate::zapi::{QrAnswer, check_phone};

/// Seconds between two codes (WhatsApp drops a code after 20 s).
pub const QR_EVERY_SECS: i64 = 15;
/// Codes shown before the popup stops asking (Z-API: stop after 3 unread).
pub const QR_MAX_CODES: u8 = 3;
/// Seconds the popup stays open to say who connected.
pub const CLOSE_AFTER_SECS: i64 = 2;

/// The Connect popup of one instance (and the marked ones still to do).
#[derive(Debug, Clone)]
pub struct Connect {
    pub id: InstanceId,
    /// Instances to connect after this one, in order.
    pub queue: Vec<InstanceId>,
    pub stage: Stage,
}

/// Where the popup is.
#[derive(Debug, Clone)]
pub enum Stage {
    /// Asking Z-API for code `n` (1-based) while showing the previous
    /// code, if any.
    Fetching { n: u8, shown: Option<Box<Code>> },
    /// Code `n` of [`QR_MAX_CODES`] on screen.
    Code(Box<Code>),
    /// [`QR_MAX_CODES`] codes went unread: nothing is asked until `c`.
    Stopped,
    /// Z-API served no code: the instance is connected already.
    AlreadyConnected,
    /// It connected (as this phone, if known) at `at`; closes after
    /// [`CLOSE_AFTER_SECS`].
    Connected {
        phone: Option<String>,
        at: DateTime<Utc>,
    },
    /// The QR call failed.
    Failed(String),
    /// `p`: typing the phone number (digits only).
    Phone {
        digits: String,
        error: Option<String>,
    },
    /// Asking Z-API for a pairing code for `phone`.
    PhoneWaiting { phone: String },
    /// The pairing code to type on the phone.
    Pairing { phone: String, code: Credential },
    /// Z-API refused a pairing code.
    PairingFailed { phone: String, error: String },
}

/// A QR code shown: its payload, its modules, which one of the run it is
/// and since when.
#[derive(Debug, Clone)]
pub struct Code {
    pub payload: Credential,
    pub modules: Modules,
    pub n: u8,
    pub at: DateTime<Utc>,
}

impl Connect {
    /// Seconds until the next code is asked for (`None`: no next code).
    pub fn next_code_in(&self, now: DateTime<Utc>) -> Option<i64> {
        match &self.stage {
            Stage::Code(c) if c.n < QR_MAX_CODES => {
                Some((QR_EVERY_SECS - (now - c.at).num_seconds()).max(0))
            }
            _ => None,
        }
    }

    /// The code on screen, if any (also while the next one is fetched).
    pub fn code(&self) -> Option<&Code> {
        match &self.stage {
            Stage::Code(c) => Some(c),
            Stage::Fetching { shown, .. } => shown.as_deref(),
            _ => None,
        }
    }
}

impl App {
    /// `c` on the table: the popup for the selected (or marked) configured
    /// instances, the first one's code asked at once.
    pub(super) fn open_connect(&mut self) -> Vec<Command> {
        let targets = self.targets();
        if targets.is_empty() {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        }
        if !self.setup.can_query_status {
            self.notify(
                Level::Warn,
                "cannot ask Z-API for a QR code: client_token is not set (config or ZAPI_CLIENT_TOKEN)",
            );
            return Vec::new();
        }
        let mut ids = targets
            .iter()
            .map(|&i| &self.fleet.instances[i])
            .filter(|i| i.configured)
            .map(|i| i.id.clone());
        let Some(id) = ids.next() else {
            self.notify(
                Level::Warn,
                "cannot connect: not configured (add its id and token to the config)",
            );
            return Vec::new();
        };
        let queue = ids.collect();
        self.view.marked.clear();
        self.start_connect(id, queue)
    }

    fn start_connect(&mut self, id: InstanceId, queue: Vec<InstanceId>) -> Vec<Command> {
        self.overlays.connect = Some(Connect {
            id: id.clone(),
            queue,
            stage: Stage::Fetching { n: 1, shown: None },
        });
        vec![Command::FetchQr(id)]
    }

    /// Closes the popup (dropping what it held) and opens the next queued
    /// instance's, if any.
    fn next_connect(&mut self) -> Vec<Command> {
        match self.overlays.connect.take() {
            Some(c) if !c.queue.is_empty() => {
                let mut queue = c.queue;
                let id = queue.remove(0);
                self.start_connect(id, queue)
            }
            _ => Vec::new(),
        }
    }

    /// A key while the popup is open.
    pub(super) fn on_connect_key(&mut self, key: &KeyEvent) -> Vec<Command> {
        let Some(c) = self.overlays.connect.as_mut() else {
            return Vec::new();
        };
        if let Stage::Phone { digits, error } = &mut c.stage {
            match key.code {
                KeyCode::Char(d) if d.is_ascii_digit() => {
                    if digits.len() < *crate::zapi::PHONE_DIGITS.end() {
                        digits.push(d);
                    }
                    *error = None;
                }
                KeyCode::Char(_) => *error = Some("digits only: country code first, no +".into()),
                KeyCode::Backspace => {
                    digits.pop();
                    *error = None;
                }
                KeyCode::Enter => return self.ask_pairing_code(),
                KeyCode::Esc => self.overlays.connect = None,
                _ => {}
            }
            return Vec::new();
        }
        if key.code == KeyCode::Esc {
            self.overlays.connect = None;
            return Vec::new();
        }
        if key.code == KeyCode::Char('p') {
            let id = c.id.clone();
            let digits = self.last_phone(&id).unwrap_or_default();
            if let Some(c) = self.overlays.connect.as_mut() {
                c.stage = Stage::Phone {
                    digits,
                    error: None,
                };
            }
            return Vec::new();
        }
        match self.settings.keys.action(key) {
            Some(Action::Quit) => vec![Command::Quit],
            Some(Action::Connect) => self.new_codes(),
            _ => Vec::new(),
        }
    }

    /// `c` in the popup: a new run of codes, unless one is running.
    fn new_codes(&mut self) -> Vec<Command> {
        let Some(c) = self.overlays.connect.as_mut() else {
            return Vec::new();
        };
        match c.stage {
            Stage::Fetching { .. } | Stage::Code(_) | Stage::Connected { .. } => Vec::new(),
            _ => {
                c.stage = Stage::Fetching { n: 1, shown: None };
                vec![Command::FetchQr(c.id.clone())]
            }
        }
    }

    /// Enter in the phone prompt: the digits checked, then the call.
    fn ask_pairing_code(&mut self) -> Vec<Command> {
        let Some(c) = self.overlays.connect.as_mut() else {
            return Vec::new();
        };
        let Stage::Phone { digits, error } = &mut c.stage else {
            return Vec::new();
        };
        if let Err(e) = check_phone(digits) {
            *error = Some(e);
            return Vec::new();
        }
        let phone = digits.clone();
        c.stage = Stage::PhoneWaiting {
            phone: phone.clone(),
        };
        vec![Command::PhoneCode(c.id.clone(), phone)]
    }

    /// The instance's phone as it last reported it: `/device` (when the
    /// detail pane fetched it) or its last `ConnectedCallback`.
    fn last_phone(&self, id: &InstanceId) -> Option<String> {
        let from_device = self
            .overlays
            .detail
            .as_ref()
            .filter(|d| &d.id == id)
            .and_then(|d| match &d.device {
                DeviceView::Loaded { device, .. } => device.phone.clone(),
                _ => None,
            });
        from_device
            .or_else(|| self.get(id).and_then(|i| i.phone.clone()))
            .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|p| !p.is_empty())
    }

    /// The answers of the calls the popup and the detail's device make.
    pub(super) fn on_connect_result(&mut self, msg: Msg) {
        match msg {
            Msg::QrResult { id, result } => self.on_qr(id, result),
            Msg::PhoneCodeResult { id, result } => self.on_phone_code(id, result),
            Msg::DeviceResult { id, result } => self.on_device(id, result),
            _ => {}
        }
    }

    /// A webhook: a `ConnectedCallback` of the popup's instance ends it.
    pub(super) fn connect_saw_event(&mut self, event: &Event) {
        if let crate::model::EventKind::Connected { phone } = &event.kind {
            self.connect_saw_connected(&event.instance_id, phone.clone());
        }
    }

    /// Z-API's answer to a QR call, if the popup still waits for it.
    fn on_qr(&mut self, id: InstanceId, result: Result<QrAnswer, ApiError>) {
        let now = self.now;
        let label = self.label_of(&id);
        let Some(c) = self.overlays.connect.as_mut().filter(|c| c.id == id) else {
            return; // closed meanwhile: the answer is dropped
        };
        let Stage::Fetching { n, .. } = c.stage else {
            return;
        };
        c.stage = match result {
            Ok(QrAnswer::Code(payload)) => match Modules::encode(payload.expose()) {
                Ok(modules) => Stage::Code(Box::new(Code {
                    payload,
                    modules,
                    n,
                    at: now,
                })),
                Err(e) => Stage::Failed(e.to_string()),
            },
            // a code was shown and now Z-API has none: it was read
            Ok(QrAnswer::Connected) if n > 1 => Stage::Connected {
                phone: None,
                at: now,
            },
            Ok(QrAnswer::Connected) => Stage::AlreadyConnected,
            Err(e) => Stage::Failed(e.to_string()),
        };
        if let Stage::Failed(e) = &c.stage {
            let text = format!("connect {label}: no QR code: {e}");
            self.notify(Level::Error, text);
        }
    }

    /// Z-API's answer to a pairing-code call, if the popup still waits.
    fn on_phone_code(&mut self, id: InstanceId, result: Result<Credential, ApiError>) {
        let Some(c) = self.overlays.connect.as_mut().filter(|c| c.id == id) else {
            return;
        };
        let Stage::PhoneWaiting { phone } = &c.stage else {
            return;
        };
        let phone = phone.clone();
        // the notice never holds the code: it is a credential
        let (stage, notice) = match result {
            Ok(code) => (
                Stage::Pairing { phone, code },
                (
                    Level::Info,
                    "pairing code shown: type it on the phone".to_string(),
                ),
            ),
            Err(e) => {
                let notice = (Level::Error, format!("no pairing code: {e}"));
                let error = e.to_string();
                (Stage::PairingFailed { phone, error }, notice)
            }
        };
        c.stage = stage;
        let text = format!("connect {}: {}", self.label_of(&id), notice.1);
        self.notify(notice.0, text);
    }

    /// `/device`'s answer for the detail pane, if it is still open on it.
    fn on_device(&mut self, id: InstanceId, result: Result<crate::zapi::Device, ApiError>) {
        let at = self.now;
        if let Some(d) = self.overlays.detail.as_mut().filter(|d| d.id == id) {
            d.device = match result {
                Ok(device) => DeviceView::Loaded { device, at },
                Err(e) => DeviceView::Failed(e.to_string()),
            };
        }
    }

    /// The instance connected (a webhook or `/status` said so): the popup
    /// says as whom.
    pub(super) fn connect_saw_connected(&mut self, id: &InstanceId, phone: Option<String>) {
        let now = self.now;
        let known = self.fleet.get(id).and_then(|i| i.phone.clone());
        let label = self.label_of(id);
        let Some(c) = self.overlays.connect.as_mut().filter(|c| &c.id == id) else {
            return;
        };
        match &mut c.stage {
            // said already: the webhook may still tell the phone
            Stage::Connected { phone: shown, .. } => {
                if shown.is_none() {
                    *shown = phone;
                }
            }
            stage => {
                let phone = phone.or(known);
                let text = match &phone {
                    Some(p) => format!("{label} linked: connected as {p}"),
                    None => format!("{label} linked: connected"),
                };
                *stage = Stage::Connected { phone, at: now };
                self.notify(Level::Ok, text);
            }
        }
    }

    /// The clock: the next code when its time has come, the stop after
    /// the last one, the close after "connected".
    pub(super) fn connect_tick(&mut self) -> Vec<Command> {
        let now = self.now;
        let Some(c) = self.overlays.connect.as_mut() else {
            return Vec::new();
        };
        match &c.stage {
            Stage::Connected { at, .. } if (now - *at).num_seconds() >= CLOSE_AFTER_SECS => {
                self.next_connect()
            }
            Stage::Code(code) if (now - code.at).num_seconds() >= QR_EVERY_SECS => {
                if code.n >= QR_MAX_CODES {
                    c.stage = Stage::Stopped;
                    return Vec::new();
                }
                let n = code.n + 1;
                let shown = match std::mem::replace(&mut c.stage, Stage::Stopped) {
                    Stage::Code(code) => Some(code),
                    _ => None,
                };
                c.stage = Stage::Fetching { n, shown };
                vec![Command::FetchQr(c.id.clone())]
            }
            _ => Vec::new(),
        }
    }
}

/// The detail pane's `/device` answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DeviceView {
    /// Not asked (no Client-Token, or not configured).
    #[default]
    Unavailable,
    Loading,
    Loaded {
        device: crate::zapi::Device,
        at: DateTime<Utc>,
    },
    Failed(String),
}
