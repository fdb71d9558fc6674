//! The listener's HTTP server: the accept loop that runs the webhook
//! [`Router`] with the limits `axum::serve` cannot set.
//!
//! - **Header timeout**: a connection that has not sent a complete request
//!   head within [`ServerOptions::header_timeout`] is closed. This covers a
//!   client that connects and sends nothing, one that sends half a header
//!   and stalls, and an idle keep-alive connection.
//! - **Body timeout**: a request body must arrive completely within
//!   [`ServerOptions::body_timeout`] of its head. Reading it fails with
//!   [`BodyTimeout`] otherwise, which the webhook handler answers with 408;
//!   the connection is then closed.
//! - **Connection limit**: at most [`ServerOptions::max_connections`]
//!   connections are open at once. Over the limit the loop stops accepting:
//!   new connections wait in the kernel's accept backlog (they are not
//!   dropped) until a slot frees, which the two timeouts guarantee happens.
//!   Waiting rather than refusing is kinder to Z-API, which would otherwise
//!   see a reset; a backlog that overflows makes clients retry their `SYN`.
//! - **TLS** (optional, [`load_tls`]): each connection does the rustls
//!   handshake first, within the header timeout, then HTTP. The certificate
//!   is read again when its files change ([`super::certs`]).
//! - **Accept errors** (`EMFILE`, `ENFILE`, `ENOBUFS`...) never end the loop:
//!   they are logged and retried after a short, growing pause (5 ms up to
//!   1 s). Errors of a single connection (`ECONNABORTED`...) are skipped.
//! - **Graceful shutdown**: when `shutdown` resolves the loop stops
//!   accepting, idle connections close, requests in flight get up to
//!   [`ServerOptions::shutdown_grace`] to finish, then everything left is
//!   dropped.
//!
//! Only HTTP/1.1 is served: Z-API's webhooks are single small POSTs, and
//! hyper's header timeout does not apply to HTTP/2, which would reopen the
//! slow-client hole. Over TLS the server offers ALPN `http/1.1` only.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::Request;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};
use tower::ServiceExt;

use super::certs::ReloadingCert;

/// Default for [`ServerOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default for [`ServerOptions::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ServerOptions::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ServerOptions::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// First pause after an accept error; it doubles on each further error.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause between accept attempts while accept keeps failing.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How [`serve`] treats its clients.
#[derive(Clone)]
pub struct ServerOptions {
    /// Most connections open at once (TLS handshakes included). Over it, new
    /// connections wait in the accept backlog. 0 counts as 1.
    pub max_connections: usize,
    /// Time a connection has to send a complete request head (from the
    /// connection's start or the end of its previous request), and to
    /// finish the TLS handshake.
    pub header_timeout: Duration,
    /// Time a request body has to arrive completely, from the end of its head.
    pub body_timeout: Duration,
    /// Serve HTTPS with this configuration (see [`load_tls`]); plain HTTP
    /// when `None`.
    pub tls: Option<Arc<ServerConfig>>,
    /// How long requests in flight may take to finish once shutdown is
    /// asked; connections still open after it are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            tls: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("tls", &self.tls.is_some())
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// The PEM files of the listener's certificate chain and private key, as
/// named in the config (`tls_cert`, `tls_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, end-entity certificate first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// [`load_tls`] of these two files.
    pub fn load(&self) -> Result<Arc<ServerConfig>, ServerError> {
        load_tls(&self.cert, &self.key)
    }
}

/// Why the TLS certificate or key could not be used. Every message names
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The file could not be read (missing, unreadable, a directory...).
    #[error("{}: cannot read it: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file holds PEM that does not decode.
    #[error("{}: not valid PEM: {reason}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate file has no `CERTIFICATE` section.
    #[error(
        "{}: no PEM certificate in it (expected a `-----BEGIN CERTIFICATE-----` section)",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file has no private key section.
    #[error(
        "{}: no PEM private key in it (expected a `-----BEGIN PRIVATE KEY-----`, \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY` section)",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key is not the one the certificate was issued for.
    #[error(
        "{}: this private key does not belong to the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the pair for another reason (unsupported key type...).
    #[error("{} with {}: cannot be used for TLS: {reason}", cert.display(), key.display())]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// Reads a PEM certificate chain and private key and builds the server's
/// TLS configuration (aws-lc-rs provider, TLS 1.2 and 1.3, ALPN
/// `http/1.1`). Errors name the file: missing or unreadable, not PEM, no
/// certificate, no key, or a key that does not match the certificate.
///
/// The configuration reads the files again when they change (a renewal),
/// so new handshakes get the new certificate; see [`super::certs`].
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let resolver = ReloadingCert::load(cert, key, Arc::clone(&provider))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_no_client_auth()
                .with_cert_resolver(Arc::new(resolver))
        })
        .map_err(|e| ServerError::Unusable {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What reading a request body yields when it has not arrived completely
/// within [`ServerOptions::body_timeout`] of the request head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {after:?}")]
pub struct BodyTimeout {
    /// The body timeout that expired.
    pub after: Duration,
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes.
///
/// The timer is armed only when the body is not all there at the first
/// read: a small webhook usually arrives with its head, and then no timer
/// is registered and cancelled per request.
struct TimeoutBody {
    inner: Incoming,
    /// When the head was received; the deadline is `after` later.
    start: Instant,
    deadline: Option<Pin<Box<Sleep>>>,
    after: Duration,
}

impl TimeoutBody {
    fn new(inner: Incoming, after: Duration) -> Self {
        Self {
            inner,
            start: Instant::now(),
            deadline: None,
            after,
        }
    }
}

impl HttpBody for TimeoutBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        // Data that is there wins over the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let (start, after) = (this.start, this.after);
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(start + after)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout { after: this.after }))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, with the limits
/// of `opts` (see the [module docs](self)).
///
/// Returns once the listener is closed and the connections have finished or
/// [`ServerOptions::shutdown_grace`] has passed. Accept errors are logged
/// and retried, never returned; the `Result` is for errors to come.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let builder = http1_builder(opts.header_timeout);
    let acceptor = opts.tls.clone().map(TlsAcceptor::from);
    let body_timeout = opts.body_timeout;
    let service = router.map_request(move |req: Request<Incoming>| {
        req.map(|body| TimeoutBody::new(body, body_timeout))
    });

    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut backoff = MIN_ACCEPT_BACKOFF;
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}

        // Take a slot before accepting: over the limit, new connections
        // wait in the kernel's backlog.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; stop cleanly if it were.
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff = MIN_ACCEPT_BACKOFF;
                stream
            }
            Err(e) if is_connection_error(&e) => {
                tracing::debug!("accept: a connection failed before it was accepted: {e}");
                continue;
            }
            Err(e) => {
                tracing::error!("accept failed: {e}; retrying in {backoff:?}");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        // Small JSON answers: do not wait for more data to fill a segment.
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            acceptor.clone(),
            Arc::clone(&builder),
            TowerToHyperService::new(service.clone()),
            graceful.watcher(),
            opts.header_timeout,
            permit,
        ));
    }

    drop(listener);
    drain(graceful, connections, opts.shutdown_grace).await;
    Ok(())
}

/// The HTTP/1.1 connection builder: keep-alive, headers within
/// `header_timeout`.
fn http1_builder(header_timeout: Duration) -> Arc<auto::Builder<TokioExecutor>> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    Arc::new(builder)
}

/// After the listener closed: lets open connections finish for at most
/// `grace`, then closes what is left.
async fn drain(graceful: GracefulShutdown, mut connections: JoinSet<()>, grace: Duration) {
    let open = graceful.count();
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("listener: connections still open {grace:?} after shutdown; closing them");
    } else {
        tracing::debug!(open, "listener: all connections finished");
    }
    connections.shutdown().await;
}

/// Accept errors that concern one connection only (it went away before it
/// was accepted): skip it and accept the next at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::TimedOut
    )
}

/// One connection: the TLS handshake if any, then HTTP/1.1 until the client
/// leaves, a timeout closes it or shutdown finishes it. Holds its slot
/// (`permit`) until the socket is closed.
async fn connection<S>(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: S,
    watcher: Watcher,
    handshake_timeout: Duration,
    permit: OwnedSemaphorePermit,
) where
    S: hyper::service::Service<Request<Incoming>, Response = axum::response::Response>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    match acceptor {
        None => serve_io(TokioIo::new(stream), &builder, service, watcher).await,
        Some(acceptor) => {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_io(TokioIo::new(tls), &builder, service, watcher).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake not done within {handshake_timeout:?}"),
            }
        }
    }
    drop(permit);
}

async fn serve_io<I, S>(io: I, builder: &auto::Builder<TokioExecutor>, service: S, watcher: Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = axum::response::Response>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let conn = builder.serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        // Header timeouts, resets, malformed requests: the client's doing.
        tracing::debug!("connection closed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_are_skipped_others_back_off() {
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::Interrupted,
        ] {
            assert!(is_connection_error(&io::Error::from(kind)), "{kind:?}");
        }
        // EMFILE, ENFILE
        for errno in [24, 23] {
            assert!(!is_connection_error(&io::Error::from_raw_os_error(errno)));
        }
    }

    #[test]
    fn default_options() {
        let o = ServerOptions::default();
        assert_eq!(o.max_connections, 1024);
        assert_eq!(o.header_timeout, Duration::from_secs(10));
        assert_eq!(o.body_timeout, Duration::from_secs(10));
        assert!(o.tls.is_none());
        assert_eq!(o.shutdown_grace, Duration::from_secs(5));
    }

    #[test]
    fn body_timeout_message_names_the_limit() {
        let e = BodyTimeout {
            after: Duration::from_millis(250),
        };
        assert_eq!(
            e.to_string(),
            "the request body did not arrive within 250ms"
        );
    }
}
