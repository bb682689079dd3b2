//! The signals that ask a long-running varco (daemon or agent) to stop.

/// Resolves on SIGTERM or SIGINT (Ctrl-C on Windows), naming which.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Lets a command whose output is piped (`varco status | head`) end
/// quietly when the reader goes away, as Unix tools do, instead of
/// panicking on the failed write. Only for commands that print and exit:
/// the daemon and the agent keep Rust's default (a closed socket is a
/// write error they handle, not a signal that would end enforcement).
pub fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: installing the default disposition for SIGPIPE passes no
    // pointers and touches no memory; it is done before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
