//! One delivery attempt: the original body POSTed to the target with the
//! `webhook-*` headers, and how it ended.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use crate::http_retry;

/// The longest `Retry-After` honoured (a larger one is taken as this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Most characters of a target's error text kept.
const MAX_ERROR_CHARS: usize = 200;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered 2xx.
    Delivered,
    /// Anything else: a status, a timeout, a refused connection.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// The stable `webhook-id` of a record: the same for every attempt and
/// after a restart, so the receiver can drop repeats.
pub fn webhook_id(seq: u64, fp: u64) -> String {
    format!("msg_zd{seq}_{fp:016x}")
}

/// What one attempt sends.
pub struct Attempt<'a> {
    pub url: &'a str,
    pub webhook_id: &'a str,
    pub body: Vec<u8>,
    /// The HMAC key when the target signs ([`super::sign::key_bytes`]).
    pub key: Option<&'a [u8]>,
    pub timeout: Duration,
}

/// POSTs `attempt.body` as it is, with `Content-Type: application/json`,
/// `webhook-id`, `webhook-timestamp` and, when signing, `webhook-signature`.
pub async fn post(client: &reqwest::Client, attempt: Attempt<'_>) -> Outcome {
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = client
        .post(attempt.url)
        .timeout(attempt.timeout)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header("webhook-id", attempt.webhook_id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(key) = attempt.key {
        let signature = super::sign::signature(key, attempt.webhook_id, timestamp, &attempt.body);
        request = request.header("webhook-signature", signature);
    }
    let response = match request.body(attempt.body).send().await {
        Ok(response) => response,
        Err(e) => {
            return Outcome::Failed {
                error: http_retry::describe(e, attempt.timeout),
                retry_after: None,
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered;
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    let body = response.bytes().await.unwrap_or_default();
    Outcome::Failed {
        error: status_error(status, &body),
        retry_after,
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> String {
    let text = http_retry::error_text(body, status.canonical_reason(), MAX_ERROR_CHARS, true);
    format!("HTTP {}: {text}", status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_ids_are_stable_and_distinct() {
        assert_eq!(webhook_id(7, 0xab), webhook_id(7, 0xab));
        assert_ne!(webhook_id(7, 0xab), webhook_id(8, 0xab));
        assert_eq!(webhook_id(7, 0xab), "msg_zd7_00000000000000ab");
    }
}
