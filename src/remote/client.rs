//! [`RemoteApi`]: the server's HTTP API, for the action keys and the
//! event stream's connection.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::http_retry;
use crate::model::Status;
use crate::model::{InstanceId, Secret};
use crate::zapi::ApiError;

use super::REQUEST_TIMEOUT;

/// Longest error text kept from an answer body.
const MAX_ERROR_CHARS: usize = 200;

/// The remote server's HTTP API. Cloning is cheap.
#[derive(Clone)]
pub struct RemoteApi {
    base: Url,
    token: Secret,
    auth: HeaderValue,
    /// For the actions: every request times out after [`REQUEST_TIMEOUT`].
    pub(super) http: reqwest::Client,
    /// For the event stream: no overall timeout (it is meant to last).
    stream: reqwest::Client,
}

impl std::fmt::Debug for RemoteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteApi")
            .field("base", &self.display_url())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// `{"ok":true,"status":{…}}`
#[derive(Deserialize)]
struct StatusAnswer {
    status: Status,
}

impl RemoteApi {
    /// The API of the server at `remote` (`http://host:port`, or with a path
    /// prefix behind a reverse proxy), with its API token.
    pub fn new(remote: &str, token: Secret) -> Result<Self, ApiError> {
        let base = crate::zapi::base_url("server URL", remote)?;
        if token.expose().trim().is_empty() {
            return Err(ApiError::Config("the API token is empty".into()));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
            .map_err(|_| {
                ApiError::Config("the API token holds characters not allowed in a header".into())
            })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Config(describe(e)))?;
        let stream = reqwest::Client::builder()
            .connect_timeout(REQUEST_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Config(describe(e)))?;
        Ok(Self {
            base,
            token,
            auth,
            http,
            stream,
        })
    }

    /// The server's URL as shown on screen: without any user or password.
    pub fn display_url(&self) -> String {
        let mut url = self.base.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.as_str().trim_end_matches('/').to_string()
    }

    /// `POST /api/instances/{id}/status`: the server asks Z-API.
    pub async fn status(&self, id: &InstanceId) -> Result<Status, ApiError> {
        let body = self.action(id, "status").await?;
        let answer: StatusAnswer = serde_json::from_slice(&body)
            .map_err(|e| ApiError::Decode(format!("status answer of the server: {e}")))?;
        let mut status = answer.status;
        if status.error.as_deref().is_some_and(str::is_empty) {
            status.error = None;
        }
        Ok(status)
    }

    /// `POST /api/instances/{id}/register`: the server re-registers the
    /// instance's webhooks on Z-API.
    /// `replace`: the operator confirmed replacing another system's webhook
    /// URL (`?replace=true`); without it the server refuses (409) to.
    pub async fn register(&self, id: &InstanceId, replace: bool) -> Result<(), ApiError> {
        if !replace {
            return self.action(id, "register").await.map(drop);
        }
        self.register_with(id, "replace").await
    }

    /// `POST /api/instances/{id}/register?adopt=true`: the server adopts the
    /// URLs registering replaces as forward targets of its relay (`y` in
    /// the replace popup), then registers.
    pub async fn register_adopting(&self, id: &InstanceId) -> Result<(), ApiError> {
        self.register_with(id, "adopt").await
    }

    async fn register_with(&self, id: &InstanceId, flag: &str) -> Result<(), ApiError> {
        let mut url = self.url(&["instances", id.as_str(), "register"])?;
        url.query_pairs_mut().append_pair(flag, "true");
        self.send(self.http.post(url)).await.map(drop)
    }

    /// `POST /api/instances/{id}/restart`.
    pub async fn restart(&self, id: &InstanceId) -> Result<(), ApiError> {
        self.action(id, "restart").await.map(drop)
    }

    /// `POST /api/instances/{id}/restore-session`.
    pub async fn restore_session(&self, id: &InstanceId) -> Result<(), ApiError> {
        self.action(id, "restore-session").await.map(drop)
    }

    /// `GET /api/instances/{id}/history`: the instance's newest events from
    /// the server's log, newest first.
    pub async fn history(&self, id: &InstanceId) -> Result<Vec<crate::model::Event>, ApiError> {
        let url = self.url(&["instances", id.as_str(), "history"])?;
        let body = self.send(self.http.get(url)).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Decode(format!("history answer of the server: {e}")))
    }

    /// `{base}/api/…`, each segment percent-encoded.
    pub(super) fn url(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Config("the server URL cannot take a path".into()))?
            .pop_if_empty()
            .push("api")
            .extend(segments);
        Ok(url)
    }

    /// One POST; the body of a 2xx answer, or the error with the server's text.
    async fn action(&self, id: &InstanceId, action: &str) -> Result<Vec<u8>, ApiError> {
        let url = self.url(&["instances", id.as_str(), action])?;
        self.send(self.http.post(url)).await
    }

    /// Sends a request with the token; the body of a 2xx answer, or the
    /// error with the server's text.
    pub(super) async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, ApiError> {
        let resp = req
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ApiError::Network(self.scrub(describe(e))))?;
        let status = resp.status();
        let body = resp.bytes().await;
        match body {
            Ok(body) if status.is_success() => Ok(body.to_vec()),
            Err(e) if status.is_success() => Err(ApiError::Network(self.scrub(describe(e)))),
            body => Err(ApiError::Http {
                status: status.as_u16(),
                message: self.scrub(error_message(body.as_deref().unwrap_or_default(), status)),
            }),
        }
    }

    /// Masks the token wherever it appears in a text (an answer might echo it).
    pub(super) fn scrub(&self, text: String) -> String {
        let token = self.token.expose().trim();
        if !token.is_empty() && text.contains(token) {
            text.replace(token, &self.token.to_string())
        } else {
            text
        }
    }

    /// Opens the event stream, resuming after `last_seq` if there is one.
    pub(super) async fn connect(
        &self,
        last_seq: Option<u64>,
    ) -> Result<reqwest::Response, Failure> {
        let url = self
            .url(&["events"])
            .map_err(|e| Failure::NoRetry(e.to_string()))?;
        let mut req = self
            .stream
            .get(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(seq) = last_seq {
            req = req.header("Last-Event-ID", seq.to_string());
        }
        let resp = match tokio::time::timeout(REQUEST_TIMEOUT, req.send()).await {
            Err(_) => {
                return Err(Failure::Retry(
                    format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
                    None,
                ));
            }
            Ok(Err(e)) => return Err(Failure::Retry(self.scrub(describe(e)), None)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = read_bounded(resp, 64 << 10).await;
            let mut text = ApiError::Http {
                status: status.as_u16(),
                message: self.scrub(error_message(&body, status)),
            }
            .to_string();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    text.push_str(" (check --api-token or ZAPI_DASH_API_TOKEN)");
                    Failure::NoRetry(text)
                }
                StatusCode::NOT_FOUND => {
                    text.push_str(" (is api_token set in the server's config?)");
                    Failure::NoRetry(text)
                }
                StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                    Failure::Retry(text, None)
                }
                s if s.is_client_error() => Failure::NoRetry(text),
                _ => Failure::Retry(text, None),
            });
        }
        let is_stream = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return Err(Failure::NoRetry(format!(
                "{} answered, but not with an event stream: is it a zapi-dash serve?",
                self.display_url()
            )));
        }
        Ok(resp)
    }
}

/// The error text of a non-2xx answer: the `error` field of a JSON body,
/// else the trimmed body text, else the reason phrase; at most
/// [`MAX_ERROR_CHARS`] characters.
fn error_message(body: &[u8], status: StatusCode) -> String {
    http_retry::error_text(body, status.canonical_reason(), MAX_ERROR_CHARS, true)
}

/// A transport error's text, without the URL, with its causes.
pub(super) fn describe(e: reqwest::Error) -> String {
    if e.is_connect() && !e.is_timeout() {
        // the deepest cause says it best ("Connection refused (os error 111)")
        let mut root = std::error::Error::source(&e);
        while let Some(cause) = root.and_then(std::error::Error::source) {
            root = Some(cause);
        }
        return match root {
            Some(cause) => format!("cannot connect: {cause}"),
            None => "cannot connect".into(),
        };
    }
    http_retry::describe(e, REQUEST_TIMEOUT)
}

/// At most `limit` bytes of an answer body, within [`REQUEST_TIMEOUT`].
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= limit {
                body.truncate(limit);
                break;
            }
        }
    };
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, read).await;
    body
}

/// Why a connection attempt failed: worth retrying soon (network, 5xx:
/// the backoff), or refused by the server (401, 404, …: retried slowly).
pub(super) type Failure = http_retry::Failure<String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_path_prefix_and_encode_ids() {
        let api = RemoteApi::new(
            "https://u:p@dash.example.com/zapi/",
            Secret::new("T0KEN-0123456789abc"),
        )
        .unwrap();
        assert_eq!(
            api.url(&["instances", "A/B", "register"]).unwrap().path(),
            "/zapi/api/instances/A%2FB/register"
        );
        assert_eq!(api.display_url(), "https://dash.example.com/zapi");
        assert!(!format!("{api:?}").contains("0123456789"));
        assert!(RemoteApi::new("ftp://x", Secret::new("t")).is_err());
        assert!(RemoteApi::new("http://x", Secret::new(" ")).is_err());
        assert!(RemoteApi::new("not a url", Secret::new("t")).is_err());
    }

    #[test]
    fn error_text_comes_from_the_json_error_field() {
        assert_eq!(
            error_message(
                br#"{"error":"instance is not configured"}"#,
                StatusCode::CONFLICT
            ),
            "instance is not configured"
        );
        assert_eq!(error_message(b"", StatusCode::BAD_GATEWAY), "Bad Gateway");
        assert_eq!(
            error_message(b" plain \n", StatusCode::BAD_GATEWAY),
            "plain"
        );
        assert_eq!(
            error_message(&[b'x'; 500], StatusCode::BAD_GATEWAY)
                .chars()
                .count(),
            MAX_ERROR_CHARS
        );
    }
}
