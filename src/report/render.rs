//! A report as blocks (title, headings, paragraphs, field lists, tables),
//! and the two ways they are written: Markdown for e-mail and tickets, and
//! a self-contained HTML page that prints on A4. Both come from the same
//! blocks, so they never say different things.

/// What a report is made of, whatever the output format.
pub enum Block {
    /// The document's title.
    Title(String),
    /// A section.
    Heading(String),
    /// A subsection.
    Subheading(String),
    /// A paragraph.
    Para(String),
    /// Name–value pairs.
    Fields(Vec<(String, String)>),
    /// A table with a header row.
    Table {
        /// Column names.
        head: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
}

/// Marks verbatim text (paths, hashes, command lines); each renderer
/// shows it as code.
pub fn code(s: &str) -> String {
    format!("\u{1}{s}\u{2}")
}

fn md_text(s: &str) -> String {
    s.replace(['\u{1}', '\u{2}'], "`")
}

fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\u{1}', "<code>")
        .replace('\u{2}', "</code>")
}

/// The blocks as Markdown.
pub fn markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Title(t) => out.push_str(&format!("# {t}\n\n")),
            Block::Heading(t) => out.push_str(&format!("## {t}\n\n")),
            Block::Subheading(t) => out.push_str(&format!("### {t}\n\n")),
            Block::Para(t) => out.push_str(&format!("{}\n\n", md_text(t))),
            Block::Fields(fields) => {
                for (k, v) in fields {
                    out.push_str(&format!("- **{k}:** {}\n", md_text(v)));
                }
                out.push('\n');
            }
            Block::Table { head, rows } => {
                out.push_str(&format!("| {} |\n", head.join(" | ")));
                out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
                for r in rows {
                    let cells: Vec<String> =
                        r.iter().map(|c| md_text(c).replace('|', "\\|")).collect();
                    out.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
                out.push('\n');
            }
        }
    }
    out
}

/// The blocks as one self-contained HTML page titled `title`.
pub fn html(title: &str, blocks: &[Block]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"it\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n",
        html_text(title),
        include_str!("report.css")
    );
    for block in blocks {
        match block {
            Block::Title(t) => out.push_str(&format!("<h1>{}</h1>\n", html_text(t))),
            Block::Heading(t) => out.push_str(&format!("<h2>{}</h2>\n", html_text(t))),
            Block::Subheading(t) => out.push_str(&format!("<h3>{}</h3>\n", html_text(t))),
            Block::Para(t) => out.push_str(&format!("<p>{}</p>\n", html_text(t))),
            Block::Fields(fields) => {
                out.push_str("<table class=\"fields\">\n");
                for (k, v) in fields {
                    out.push_str(&format!(
                        "<tr><th>{}</th><td>{}</td></tr>\n",
                        html_text(k),
                        html_text(v)
                    ));
                }
                out.push_str("</table>\n");
            }
            Block::Table { head, rows } => {
                out.push_str("<table class=\"list\">\n<thead><tr>");
                for h in head {
                    out.push_str(&format!("<th>{}</th>", html_text(h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        out.push_str(&format!("<td>{}</td>", html_text(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
