//! Secret webhook paths: the [`WebhookSecret`] that derives each instance's
//! path token, and the URLs to register with Z-API ([`hook_urls`]).

use std::fmt::{self, Write as _};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::model::{InstanceId, Secret};

/// Shortest accepted webhook secret, in characters.
///
/// The secret keys the HMAC that derives every instance's path token. One
/// leaked webhook URL hands an attacker an (instance id, token) pair to test
/// guesses against offline, so the secret must be long enough that guessing
/// is hopeless; `openssl rand -hex 32` makes a good one.
pub const MIN_SECRET_LEN: usize = 16;

/// Length of a path token: 32 lowercase hex characters (128 bits).
pub const PATH_TOKEN_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The config's `webhook_secret`, ready to derive and check path tokens.
///
/// Z-API does not sign its webhook calls, so a secret in the registered URL
/// is the only way to tell its calls from anyone else's. Each instance gets
/// its own token, [`WebhookSecret::path_token`] = the first 32 hex
/// characters of HMAC-SHA256(secret, instance id): a leaked URL of one
/// instance cannot be used to post events of another.
///
/// `Debug` shows nothing of the secret.
#[derive(Clone)]
pub struct WebhookSecret {
    /// HMAC-SHA256 already keyed with the secret; cloned for each token.
    mac: HmacSha256,
}

/// Why a `webhook_secret` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Fewer than [`MIN_SECRET_LEN`] characters (an empty one included).
    #[error(
        "must be at least {MIN_SECRET_LEN} characters long \
         (generate one with `openssl rand -hex 32`)"
    )]
    TooShort,
}

impl WebhookSecret {
    /// Takes the secret from the config; refuses one shorter than
    /// [`MIN_SECRET_LEN`] characters.
    pub fn new(secret: &Secret) -> Result<Self, SecretError> {
        if secret.expose().chars().count() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort);
        }
        // HMAC takes keys of any length, so this cannot fail; the error arm
        // keeps the no-panic rule without an `expect`.
        let mac = <HmacSha256 as KeyInit>::new_from_slice(secret.expose().as_bytes())
            .map_err(|_| SecretError::TooShort)?;
        Ok(Self { mac })
    }

    /// The path token of instance `id`: HMAC-SHA256(secret, id) in lowercase
    /// hex, cut to [`PATH_TOKEN_LEN`] characters. It is a secret too: log at
    /// most its first four characters ([`crate::mask::token_prefix`]).
    pub fn path_token(&self, id: &InstanceId) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut token = String::with_capacity(PATH_TOKEN_LEN);
        for byte in digest.iter().take(PATH_TOKEN_LEN / 2) {
            // Writing to a String cannot fail.
            let _ = write!(token, "{byte:02x}");
        }
        token
    }

    /// Whether `token` is the path token of instance `id`, compared in
    /// constant time.
    pub fn verify(&self, token: &str, id: &InstanceId) -> bool {
        let expected = self.path_token(id);
        bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// The URLs re-registration must send to Z-API for instance `id`, as
/// `(disconnected, connected)`: `{public_url}/hooks/disconnected` and
/// `{public_url}/hooks/connected` without a secret,
/// `{public_url}/hooks/{token}/disconnected` and
/// `{public_url}/hooks/{token}/connected` with one. A trailing `/` on
/// `public_url` is ignored.
///
/// With a secret the URLs hold the instance's path token: never log them.
pub fn hook_urls(
    public_url: &str,
    secret: Option<&WebhookSecret>,
    id: &InstanceId,
) -> (String, String) {
    let base = hook_base(public_url, secret, id);
    (format!("{base}/disconnected"), format!("{base}/connected"))
}

/// The URL for Z-API's `update-every-webhooks` (every webhook type to one
/// endpoint): `{public_url}/hooks`, or `{public_url}/hooks/{token}` with a
/// secret. Never log it.
pub fn hook_url_every(public_url: &str, secret: Option<&WebhookSecret>, id: &InstanceId) -> String {
    hook_base(public_url, secret, id)
}

fn hook_base(public_url: &str, secret: Option<&WebhookSecret>, id: &InstanceId) -> String {
    let base = public_url.trim_end_matches('/');
    match secret {
        Some(secret) => format!("{base}/hooks/{}", secret.path_token(id)),
        None => format!("{base}/hooks"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_SECRET: &str = "0123456789abcdef-test-secret";

    fn secret() -> WebhookSecret {
        WebhookSecret::new(&Secret::new(TEST_SECRET)).unwrap()
    }

    #[test]
    fn path_token_is_truncated_hmac_sha256_hex() {
        // Expected values from Python's hmac module, an independent
        // implementation: hmac.new(secret, id, sha256).hexdigest()[:32].
        let s = secret();
        assert_eq!(
            s.path_token(&InstanceId::new("3C8A1F00D2E94B7A9F15C0DE2A7B6E11")),
            "d0496ed481bde2c5597768d114023648"
        );
        assert_eq!(
            s.path_token(&InstanceId::new("instance.id")),
            "39d7668d77d9da750930c14a7a13d0a0"
        );
        let other = WebhookSecret::new(&Secret::new("another secret of enough length")).unwrap();
        assert_ne!(
            other.path_token(&InstanceId::new("instance.id")),
            s.path_token(&InstanceId::new("instance.id"))
        );
    }

    #[test]
    fn verify_takes_only_the_instance_token() {
        let s = secret();
        let a = InstanceId::new("A");
        let b = InstanceId::new("B");
        let token_a = s.path_token(&a);
        assert!(s.verify(&token_a, &a));
        assert!(!s.verify(&token_a, &b));
        assert!(!s.verify(&token_a[..31], &a));
        assert!(!s.verify(&format!("{token_a}0"), &a));
        assert!(!s.verify(&token_a.to_uppercase(), &a));
        assert!(!s.verify("", &a));
    }

    #[test]
    fn short_secrets_are_refused() {
        for short in ["", "x", "fifteen chars!!"] {
            assert_eq!(
                WebhookSecret::new(&Secret::new(short)).unwrap_err(),
                SecretError::TooShort,
                "{short:?}"
            );
        }
        assert!(WebhookSecret::new(&Secret::new("sixteen chars!!!")).is_ok());
    }

    #[test]
    fn secret_is_never_printed() {
        let s = secret();
        let shown = format!("{s:?}");
        assert!(!shown.contains("0123"), "{shown}");
        assert_eq!(shown, "WebhookSecret(…)");
    }

    #[test]
    fn hook_urls_with_and_without_secret() {
        let id = InstanceId::new("instance.id");
        assert_eq!(
            hook_urls("https://dash.example/", None, &id),
            (
                "https://dash.example/hooks/disconnected".to_owned(),
                "https://dash.example/hooks/connected".to_owned()
            )
        );
        assert_eq!(
            hook_urls("https://dash.example", Some(&secret()), &id),
            (
                "https://dash.example/hooks/39d7668d77d9da750930c14a7a13d0a0/disconnected"
                    .to_owned(),
                "https://dash.example/hooks/39d7668d77d9da750930c14a7a13d0a0/connected".to_owned()
            )
        );
        assert_eq!(
            hook_url_every("https://dash.example/", Some(&secret()), &id),
            "https://dash.example/hooks/39d7668d77d9da750930c14a7a13d0a0"
        );
        assert_eq!(
            hook_url_every("https://dash.example", None, &id),
            "https://dash.example/hooks"
        );
    }
}
