//! Problems found in a file IT wrote, located the way editors count.
//!
//! IT fixes the windows file or a catalog extension under time pressure, so
//! every problem carries the line and column it was found at, what is wrong
//! and how to fix it, and is printed as `FILE:LINE:COL: problem — fix`
//! (the shape compilers use, so editors can jump to it).

use std::fmt;
use std::ops::Range;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, in the file's own terms.
    pub problem: String,
    /// What to do about it; empty when the problem says it all.
    pub fix: String,
}

impl Diagnostic {
    /// Locates `span` (byte offsets into `text`) so the message points at
    /// what the user typed rather than at a byte count.
    pub fn at(
        text: &str,
        span: Option<Range<usize>>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        let (line, col) = line_col(text, span.map_or(0, |s| s.start));
        Diagnostic {
            line,
            col,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// Renders the diagnostic for `file`, in the `FILE:LINE:COL: …` form.
    pub fn display<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        DiagnosticIn { file, diag: self }
    }
}

struct DiagnosticIn<'a> {
    file: &'a str,
    diag: &'a Diagnostic,
}

impl fmt::Display for DiagnosticIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diag;
        write!(f, "{}:{}:{}: {}", self.file, d.line, d.col, d.problem)?;
        if !d.fix.is_empty() {
            write!(f, " — {}", d.fix)?;
        }
        Ok(())
    }
}

/// 1-based line and column (in chars) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Renders a list of diagnostics for `file`, one per line.
pub fn render_all(file: &str, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.display(file).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closest of `candidates` to `word`, offered as "did you mean" when a
/// key or name is mistyped; `None` when nothing is close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let text = "a = 1\nbb = 2\n  ccc = 3\n";
        let at = text.find("ccc").unwrap();
        assert_eq!(line_col(text, at), (3, 3));
        assert_eq!(line_col(text, 0), (1, 1));
    }

    #[test]
    fn renders_file_line_col_problem_fix() {
        let d = Diagnostic::at("x\ny", Some(2..3), "bad", "do this");
        assert_eq!(d.display("f.toml").to_string(), "f.toml:2:1: bad — do this");
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            closest("tecnician", ["technician", "ticket"]),
            Some("technician")
        );
        assert_eq!(closest("zzzzzz", ["technician", "ticket"]), None);
    }
}
