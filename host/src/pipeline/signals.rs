//! Signals: SIGTERM/SIGINT stop the run (flush, commit, exit 0); SIGHUP asks
//! the hot-swap watcher to look at the module file now.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{info, warn};

/// Sets `shutdown` at the first SIGTERM or SIGINT.
pub async fn listen_for_signals(shutdown: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!(
            "Cannot listen for SIGTERM/SIGINT; stop the pipeline with SIGKILL (offsets stay safe)."
        );
        return;
    };
    tokio::select! {
        _ = term.recv() => info!(signal = "SIGTERM", "Stopping: flushing in-flight rows and committing."),
        _ = int.recv() => info!(signal = "SIGINT", "Stopping: flushing in-flight rows and committing."),
    }
    shutdown.store(true, Ordering::SeqCst);
}

/// Sets `reload` at each SIGHUP.
pub async fn listen_for_sighup(reload: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!("Cannot listen for SIGHUP; a changed module file is still picked up.");
        return;
    };
    while hup.recv().await.is_some() {
        info!(
            signal = "SIGHUP",
            "Checking the transform module for a new version."
        );
        reload.store(true, Ordering::SeqCst);
    }
}
