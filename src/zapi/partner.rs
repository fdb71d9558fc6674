//! [`PartnerClient`]: Z-API's partner (integrator) API, `GET
//! {api_base}/instances?page=N&pageSize=M` with `Authorization: Bearer
//! <partner token>`: every instance of an account, with its token, its
//! webhook URLs and whether WhatsApp is connected, page after page until
//! `totalPage`. Each page is retried like any call (429, 5xx, connection
//! failures, with backoff); a page that still fails fails the whole listing,
//! so a half listing is never taken for the account's instances.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Deserializer};

use crate::http_retry::Failure;
use crate::model::Secret;

use super::client::{
    backoff_delay, base_url, describe_reqwest_error, error_message, is_retryable_status,
    parse_retry_after,
};
use super::{ApiError, DEFAULT_RETRY_BASE, MAX_TRIES, REQUEST_TIMEOUT};

/// Instances asked per page: Z-API's docs name no limit; 1,000 keeps a
/// fleet of 10,000 to ten calls.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// Pages read at most in one listing (a server that never stops counting
/// pages does not keep us reading).
pub const MAX_PAGES: u32 = 1000;

/// One instance of the listing. `Debug` masks the token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub id: String,
    pub token: Secret,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub name: Option<String>,
    /// Expiry, milliseconds since the epoch.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub due: Option<i64>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub payment_status: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub disconnected_callback_url: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub connected_callback_url: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub received_callback_url: Option<String>,
    #[serde(default)]
    pub phone_connected: Option<bool>,
    #[serde(default)]
    pub whatsapp_connected: Option<bool>,
}

/// One page of the listing.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub total_page: Option<u32>,
    #[serde(default)]
    pub content: Vec<Listed>,
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// A number, a numeric string or null (fields are typed loosely in practice).
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Client of one account's partner listing.
#[derive(Clone)]
pub struct PartnerClient {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    bearer: HeaderValue,
    retry_base: Duration,
}

impl std::fmt::Debug for PartnerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerClient")
            .field("base", &self.base.as_str())
            .field("token", &self.token)
            .finish()
    }
}

impl PartnerClient {
    pub fn new(api_base: &str, partner_token: Secret) -> Result<Self, ApiError> {
        let base = base_url("API base URL", api_base)?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", partner_token.expose()))
            .map_err(|_| {
                ApiError::Config(
                    "the partner token holds characters not allowed in a header".into(),
                )
            })?;
        bearer.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Config(describe_reqwest_error(e)))?;
        Ok(Self {
            http,
            base,
            token: partner_token,
            bearer,
            retry_base: DEFAULT_RETRY_BASE,
        })
    }

    /// The base delay of the backoff between tries of a page (tests use a tiny one).
    pub fn with_retry_base(mut self, d: Duration) -> Self {
        self.retry_base = d;
        self
    }

    /// Every instance of the account (matching `query`, if any): page 1,
    /// then each page up to `totalPage`.
    pub async fn list_all(
        &self,
        page_size: usize,
        query: Option<&str>,
    ) -> Result<Vec<Listed>, ApiError> {
        let first = self.page(1, page_size, query).await?;
        let pages = first.total_page.unwrap_or(1).min(MAX_PAGES);
        let mut all = first.content;
        if let Some(total) = first.total {
            all.reserve(usize::try_from(total).unwrap_or(0).min(1_000_000));
        }
        for page in 2..=pages {
            let next = self
                .page(page, page_size, query)
                .await
                .map_err(|e| e.context(&format!("page {page} of {pages}")))?;
            if next.content.is_empty() {
                break;
            }
            all.extend(next.content);
        }
        Ok(all)
    }

    /// One page, retried with backoff.
    pub async fn page(
        &self,
        page: u32,
        page_size: usize,
        query: Option<&str>,
    ) -> Result<Page, ApiError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Config("API base URL cannot take a path".into()))?
            .pop_if_empty()
            .push("instances");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("page", &page.to_string());
            q.append_pair("pageSize", &page_size.to_string());
            if let Some(query) = query.filter(|q| !q.is_empty()) {
                q.append_pair("query", query);
            }
        }
        let mut attempt = 1;
        loop {
            let (err, retry_after) = match self.try_once(&url).await {
                Ok(body) => {
                    return serde_json::from_slice(&body)
                        .map_err(|e| self.scrub(ApiError::Decode(format!("instances: {e}"))));
                }
                Err(Failure::NoRetry(e)) => return Err(self.scrub(e)),
                Err(Failure::Retry(e, retry_after)) => (self.scrub(e), retry_after),
            };
            if attempt >= MAX_TRIES {
                return Err(err);
            }
            let delay = backoff_delay(self.retry_base, attempt, retry_after, rand::random());
            tracing::debug!(page, attempt, ?delay, error = %err, "partner listing failed, retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn try_once(&self, url: &Url) -> Result<Vec<u8>, Failure<ApiError>> {
        let resp = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, self.bearer.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .send()
            .await;
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => {
                let retry = e.is_connect() || e.is_timeout();
                let err = ApiError::Network(describe_reqwest_error(e));
                return Err(if retry {
                    Failure::Retry(err, None)
                } else {
                    Failure::NoRetry(err)
                });
            }
        };
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers());
        let bytes = resp.bytes().await.map(|b| b.to_vec());
        match bytes {
            Ok(bytes) if status.is_success() => Ok(bytes),
            Err(e) if status.is_success() => Err(Failure::Retry(
                ApiError::Network(describe_reqwest_error(e)),
                None,
            )),
            other => {
                let body = other.unwrap_or_default();
                let err = ApiError::Http {
                    status: status.as_u16(),
                    message: error_message(&body, status.canonical_reason()),
                };
                Err(if is_retryable_status(status) {
                    Failure::Retry(err, retry_after)
                } else if status == StatusCode::UNAUTHORIZED {
                    Failure::NoRetry(err.context_401())
                } else {
                    Failure::NoRetry(err)
                })
            }
        }
    }

    fn scrub(&self, err: ApiError) -> ApiError {
        err.masked(&[&self.token])
    }
}

impl ApiError {
    /// A 401 of the listing: the partner token is to check.
    fn context_401(self) -> ApiError {
        match self {
            ApiError::Http { status, message } => ApiError::Http {
                status,
                message: format!("{message} (check partner_token)"),
            },
            other => other,
        }
    }

    /// The error with each secret masked wherever it appears in its text.
    pub(crate) fn masked(self, secrets: &[&Secret]) -> ApiError {
        let clean = |mut s: String| {
            for secret in secrets {
                if !secret.is_empty() && s.contains(secret.expose()) {
                    s = s.replace(secret.expose(), &secret.to_string());
                }
            }
            s
        };
        match self {
            ApiError::Http { status, message } => ApiError::Http {
                status,
                message: clean(message),
            },
            ApiError::Network(m) => ApiError::Network(clean(m)),
            ApiError::Decode(m) => ApiError::Decode(clean(m)),
            ApiError::Refused(m) => ApiError::Refused(clean(m)),
            ApiError::Config(m) => ApiError::Config(clean(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_instance_reads_loose_fields_and_masks_its_token() {
        let l: Listed = serde_json::from_value(serde_json::json!({
            "id": "A", "token": "SECRETTOKEN123", "name": "", "due": "1893456000000",
            "paymentStatus": "RECEIVED", "disconnectedCallbackUrl": "",
            "connectedCallbackUrl": "https://x/hooks/connected", "whatsappConnected": true,
            "phoneConnected": null, "middleware": "web", "extra": [1]
        }))
        .unwrap();
        assert_eq!(l.name, None);
        assert_eq!(l.due, Some(1_893_456_000_000));
        assert_eq!(l.disconnected_callback_url, None);
        assert_eq!(l.whatsapp_connected, Some(true));
        assert_eq!(l.phone_connected, None);
        assert!(!format!("{l:?}").contains("SECRETTOKEN123"));
        let c = PartnerClient::new("http://127.0.0.1:1", Secret::new("PARTNERSECRET")).unwrap();
        assert!(!format!("{c:?}").contains("PARTNERSECRET"));
    }
}
