//! The signals that stop a run: SIGINT (Ctrl-C) and SIGTERM (what CI systems send).

use tokio_util::sync::CancellationToken;

/// A signal that stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

/// Waits for SIGINT or SIGTERM, then cancels `stop`; says which came.
pub async fn stop_on_signal(stop: CancellationToken) -> Option<Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        std::future::pending::<()>().await;
        return None;
    };
    let which = tokio::select! {
        _ = int.recv() => Signal::Interrupt,
        _ = term.recv() => Signal::Terminate,
    };
    stop.cancel();
    Some(which)
}
