//! `varco run`: the daemon, with the options the command line gave.

use std::process::ExitCode;
use std::time::Duration;

use super::args::{NotifyArg, RunArgs};
use crate::daemon::fetch::read_ca_cert;
use crate::daemon::{self, NotifyRoute, Options};
use crate::policy::files::KeySource;
use crate::policy::schedule::Mode;

/// Runs the daemon until it is stopped.
pub fn run(args: RunArgs) -> ExitCode {
    let ca_cert = match args.ca_cert.as_deref().map(read_ca_cert).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("varco: {e}");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        config: super::windows_source(args.config),
        audit_log: args
            .audit_log
            .path
            .unwrap_or_else(crate::effect::audit::default_path),
        mode: args.mode.map(Mode::from),
        poll: Duration::from_millis(args.poll_ms),
        notify: match args.notify {
            Some(NotifyArg::Session) => NotifyRoute::Session,
            Some(NotifyArg::Agent) => NotifyRoute::Agent,
            None => NotifyRoute::detect(),
        },
        agent_base: args.agent_dir.path,
        source: args.source.into(),
        fanotify_only: args.fanotify_only,
        catalog: args.catalog.path,
        key: KeySource::new(args.trusted_key.path),
        state_dir: args
            .state_dir
            .unwrap_or_else(crate::daemon::state::default_dir),
        refresh: Duration::from_secs(args.refresh),
        ca_cert,
        control: args
            .socket
            .path
            .unwrap_or_else(crate::control::default_socket),
    };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varco: {e}");
            ExitCode::FAILURE
        }
    }
}
