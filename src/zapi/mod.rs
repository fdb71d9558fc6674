//! Z-API REST client: connection status, instance data, webhook
//! registration, restart and session restore.
//!
//! Every call carries the account's `Client-Token` header. The request URL
//! holds the instance token, so no URL ever reaches an error or a log line:
//! transport errors are stripped of their URL ([`reqwest::Error::without_url`])
//! and every error text is scrubbed of both tokens before it leaves this
//! module.
//!
//! 429, 5xx and connection failures are retried with exponential backoff and
//! jitter (or the server's `Retry-After`), at most [`MAX_TRIES`] tries in all;
//! other errors fail at once.

use std::time::Duration;

use reqwest::header::HeaderName;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

mod client;
mod connect;
pub mod partner;

pub use client::{ZapiClient, base_url};
pub use connect::{Device, PHONE_DIGITS, QrAnswer, check_phone, read_phone_code, read_qr_answer};
pub use partner::{Listed, PartnerClient};

/// Timeout of one HTTP request (connect + answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per call, the first one included.
pub const MAX_TRIES: u32 = 3;
/// Default base delay of the exponential backoff.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest wait between two tries, whatever `Retry-After` asks for.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// Longest error text kept from an answer body.
pub const MAX_ERROR_CHARS: usize = 200;

const CLIENT_TOKEN: HeaderName = HeaderName::from_static("client-token");

use crate::model::Status;

/// A failed Z-API call. The text never contains the request URL (which
/// holds the instance token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Z-API answered with an error status; `message` is its error text.
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// No answer: connection refused, timeout, TLS...
    #[error("network: {0}")]
    Network(String),
    /// An answer we could not read.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// 200 but `{"value": false}`.
    #[error("Z-API refused ({0})")]
    Refused(String),
    /// The client could not be built: bad API base URL or Client-Token.
    #[error("invalid Z-API client setup: {0}")]
    Config(String),
}

impl ApiError {
    /// The same error with `what` put in front of its text, e.g. which
    /// webhook failed to register.
    fn context(self, what: &str) -> ApiError {
        match self {
            ApiError::Http { status, message } => ApiError::Http {
                status,
                message: format!("{what}: {message}"),
            },
            ApiError::Network(m) => ApiError::Network(format!("{what}: {m}")),
            ApiError::Decode(m) => ApiError::Decode(format!("{what}: {m}")),
            ApiError::Refused(m) => ApiError::Refused(format!("{what}: {m}")),
            ApiError::Config(m) => ApiError::Config(format!("{what}: {m}")),
        }
    }
}

/// Which webhook `update_webhook` points at a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `update-webhook-disconnected`.
    Disconnected,
    /// `update-webhook-connected`.
    Connected,
    /// `update-every-webhooks`: every webhook of the instance, message
    /// traffic included, goes to one URL.
    Every {
        /// Also notify messages sent by the instance itself.
        notify_sent_by_me: bool,
    },
}

impl Hook {
    /// The last path segment of the call.
    pub fn action(self) -> &'static str {
        match self {
            Hook::Disconnected => "update-webhook-disconnected",
            Hook::Connected => "update-webhook-connected",
            Hook::Every { .. } => "update-every-webhooks",
        }
    }

    fn body(self, url: &str) -> Value {
        match self {
            Hook::Every { notify_sent_by_me } => {
                json!({ "value": url, "notifySentByMe": notify_sent_by_me })
            }
            Hook::Disconnected | Hook::Connected => json!({ "value": url }),
        }
    }
}

/// Answer of `GET …/me` (the fields the dashboard uses; others are
/// ignored). Empty strings are read as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The instance's name in the Z-API panel.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub name: Option<String>,
    /// Whether the instance is connected to WhatsApp.
    #[serde(default)]
    pub connected: Option<bool>,
    /// URL registered for `DisconnectedCallback`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub disconnected_callback_url: Option<String>,
    /// URL registered for `ConnectedCallback`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub connected_callback_url: Option<String>,
    /// URL registered for `ReceivedCallback`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub received_callback_url: Option<String>,
    /// Whether messages the instance sends are notified too
    /// (`notifySentByMe`), kept as it is by `register_all_types`.
    #[serde(default)]
    pub receive_callback_sent_by_me: Option<bool>,
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn me_reads_empty_urls_as_none_and_ignores_unknown_fields() {
        let me: Me = serde_json::from_value(json!({
            "name": "Sales", "connected": true, "due": 1,
            "disconnectedCallbackUrl": "https://x/hooks/disconnected",
            "connectedCallbackUrl": "", "receivedCallbackUrl": null
        }))
        .unwrap();
        assert_eq!(me.name.as_deref(), Some("Sales"));
        assert_eq!(me.connected, Some(true));
        assert_eq!(
            me.disconnected_callback_url.as_deref(),
            Some("https://x/hooks/disconnected")
        );
        assert_eq!(me.connected_callback_url, None);
        assert_eq!(me.received_callback_url, None);
    }

    #[test]
    fn error_context_prefixes_every_variant() {
        let e = ApiError::Http {
            status: 400,
            message: "m".into(),
        }
        .context("what");
        assert_eq!(e.to_string(), "HTTP 400: what: m");
        assert_eq!(
            ApiError::Network("n".into()).context("w").to_string(),
            "network: w: n"
        );
    }
}
