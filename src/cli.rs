//! The command line: parses arguments, calls the library, and turns errors
//! into messages that say what happened and what to do.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

use crate::catalog::Catalog;
use crate::config::{self, ConfigSource};
use crate::daemon::{self, Options};
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
        /// IT's catalog extension [default: catalog.toml next to the
        /// windows file, if present].
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
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
    let default_level = if matches!(cli.command, Command::Run { .. }) {
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
            source,
            fanotify_only,
            catalog,
        } => {
            let options = Options {
                config: config.map_or_else(config::default_source, ConfigSource::File),
                audit_log: audit_log.unwrap_or_else(config::default_audit_log),
                mode: mode.map(Mode::from),
                poll: Duration::from_millis(poll_ms),
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
