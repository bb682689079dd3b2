//! The command line: [`args`] says what can be asked; one module per
//! command does it, calling the library and turning its errors into
//! messages that say what happened and what to do.

pub mod args;
mod audit;
mod catalog;
mod check;
mod panic;
mod report;
mod run;
mod scan;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::policy::catalog::Catalog;
use crate::policy::files::{self, ConfigSource, KeySource, LoadError, Trust};
use args::{CatalogFile, Cli, Command, TrustedKeyFile, WindowsFile};

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = matches!(
        cli.command,
        Command::Run(_) | Command::Agent { .. } | Command::Service { .. }
    );
    if !long_running {
        crate::sys::end_quietly_on_closed_pipe();
    }
    let default_level = if long_running { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VARCO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let embedded = match Catalog::embedded() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "varco: the embedded catalog is invalid (a build defect, please report it):\n{e}"
            );
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Report {
            since,
            windows,
            from,
            to,
            out,
            audit_log,
            config,
        } => {
            let audit_log = audit_log
                .path
                .unwrap_or_else(crate::effect::audit::default_path);
            let source = readable(windows_source(config));
            match (windows, from, to) {
                (true, Some(from), Some(to)) => {
                    report::contract((&from, &to), out.as_deref(), &audit_log, &source, &embedded)
                }
                _ => report::report(
                    since.as_deref(),
                    out.as_deref(),
                    &audit_log,
                    &source,
                    &embedded,
                ),
            }
        }
        Command::Check {
            file,
            catalog,
            trusted_key,
            ca_cert,
        } => check::check(&embedded, file, catalog, trusted_key, ca_cert),
        Command::Audit { command } => audit::audit(command),
        Command::Service { action } => service(action),
        Command::Panic { socket } => panic::panic(socket.path.as_deref(), &embedded),
        Command::Resume { socket } => panic::resume(socket.path.as_deref()),
        Command::Agent { agent_dir, test } => agent(&agent_dir.path, test),
        Command::Status {
            config,
            audit_log,
            catalog,
            trusted_key,
        } => status::status(
            &embedded,
            windows_source(config),
            catalog,
            trusted_key,
            &audit_log
                .path
                .unwrap_or_else(crate::effect::audit::default_path),
        ),
        Command::Catalog { command, catalog } => {
            catalog::catalog(&embedded, command, CatalogFile { path: catalog })
        }
        Command::Scan {
            config,
            catalog,
            roots,
            max_depth,
        } => scan::scan(&embedded, windows_source(config), catalog, roots, max_depth),
    }
}

/// The windows file (or URL) named with `--config`, else the default one.
fn windows_source(arg: WindowsFile) -> ConfigSource {
    arg.path
        .map_or_else(files::default_source, ConfigSource::from_arg)
}

/// Where the windows of `source` can be read on this machine: for a URL,
/// the copy the daemon keeps of the last good file it fetched.
fn readable(source: ConfigSource) -> ConfigSource {
    match source {
        ConfigSource::Url(_) => ConfigSource::File(
            crate::daemon::state::default_dir()
                .join(crate::daemon::state::StateDir::COPY_FILE_NAME),
        ),
        other => other,
    }
}

/// How IT's files are trusted by this command: as the daemon would,
/// with `--trusted-key`, else the key installed in IT's folder.
fn trust(key: TrustedKeyFile) -> Result<Trust, LoadError> {
    KeySource::trust(
        KeySource::new(key.path).as_ref(),
        crate::sys::is_privileged(),
    )
}

/// The embedded catalog plus IT's extension (`--catalog`, else
/// `catalog.toml` next to the windows file when present).
fn with_extension(
    embedded: &Catalog,
    explicit: CatalogFile,
    windows: &ConfigSource,
    trust: &Trust,
) -> Result<Catalog, LoadError> {
    let (path, is_explicit): (Option<PathBuf>, bool) = match explicit.path {
        Some(p) => (Some(p), true),
        None => (files::default_catalog_path(windows), false),
    };
    match path {
        Some(p) => files::load_catalog(embedded, &p, is_explicit, trust),
        None => Ok(embedded.clone()),
    }
}

fn service(action: args::ServiceAction) -> ExitCode {
    use args::ServiceAction;
    let result = match action {
        ServiceAction::Install(settings) => crate::service::install(&settings.into()),
        ServiceAction::Uninstall => crate::service::uninstall(),
        ServiceAction::Start => crate::service::start(),
        ServiceAction::Stop => crate::service::stop(),
        ServiceAction::Run(settings) => crate::service::run_service(settings.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varco service: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `varco agent [--test]`.
fn agent(agent_dir: &std::path::Path, test: bool) -> ExitCode {
    if test {
        #[cfg(windows)]
        return match crate::agent::test_notice() {
            Ok(answer) => match (answer.shown, answer.why) {
                (true, _) => {
                    println!("agent answered: shown");
                    ExitCode::SUCCESS
                }
                (false, why) => {
                    let why = why.map(|w| w.to_string()).unwrap_or_default();
                    println!("agent answered: not shown: {why}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("varco agent --test: {e}");
                ExitCode::FAILURE
            }
        };
        #[cfg(not(windows))]
        {
            eprintln!(
                "varco agent --test: available on Windows only; on Linux check the agent with `systemctl --user status varco-agent`"
            );
            return ExitCode::from(2);
        }
    }
    match crate::agent::serve(agent_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varco agent: {e}");
            ExitCode::FAILURE
        }
    }
}
