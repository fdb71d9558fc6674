//! Z-API REST client. (stub: being written)

use serde::{Deserialize, Serialize};

/// Answer of `GET …/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub connected: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub smartphone_connected: Option<bool>,
}

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
}
