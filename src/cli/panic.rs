//! `varco panic` and `varco resume`: the operator's button and the
//! administrator's answer, sent to the running daemon over its control
//! endpoint. Who asks is decided by the daemon from the OS, never from
//! anything said here.

use std::path::Path;
use std::process::ExitCode;

use crate::control::{self, Answer, Request};
use crate::messages::{Lang, Notice, Texts};
use crate::policy::catalog::Catalog;
use crate::policy::files;
use crate::policy::schedule::Contact;

/// `varco panic`: prints the confirmation (the daemon also shows it as a
/// notification). When the daemon cannot be reached, says so on screen
/// too: the operator must close the tool by hand.
pub fn panic(socket: Option<&Path>, embedded: &Catalog) -> ExitCode {
    let endpoint = socket.map_or_else(control::default_socket, Path::to_path_buf);
    let texts = Texts::load(Lang::from_env());
    match control::ask(&endpoint, Request::Panic) {
        Ok(Answer::Panicked {
            stopped,
            lapse,
            company,
            phone,
            ..
        }) => {
            let contact = Contact {
                company,
                phone,
                ..Contact::default()
            };
            let m = texts.render(&Notice::panic(&stopped, lapse, &contact));
            println!("{}\n\n{}", m.title, m.body);
            ExitCode::SUCCESS
        }
        Ok(Answer::Refused { why }) => {
            eprintln!("varco panic: refused: {why}");
            ExitCode::FAILURE
        }
        Ok(other) => {
            eprintln!("varco panic: unexpected answer {other:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("varco panic: {e}");
            let m = texts.render(&Notice::unreachable(&known_contact(embedded)));
            eprintln!("\n{}\n\n{}", m.title, m.body);
            show_here(&m);
            ExitCode::FAILURE
        }
    }
}

/// `varco resume`: only an administrator is obeyed (the daemon checks).
pub fn resume(socket: Option<&Path>) -> ExitCode {
    let endpoint = socket.map_or_else(control::default_socket, Path::to_path_buf);
    match control::ask(&endpoint, Request::Resume) {
        Ok(Answer::Resumed {
            was_suspended: true,
        }) => {
            println!("varco resume: the suspended maintenance windows apply again");
            ExitCode::SUCCESS
        }
        Ok(Answer::Resumed {
            was_suspended: false,
        }) => {
            println!("varco resume: no suspension was in force");
            ExitCode::SUCCESS
        }
        Ok(Answer::Refused { why }) => {
            eprintln!("varco resume: refused: {why}");
            ExitCode::from(77)
        }
        Ok(other) => {
            eprintln!("varco resume: unexpected answer {other:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("varco resume: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whom to call back, from the windows file when it can be read.
fn known_contact(embedded: &Catalog) -> Contact {
    match files::default_source() {
        files::ConfigSource::File(p) => {
            let trust =
                super::trust(super::args::TrustedKeyFile { path: None }).unwrap_or_default();
            files::load(&p, embedded, &trust)
                .map(|s| s.contact)
                .unwrap_or_default()
        }
        files::ConfigSource::Url(_) | files::ConfigSource::EmbeddedDefault => Contact::default(),
    }
}

/// Shows `m` in this desktop session (a launcher has no terminal), for at
/// most a few seconds.
fn show_here(m: &crate::messages::Message) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let show = crate::effect::notify::deliver(m, crate::effect::notify::Level::Critical);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), show).await;
    });
}
