//! `varco service install|uninstall|start|stop|run`: enforcement as a
//! Windows service.
//!
//! The service runs as LocalSystem, starts at boot and is restarted by the
//! service manager when it fails, so an operator without administrator
//! rights can neither stop it nor outlast it. Install also prepares what
//! the service relies on: `%ProgramData%\varco` with an access list only
//! SYSTEM and Administrators can change (the service refuses anything
//! else), the example windows file when none exists, the Event Log source,
//! and the session agent at every logon (HKLM Run key).
//!
//! `%ProgramData%` lets any user create a folder in it: a
//! `%ProgramData%\varco` that exists before install and is not the
//! administrators' own may hold a planted windows file, so it is moved
//! aside (kept for IT to inspect) and a new one is created protected from
//! its first instant; a link there (junction, symbolic link) is refused.

/// The service's name in the service manager.
pub const NAME: &str = "varco";

/// What the installed service is started with: `varco service install
/// --config … --trusted-key …` keeps them in the service's command line,
/// which only administrators can change.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The windows file or URL; `None`: the default one.
    pub config: Option<std::path::PathBuf>,
    /// IT's public key; `None`: `trusted.pub` in IT's folder, if present.
    pub trusted_key: Option<std::path::PathBuf>,
    /// How often IT's server is asked (URL mode), seconds.
    pub refresh: u64,
    /// IT's CA certificate (HTTPS URL mode).
    pub ca_cert: Option<std::path::PathBuf>,
}

impl Settings {
    /// The settings as `service run` arguments.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: std::ffi::OsString| {
            args.push(flag.into());
            args.push(value);
        };
        if let Some(c) = &self.config {
            push("--config", c.clone().into_os_string());
        }
        if let Some(k) = &self.trusted_key {
            push("--trusted-key", k.clone().into_os_string());
        }
        if self.refresh != 0 {
            push("--refresh", self.refresh.to_string().into());
        }
        if let Some(c) = &self.ca_cert {
            push("--ca-cert", c.clone().into_os_string());
        }
        args
    }
}

/// Why a service command failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The service manager refused (usually: not run as administrator).
    #[error("{action}: {source} — run this from an administrator prompt (Run as administrator)")]
    Manager {
        /// What was being done.
        action: &'static str,
        /// The error from the service manager.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file, folder or registry value could not be set up.
    #[error("{action}: {source}")]
    Setup {
        /// What was being done.
        action: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// This build has no Windows service.
    #[error(
        "`varco service` manages the Windows service; on Linux install the systemd unit (packaging/linux/install.sh)"
    )]
    NotWindows,
}

#[cfg(windows)]
pub use windows::{install, run_service, start, stop, uninstall};

/// Not available outside Windows.
#[cfg(not(windows))]
pub fn install(_settings: &Settings) -> Result<(), ServiceError> {
    Err(ServiceError::NotWindows)
}
/// Not available outside Windows.
#[cfg(not(windows))]
pub fn uninstall() -> Result<(), ServiceError> {
    Err(ServiceError::NotWindows)
}
/// Not available outside Windows.
#[cfg(not(windows))]
pub fn start() -> Result<(), ServiceError> {
    Err(ServiceError::NotWindows)
}
/// Not available outside Windows.
#[cfg(not(windows))]
pub fn stop() -> Result<(), ServiceError> {
    Err(ServiceError::NotWindows)
}
/// Not available outside Windows.
#[cfg(not(windows))]
pub fn run_service(_settings: Settings) -> Result<(), ServiceError> {
    Err(ServiceError::NotWindows)
}

#[cfg(windows)]
mod windows {
    use std::ffi::{OsStr, OsString};
    use std::sync::Mutex;
    use std::time::Duration;

    use windows_service::service::{
        ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
        ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
        ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_dispatcher;
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    use super::{NAME, ServiceError, Settings};
    use crate::daemon::{self, Options};
    use crate::policy::files::{self, FILE_NAME};
    use crate::source::Choice;
    use crate::source::scan::DEFAULT_INTERVAL;
    use crate::sys::{self, RegValue};

    /// Where Windows starts programs at every user's logon.
    const RUN_KEY: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";
    /// The agent's entry under [`RUN_KEY`].
    const AGENT_ENTRY: &str = "varco-agent";
    /// The Event Log source registration.
    const EVENT_SOURCE_KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\varco";
    /// A message file present on every Windows 10/11 (.NET Framework 4)
    /// that prints an entry's string as is.
    const EVENT_MESSAGE_FILE: &str =
        r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll";
    /// Registers varco's AppUserModelID, so toasts say "varco".
    const APP_ID_KEY: &str = r"Software\Classes\AppUserModelId\it.varco.Agent";
    /// The windows file written when IT has none yet: it opens no window
    /// (the example's weekly window would admit every tool until 2027).
    const DEFAULT_WINDOWS: &str = include_str!("../config/approved-windows.default.toml");
    /// What Windows answers for a configuration level its service manager
    /// does not implement (Wine has no restart-on-failure actions).
    const ERROR_INVALID_LEVEL: i32 = 124;

    fn manager(
        action: &'static str,
        access: ServiceManagerAccess,
    ) -> Result<ServiceManager, ServiceError> {
        ServiceManager::local_computer(None::<&str>, access).map_err(|e| ServiceError::Manager {
            action,
            source: Box::new(e),
        })
    }

    fn scm<T>(action: &'static str, r: windows_service::Result<T>) -> Result<T, ServiceError> {
        r.map_err(|e| {
            // windows-service says only "IO error in winapi call"; the OS
            // error behind it is what an administrator can act on.
            let text = match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            };
            ServiceError::Manager {
                action,
                source: text.into(),
            }
        })
    }

    fn setup<T>(action: impl Into<String>, r: std::io::Result<T>) -> Result<T, ServiceError> {
        r.map_err(|source| ServiceError::Setup {
            action: action.into(),
            source,
        })
    }

    /// Installs the service (LocalSystem, automatic start, restart on
    /// failure), the protected `%ProgramData%\varco`, the Event Log source
    /// and the agent at logon. Run again to repair; it does not start the
    /// service (`varco service start` does).
    pub fn install(settings: &Settings) -> Result<(), ServiceError> {
        let exe = setup("cannot find varco.exe's own path", std::env::current_exe())?;
        let dir = files::system_dir().ok_or_else(|| ServiceError::Setup {
            action: "%ProgramData% is not set".into(),
            source: std::io::Error::other("no ProgramData variable"),
        })?;
        prepare_dir(&dir)?;
        let file = dir.join(FILE_NAME);
        if !file.exists() {
            setup(
                format!("cannot write {}", file.display()),
                std::fs::write(&file, DEFAULT_WINDOWS),
            )?;
        }
        setup(
            format!(
                "cannot restrict {} to Administrators and SYSTEM",
                dir.display()
            ),
            sys::protect_dir(&dir),
        )?;
        println!(
            "{}: only Administrators and SYSTEM can change it",
            dir.display()
        );

        let m = manager(
            "cannot open the service manager",
            ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
        )?;
        let info = ServiceInfo {
            name: OsString::from(NAME),
            display_name: OsString::from("varco - remote-access gatekeeper"),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: exe.clone(),
            launch_arguments: [OsString::from("service"), OsString::from("run")]
                .into_iter()
                .chain(settings.to_args())
                .collect(),
            dependencies: vec![],
            account_name: None, // LocalSystem
            account_password: None,
        };
        let access = ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_STATUS;
        let service = match m.open_service(NAME, access) {
            Ok(s) => {
                scm("cannot update the varco service", s.change_config(&info))?;
                s
            }
            Err(_) => scm(
                "cannot create the varco service",
                m.create_service(&info, access),
            )?,
        };
        scm(
            "cannot describe the service",
            service.set_description(
                "Stops remote-access tools (AnyDesk, TeamViewer, ...) outside the maintenance windows approved by IT.",
            ),
        )?;
        println!("service {NAME}: installed (LocalSystem, automatic start)");
        // The remaining steps are independent: each is tried, and every
        // failure is reported, so one missing piece never hides another.
        let mut failures = Vec::new();
        let restart = |secs| ServiceAction {
            action_type: ServiceActionType::Restart,
            delay: Duration::from_secs(secs),
        };
        let actions = service
            .update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
                reboot_msg: None,
                command: None,
                actions: Some(vec![restart(5), restart(5), restart(30)]),
            })
            // A stop with an error code (e.g. the event source died) counts
            // as a failure too, not only a crash.
            .and_then(|()| service.set_failure_actions_on_non_crash_failures(true));
        match actions {
            Ok(()) => println!("service {NAME}: restarted 5 s after a failure (then 5 s, 30 s)"),
            // Never on Windows; reported, and the rest of the installation
            // (which the MSI runs as one step) goes on.
            Err(windows_service::Error::Winapi(e))
                if e.raw_os_error() == Some(ERROR_INVALID_LEVEL) =>
            {
                eprintln!(
                    "warning: service {NAME}: this service manager cannot restart services on failure ({e}): not set"
                )
            }
            Err(e) => {
                if let Err(e) = scm("cannot set the restart-on-failure actions", Err::<(), _>(e)) {
                    failures.push(e);
                }
            }
        }

        let event_source = setup(
            "cannot register the Event Log source varco",
            sys::set_machine_value(
                EVENT_SOURCE_KEY,
                "EventMessageFile",
                RegValue::ExpandText(EVENT_MESSAGE_FILE),
            )
            .and_then(|()| {
                sys::set_machine_value(EVENT_SOURCE_KEY, "TypesSupported", RegValue::Number(7))
            }),
        );
        match event_source {
            Ok(()) => println!("Event Log: Application, source {NAME}"),
            Err(e) => failures.push(e),
        }
        if let Err(e) = setup(
            "cannot register varco's notification identity",
            sys::set_machine_value(APP_ID_KEY, "DisplayName", RegValue::Text("varco")),
        ) {
            failures.push(e);
        }
        let agent = format!("\"{}\" agent", exe.display());
        match setup(
            "cannot register the session agent at logon",
            sys::set_machine_value(RUN_KEY, AGENT_ENTRY, RegValue::Text(&agent)),
        ) {
            Ok(()) => println!("session agent: starts at every logon ({agent})"),
            Err(e) => failures.push(e),
        }
        match failures.len() {
            0 => Ok(()),
            1 => Err(failures.remove(0)),
            _ => Err(ServiceError::Setup {
                action: "the installation is incomplete".into(),
                source: std::io::Error::other(
                    failures
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            }),
        }
    }

    /// Makes sure `dir` is the administrators' own folder: created
    /// protected when missing; moved aside and created anew when someone
    /// else made it (or made it writable to others); refused when it is a
    /// link to another place.
    fn prepare_dir(dir: &std::path::Path) -> Result<(), ServiceError> {
        let why = match sys::dir_untrusted_reason(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ServiceError::Setup {
                    action: format!("cannot read the permissions of {}", dir.display()),
                    source: e,
                });
            }
            Ok(None) => return Ok(()),
            Ok(Some(why)) => Some(why),
        };
        if let Some(why) = why {
            if why.contains("is a link") {
                return Err(ServiceError::Setup {
                    action: format!(
                        "refusing {}: {why}; someone may have planted it: remove the link (rmdir {}, which leaves its target alone) and run install again",
                        dir.display(),
                        dir.display()
                    ),
                    source: std::io::Error::other("planted link"),
                });
            }
            let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
            let aside = dir.with_file_name(format!("varco.untrusted-{stamp}"));
            setup(
                format!(
                    "{} existed and {why}; it may hold planted files, and cannot be moved aside to {} — remove it and run install again",
                    dir.display(),
                    aside.display()
                ),
                std::fs::rename(dir, &aside),
            )?;
            println!(
                "{} existed and {why}: moved to {} (inspect it: it may hold planted files)",
                dir.display(),
                aside.display()
            );
        }
        setup(
            format!("cannot create {}", dir.display()),
            sys::create_protected_dir(dir),
        )?;
        Ok(())
    }

    /// Stops and removes the service, the agent's logon entry and the
    /// Event Log source. `%ProgramData%\varco` (the windows file and the
    /// audit log) is kept: it is IT's record.
    pub fn uninstall() -> Result<(), ServiceError> {
        let m = manager(
            "cannot open the service manager",
            ServiceManagerAccess::CONNECT,
        )?;
        let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
        if let Ok(service) = m.open_service(NAME, access) {
            if scm("cannot query the service", service.query_status())?.current_state
                != ServiceState::Stopped
            {
                let _ = service.stop();
            }
            scm("cannot delete the varco service", service.delete())?;
            println!("service {NAME}: removed");
        } else {
            println!("service {NAME}: was not installed");
        }
        setup(
            "cannot remove the session agent's logon entry",
            sys::delete_machine_value(RUN_KEY, AGENT_ENTRY),
        )?;
        setup(
            "cannot remove the Event Log source",
            sys::delete_machine_key(EVENT_SOURCE_KEY),
        )?;
        setup(
            "cannot remove varco's notification identity",
            sys::delete_machine_key(APP_ID_KEY),
        )?;
        if let Some(dir) = files::system_dir() {
            println!("kept {} (windows file and audit log)", dir.display());
        }
        Ok(())
    }

    /// Starts the installed service.
    pub fn start() -> Result<(), ServiceError> {
        let m = manager(
            "cannot open the service manager",
            ServiceManagerAccess::CONNECT,
        )?;
        let service = scm(
            "cannot open the varco service (is it installed? `varco service install`)",
            m.open_service(NAME, ServiceAccess::START | ServiceAccess::QUERY_STATUS),
        )?;
        scm(
            "cannot start the varco service",
            service.start::<&OsStr>(&[]),
        )?;
        println!("service {NAME}: start requested");
        Ok(())
    }

    /// Stops the service. Enforcement is off until it starts again (or
    /// the next boot).
    pub fn stop() -> Result<(), ServiceError> {
        let m = manager(
            "cannot open the service manager",
            ServiceManagerAccess::CONNECT,
        )?;
        let service = scm(
            "cannot open the varco service",
            m.open_service(NAME, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS),
        )?;
        scm("cannot stop the varco service", service.stop())?;
        println!(
            "service {NAME}: stop requested — remote tools are NOT enforced until it starts again"
        );
        Ok(())
    }

    windows_service::define_windows_service!(ffi_service_main, service_main);

    /// Hands this process to the service manager (`varco service run`,
    /// the command line the service is installed with).
    pub fn run_service(settings: Settings) -> Result<(), ServiceError> {
        // The dispatcher calls back without a way to pass them along.
        let _ = SETTINGS.set(settings);
        scm(
            "varco service run is started by the service manager, not by hand (use `varco run` in a console)",
            service_dispatcher::start(NAME, ffi_service_main),
        )
    }

    /// What `service run` was started with, for `service_main`.
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

    fn service_main(_arguments: Vec<OsString>) {
        if let Err(e) = serve() {
            tracing::error!("the varco service failed: {e}");
        }
    }

    fn serve() -> Result<(), windows_service::Error> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_tx = Mutex::new(Some(stop_tx));
        let handler = move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                if let Some(tx) = stop_tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(());
                }
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let status = service_control_handler::register(NAME, handler)?;
        let report = |state, exit_code| ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code,
            checkpoint: 0,
            wait_hint: Duration::from_secs(5),
            process_id: None,
        };
        status.set_service_status(report(ServiceState::Running, ServiceExitCode::Win32(0)))?;
        let settings = SETTINGS.get().cloned().unwrap_or_default();
        // An unreadable CA file fails the fetch, recorded: nothing opens.
        let ca_cert = settings.ca_cert.as_deref().and_then(|p| {
            crate::daemon::fetch::read_ca_cert(p)
                .map_err(|e| tracing::error!("{e}"))
                .ok()
        });
        let options = Options {
            config: settings
                .config
                .map_or_else(files::default_source, files::ConfigSource::from_arg),
            audit_log: crate::effect::audit::default_path(),
            mode: None,
            poll: DEFAULT_INTERVAL,
            source: Choice::Auto,
            fanotify_only: Vec::new(),
            // A service has no desktop: the session agents show its
            // notices, over their named pipes.
            notify: daemon::NotifyRoute::Agent,
            agent_base: std::path::PathBuf::from(crate::agent::DEFAULT_BASE),
            catalog: None,
            key: files::KeySource::new(settings.trusted_key),
            state_dir: crate::daemon::state::default_dir(),
            refresh: if settings.refresh == 0 {
                crate::daemon::fetch::DEFAULT_REFRESH
            } else {
                Duration::from_secs(settings.refresh)
            },
            ca_cert,
            control: std::path::PathBuf::from(crate::control::SYSTEM_SOCKET),
        };
        let exit = match daemon::run_until(options, stop_rx) {
            Ok(()) => ServiceExitCode::Win32(0),
            Err(e) => {
                tracing::error!("{e}");
                // A service-specific code makes the manager apply the
                // restart-on-failure actions.
                ServiceExitCode::ServiceSpecific(1)
            }
        };
        status.set_service_status(report(ServiceState::Stopped, exit))?;
        Ok(())
    }
}
