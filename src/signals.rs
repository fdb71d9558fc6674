//! The signals that stop a program, installed when asked for — not when
//! first awaited — so a signal that arrives between start-up and the first
//! poll of the returned future is not the default action (death) but a
//! clean stop. Install before announcing readiness.

use std::future::Future;

/// SIGTERM or SIGINT: `serve`, where SIGHUP reloads the config.
pub fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::SignalKind;
        first_of(&[SignalKind::terminate(), SignalKind::interrupt()])
    }
    #[cfg(not(unix))]
    ctrl_c()
}

/// SIGTERM, SIGHUP or SIGINT (Ctrl-C outside raw mode): the dashboards.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::SignalKind;
        first_of(&[
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::interrupt(),
        ])
    }
    #[cfg(not(unix))]
    ctrl_c()
}

/// The handlers of `kinds` installed now; the future resolves on the first
/// of them to arrive. If one cannot be installed it never resolves (as
/// before: the process then keeps the default action).
#[cfg(unix)]
fn first_of(kinds: &[tokio::signal::unix::SignalKind]) -> impl Future<Output = ()> + Send + use<> {
    let signals: Option<Vec<_>> = kinds
        .iter()
        .map(|kind| tokio::signal::unix::signal(*kind).ok())
        .collect();
    async move {
        match signals {
            Some(mut signals) => {
                let each = signals.iter_mut().map(|s| Box::pin(s.recv()));
                futures::future::select_all(each).await;
            }
            None => std::future::pending().await,
        }
    }
}

#[cfg(not(unix))]
fn ctrl_c() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
