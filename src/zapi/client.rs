//! [`ZapiClient`]: the REST calls, each retried with backoff (429, 5xx,
//! connection failures) and its errors scrubbed of tokens.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use crate::http_retry::{self, Failure};
use crate::model::{InstanceId, Secret};

use super::{
    ApiError, CLIENT_TOKEN, DEFAULT_RETRY_BASE, Hook, MAX_ERROR_CHARS, MAX_RETRY_DELAY, MAX_TRIES,
    Me, REQUEST_TIMEOUT, Status,
};

/// Client of the Z-API REST API. Cloning is cheap (a `reqwest::Client`
/// and an `Arc`).
#[derive(Clone)]
pub struct ZapiClient {
    http: reqwest::Client,
    inner: Arc<Inner>,
    retry_base: Duration,
}

struct Inner {
    base: Url,
    client_token: Secret,
    client_token_header: HeaderValue,
}

impl std::fmt::Debug for ZapiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapiClient")
            .field("base", &self.inner.base.as_str())
            .field("client_token", &self.inner.client_token)
            .field("retry_base", &self.retry_base)
            .finish()
    }
}

/// Parses the base URL of an HTTP API (Z-API's, or a remote `serve`'s):
/// http(s), with a host; a path prefix is kept, a query or fragment dropped.
/// `what` names it in the error.
pub fn base_url(what: &str, url: &str) -> Result<Url, ApiError> {
    let mut base =
        Url::parse(url.trim()).map_err(|e| ApiError::Config(format!("{what} `{url}`: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(ApiError::Config(format!(
            "{what} `{url}` must be an http:// or https:// URL"
        )));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::Config(format!("{what} `{url}` has no host")));
    }
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

impl ZapiClient {
    /// A client of the API at `api_base` (e.g. `https://api.z-api.io`; a
    /// trailing slash or a path prefix is fine) with the account's
    /// Client-Token. Requests time out after [`REQUEST_TIMEOUT`].
    pub fn new(api_base: &str, client_token: Secret) -> Result<Self, ApiError> {
        let base = base_url("API base URL", api_base)?;
        let mut client_token_header =
            HeaderValue::from_str(client_token.expose()).map_err(|_| {
                ApiError::Config("the Client-Token holds characters not allowed in a header".into())
            })?;
        client_token_header.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Config(describe_reqwest_error(e)))?;
        Ok(Self {
            http,
            inner: Arc::new(Inner {
                base,
                client_token,
                client_token_header,
            }),
            retry_base: DEFAULT_RETRY_BASE,
        })
    }

    /// Sets the base delay of the exponential backoff (default
    /// [`DEFAULT_RETRY_BASE`]); tests use a tiny one.
    pub fn with_retry_base(mut self, d: Duration) -> Self {
        self.retry_base = d;
        self
    }

    /// `GET …/status`: whether the instance is connected.
    pub async fn status(&self, id: &InstanceId, token: &Secret) -> Result<Status, ApiError> {
        let body = self.call(Method::GET, id, token, "status", None).await?;
        let mut status: Status =
            serde_json::from_slice(&body).map_err(|e| ApiError::Decode(format!("status: {e}")))?;
        if status.error.as_deref().is_some_and(str::is_empty) {
            status.error = None;
        }
        Ok(status)
    }

    /// `PUT …/update-webhook-*` with `{"value": url}` (plus `notifySentByMe`
    /// for [`Hook::Every`]).
    pub async fn update_webhook(
        &self,
        id: &InstanceId,
        token: &Secret,
        hook: Hook,
        url: &str,
    ) -> Result<(), ApiError> {
        let body = hook.body(url);
        let answer = self
            .call(Method::PUT, id, token, hook.action(), Some(&body))
            .await?;
        expect_value_true(&answer, hook.action())
    }

    /// Points the disconnected and connected webhooks of an instance at the
    /// listener: `{public_url}/hooks/disconnected` and `…/connected`, or,
    /// with a webhook secret, the instance's secret paths
    /// (see [`crate::listener::secret::hook_urls`]). Both calls run; if either fails,
    /// the first one's error (in that order) is returned, its text saying
    /// which webhook failed.
    pub async fn register_webhooks(
        &self,
        id: &InstanceId,
        token: &Secret,
        public_url: &str,
        secret: Option<&crate::listener::secret::WebhookSecret>,
    ) -> Result<(), ApiError> {
        let (disconnected_url, connected_url) =
            crate::listener::secret::hook_urls(public_url, secret, id);
        let (disconnected, connected) = tokio::join!(
            self.update_webhook(id, token, Hook::Disconnected, &disconnected_url),
            self.update_webhook(id, token, Hook::Connected, &connected_url),
        );
        disconnected.map_err(|e| e.context("registering the disconnected webhook failed"))?;
        connected.map_err(|e| e.context("registering the connected webhook failed"))?;
        Ok(())
    }

    /// `GET …/me`: instance data, including the webhook URLs registered now.
    pub async fn me(&self, id: &InstanceId, token: &Secret) -> Result<Me, ApiError> {
        let body = self.call(Method::GET, id, token, "me", None).await?;
        serde_json::from_slice(&body).map_err(|e| ApiError::Decode(format!("me: {e}")))
    }

    /// `GET …/restart`: restarts the instance.
    pub async fn restart(&self, id: &InstanceId, token: &Secret) -> Result<(), ApiError> {
        let body = self.call(Method::GET, id, token, "restart", None).await?;
        expect_value_true(&body, "restart")
    }

    /// `GET …/restore-session`: asks Z-API to restore the WhatsApp session.
    pub async fn restore_session(&self, id: &InstanceId, token: &Secret) -> Result<(), ApiError> {
        let body = self
            .call(Method::GET, id, token, "restore-session", None)
            .await?;
        expect_value_true(&body, "restore-session")
    }

    /// `{base}/instances/{id}/token/{token}/{action}`, each segment
    /// percent-encoded.
    fn url(&self, id: &InstanceId, token: &Secret, action: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Config("API base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["instances", id.as_str(), "token", token.expose()])
            .extend(action);
        Ok(url)
    }

    /// Sends one call with retries; returns the body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        id: &InstanceId,
        token: &Secret,
        action: &'static str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ApiError> {
        self.call_path(method, id, token, &[action], action, body)
            .await
    }

    /// [`Self::call`] of a path of several segments after the token
    /// (`qr-code/image`, `phone-code/{phone}`); `action` names it in logs.
    pub(super) async fn call_path(
        &self,
        method: Method,
        id: &InstanceId,
        token: &Secret,
        segments: &[&str],
        action: &'static str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let url = self.url(id, token, segments)?;
        let mut attempt = 1;
        loop {
            let (err, retry_after) = match self.try_once(&method, &url, body).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::NoRetry(e)) => return Err(self.scrub(e, token)),
                Err(Failure::Retry(e, retry_after)) => (e, retry_after),
            };
            let err = self.scrub(err, token);
            if attempt >= MAX_TRIES {
                tracing::debug!(action, attempt, error = %err, "Z-API call failed, giving up");
                return Err(err);
            }
            let delay = backoff_delay(self.retry_base, attempt, retry_after, rand::random());
            tracing::debug!(action, attempt, ?delay, error = %err, "Z-API call failed, retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn try_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Failure<ApiError>> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(CLIENT_TOKEN, self.inner.client_token_header.clone());
        if let Some(body) = body {
            // `json` also sets `Content-Type: application/json`.
            req = req.json(body);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                let retryable = e.is_connect();
                let err = ApiError::Network(describe_reqwest_error(e));
                return Err(if retryable {
                    Failure::Retry(err, None)
                } else {
                    Failure::NoRetry(err)
                });
            }
        };
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers());
        let bytes = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if status.is_success() => {
                return Err(Failure::NoRetry(ApiError::Network(describe_reqwest_error(
                    e,
                ))));
            }
            // An error answer whose body got lost: the status still says it all.
            Err(_) => Vec::new(),
        };
        if status.is_success() {
            return Ok(bytes);
        }
        let err = ApiError::Http {
            status: status.as_u16(),
            message: error_message(&bytes, status.canonical_reason()),
        };
        Err(if is_retryable_status(status) {
            Failure::Retry(err, retry_after)
        } else {
            Failure::NoRetry(err)
        })
    }

    /// Masks both tokens wherever they appear in an error's text (an
    /// answer body might echo them).
    fn scrub(&self, err: ApiError, token: &Secret) -> ApiError {
        err.masked(&[token, &self.inner.client_token])
    }
}

/// 429 and 5xx are worth another try.
pub(super) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (the HTTP-date form is ignored), capped at
/// [`MAX_RETRY_DELAY`].
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_DELAY))
}

/// Delay before try `attempt + 1` after try `attempt` (1-based) failed:
/// `Retry-After` when the server sent one, else `base · 2^(attempt-1)`
/// with "equal jitter" (half fixed, half scaled by `jitter` ∈ [0, 1)),
/// never above [`MAX_RETRY_DELAY`].
pub(super) fn backoff_delay(
    base: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    match retry_after {
        Some(d) => d.min(MAX_RETRY_DELAY),
        None => http_retry::backoff(base, MAX_RETRY_DELAY, attempt, jitter),
    }
}

/// The error text of a non-2xx answer: Z-API's `error` (or `message`) field
/// of a JSON body, else the trimmed body text, else the reason phrase; at
/// most [`MAX_ERROR_CHARS`] characters.
pub(super) fn error_message(body: &[u8], reason: Option<&str>) -> String {
    http_retry::error_text(body, reason, MAX_ERROR_CHARS, false)
}

/// Reads `{"value": true}`; `false` is [`ApiError::Refused`].
fn expect_value_true(body: &[u8], action: &str) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct ValueAnswer {
        value: bool,
    }
    let answer: ValueAnswer =
        serde_json::from_slice(body).map_err(|e| ApiError::Decode(format!("{action}: {e}")))?;
    if answer.value {
        Ok(())
    } else {
        match http_retry::json_error_field(body) {
            Some(detail) => {
                let detail: String = detail.chars().take(MAX_ERROR_CHARS).collect();
                Err(ApiError::Refused(format!("{action}: {detail}")))
            }
            None => Err(ApiError::Refused(action.to_owned())),
        }
    }
}

/// A transport error as text, its causes included, without the URL.
pub(super) fn describe_reqwest_error(e: reqwest::Error) -> String {
    http_retry::describe(e, REQUEST_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_message_prefers_error_then_message_then_text_then_reason() {
        assert_eq!(
            error_message(
                br#"{"error":"null not allowed","message":"x"}"#,
                Some("Bad Request")
            ),
            "null not allowed"
        );
        assert_eq!(
            error_message(br#"{"message":"Instance not found"}"#, Some("Bad Request")),
            "Instance not found"
        );
        assert_eq!(error_message(br#"{"error":"","message":"m"}"#, None), "m");
        assert_eq!(
            error_message(b"  upstream timeout \n", Some("Bad Gateway")),
            "upstream timeout"
        );
        assert_eq!(error_message(b"", Some("Bad Gateway")), "Bad Gateway");
        assert_eq!(error_message(b"   ", None), "no error text");
        // JSON without a usable field: the body text.
        assert_eq!(error_message(br#"{"error":42}"#, None), r#"{"error":42}"#);
    }

    #[test]
    fn error_message_is_capped() {
        let long = "é".repeat(500);
        let msg = error_message(long.as_bytes(), None);
        assert_eq!(msg.chars().count(), MAX_ERROR_CHARS);
        let json = serde_json::to_vec(&json!({ "error": "x".repeat(1000) })).unwrap();
        assert_eq!(error_message(&json, None).len(), MAX_ERROR_CHARS);
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff_delay(base, 1, None, 0.0), Duration::from_millis(50));
        assert_eq!(
            backoff_delay(base, 1, None, 1.0),
            Duration::from_millis(100)
        );
        assert_eq!(
            backoff_delay(base, 2, None, 0.0),
            Duration::from_millis(100)
        );
        assert_eq!(
            backoff_delay(base, 3, None, 0.5),
            Duration::from_millis(300)
        );
        for attempt in 1..5 {
            let exp = base * (1 << (attempt - 1));
            for jitter in [0.0, 0.3, 0.999] {
                let d = backoff_delay(base, attempt, None, jitter);
                assert!(d >= exp / 2 && d <= exp, "{attempt} {jitter} {d:?}");
            }
        }
        // Out-of-range jitter is clamped; huge attempts saturate at the cap.
        assert_eq!(
            backoff_delay(base, 1, None, 7.0),
            Duration::from_millis(100)
        );
        assert_eq!(
            backoff_delay(Duration::from_secs(10), 40, None, 1.0),
            MAX_RETRY_DELAY
        );
    }

    #[test]
    fn backoff_honours_retry_after_up_to_the_cap() {
        let base = Duration::from_secs(3600);
        assert_eq!(
            backoff_delay(base, 1, Some(Duration::ZERO), 0.9),
            Duration::ZERO
        );
        assert_eq!(
            backoff_delay(base, 2, Some(Duration::from_secs(2)), 0.9),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff_delay(base, 1, Some(Duration::from_secs(3600)), 0.0),
            MAX_RETRY_DELAY
        );
    }

    #[test]
    fn retry_after_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(parse_retry_after(&h), Some(MAX_RETRY_DELAY));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(is_retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_retryable_status(StatusCode::BAD_REQUEST));
        assert!(!is_retryable_status(StatusCode::NOT_FOUND));
        assert!(!is_retryable_status(StatusCode::METHOD_NOT_ALLOWED));
    }

    #[test]
    fn value_answers() {
        assert_eq!(expect_value_true(br#"{"value":true}"#, "restart"), Ok(()));
        assert_eq!(
            expect_value_true(br#"{"value":false}"#, "restart"),
            Err(ApiError::Refused("restart".into()))
        );
        assert_eq!(
            expect_value_true(br#"{"value":false,"error":"busy"}"#, "restart"),
            Err(ApiError::Refused("restart: busy".into()))
        );
        assert!(matches!(
            expect_value_true(b"<html>", "restart"),
            Err(ApiError::Decode(_))
        ));
        assert!(matches!(
            expect_value_true(br#"{"other":1}"#, "restart"),
            Err(ApiError::Decode(_))
        ));
    }

    #[test]
    fn urls_are_percent_encoded_and_base_slash_tolerated() {
        for base in ["http://127.0.0.1:1234", "http://127.0.0.1:1234/"] {
            let c = ZapiClient::new(base, Secret::new("ct")).unwrap();
            let url = c
                .url(
                    &InstanceId::new("a/b c"),
                    &Secret::new("t?k#1"),
                    &["status"],
                )
                .unwrap();
            assert_eq!(
                url.as_str(),
                "http://127.0.0.1:1234/instances/a%2Fb%20c/token/t%3Fk%231/status"
            );
        }
        let c = ZapiClient::new("https://proxy.example/zapi/", Secret::new("ct")).unwrap();
        let url = c
            .url(&InstanceId::new("I"), &Secret::new("T"), &["me"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://proxy.example/zapi/instances/I/token/T/me"
        );
    }

    #[test]
    fn bad_setup_is_a_config_error() {
        assert!(matches!(
            ZapiClient::new("not a url", Secret::new("ct")),
            Err(ApiError::Config(_))
        ));
        assert!(matches!(
            ZapiClient::new("ftp://example.com", Secret::new("ct")),
            Err(ApiError::Config(_))
        ));
        assert!(matches!(
            ZapiClient::new("https://api.z-api.io", Secret::new("bad\ntoken")),
            Err(ApiError::Config(_))
        ));
    }

    #[test]
    fn scrub_masks_tokens_and_debug_hides_client_token() {
        let c = ZapiClient::new("https://api.z-api.io", Secret::new("CLIENTSECRET")).unwrap();
        let e = c.scrub(
            ApiError::Http {
                status: 400,
                message: "token INSTSECRET and CLIENTSECRET rejected".into(),
            },
            &Secret::new("INSTSECRET"),
        );
        let text = e.to_string();
        assert!(
            !text.contains("INSTSECRET") && !text.contains("CLIENTSECRET"),
            "{text}"
        );
        assert!(text.contains("INST…"), "{text}");
        assert!(!format!("{c:?}").contains("CLIENTSECRET"));
    }
}
