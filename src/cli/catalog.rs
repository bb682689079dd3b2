//! `varco catalog list|lookup`: what varco knows, and whether a name or a
//! file is a known tool.

use std::path::Path;
use std::process::ExitCode;

use super::args::{CatalogCommand, CatalogFile, TrustedKeyFile};
use crate::facts::ProcessFacts;
use crate::policy::catalog::Catalog;
use crate::policy::files;
use crate::policy::identify::Identifier;

/// Runs `varco catalog COMMAND`.
pub fn catalog(embedded: &Catalog, command: CatalogCommand, extension: CatalogFile) -> ExitCode {
    let catalog = match super::trust(TrustedKeyFile { path: None })
        .and_then(|t| super::with_extension(embedded, extension, &files::default_source(), &t))
    {
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

/// `varco catalog lookup NAME|PATH`: a name prints the id, as scripts
/// expect; a file prints the id and how it was recognised.
fn lookup(catalog: &Catalog, name: &str) -> ExitCode {
    let path = Path::new(name);
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
    let facts = ProcessFacts::of_file(path);
    match Identifier::new().identify(catalog, &facts) {
        Ok(Some(f)) => {
            println!(
                "{}  matched_by={}  ({})",
                f.tool.id,
                f.matched_by.as_str(),
                f.matched
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("{name}: not a known remote-access tool");
            ExitCode::FAILURE
        }
        // The file is not judged a tool, but not cleanly either: say why,
        // so IT can look at it.
        Err(e) if !e.fails_closed() => {
            eprintln!("{name}: not a known remote-access tool, but: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(3)
        }
    }
}
