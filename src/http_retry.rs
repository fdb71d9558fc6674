//! What the two HTTP clients — Z-API's ([`crate::zapi`]) and a remote
//! `serve`'s ([`crate::remote`]) — share, written once: how one failed try
//! is classed, the exponential backoff with jitter, the error text of an
//! answer, and a transport error described without its URL.

use std::time::Duration;

use serde_json::Value;

/// How one failed try ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// Worth another try soon (network, 429, 5xx), after `Retry-After` if
    /// the server sent one.
    Retry(E, Option<Duration>),
    /// Not worth a quick retry (the server said no, a bad request): Z-API
    /// calls give up, the remote feed tries again slowly.
    NoRetry(E),
}

/// The delay after failed try number `attempt` (1-based): `base` doubling
/// up to `cap`, with "equal jitter" — half fixed, half scaled by `jitter` ∈
/// [0, 1) — so clients cut off together do not all come back at once.
pub fn backoff(base: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let half = exp / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// The error text of a non-2xx answer: the `error` (else `message`) field
/// of a JSON body, else the trimmed body text, else `reason`; at most `max`
/// characters (the last one `…` when `ellipsis` and it was cut).
pub fn error_text(body: &[u8], reason: Option<&str>, max: usize, ellipsis: bool) -> String {
    let text =
        json_error_field(body).unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let text = if text.is_empty() {
        reason.unwrap_or("no error text").to_owned()
    } else {
        text
    };
    if text.chars().count() <= max {
        text
    } else if ellipsis {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        text.chars().take(max).collect()
    }
}

/// The non-empty `error` (else `message`) string field of a JSON body.
pub fn json_error_field(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    ["error", "message"].iter().find_map(|k| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
}

/// A transport error as text, its causes included, without the URL (which
/// may hold a token); a timeout says after how long.
pub fn describe(e: reqwest::Error, timeout: Duration) -> String {
    let e = e.without_url();
    let mut text = if e.is_timeout() {
        format!("timed out after {} s", timeout.as_secs())
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
