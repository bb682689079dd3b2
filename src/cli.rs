//! The command line: parses arguments, calls the library, and turns errors
//! into messages that say what happened and what to do.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

use crate::catalog::Catalog;
use crate::config::{self, ConfigSource};
use crate::daemon::{self, NotifyRoute, Options};
use crate::identify::{self, Identifier};
use crate::schedule::{Mode, Schedule, Tools, When};
use crate::source::{self, Choice};

/// varco — remote-access gatekeeper for ANPR workstations.
///
/// Remote-desktop tools (AnyDesk, TeamViewer, VNC, …) run only inside the
/// maintenance windows agreed in advance with the contracted IT company.
#[derive(Debug, Parser)]
#[command(name = "varco", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Watch for remote-access tools and enforce the approved windows.
    Run {
        /// The approved-windows file [default: /etc/varco/approved-windows.toml
        /// if /etc/varco exists, else the user config folder, else the
        /// embedded default: no windows, block mode]
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where to append the audit log (JSON lines).
        #[arg(long, value_name = "FILE")]
        audit_log: Option<PathBuf>,
        /// Override the file's mode.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Scan interval in milliseconds.
        #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
        poll_ms: u64,
        /// Where process starts come from: `auto` takes the best that works
        /// here (fanotify, then proc-connector, then scan) and records why.
        #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
        source: SourceArg,
        /// Trials only: with fanotify, mark just the filesystem holding
        /// PATH (repeatable) instead of every local one.
        #[arg(long, value_name = "PATH")]
        fanotify_only: Vec<PathBuf>,
        /// Who shows the operator what happened: `session` (this process,
        /// running in the desktop session) or `agent` (the `varco agent`
        /// of the user who started the tool). [default: agent when running
        /// as root without a session bus, else session]
        #[arg(long, value_enum)]
        notify: Option<NotifyArg>,
        /// Where session agents listen: DIR/<uid>/varco-agent.sock.
        #[arg(long, value_name = "DIR", default_value = crate::agent::DEFAULT_BASE)]
        agent_dir: PathBuf,
        /// IT's catalog extension [default: catalog.toml next to the
        /// windows file, if present].
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
    /// Show varco's notifications in this desktop session (started at
    /// login; receives them from the varco service).
    Agent {
        /// Where to listen: DIR/<uid>/varco-agent.sock (Linux).
        #[arg(long, value_name = "DIR", default_value = crate::agent::DEFAULT_BASE)]
        agent_dir: PathBuf,
        /// Windows: send a test notice to the agent of this session and
        /// print its answer, to check that it runs and can show toasts.
        #[arg(long)]
        test: bool,
    },
    /// Write the incident report for the Polizia Postale and the
    /// Direzione Centrale per i Servizi Demografici.
    Report {
        /// Only events from this day (YYYY-MM-DD, local time) or instant
        /// (RFC 3339) on.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Write FILE.md and FILE.html (printable) instead of Markdown on
        /// standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The audit log to read [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        audit_log: Option<PathBuf>,
        /// The approved-windows file [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check an approved-windows file (and the catalog.toml next to it)
    /// before deploying it.
    Check {
        /// The file to check.
        file: PathBuf,
        /// IT's catalog extension [default: catalog.toml next to FILE, if
        /// present].
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
    /// Show the windows open now and the next ones.
    Status {
        /// The approved-windows file [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The daemon's audit log, where it says which source runs
        /// [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        audit_log: Option<PathBuf>,
        /// IT's catalog extension [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
    /// The catalog of remote-access tools varco knows.
    Catalog {
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
        /// The approved-windows file [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// IT's catalog extension [default: as for `run`].
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
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
    /// Windows: install, remove, start or stop the varco service.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceAction {
    /// Install (or repair) the service, %ProgramData%\varco with its
    /// permissions, the Event Log source and the agent at logon.
    Install,
    /// Stop and remove the service and the agent's logon entry; keeps
    /// %ProgramData%\varco.
    Uninstall,
    /// Start the installed service.
    Start,
    /// Stop the service (enforcement is off until it starts again).
    Stop,
    /// The service's own entry point, started by the service manager.
    #[command(hide = true)]
    Run,
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NotifyArg {
    Session,
    Agent,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SourceArg {
    Auto,
    Fanotify,
    ProcConnector,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Block,
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

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Run { .. } | Command::Agent { .. }) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VARCO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let catalog = match Catalog::embedded() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "varco: the embedded catalog is invalid (a build defect, please report it):\n{e}"
            );
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Run {
            config,
            audit_log,
            mode,
            poll_ms,
            notify,
            agent_dir,
            source,
            fanotify_only,
            catalog,
        } => {
            let options = Options {
                config: config.map_or_else(config::default_source, ConfigSource::File),
                audit_log: audit_log.unwrap_or_else(config::default_audit_log),
                mode: mode.map(Mode::from),
                poll: Duration::from_millis(poll_ms),
                notify: match notify {
                    Some(NotifyArg::Session) => NotifyRoute::Session,
                    Some(NotifyArg::Agent) => NotifyRoute::Agent,
                    None => NotifyRoute::detect(),
                },
                agent_base: agent_dir,
                source: source.into(),
                fanotify_only,
                catalog,
            };
            match daemon::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("varco: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report {
            since,
            out,
            audit_log,
            config,
        } => report(
            since.as_deref(),
            out.as_deref(),
            &audit_log.unwrap_or_else(config::default_audit_log),
            &config.map_or_else(config::default_source, ConfigSource::File),
            &catalog,
        ),
        Command::Check {
            file,
            catalog: extension,
        } => {
            let source = ConfigSource::File(file.clone());
            match with_extension(&catalog, extension, &source) {
                Ok(catalog) => check(&file, &catalog),
                Err(e) => {
                    eprintln!("{e}");
                    eprintln!(
                        "→ while this catalog file is broken, windows naming its tools stay closed"
                    );
                    // The windows file as the daemon would then read it.
                    let _ = check(&file, &catalog);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Service { action } => {
            let result = match action {
                ServiceAction::Install => crate::service::install(),
                ServiceAction::Uninstall => crate::service::uninstall(),
                ServiceAction::Start => crate::service::start(),
                ServiceAction::Stop => crate::service::stop(),
                ServiceAction::Run => crate::service::run_service(),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("varco service: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Agent { agent_dir, test } => agent(&agent_dir, test),
        Command::Status {
            config,
            audit_log,
            catalog: extension,
        } => {
            let windows = config.map_or_else(config::default_source, ConfigSource::File);
            let code = match with_extension(&catalog, extension, &windows) {
                Ok(catalog) => status(windows, &catalog),
                Err(e) => {
                    println!("PROBLEM: {e}");
                    println!("→ only the embedded catalog is in force (fail closed)");
                    let _ = status(windows, &catalog);
                    ExitCode::FAILURE
                }
            };
            source_status(&audit_log.unwrap_or_else(config::default_audit_log));
            code
        }
        Command::Catalog {
            command,
            catalog: extension,
        } => {
            let source = config::default_source();
            let catalog = match with_extension(&catalog, extension, &source) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match command {
                CatalogCommand::List => {
                    for tool in catalog.tools() {
                        let mut names = tool.executables.clone();
                        names.extend(tool.name_patterns.iter().cloned());
                        println!("{:<28} {:<40} {}", tool.id, tool.name, names.join(", "));
                    }
                    ExitCode::SUCCESS
                }
                CatalogCommand::Lookup { name } => lookup(&catalog, &name),
            }
        }
        Command::Scan {
            config,
            catalog: extension,
            roots,
            max_depth,
        } => {
            let source = config.map_or_else(config::default_source, ConfigSource::File);
            let catalog = match with_extension(&catalog, extension, &source) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            scan(&catalog, &source, roots, max_depth)
        }
    }
}

/// The embedded catalog plus IT's extension (`--catalog`, else
/// `catalog.toml` next to the windows file when present).
fn with_extension(
    embedded: &Catalog,
    explicit: Option<PathBuf>,
    windows: &ConfigSource,
) -> Result<Catalog, config::LoadError> {
    let (path, is_explicit) = match explicit {
        Some(p) => (Some(p), true),
        None => (config::default_catalog_path(windows), false),
    };
    match path {
        Some(p) => config::load_catalog(embedded, &p, is_explicit, crate::sys::is_privileged()),
        None => Ok(embedded.clone()),
    }
}

/// `varco catalog lookup NAME|PATH`: a name prints the id, as scripts
/// expect; a file prints the id and how it was recognised.
fn lookup(catalog: &Catalog, name: &str) -> ExitCode {
    let path = std::path::Path::new(name);
    if !path.is_file() {
        return match catalog.lookup_name(name) {
            Some(tool) => {
                println!("{}", tool.id);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("{name}: not a known remote-access tool");
                ExitCode::FAILURE
            }
        };
    }
    let found = {
        let facts = crate::process::ProcessFacts {
            pid: 0,
            parent_pid: None,
            start_marker: 0,
            name: crate::process::file_name_of(name).to_string(),
            exe: Some(path.to_path_buf()),
            cmdline: Vec::new(),
            user: None,
        };
        Identifier::new()
            .identify(catalog, &facts)
            .map(|f| (f.tool.id.clone(), f.matched_by.as_str(), f.matched))
    };
    match found {
        Some((id, by, matched)) => {
            println!("{id}  matched_by={by}  ({matched})");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("{name}: not a known remote-access tool");
            ExitCode::FAILURE
        }
    }
}

/// `varco scan`: tools on disk and running, with what the windows allow.
fn scan(catalog: &Catalog, source: &ConfigSource, roots: Vec<PathBuf>, depth: usize) -> ExitCode {
    let now = Timestamp::now();
    let (schedule, _) = schedule_shown(source, catalog);
    let mut identifier = Identifier::new();
    let show = |title: &str, found: &[identify::Found]| {
        println!("{title}:");
        if found.is_empty() {
            println!("  none");
        }
        for f in found {
            println!(
                "  {:<24} {}  matched_by={} ({})  — {}",
                f.tool_id,
                f.path.display(),
                f.matched_by,
                f.matched,
                allowance(&schedule, &f.tool_id, now)
            );
        }
    };
    if roots.is_empty() {
        let install = identify::install_roots(catalog);
        let mut installed = identify::scan_files(catalog, &mut identifier, &install, depth, true);
        let programs = identify::program_dirs();
        installed.extend(identify::scan_files(
            catalog,
            &mut identifier,
            &programs,
            1,
            false,
        ));
        installed.sort_by(|a, b| a.path.cmp(&b.path));
        installed.dedup_by(|a, b| a.path == b.path);
        show(
            &format!(
                "installed (searched: {})",
                join_paths(&[install, programs].concat())
            ),
            &installed,
        );
        let portable_roots = identify::default_scan_roots();
        let portable = identify::scan_files(catalog, &mut identifier, &portable_roots, depth, true);
        show(
            &format!(
                "portable copies (searched: {})",
                join_paths(&portable_roots)
            ),
            &portable,
        );
    } else {
        let found = identify::scan_files(catalog, &mut identifier, &roots, depth, true);
        show(
            &format!("on disk (searched: {})", join_paths(&roots)),
            &found,
        );
    }
    println!("running now:");
    let running = match crate::source::scan::Watcher::new() {
        Ok(mut w) => w.new_processes(),
        Err(e) => {
            println!("  cannot list processes: {e}");
            Vec::new()
        }
    };
    let me = std::process::id();
    let mut any = false;
    for facts in running.iter().filter(|f| f.pid != me) {
        if let Some(found) = identifier.identify(catalog, facts) {
            any = true;
            println!(
                "  {:<24} pid {} {}  matched_by={} ({})  — {}",
                found.tool.id,
                facts.pid,
                facts
                    .exe
                    .as_deref()
                    .map_or_else(|| facts.name.clone(), |e| e.display().to_string()),
                found.matched_by.as_str(),
                found.matched,
                allowance(&schedule, &found.tool.id, now)
            );
        }
    }
    if !any {
        println!("  none");
    }
    ExitCode::SUCCESS
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the windows allow for `tool` now, and next.
fn allowance(s: &Schedule, tool: &str, now: Timestamp) -> String {
    if let Some((w, o)) = s.open_for(tool, now) {
        return format!(
            "allowed now by window \"{}\" until {}",
            w.id,
            s.local(o.end)
        );
    }
    let verdict = match s.mode {
        Mode::Block => "would be stopped now",
        Mode::Alert => "would be reported now (alert mode)",
    };
    match s.upcoming(now).into_iter().find(|(w, _)| w.admits(tool)) {
        Some((w, o)) => format!(
            "{verdict}; next window \"{}\" {} → {}",
            w.id,
            s.local(o.start),
            s.local(o.end)
        ),
        None => format!("{verdict}; no window admits it"),
    }
}

#[cfg(windows)]
fn agent(_agent_dir: &std::path::Path, test: bool) -> ExitCode {
    if test {
        return match crate::session_agent::test_notice() {
            Ok(answer) => {
                println!("agent answered: {answer}");
                if answer == crate::session_agent::SHOWN {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("varco agent --test: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match crate::session_agent::serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varco agent: {e} — is another varco agent already running in this session?");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(windows))]
fn agent(agent_dir: &std::path::Path, test: bool) -> ExitCode {
    if test {
        eprintln!(
            "varco agent --test: available on Windows only; on Linux check the agent with `systemctl --user status varco-agent`"
        );
        return ExitCode::from(2);
    }
    match crate::agent::serve(agent_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varco agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(
    since: Option<&str>,
    out: Option<&std::path::Path>,
    audit_log: &std::path::Path,
    source: &ConfigSource,
    catalog: &Catalog,
) -> ExitCode {
    let tz = match source {
        ConfigSource::File(p) => config::load(p, catalog, false)
            .map(|s| s.timezone)
            .unwrap_or_else(|_| Schedule::fail_closed().timezone),
        ConfigSource::EmbeddedDefault => Schedule::fail_closed().timezone,
    };
    let since = match since.map(|s| parse_since(s, &tz)).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("varco report: {e}");
            return ExitCode::from(2);
        }
    };
    let report =
        match crate::report::Report::build(audit_log, source, catalog, since, Timestamp::now()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("varco report: {e}");
                return ExitCode::FAILURE;
            }
        };
    match out {
        None => {
            print!("{}", report.markdown());
            ExitCode::SUCCESS
        }
        Some(out) => match report.write(out) {
            Ok((md, html)) => {
                println!(
                    "{} event(s): {} and {} (open the .html to print it)",
                    report.len(),
                    md.display(),
                    html.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("varco report: cannot write {}: {e}", out.display());
                ExitCode::FAILURE
            }
        },
    }
}

/// `--since`: a local date (midnight in the windows file's zone) or an
/// RFC 3339 instant.
fn parse_since(s: &str, tz: &jiff::tz::TimeZone) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight())).compatible().ok())
        .ok_or_else(|| format!("--since {s}: not a date; write YYYY-MM-DD (e.g. 2025-11-26) or an instant such as 2025-11-26T14:00:00+01:00"))
}

fn check(file: &std::path::Path, catalog: &Catalog) -> ExitCode {
    match config::load(file, catalog, false) {
        Ok(schedule) => {
            println!(
                "{}: OK — {}",
                file.display(),
                summary(&schedule, Timestamp::now())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// One line: how many windows, which is open now, the next opening.
fn summary(s: &Schedule, now: Timestamp) -> String {
    let open = s.open_at(now);
    let open_text = if open.is_empty() {
        "none open now".to_string()
    } else {
        let list: Vec<String> = open
            .iter()
            .map(|(w, o)| format!("\"{}\" until {}", w.id, s.local(o.end)))
            .collect();
        format!("open now: {}", list.join(", "))
    };
    let next_text = match s.upcoming(now).first() {
        Some((w, o)) => format!("next: \"{}\" at {}", w.id, s.local(o.start)),
        None => "no further opening".to_string(),
    };
    format!(
        "{} window(s), mode {}, zone {}; {open_text}; {next_text}",
        s.windows.len(),
        s.mode.as_str(),
        s.timezone_name
    )
}

/// Loads the windows file for a report, printing which one and any
/// problem; a problem means no window is open (fail closed).
fn schedule_shown(
    source: &ConfigSource,
    catalog: &Catalog,
) -> (Schedule, Option<config::LoadError>) {
    let (schedule, problem) = match source {
        ConfigSource::EmbeddedDefault => (Schedule::fail_closed(), None),
        ConfigSource::File(path) => match config::load(path, catalog, false) {
            Ok(s) => (s, None),
            Err(e) => (Schedule::fail_closed(), Some(e)),
        },
    };
    println!("windows file: {}", source.describe());
    if let ConfigSource::File(path) = &source
        && path.exists()
    {
        match crate::sys::untrusted_reason(path) {
            None => println!("permissions: only administrators can change it"),
            Some(why) => {
                println!("PERMISSIONS: {why} → the system service refuses this file (fail closed)")
            }
        }
    }
    if let Some(e) = &problem {
        println!("PROBLEM: {e}");
        println!("→ no window is open until the file is fixed (fail closed)");
    }
    (schedule, problem)
}

fn status(source: ConfigSource, catalog: &Catalog) -> ExitCode {
    let now = Timestamp::now();
    let (schedule, problem) = schedule_shown(&source, catalog);
    println!(
        "mode: {}   zone: {}   now: {}",
        schedule.mode.as_str(),
        schedule.timezone_name,
        schedule.local(now)
    );
    if let Some(phone) = &schedule.contact.phone {
        println!(
            "contact: {} {phone}",
            schedule.contact.company.as_deref().unwrap_or("")
        );
    }
    let open = schedule.open_at(now);
    println!("open now: {}", if open.is_empty() { "none" } else { "" });
    for (w, o) in open {
        println!(
            "  {}  until {}  tools: {}{}",
            w.id,
            schedule.local(o.end),
            tools_text(&w.tools),
            who(w)
        );
    }
    let upcoming = schedule.upcoming(now);
    println!("next: {}", if upcoming.is_empty() { "none" } else { "" });
    for (w, o) in upcoming.iter().take(10) {
        let kind = match w.when {
            When::Once { .. } => "one-off",
            When::Weekly { .. } => "recurring",
        };
        println!(
            "  {}  {} → {}  tools: {}  ({kind}){}",
            w.id,
            schedule.local(o.start),
            schedule.local(o.end),
            tools_text(&w.tools),
            who(w)
        );
    }
    if problem.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn tools_text(t: &Tools) -> String {
    match t {
        Tools::Any => "any remote tool".into(),
        Tools::Only(ids) => ids.join(", "),
    }
}

fn who(w: &crate::schedule::MaintenanceWindow) -> String {
    w.technician
        .as_ref()
        .map(|t| format!("  technician: {t}"))
        .unwrap_or_default()
}

/// Which source the daemon runs (from its last `started` record) and which
/// would work here now.
fn source_status(audit_log: &std::path::Path) {
    let text = std::fs::read_to_string(audit_log).unwrap_or_default();
    let last = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["event"] == "started" || r["event"] == "stopped");
    match last {
        Some(r) if r["event"] == "started" => println!(
            "daemon: source {} since {} — {}",
            r["source"].as_str().unwrap_or("?"),
            r["time"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("")
        ),
        Some(r) => println!(
            "daemon: stopped at {} ({})",
            r["time"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("")
        ),
        None => println!(
            "daemon: no start recorded in {} (pass --audit-log FILE)",
            audit_log.display()
        ),
    }
    let here: Vec<String> = source::availability()
        .into_iter()
        .map(|(name, r)| match r {
            Ok(()) => format!("{name}: available"),
            Err(why) => format!("{name}: unavailable — {why}"),
        })
        .collect();
    println!("event sources here: {}", here.join("; "));
}
