//! Domain types shared by every part of zapi-dash: instance ids, secrets,
//! webhook events and the time of an event.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A Z-API instance id as it appears in webhooks and the config.
///
/// Ids come from the network, so they are only ever shown through
/// [`crate::ui::sanitize`]; this type does not trust its content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub String);

impl InstanceId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token (instance token or account Client-Token). `Debug` and `Display`
/// show only the first four characters, so a secret cannot reach a log line
/// or the screen by accident; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that must send it (an HTTP request).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.0.chars().take(4).collect();
        write!(f, "{head}…")
    }
}

/// Connection state of an instance as the dashboard believes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnState {
    Connected,
    Disconnected,
    #[default]
    Unknown,
}

impl ConnState {
    pub fn word(self) -> &'static str {
        match self {
            ConnState::Connected => "connected",
            ConnState::Disconnected => "disconnected",
            ConnState::Unknown => "unknown",
        }
    }
}

/// What a webhook said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// `DisconnectedCallback`: the instance lost WhatsApp.
    Disconnected { error: Option<String> },
    /// `ConnectedCallback`: the instance (re)connected.
    Connected { phone: Option<String> },
    /// Any other callback type (message traffic, presence...): proof of life.
    Activity { callback: String },
}

impl EventKind {
    /// The state this event implies, if any (activity implies none).
    pub fn state(&self) -> Option<ConnState> {
        match self {
            EventKind::Disconnected { .. } => Some(ConnState::Disconnected),
            EventKind::Connected { .. } => Some(ConnState::Connected),
            EventKind::Activity { .. } => None,
        }
    }

    /// Short label for history and logs.
    pub fn label(&self) -> &str {
        match self {
            EventKind::Disconnected { .. } => "DisconnectedCallback",
            EventKind::Connected { .. } => "ConnectedCallback",
            EventKind::Activity { callback } => callback,
        }
    }
}

/// One accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub instance_id: InstanceId,
    #[serde(flatten)]
    pub kind: EventKind,
    /// When Z-API says it happened (`momment`), or the receipt time when absent.
    pub moment: DateTime<Utc>,
    /// When the listener received it.
    pub received: DateTime<Utc>,
}

/// Values of `momment` above this are milliseconds, below are seconds
/// (10^11 seconds is the year 5138; 10^11 ms is 1973).
pub const MOMENT_MS_THRESHOLD: i64 = 100_000_000_000;

/// Interprets Z-API's `momment`: seconds or milliseconds since the epoch.
/// Returns `None` for values outside chrono's range.
pub fn moment_from_raw(raw: i64) -> Option<DateTime<Utc>> {
    if raw.unsigned_abs() > MOMENT_MS_THRESHOLD.unsigned_abs() {
        Utc.timestamp_millis_opt(raw).single()
    } else {
        Utc.timestamp_opt(raw, 0).single()
    }
}

/// Event kinds with the text that encoders get wrong (quotes, backslashes,
/// control characters, non-ASCII), for the tests of every hand-written
/// encoder.
#[cfg(test)]
pub(crate) fn awkward_kinds() -> Vec<EventKind> {
    vec![
        EventKind::Disconnected { error: None },
        EventKind::Disconnected {
            error: Some("Device has been disconnected".into()),
        },
        EventKind::Disconnected {
            error: Some("quote \" and \\ and \n\u{1b}[2J".into()),
        },
        EventKind::Connected { phone: None },
        EventKind::Connected {
            phone: Some("5544999999999".into()),
        },
        EventKind::Activity {
            callback: "ReceivedCallback".into(),
        },
        EventKind::Activity {
            callback: "ação/日本\u{7f}".into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_masked_in_debug_and_display() {
        let s = Secret::new("ABCDEFGHIJKLMNOP");
        assert_eq!(format!("{s}"), "ABCD…");
        assert_eq!(format!("{s:?}"), "ABCD…");
        assert!(!format!("{:?}", Some(&s)).contains("EFGH"));
        assert_eq!(s.expose(), "ABCDEFGHIJKLMNOP");
    }

    #[test]
    fn moment_seconds_and_millis() {
        let secs = moment_from_raw(1_580_163_342).unwrap();
        assert_eq!(secs.timestamp(), 1_580_163_342);
        let ms = moment_from_raw(1_632_228_638_000).unwrap();
        assert_eq!(ms.timestamp(), 1_632_228_638);
        // 26151515154 (from the docs' connected example) is below the
        // threshold, so seconds: the year 2798, still a valid date.
        assert!(moment_from_raw(26_151_515_154).is_some());
        assert!(moment_from_raw(i64::MAX).is_none());
        assert!(moment_from_raw(i64::MIN).is_none());
    }
}

/// Answer of `GET …/status`.
///
/// The client turns Z-API's empty `error` string (sent when all is well)
/// into `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Whether the instance is connected to WhatsApp.
    pub connected: bool,
    /// Why not, e.g. `"You are not connected."`.
    #[serde(default)]
    pub error: Option<String>,
    /// Whether the phone itself is online.
    #[serde(default)]
    pub smartphone_connected: Option<bool>,
}
