//! The command line as data: every command and option, with the help text
//! `varco --help` prints. Options several commands share are defined once
//! and flattened in.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::policy::schedule::Mode;
use crate::source::Choice;

/// varco — remote-access gatekeeper for ANPR workstations.
///
/// Remote-desktop tools (AnyDesk, TeamViewer, VNC, …) run only inside the
/// maintenance windows agreed in advance with the contracted IT company.
#[derive(Debug, Parser)]
#[command(name = "varco", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--config FILE`: the approved-windows file.
#[derive(Debug, Clone, Args)]
pub struct WindowsFile {
    /// The approved-windows file, or its http:// or https:// URL on IT's
    /// server (`run` fetches it; it must be signed) [default:
    /// /etc/varco/approved-windows.toml if /etc/varco exists, else the
    /// user config folder, else the embedded default: no windows, block
    /// mode]
    #[arg(id = "config", long = "config", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// `--trusted-key KEY.pub`: IT's public key.
#[derive(Debug, Clone, Args)]
pub struct TrustedKeyFile {
    /// IT's minisign public key (the .pub file `minisign -G` wrote): every
    /// windows file and catalog.toml must then carry IT's signature
    /// (FILE.minisig beside it, from `minisign -Sm FILE`) [default:
    /// /etc/varco/trusted.pub, on Windows %ProgramData%\varco\trusted.pub,
    /// when present].
    #[arg(id = "trusted_key", long = "trusted-key", value_name = "KEY.pub")]
    pub path: Option<PathBuf>,
}

/// `--catalog FILE`: IT's catalog extension.
#[derive(Debug, Clone, Args)]
pub struct CatalogFile {
    /// IT's catalog extension [default: catalog.toml next to the windows
    /// file, if present].
    #[arg(id = "catalog", long = "catalog", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// `--audit-log FILE`: the daemon's audit log.
#[derive(Debug, Clone, Args)]
pub struct AuditFile {
    /// The audit log (JSON lines) [default: /var/log/varco/audit.jsonl for
    /// the system service, else the user data folder].
    #[arg(id = "audit_log", long = "audit-log", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// `--agent-dir DIR`: where session agents listen.
#[derive(Debug, Clone, Args)]
pub struct AgentDir {
    /// Where session agents listen: DIR/<uid>/varco-agent.sock (Linux).
    #[arg(id = "agent_dir", long = "agent-dir", value_name = "DIR", default_value = crate::agent::DEFAULT_BASE)]
    pub path: PathBuf,
}

/// `--socket PATH`: the daemon's control endpoint.
#[derive(Debug, Clone, Args)]
pub struct ControlSocket {
    /// The daemon's control socket [default: /run/varco/control.sock for
    /// the root service (and for any user while it exists), else
    /// $XDG_RUNTIME_DIR/varco/control.sock; Windows: the pipe
    /// \\.\pipe\varco-control].
    #[arg(id = "socket", long = "socket", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch for remote-access tools and enforce the approved windows.
    Run(RunArgs),
    /// Show varco's notifications in this desktop session (started at
    /// login; receives them from the varco service).
    Agent {
        /// Where the agent listens.
        #[command(flatten)]
        agent_dir: AgentDir,
        /// Windows: send a test notice to the agent of this session and
        /// print its answer, to check that it runs and can show toasts.
        #[arg(long)]
        test: bool,
    },
    /// Write the incident report for the Polizia Postale and the
    /// Direzione Centrale per i Servizi Demografici; with --windows, the
    /// contract report the comune checks before paying the IT company.
    Report {
        /// Only events from this day (YYYY-MM-DD, local time) or instant
        /// (RFC 3339) on.
        #[arg(long, value_name = "DATE", conflicts_with = "windows")]
        since: Option<String>,
        /// The contract report: every window planned between --from and
        /// --to, whether a remote session happened in it (which tool, from
        /// when to when), and every remote tool stopped or alerted outside
        /// the windows.
        #[arg(long, requires_all = ["from", "to"])]
        windows: bool,
        /// With --windows: the first day of the period (YYYY-MM-DD, local
        /// time, or an RFC 3339 instant).
        #[arg(long, value_name = "DATE", requires = "windows")]
        from: Option<String>,
        /// With --windows: the last day of the period, included.
        #[arg(long, value_name = "DATE", requires = "windows")]
        to: Option<String>,
        /// Write FILE.md and FILE.html (printable) instead of Markdown on
        /// standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The audit log to read.
        #[command(flatten)]
        audit_log: AuditFile,
        /// The approved-windows file.
        #[command(flatten)]
        config: WindowsFile,
    },
    /// Check an approved-windows file (and the catalog.toml next to it)
    /// before deploying it: its content, and its signature when a trusted
    /// key is given or installed.
    Check {
        /// The file to check, or its http(s):// URL on IT's server.
        file: PathBuf,
        /// IT's catalog extension [default: catalog.toml next to FILE].
        #[command(flatten)]
        catalog: CatalogFile,
        /// IT's public key.
        #[command(flatten)]
        trusted_key: TrustedKeyFile,
        /// For an https:// URL: IT's CA certificate (PEM).
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
    },
    /// The audit log's tamper-evident chain.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Show the windows open now and the next ones.
    Status {
        /// The approved-windows file.
        #[command(flatten)]
        config: WindowsFile,
        /// The daemon's audit log, where it says which source runs.
        #[command(flatten)]
        audit_log: AuditFile,
        /// IT's catalog extension.
        #[command(flatten)]
        catalog: CatalogFile,
        /// IT's public key.
        #[command(flatten)]
        trusted_key: TrustedKeyFile,
    },
    /// The catalog of remote-access tools varco knows.
    Catalog {
        /// What to show.
        #[command(subcommand)]
        command: CatalogCommand,
        /// IT's catalog extension [default: catalog.toml next to the
        /// windows file, if present].
        #[arg(long, value_name = "FILE", global = true)]
        catalog: Option<PathBuf>,
    },
    /// Find remote-access tools on this workstation: installed, portable
    /// copies (Downloads, Desktop, temporary folders) and running now, each
    /// with what the approved windows allow for it. Read-only.
    Scan {
        /// The approved-windows file.
        #[command(flatten)]
        config: WindowsFile,
        /// IT's catalog extension.
        #[command(flatten)]
        catalog: CatalogFile,
        /// Folder to search instead of the default ones (every user's
        /// Downloads/Scaricati, Desktop/Scrivania and temporary folders,
        /// the system temporary folders, /opt, /Applications, Program
        /// Files). Repeat for several.
        #[arg(long = "root", value_name = "DIR")]
        roots: Vec<PathBuf>,
        /// How many folders deep to search under each root.
        #[arg(long, value_name = "N", default_value_t = 6)]
        max_depth: usize,
    },
    /// Stop remote assistance now: every remote-access tool is closed, even
    /// inside a maintenance window, and the windows open now are suspended
    /// (until the next day, or until `varco resume`). Any user of the
    /// desktop may run it.
    Panic {
        /// Where the daemon listens.
        #[command(flatten)]
        socket: ControlSocket,
    },
    /// Reopen the windows a panic suspended (root / Administrator only).
    Resume {
        /// Where the daemon listens.
        #[command(flatten)]
        socket: ControlSocket,
    },
    /// Windows: install, remove, start or stop the varco service.
    Service {
        /// What to do with the service.
        #[command(subcommand)]
        action: ServiceAction,
    },
}

/// `varco run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The approved-windows file.
    #[command(flatten)]
    pub config: WindowsFile,
    /// Where to append the audit log.
    #[command(flatten)]
    pub audit_log: AuditFile,
    /// Override the file's mode.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Scan interval in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub poll_ms: u64,
    /// Where process starts come from: `auto` takes the best that works
    /// here (fanotify, then proc-connector, then scan) and records why.
    /// Beside fanotify a post-exec source (proc-connector, else scan)
    /// always runs, deciding every exec again on the program that runs.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    pub source: SourceArg,
    /// Trials only: with fanotify, mark just the filesystem holding
    /// PATH (repeatable) instead of every local one.
    #[arg(long, value_name = "PATH")]
    pub fanotify_only: Vec<PathBuf>,
    /// Who shows the operator what happened: `session` (this process,
    /// running in the desktop session) or `agent` (the `varco agent` of
    /// the user who started the tool). [default: agent when running as a
    /// system service, else session]
    #[arg(long, value_enum)]
    pub notify: Option<NotifyArg>,
    /// Where session agents listen.
    #[command(flatten)]
    pub agent_dir: AgentDir,
    /// IT's catalog extension.
    #[command(flatten)]
    pub catalog: CatalogFile,
    /// IT's public key.
    #[command(flatten)]
    pub trusted_key: TrustedKeyFile,
    /// Where `varco panic` and `varco resume` reach this daemon.
    #[command(flatten)]
    pub socket: ControlSocket,
    /// varco's state folder: the serial of the signed windows file in
    /// force, the last good copy of a remote one, a panic's suspension
    /// (which survives restarts there) [default:
    /// /var/lib/varco for the system service, %ProgramData%\varco\state
    /// on Windows, else the user data folder].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// With --config URL: ask IT's server every N seconds (conditional
    /// requests: an unchanged file costs a 304).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub refresh: u64,
    /// With --config https://…: IT's CA certificate (PEM); only a server
    /// certificate it issued is accepted [default: the Mozilla roots built
    /// into varco].
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// `varco audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the chain of an audit log: exits 0 printing how many records
    /// it checked and the head (compare it with the last `chain_head` your
    /// syslog or Event Log received), or 1 naming the first line where the
    /// chain breaks (a line edited, removed, inserted or moved).
    Verify {
        /// The audit log (JSON lines). Several files are checked as one
        /// chain, oldest first (audit.jsonl.1 audit.jsonl).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// `varco service …`.
#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Install (or repair) the service, %ProgramData%\varco with its
    /// permissions, the Event Log source and the agent at logon. A
    /// %ProgramData%\varco someone else created first is moved aside (a
    /// link there is refused). The options are kept in the service's
    /// command line, which only administrators can change.
    Install(ServiceSettings),
    /// Stop and remove the service and the agent's logon entry; keeps
    /// %ProgramData%\varco.
    Uninstall,
    /// Start the installed service.
    Start,
    /// Stop the service (enforcement is off until it starts again).
    Stop,
    /// The service's own entry point, started by the service manager.
    #[command(hide = true)]
    Run(ServiceSettings),
}

/// What the installed service is started with (`varco service install
/// …` keeps them in the service's command line).
#[derive(Debug, Clone, Args)]
pub struct ServiceSettings {
    /// The windows file, or its http(s):// URL on IT's server [default:
    /// %ProgramData%\varco\approved-windows.toml].
    #[arg(long, value_name = "FILE|URL")]
    pub config: Option<PathBuf>,
    /// IT's public key.
    #[command(flatten)]
    pub trusted_key: TrustedKeyFile,
    /// With --config URL: ask IT's server every N seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub refresh: u64,
    /// With --config https://…: IT's CA certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

impl From<ServiceSettings> for crate::service::Settings {
    fn from(s: ServiceSettings) -> crate::service::Settings {
        crate::service::Settings {
            config: s.config,
            trusted_key: s.trusted_key.path,
            refresh: s.refresh,
            ca_cert: s.ca_cert,
        }
    }
}

/// `varco catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List every known tool with its id and executable names.
    List,
    /// Tell whether an executable name, or a file, is a known tool (exit 0,
    /// printing its id and how it matched) or not (exit 1). A file is also
    /// recognised by its content: PE version resource, signer, markers.
    Lookup {
        /// An executable file name (AnyDesk.exe) or the path of a file.
        name: String,
    },
}

/// `--notify`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NotifyArg {
    /// This process shows notifications in its own session.
    Session,
    /// The session agents show them.
    Agent,
}

/// `--source`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SourceArg {
    /// The best that works here.
    Auto,
    /// fanotify pre-exec denial (Linux, root), with the proc connector
    /// (else the scan) beside it after the exec.
    Fanotify,
    /// Netlink exec events (Linux, root).
    ProcConnector,
    /// The portable periodic scan.
    Scan,
}

impl From<SourceArg> for Choice {
    fn from(s: SourceArg) -> Choice {
        match s {
            SourceArg::Auto => Choice::Auto,
            SourceArg::Fanotify => Choice::Fanotify,
            SourceArg::ProcConnector => Choice::ProcConnector,
            SourceArg::Scan => Choice::Scan,
        }
    }
}

/// `--mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Stop tools outside every window.
    Block,
    /// Leave them running and tell the operator.
    Alert,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Block => Mode::Block,
            ModeArg::Alert => Mode::Alert,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks the definitions only when they are used: a clash of
    /// ids between flattened options would otherwise surface as a panic at
    /// the first `varco` run.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
