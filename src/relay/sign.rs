//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, the
//! last `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::model::Secret;

/// The HMAC key of a secret: `whsec_<base64>` is the base64-decoded bytes
/// (as Standard Webhooks libraries read it); any other text is its bytes.
pub fn key_bytes(secret: &Secret) -> Result<Vec<u8>, String> {
    let text = secret.expose().trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    match text.strip_prefix("whsec_") {
        Some(b64) => STANDARD.decode(b64).map_err(|_| {
            "a `whsec_` secret must be followed by base64 (as Standard Webhooks secrets are)".into()
        }),
        None => Ok(text.as_bytes().to_vec()),
    }
}

/// The `webhook-signature` header value for `body` sent as `id` at
/// `timestamp` (Unix seconds) with `key` ([`key_bytes`]).
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        // HMAC takes keys of any length; this cannot happen
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_standard_webhooks_vector() {
        // The example of the Standard Webhooks reference libraries, checked
        // with Python's hmac module as well.
        let key = key_bytes(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).expect("key");
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_plain_secret_is_its_bytes_and_bad_base64_is_refused() {
        assert_eq!(key_bytes(&Secret::new("abc")).expect("key"), b"abc");
        assert!(key_bytes(&Secret::new("whsec_***")).is_err());
        assert!(key_bytes(&Secret::new("  ")).is_err());
    }
}
