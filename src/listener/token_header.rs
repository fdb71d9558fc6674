//! Z-API's `z-api-token` header, checked against the configured instance
//! tokens.
//!
//! Real deliveries carry a header `z-api-token` (24 hex characters) that
//! other consumers compare with the instance token. Z-API's docs do not
//! mention it: it is observed, not promised. So the check is off by default
//! (`check_token_header = false`) and what it would do is counted either
//! way, for the operator to see whether turning it on is safe.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::model::{InstanceId, Secret};

/// The header's name (HTTP header names are case-insensitive).
pub const TOKEN_HEADER: &str = "z-api-token";

/// What the `z-api-token` header of a delivery says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVerdict {
    /// The instance is not in the config: nothing to compare with.
    UnknownInstance,
    /// A configured instance, and no header.
    Missing,
    /// The header is the instance's token.
    Matches,
    /// The header is present and is not the instance's token.
    Mismatch,
}

/// The configured instance tokens and whether a mismatch is refused.
///
/// `Debug` shows how many tokens, never one.
#[derive(Clone, Default)]
pub struct TokenHeaderCheck {
    tokens: Arc<HashMap<InstanceId, Secret>>,
    enforce: bool,
}

impl TokenHeaderCheck {
    /// `tokens`: every configured instance's token; `enforce`: the config's
    /// `check_token_header` (a mismatch is answered 401).
    pub fn new(tokens: impl IntoIterator<Item = (InstanceId, Secret)>, enforce: bool) -> Self {
        Self {
            tokens: Arc::new(tokens.into_iter().collect()),
            enforce,
        }
    }

    /// A mismatching header is refused (401) rather than only counted.
    pub fn enforce(&self) -> bool {
        self.enforce
    }

    /// Compares the delivery's `z-api-token` header with the token of
    /// instance `id`, in constant time. A header that is not visible ASCII
    /// is a mismatch.
    pub fn verdict(&self, id: &InstanceId, headers: &HeaderMap) -> TokenVerdict {
        let Some(expected) = self.tokens.get(id) else {
            return TokenVerdict::UnknownInstance;
        };
        let Some(value) = headers.get(TOKEN_HEADER) else {
            return TokenVerdict::Missing;
        };
        let given = value.to_str().map(str::trim).unwrap_or_default();
        if !given.is_empty() && bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes())) {
            TokenVerdict::Matches
        } else {
            TokenVerdict::Mismatch
        }
    }
}

impl fmt::Debug for TokenHeaderCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHeaderCheck")
            .field("instances", &self.tokens.len())
            .field("enforce", &self.enforce)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(TOKEN_HEADER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn verdicts() {
        let check = TokenHeaderCheck::new(
            [(
                InstanceId::new("A"),
                Secret::new("0123456789abcdef01234567"),
            )],
            true,
        );
        let a = InstanceId::new("A");
        assert_eq!(
            check.verdict(&a, &headers(Some("0123456789abcdef01234567"))),
            TokenVerdict::Matches
        );
        assert_eq!(
            check.verdict(&a, &headers(Some(" 0123456789abcdef01234567 "))),
            TokenVerdict::Matches
        );
        for wrong in ["0123456789abcdef01234568", "0123456789abcdef0123456", ""] {
            assert_eq!(
                check.verdict(&a, &headers(Some(wrong))),
                TokenVerdict::Mismatch,
                "{wrong:?}"
            );
        }
        assert_eq!(check.verdict(&a, &headers(None)), TokenVerdict::Missing);
        assert_eq!(
            check.verdict(&InstanceId::new("B"), &headers(Some("x"))),
            TokenVerdict::UnknownInstance
        );
    }

    #[test]
    fn debug_shows_no_token() {
        let check = TokenHeaderCheck::new(
            [(
                InstanceId::new("A"),
                Secret::new("0123456789abcdef01234567"),
            )],
            false,
        );
        let shown = format!("{check:?}");
        assert!(!shown.contains("0123"), "{shown}");
    }
}
