//! Finding a policy [`Diagnostic`] in the text of its file.
//!
//! [`compile`](super::compile) names each problem by its *key path*
//! (`commitments[3].clock.within`), because it only sees deserialised
//! values. This module, given the file's text, turns the path into a *span*:
//! the byte range of the value at that path. When the value is absent (a
//! required key that is missing, a default), the span is that of the deepest
//! key or table that does exist; a table is pointed at by its header line
//! (`[[tiers]]`), not its whole body.
//!
//! Errors from the TOML reader arrive the other way round, with a span but
//! no path; for those the path is worked out from the span, and an unknown
//! key gets a "did you mean" hint from the keys serde expected.
//!
//! A *position* is a 1-based line and a 1-based column counted in
//! characters (not bytes), the convention of compilers and most editors'
//! "go to file:line:column".

use std::ops::Range;

use toml_edit::{ArrayOfTables, ImDocument, Item, Table, Value};

use super::{Diagnostic, PathSeg};

/// Fills in what `d` lacks of its position: its span from its path, or,
/// for an error of the TOML reader, its path from its span (plus a hint
/// for an unknown key).
///
/// A diagnostic whose path leads nowhere in `text` keeps `span: None`;
/// nothing is guessed.
pub fn locate(text: &str, d: &mut Diagnostic) {
    match (d.span.clone(), d.path.is_empty()) {
        (None, false) => {
            if let Ok(doc) = ImDocument::parse(text) {
                d.span = span_of(text, Node::Table(doc.as_table()), &d.path);
            }
        }
        (Some(span), true) => locate_reader_error(text, span, d),
        _ => {}
    }
}

/// Completes an error of the TOML reader, which has a span but no path.
fn locate_reader_error(text: &str, span: Range<usize>, d: &mut Diagnostic) {
    // A syntax error leaves no document to walk; the span is all there is.
    // An empty span at 0 is the reader's "whole file" (a missing top-level
    // table), which has no path either.
    if let (Ok(doc), false) = (ImDocument::parse(text), span.is_empty()) {
        d.path = path_at(Node::Table(doc.as_table()), span.start).unwrap_or_default();
    }
    // A table's span runs to its last key; point at its header instead.
    if let (Some(before), Some(from)) = (text.get(..span.start), text.get(span.start..)) {
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if before[line_start..].trim().is_empty() && from.starts_with('[') {
            d.span = Some(header_span(text, span));
        }
    }
    explain_reader_error(d);
}

/// The 1-based line and column (in characters) of a byte offset.
///
/// An offset past the end is read as the end; one inside a multi-byte
/// character as the start of that character.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// One place in the parsed document.
#[derive(Clone, Copy)]
enum Node<'a> {
    /// A `[table]` (or the root, or a table made by a dotted key).
    Table(&'a Table),
    /// A `[[table]]` list.
    Tables(&'a ArrayOfTables),
    /// A value, including arrays and `{ inline = "tables" }`.
    Value(&'a Value),
    /// Nothing there.
    Empty,
}

impl<'a> Node<'a> {
    fn from_item(item: &'a Item) -> Node<'a> {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::Value(v),
            Item::None => Node::Empty,
        }
    }

    /// The child at one path step, with the span of its key for a key step.
    fn child(self, seg: &PathSeg) -> Option<(Node<'a>, Option<Range<usize>>)> {
        let key_value = |pair: Option<(&'a toml_edit::Key, &'a Item)>| {
            pair.map(|(k, item)| (Node::from_item(item), k.span()))
        };
        match (self, seg) {
            (Node::Table(t), PathSeg::Key(k)) => key_value(t.get_key_value(k)),
            (Node::Value(Value::InlineTable(t)), PathSeg::Key(k)) => key_value(t.get_key_value(k)),
            (Node::Tables(a), PathSeg::Index(i)) => a.get(*i).map(|t| (Node::Table(t), None)),
            (Node::Value(Value::Array(a)), PathSeg::Index(i)) => {
                a.get(*i).map(|v| (Node::Value(v), None))
            }
            _ => None,
        }
    }

    /// Every child with its path step and key span, in file order.
    fn children(self) -> Vec<(PathSeg, Option<Range<usize>>, Node<'a>)> {
        let key = |k: &str| PathSeg::Key(k.to_string());
        match self {
            Node::Table(t) => t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k))
                .map(|(k, item)| (key(k.get()), k.span(), Node::from_item(item)))
                .collect(),
            Node::Value(Value::InlineTable(t)) => t
                .iter()
                .filter_map(|(k, _)| t.get_key_value(k))
                .map(|(k, item)| (key(k.get()), k.span(), Node::from_item(item)))
                .collect(),
            Node::Tables(a) => a
                .iter()
                .enumerate()
                .map(|(i, t)| (PathSeg::Index(i), None, Node::Table(t)))
                .collect(),
            Node::Value(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (PathSeg::Index(i), None, Node::Value(v)))
                .collect(),
            Node::Value(_) | Node::Empty => Vec::new(),
        }
    }

    /// The whole extent of the node in the file, if it has one of its own
    /// (a table made only by dotted keys or headers below it has none).
    fn full_span(self) -> Option<Range<usize>> {
        match self {
            Node::Table(t) => t.span().filter(|s| !s.is_empty()),
            Node::Tables(a) => a.span(),
            Node::Value(v) => v.span(),
            Node::Empty => None,
        }
    }

    /// The span to point at: a value's own span, a table's header line.
    fn point_span(self, text: &str) -> Option<Range<usize>> {
        match self {
            Node::Table(_) | Node::Tables(_) => self.full_span().map(|s| header_span(text, s)),
            _ => self.full_span(),
        }
    }
}

/// The span of the value at `path`, else of the deepest key or table found.
fn span_of(text: &str, root: Node<'_>, path: &[PathSeg]) -> Option<Range<usize>> {
    let mut best = None;
    let mut node = root;
    for seg in path {
        let Some((child, key_span)) = node.child(seg) else {
            break;
        };
        if let Some(span) = child.point_span(text).or(key_span) {
            best = Some(span);
        }
        node = child;
    }
    best
}

/// The key path of the deepest key or value whose span holds `offset`.
fn path_at(node: Node<'_>, offset: usize) -> Option<Vec<PathSeg>> {
    let holds = |s: &Range<usize>| s.contains(&offset) || (s.is_empty() && s.start == offset);
    // Children first: a nested `[a.b]` table lies outside `[a]`'s own span.
    for (seg, key_span, child) in node.children() {
        if key_span.as_ref().is_some_and(holds) {
            return Some(vec![seg]);
        }
        if let Some(mut rest) = path_at(child, offset) {
            rest.insert(0, seg);
            return Some(rest);
        }
    }
    node.full_span().filter(holds).map(|_| Vec::new())
}

/// Narrows a table's span, which runs from its header to its last key, to
/// the header itself: `[calendars.hq]` or `[[tiers]]`.
fn header_span(text: &str, span: Range<usize>) -> Range<usize> {
    let body = text.get(span.clone()).unwrap_or("");
    let line_end = body.find('\n').unwrap_or(body.len());
    let line = body[..line_end].trim_end_matches('\r');
    if !line.starts_with('[') {
        return span.start..span.start + line.len();
    }
    // Scan for the closing bracket outside quoted keys ("a]b" is a key).
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == ']' => {
                let close = if line[i + 1..].starts_with(']') { 2 } else { 1 };
                return span.start..span.start + i + close;
            }
            None => {}
        }
    }
    span.start..span.start + line.len()
}

/// Rewords the TOML reader's messages that name Rust types instead of the
/// file's terms, and adds a hint where one is certain.
fn explain_reader_error(d: &mut Diagnostic) {
    if d.message.contains("untagged enum OneOrMany") {
        d.message = "expected a string or a list of strings".into();
    }
    if d.help.is_some() {
        return;
    }
    d.help = if let Some(rest) = d.message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        Some(format!("add `{key}`; docs/policy.md lists every key"))
    } else if d.message.starts_with("invalid string") {
        Some("text values take quotes: time_zone = \"Europe/Berlin\"".into())
    } else if d.message == "invalid type: map, expected a sequence" {
        Some(
            "a list of tables takes double brackets: [[commitments]], [[tiers]], [[alerts]]".into(),
        )
    } else {
        unknown_key_hint(&d.message)
    };
}

/// "did you mean" for serde's `unknown field `x`, expected one of `a`, `b``.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (bad, expected) = rest.split_once('`')?;
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let (score, best) = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&bad.to_lowercase(), k), *k))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    // Above 0.8 Jaro-Winkler pairs a typo with the key meant ("timezone"
    // and "time_zone" 0.98, "desc" and "description" 0.87); the policy's
    // unrelated keys score lower ("within" and "window" 0.56, "tz" and
    // "time_zone" 0.54). compile() uses the same cut for names.
    (score > 0.8).then(|| format!("did you mean `{best}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"[organisation]
calendar = "hq"

[calendars.hq]
time_zone = "Europe/Berlin"
hours.mon = ["09:00-12:00", "11:00-13:00"]

[[tiers]]
name = "high"
any = [{ kind = "demo_request" }]

[[tiers]]
name = "mid"
all = [
  { kind = "case_study_view", count = 3 },
  { kind = "whitepaper_read", minutes = 10 },
]

[[commitments]]
id = "first-touch"
[commitments.clock]
within = "4hrs"
"#;

    fn path(text: &str) -> Vec<PathSeg> {
        let mut out = Vec::new();
        for part in text.split('.') {
            let (key, idx) = part.split_once('[').unwrap_or((part, ""));
            out.push(PathSeg::Key(key.to_string()));
            if let Some(i) = idx.strip_suffix(']') {
                out.push(PathSeg::Index(i.parse().unwrap()));
            }
        }
        out
    }

    /// The text under the span found for a path.
    fn found(p: &str) -> Option<&'static str> {
        let mut d = Diagnostic {
            path: path(p),
            span: None,
            message: "x".into(),
            help: None,
        };
        locate(TEXT, &mut d);
        d.span.map(|s| &TEXT[s])
    }

    #[test]
    fn a_value_is_found_by_its_path() {
        assert_eq!(found("commitments[0].clock.within"), Some("\"4hrs\""));
        assert_eq!(found("calendars.hq.time_zone"), Some("\"Europe/Berlin\""));
        assert_eq!(
            found("calendars.hq.hours.mon"),
            Some(r#"["09:00-12:00", "11:00-13:00"]"#)
        );
        assert_eq!(found("calendars.hq.hours.mon[1]"), Some("\"11:00-13:00\""));
        assert_eq!(
            found("tiers[1].all[1]"),
            Some("{ kind = \"whitepaper_read\", minutes = 10 }")
        );
        assert_eq!(found("tiers[1].all[0].count"), Some("3"));
    }

    #[test]
    fn a_table_is_found_by_its_header_line() {
        assert_eq!(found("tiers[1]"), Some("[[tiers]]"));
        assert_eq!(found("commitments[0].clock"), Some("[commitments.clock]"));
        // `hours` exists only through the dotted key `hours.mon`: its key.
        assert_eq!(found("calendars.hq.hours"), Some("hours"));
        // The second [[tiers]] header starts on line 12.
        let mut d = Diagnostic {
            path: path("tiers[1]"),
            span: None,
            message: "x".into(),
            help: None,
        };
        locate(TEXT, &mut d);
        assert_eq!(line_col(TEXT, d.span.unwrap().start), (12, 1));
    }

    #[test]
    fn a_missing_key_falls_back_to_the_deepest_that_exists() {
        assert_eq!(
            found("commitments[0].clock.stop"),
            Some("[commitments.clock]")
        );
        assert_eq!(found("commitments[0].target"), Some("[[commitments]]"));
        assert_eq!(found("tiers[7].name"), Some("[[tiers]]"));
        assert_eq!(found("metrics.recycle_window"), None);
    }

    #[test]
    fn a_reader_error_gets_its_path_from_its_span() {
        let offset = TEXT.find("minutes").unwrap();
        let mut d = Diagnostic {
            path: Vec::new(),
            span: Some(offset..offset + 7),
            message: "unknown field `minutes`, expected one of `kind`, `count`, `minute`".into(),
            help: None,
        };
        locate(TEXT, &mut d);
        assert_eq!(d.path_text(), "tiers[1].all[1].minutes");
        assert_eq!(d.help.as_deref(), Some("did you mean `minute`?"));
        assert_eq!(d.span, Some(offset..offset + 7));
    }

    /// Runs the real reader and locates its one error.
    fn reader_error(text: &str) -> Diagnostic {
        let mut errors = crate::Policy::from_toml(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let mut d = errors.remove(0);
        locate(text, &mut d);
        d
    }

    #[test]
    fn an_unknown_key_from_the_reader_points_at_the_key() {
        let text = "[organisation]\ncalendar = \"hq\"\n[calendars.hq]\ntimezone = \"UTC\"\n";
        let d = reader_error(text);
        // Line 4 is `timezone = "UTC"`; the key starts the line.
        assert_eq!(line_col(text, d.span.clone().unwrap().start), (4, 1));
        assert_eq!(&text[d.span.clone().unwrap()], "timezone");
        assert_eq!(d.path_text(), "calendars.hq.timezone");
        assert!(
            d.message.contains("expected one of `time_zone`"),
            "{}",
            d.message
        );
        assert_eq!(d.help.as_deref(), Some("did you mean `time_zone`?"));
    }

    #[test]
    fn a_missing_key_from_the_reader_points_at_its_table_header() {
        let text = "[organisation]\ncalendar = \"hq\"\n\n[calendars.hq]\nholidays = []\n";
        let d = reader_error(text);
        assert_eq!(&text[d.span.clone().unwrap()], "[calendars.hq]");
        assert_eq!(d.path_text(), "calendars.hq");
        assert_eq!(d.message, "missing field `time_zone`");
        // A missing [organisation] is a whole-file problem: no path.
        let d = reader_error("[calendars.hq]\ntime_zone = \"UTC\"\n");
        assert_eq!(d.path_text(), "");
        assert_eq!(d.message, "missing field `organisation`");
    }

    #[test]
    fn a_syntax_error_keeps_its_span_and_gets_a_hint() {
        let text = "[organisation]\ncalendar = hq\n";
        let d = reader_error(text);
        // `calendar = ` is 11 characters, so `hq` starts at column 12.
        assert_eq!(line_col(text, d.span.clone().unwrap().start), (2, 12));
        assert!(d.path.is_empty());
        assert!(d.help.as_deref().unwrap_or("").contains("quotes"), "{d:?}");
    }

    #[test]
    fn an_unrelated_unknown_key_gets_no_guess() {
        let msg = "unknown field `tz`, expected one of `time_zone`, `hours`, `holidays`";
        assert_eq!(unknown_key_hint(msg), None);
        let msg = "unknown field `timezone`, expected one of `time_zone`, `hours`, `holidays`";
        assert_eq!(
            unknown_key_hint(msg).as_deref(),
            Some("did you mean `time_zone`?")
        );
        assert_eq!(
            unknown_key_hint("invalid type: integer `7`, expected a string"),
            None
        );
    }

    #[test]
    fn header_scan_skips_brackets_inside_quoted_keys() {
        let text = "[calendars.\"a]b\"]  # note\nx = 1\n";
        assert_eq!(
            &text[header_span(text, 0..text.len())],
            "[calendars.\"a]b\"]"
        );
    }

    #[test]
    fn line_and_column_count_from_one_in_characters() {
        let text = "a = 1\nb = \"é\" x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // "é" is two bytes: the `x` at byte 15 is the 9th character of
        // `b = "é" x` (b, space, =, space, quote, é, quote, space, x).
        assert_eq!(text.find('x'), Some(15));
        assert_eq!(line_col(text, 15), (2, 9));
        // Inside "é" (byte 12) reads as its start, column 6.
        assert_eq!(line_col(text, 12), (2, 6));
        assert_eq!(line_col(text, 999), (3, 1));
    }
}
