//! `varco audit verify FILE…`: checks the audit log's hash chain and
//! prints its head, for IT to compare with the last `chain_head` the log
//! collector (syslog, the Event Log, the journal) received.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::AuditCommand;
use crate::effect::audit::chain::{self, Checked, Start};

/// Runs `varco audit COMMAND`.
pub fn audit(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify { files } => verify(&files),
    }
}

/// Exit 0: intact (how many records, the head); 1: broken (where); 2:
/// a file cannot be read.
fn verify(paths: &[PathBuf]) -> ExitCode {
    let mut texts = Vec::new();
    for p in paths {
        match std::fs::read(p) {
            Ok(b) => texts.push((p.display().to_string(), b)),
            Err(e) => {
                eprintln!("varco audit verify: cannot read {}: {e}", p.display());
                return ExitCode::from(2);
            }
        }
    }
    // The file the oldest one was rotated from, when it is beside it.
    let before = paths
        .first()
        .and_then(|p| chain::predecessor(p))
        .and_then(|b| {
            let bytes = std::fs::read(&b).ok()?;
            let last = chain::lines(&bytes).last().map(chain::line_hash)?;
            Some((b.display().to_string(), last))
        });
    let files: Vec<Checked<'_>> = texts
        .iter()
        .map(|(name, bytes)| Checked { name, bytes })
        .collect();
    match chain::verify(
        &files,
        before.as_ref().map(|(n, h)| (n.as_str(), h.clone())),
    ) {
        Ok(ok) => {
            let names: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
            println!(
                "{}: chain intact, {} record(s) checked",
                names.join(", "),
                ok.records
            );
            match &ok.start {
                Start::New => println!("starts: a new log (64 zeros)"),
                Start::After(name) => println!("starts: after the last line of {name} (checked)"),
                Start::AfterUnchained => println!(
                    "starts: after {} line(s) written before the chain existed",
                    ok.unchained
                ),
                Start::Unchecked => println!(
                    "starts: after the last line of an earlier file that is not here — if the log was not rotated, lines were removed from its start"
                ),
                Start::Empty => println!("no record carries a chain link"),
            }
            if ok.unchained > 0 && ok.start != Start::AfterUnchained {
                println!(
                    "{} line(s) are not records (a write cut short by a crash); the chain runs through them",
                    ok.unchained
                );
            }
            if let Some(head) = &ok.head {
                println!(
                    "head: line {} of {}, sha256 {head}",
                    ok.last_file_lines,
                    names.last().unwrap_or(&"")
                );
                println!(
                    "compare it with the last chain_head your log collector received: a log that no longer holds that head was cut short or rewritten"
                );
            }
            ExitCode::SUCCESS
        }
        Err(broken) => {
            eprintln!("{broken}");
            eprintln!(
                "the audit log was changed after varco wrote it: keep this copy as it is, and compare with what syslog or the Event Log received"
            );
            ExitCode::FAILURE
        }
    }
}
