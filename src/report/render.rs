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
    format!(
        "{CODE_START}{}{CODE_END}",
        s.replace([CODE_START, CODE_END], "")
    )
}

const CODE_START: char = '\u{1}';
const CODE_END: char = '\u{2}';

/// A piece of a text: plain words or verbatim code.
#[derive(Debug, PartialEq, Eq)]
enum Span {
    Plain(String),
    Code(String),
}

/// Splits a block's text into plain and code pieces. Much of it comes
/// from what a user controlled (an executable's path, a command line, a
/// user name): a stray marker only toggles code, and every control
/// character (line breaks included, which would end a table row or start
/// a new Markdown block) becomes a space.
fn spans(s: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for c in s.chars() {
        match c {
            CODE_START if !in_code => {
                if !current.is_empty() {
                    out.push(Span::Plain(std::mem::take(&mut current)));
                }
                in_code = true;
            }
            CODE_END if in_code => {
                out.push(Span::Code(std::mem::take(&mut current)));
                in_code = false;
            }
            CODE_START | CODE_END => {}
            c if c.is_control() => current.push(' '),
            c => current.push(c),
        }
    }
    if in_code {
        out.push(Span::Code(current));
    } else if !current.is_empty() {
        out.push(Span::Plain(current));
    }
    out
}

/// Markdown for a text: plain words with every character Markdown could
/// read as syntax (emphasis, links, images, raw HTML, entities, tables,
/// strike-through) escaped with a backslash, which CommonMark allows
/// before any ASCII punctuation; code in a code span long enough that no
/// backtick inside can close it. In a table cell a pipe is escaped even
/// inside code, as GFM requires.
fn md_text(s: &str, in_table: bool) -> String {
    let mut out = String::new();
    for span in spans(s) {
        match span {
            Span::Plain(t) => {
                for c in t.chars() {
                    if matches!(
                        c,
                        '\\' | '`'
                            | '*'
                            | '_'
                            | '['
                            | ']'
                            | '<'
                            | '>'
                            | '&'
                            | '|'
                            | '~'
                            | '!'
                            | '#'
                    ) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Span::Code(t) => {
                let longest = t.split(|c| c != '`').map(str::len).max().unwrap_or(0);
                let fence = "`".repeat(longest + 1);
                let pad = if t.starts_with(['`', ' ']) || t.ends_with(['`', ' ']) || t.is_empty() {
                    " "
                } else {
                    ""
                };
                let t = if in_table { t.replace('|', "\\|") } else { t };
                out.push_str(&format!("{fence}{pad}{t}{pad}{fence}"));
            }
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html_text(s: &str) -> String {
    spans(s)
        .into_iter()
        .map(|span| match span {
            Span::Plain(t) => html_escape(&t),
            Span::Code(t) => format!("<code>{}</code>", html_escape(&t)),
        })
        .collect()
}

/// The blocks as Markdown.
pub fn markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Title(t) => out.push_str(&format!("# {}\n\n", md_text(t, false))),
            Block::Heading(t) => out.push_str(&format!("## {}\n\n", md_text(t, false))),
            Block::Subheading(t) => out.push_str(&format!("### {}\n\n", md_text(t, false))),
            Block::Para(t) => out.push_str(&format!("{}\n\n", md_para(t))),
            Block::Fields(fields) => {
                for (k, v) in fields {
                    out.push_str(&format!(
                        "- **{}:** {}\n",
                        md_text(k, false),
                        md_text(v, false)
                    ));
                }
                out.push('\n');
            }
            Block::Table { head, rows } => {
                let row = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| md_text(c, true)).collect();
                    format!("| {} |\n", cells.join(" | "))
                };
                out.push_str(&row(head));
                out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
                for r in rows {
                    out.push_str(&row(r));
                }
                out.push('\n');
            }
        }
    }
    out
}

/// A paragraph: as [`md_text`], without leading spaces (four would make
/// a code block), and with what would open a list, a heading underline
/// or a numbered item at the start of the line escaped too.
fn md_para(t: &str) -> String {
    let text = md_text(t, false);
    let body = text.trim_start();
    let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && body[digits..].starts_with(['.', ')']) {
        return format!("{}\\{}", &body[..digits], &body[digits..]);
    }
    if body.starts_with(['-', '+', '=']) {
        return format!("\\{body}");
    }
    body.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

    /// What a user controls: a path and a command line made to break out
    /// of the report (a table cell, a code span, a link, raw HTML, an
    /// entity, a new line starting a heading), and the code markers.
    const EVIL: &str = "C:\\Users\\x\\a|b*c*_d_ `x`` ``y` [x](javascript:alert(1)) <script>alert(1)</script> <img src=x onerror=alert(1)> &lt; ~~s~~ ![i](http://e/i.png)\n# heading\r\n| --- |\u{1}code?\u{2}\u{7}";

    fn blocks() -> Vec<Block> {
        vec![
            Block::Title(format!("Rapporto {EVIL}")),
            Block::Para(format!("1. {EVIL}")),
            Block::Para(format!("- {EVIL}")),
            Block::Fields(vec![
                ("Eseguibile".into(), code(EVIL)),
                ("Utente".into(), EVIL.into()),
            ]),
            Block::Table {
                head: vec!["Ora".into(), "Strumento".into(), "Riga".into()],
                rows: vec![vec![EVIL.into(), "AnyDesk".into(), code(EVIL)]],
            },
        ]
    }

    /// The text a viewer shows for `s`: markers gone, controls as spaces.
    fn shown(s: &str) -> String {
        s.chars()
            .filter(|c| *c != CODE_START && *c != CODE_END)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }

    #[test]
    fn markdown_from_user_text_is_only_text_in_a_real_parser() {
        let md = markdown(&blocks());
        let mut cells_per_row = Vec::new();
        let mut cells = 0;
        let mut items = 0;
        let mut text = String::new();
        for event in Parser::new_ext(&md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
            match event {
                Event::Html(h) | Event::InlineHtml(h) => panic!("raw HTML got through: {h}\n{md}"),
                Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                    panic!("a link got through:\n{md}")
                }
                Event::Start(Tag::Emphasis | Tag::Strikethrough | Tag::BlockQuote(_)) => {
                    panic!("markup got through:\n{md}")
                }
                // The one list is the field list, one item per field.
                Event::Start(Tag::Item) => items += 1,
                Event::Start(Tag::Heading { .. }) => text.push('\n'),
                Event::Start(Tag::TableCell) => cells += 1,
                Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                    cells_per_row.push(cells);
                    cells = 0;
                }
                Event::Text(t) | Event::Code(t) => text.push_str(&t),
                _ => {}
            }
        }
        assert_eq!(
            cells_per_row,
            [3, 3],
            "a pipe or a line break split a cell:\n{md}"
        );
        assert_eq!(items, 2, "a paragraph became a list item:\n{md}");
        let headings = md.lines().filter(|l| l.starts_with('#')).count();
        assert_eq!(headings, 1, "only the title is a heading:\n{md}");
        let plain = shown(EVIL).replace("  ", " ");
        let seen = text.replace("  ", " ");
        assert!(
            seen.contains(plain.trim()),
            "the text was not kept whole:\n{seen}\nvs\n{plain}"
        );
    }

    #[test]
    fn html_from_user_text_is_only_text() {
        let html = html("t", &blocks());
        for bad in ["<script", "<img", "javascript:alert(1)\">", "href="] {
            assert!(!html.contains(bad), "{bad} got through:\n{html}");
        }
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains('\u{7}'), "a control character got through");
    }

    #[test]
    fn a_code_span_holds_any_run_of_backticks() {
        assert_eq!(md_text(&code("a``b"), false), "```a``b```");
        assert_eq!(md_text(&code("`x"), false), "`` `x ``");
        assert_eq!(md_text(&code("a|b"), true), "`a\\|b`");
    }
}
