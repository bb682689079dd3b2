//! Tells systemd how the service is doing: the `sd_notify` protocol, one
//! datagram per state change to the socket named by `$NOTIFY_SOCKET`.
//!
//! The system unit is `Type=notify` with a watchdog: systemd considers
//! varco started only once it has said `READY=1` (every filesystem marked,
//! the `started` record written), and restarts it when the main loop stops
//! saying `WATCHDOG=1`. Outside systemd the variable is unset and every
//! call does nothing. A few lines of std instead of a crate: the protocol
//! is a datagram of `KEY=value` text.

#[cfg(target_os = "linux")]
use std::ffi::OsStr;
use std::io;

/// What varco tells the service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State<'a> {
    /// Enforcement is in place: start-up is over.
    Ready,
    /// The main loop is alive (send more often than `WatchdogSec=`).
    Watchdog,
    /// Shutting down on request.
    Stopping,
    /// A one-line status for `systemctl status`.
    Status(&'a str),
}

impl State<'_> {
    #[cfg(target_os = "linux")]
    fn line(&self) -> String {
        match self {
            State::Ready => "READY=1".into(),
            State::Watchdog => "WATCHDOG=1".into(),
            State::Stopping => "STOPPING=1".into(),
            // One line: a newline would start another assignment.
            State::Status(text) => format!("STATUS={}", text.replace('\n', " ")),
        }
    }
}

/// Sends `state` to the service manager. `Ok(false)`: not started by one
/// (no `$NOTIFY_SOCKET`, or not Linux), nothing sent.
pub fn notify(state: State<'_>) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    if let Some(socket) = std::env::var_os("NOTIFY_SOCKET") {
        return notify_to(&socket, state).map(|()| true);
    }
    let _ = state;
    Ok(false)
}

/// Sends `state` to `socket`: a path, or `@name` for an abstract socket.
#[cfg(target_os = "linux")]
pub fn notify_to(socket: &OsStr, state: State<'_>) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(socket)?,
    };
    UnixDatagram::unbound()?
        .send_to_addr(state.line().as_bytes(), &addr)
        .map(|_| ())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;

    fn received(server: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn states_reach_a_socket_named_by_path() {
        let dir = std::env::temp_dir().join(format!("varco-sd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), State::Ready).unwrap();
        notify_to(path.as_os_str(), State::Status("enforcing\nfanotify")).unwrap();
        assert_eq!(received(&server), "READY=1");
        assert_eq!(received(&server), "STATUS=enforcing fanotify");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn states_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("varco-sd-notify-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(OsStr::new(&format!("@{name}")), State::Watchdog).unwrap();
        assert_eq!(received(&server), "WATCHDOG=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let gone = std::env::temp_dir().join("varco-sd-notify-no-such-socket");
        assert!(notify_to(gone.as_os_str(), State::Stopping).is_err());
    }
}
