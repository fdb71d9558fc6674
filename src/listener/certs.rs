//! The listener's certificate, reloaded when its files change.
//!
//! A certbot renewal (or any other) replaces `tls_cert` and `tls_key` on
//! disk; the listener picks the new pair up without a restart. Every TLS
//! handshake asks [`ReloadingCert`] for the certificate, which first
//! `stat`s the two files (following symlinks, so certbot's swap of the
//! `live/` links to new `archive/` files is seen): two system calls, far
//! cheaper than the handshake itself. When what they point at changed
//! (device, inode, size or modification time), the pair is read again:
//!
//! - a pair that loads (PEM, a certificate, a key that belongs to it) is
//!   used for this handshake and the next ones; connections already open
//!   keep the certificate they were made with;
//! - a pair that does not (half written, the certificate renewed but not the
//!   key yet) is not used: the certificate in use stays, the reason is
//!   logged at warn once, and the files are read again as soon as they
//!   change again.

use std::fmt;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, InconsistentKeys};

use super::server::ServerError;

/// What a file is now, as far as a change goes: a new file renamed or
/// linked into place has another inode; one rewritten in place another size
/// or modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path)
            .ok()
            .map(|m| FileStamp::from_meta(&m))
    }

    #[cfg(unix)]
    fn from_meta(m: &Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        }
    }

    #[cfg(not(unix))]
    fn from_meta(m: &Metadata) -> FileStamp {
        FileStamp {
            dev: 0,
            ino: 0,
            len: m.len(),
            modified: m.modified().ok(),
        }
    }
}

/// The stamps of the certificate and the key (`None`: cannot be `stat`ed).
type PairStamp = (Option<FileStamp>, Option<FileStamp>);

struct State {
    current: Arc<CertifiedKey>,
    /// The files as they were when last read, whether that load worked or not.
    read: PairStamp,
}

/// The certificate the listener presents, from `tls_cert` and `tls_key`,
/// read again when they change (see the [module docs](self)).
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair now; an error names the file (as [`super::server::load_tls`] does).
    pub fn load(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCert, ServerError> {
        let read = stamp(cert, key);
        let current = Arc::new(load_pair(cert, key, &provider)?);
        Ok(ReloadingCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            state: Mutex::new(State { current, read }),
        })
    }

    /// The pair to present now: the files are read again when they changed
    /// since they were last read.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let now = stamp(&self.cert, &self.key);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.read != now {
            // stamped before reading: a file that changes while it is read
            // gets another stamp, and is read again at the next handshake
            state.read = now;
            match load_pair(&self.cert, &self.key, &self.provider) {
                Ok(pair) => {
                    state.current = Arc::new(pair);
                    tracing::info!(
                        cert = %self.cert.display(),
                        "TLS certificate reloaded: new connections get the new one"
                    );
                }
                Err(e) => tracing::warn!(
                    "TLS certificate files changed but cannot be used, keeping the certificate in use: {e}"
                ),
            }
        }
        Arc::clone(&state.current)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamp(cert: &Path, key: &Path) -> PairStamp {
    (FileStamp::of(cert), FileStamp::of(key))
}

/// Reads and checks a PEM certificate chain and private key.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ServerError> {
    let cert_pem = read_file(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(cert, &e))?;
    if chain.is_empty() {
        return Err(ServerError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let key_pem = read_file(key)?;
    let private_key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => {
            return Err(ServerError::NoKey {
                path: key.to_owned(),
            });
        }
        Err(e) => return Err(bad_pem(key, &e)),
    };
    CertifiedKey::from_der(chain, private_key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            ServerError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            }
        }
        other => ServerError::Unusable {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: other.to_string(),
        },
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::Read {
        path: path.to_owned(),
        source,
    })
}

fn bad_pem(path: &Path, e: &pem::Error) -> ServerError {
    ServerError::BadPem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, signing_key.serialize_pem()).unwrap();
        (c, k, cert.der().to_vec())
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn served(r: &ReloadingCert) -> Vec<u8> {
        r.current().cert[0].as_ref().to_vec()
    }

    #[test]
    fn a_changed_pair_is_taken_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, first) = write_pair(dir.path(), "a");
        let r = ReloadingCert::load(&cert, &key, provider()).unwrap();
        assert_eq!(served(&r), first);
        // renamed into place, as most tools write
        let (c2, k2, second) = write_pair(dir.path(), "b");
        std::fs::rename(&c2, &cert).unwrap();
        assert_eq!(served(&r), first, "the new certificate with the old key");
        std::fs::rename(&k2, &key).unwrap();
        assert_eq!(served(&r), second);
        // truncated, missing: the pair in use stays
        std::fs::write(&key, b"-----BEGIN PRIVATE KEY-----\nMII").unwrap();
        assert_eq!(served(&r), second);
        std::fs::remove_file(&cert).unwrap();
        assert_eq!(served(&r), second);
    }
}
