//! Mapping files: how the rows of one kind of CSV or JSON Lines file become
//! events.
//!
//! A *mapping* is a TOML file (format in `docs/import.md`) read into the
//! `*Config` types below and then compiled into a [`Mapping`]: templates
//! parsed, time zones and date formats checked, every field checked against
//! the event type's fields. Compiling collects every problem, each as
//! `file:line:column: what`. A *column slot* is the index of a column the
//! mapping reads; the reader resolves slots to positions in each file's
//! header, so evaluation indexes a plain vector.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::format::{Item, StrftimeItems};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// Separator of the parts of an `id` given as a list.
const ID_PART_SEPARATOR: &str = ":";

/// The value of a field that splits text into a list, when `split` is not
/// given.
const DEFAULT_LIST_SEPARATOR: &str = ",";

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingConfig {
    /// Free text for people; not used.
    #[serde(default)]
    #[expect(dead_code, reason = "documentation for people reading the file")]
    description: Option<String>,
    #[serde(default)]
    source: SourceConfig,
    #[serde(default)]
    reject: Vec<RejectConfig>,
    #[serde(default)]
    event: Vec<Spanned<EventConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceConfig {
    format: Option<Spanned<String>>,
    delimiter: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    date_formats: Option<Spanned<Vec<String>>>,
    /// Columns an export may leave out; absent, they read as empty.
    #[serde(default)]
    optional_columns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectConfig {
    when: Spanned<ConditionConfig>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventConfig {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    id: Spanned<IdConfig>,
    at: Spanned<ValueConfig>,
    when: Option<Spanned<ConditionConfig>>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, Spanned<ValueConfig>>,
    #[serde(default)]
    attributes: BTreeMap<Spanned<String>, Spanned<ValueConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a template string or a list of template strings"
)]
enum IdConfig {
    One(String),
    Parts(Vec<String>),
}

/// A value: a template string, a number or boolean constant, or a table.
#[derive(Debug)]
enum ValueConfig {
    Template(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Table(Box<ValueTable>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueTable {
    column: Option<String>,
    template: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    lowercase: bool,
    map: Option<BTreeMap<String, String>>,
    unmapped: Option<Unmapped>,
    fallback: Option<ValueConfig>,
    scale: Option<f64>,
    strip: Option<Vec<String>>,
    split: Option<String>,
    formats: Option<Vec<String>>,
    timezone: Option<String>,
}

impl<'de> Deserialize<'de> for ValueConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = ValueConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a template string, a number, a boolean or a table with `column`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueConfig, E> {
                Ok(ValueConfig::Template(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueConfig, E> {
                Ok(ValueConfig::Integer(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ValueConfig, E> {
                Ok(ValueConfig::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ValueConfig, E> {
                Ok(ValueConfig::Bool(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<ValueConfig, A::Error> {
                Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ValueConfig, A::Error> {
                let table = ValueTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ValueConfig::Table(Box::new(table)))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// What to do with a value a `map` does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmapped {
    /// Pass it through unchanged (the default).
    #[default]
    Keep,
    /// Treat it as empty.
    Empty,
    /// Reject the row.
    Reject,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionConfig {
    column: Option<String>,
    equals: Option<String>,
    #[serde(rename = "in")]
    one_of: Option<Vec<String>>,
    not_in: Option<Vec<String>>,
    present: Option<OneOrMany>,
    empty: Option<OneOrMany>,
    all: Option<Vec<ConditionConfig>>,
    any: Option<Vec<ConditionConfig>>,
    not: Option<Box<ConditionConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a column name or a list of column names")]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

// ---------------------------------------------------------------------------
// The event model's fields, as the mapping sees them.

/// How a field's text is turned into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string.
    Text,
    /// A whole number >= 0.
    Integer,
    /// A decimal number.
    Number,
    /// `true`/`false` (also yes/no, 1/0).
    Bool,
    /// A list of strings split from one cell.
    List,
}

/// One field of an event type.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Its JSON name.
    pub name: &'static str,
    /// How its text is converted.
    pub kind: FieldKind,
    /// Whether every event of the type has it.
    pub required: bool,
}

const fn text(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Text,
        required: false,
    }
}
const fn req(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        kind: FieldKind::Text,
        required: true,
    }
}
const fn of(name: &'static str, kind: FieldKind) -> FieldDef {
    FieldDef {
        name,
        kind,
        required: false,
    }
}

/// Every event type and its fields (besides `id`, `type`, `at`), mirroring
/// `handoff_core::event`; a unit test checks the two agree.
pub const EVENT_TYPES: &[(&str, &[FieldDef])] = &[
    (
        "account",
        &[
            req("account"),
            text("name"),
            text("industry"),
            of("employees", FieldKind::Integer),
            text("country"),
            of("annual_revenue", FieldKind::Number),
            text("region"),
        ],
    ),
    (
        "contact",
        &[
            req("contact"),
            text("account"),
            text("name"),
            text("email"),
            text("title"),
        ],
    ),
    (
        "rep",
        &[
            req("rep"),
            text("name"),
            text("team"),
            text("manager"),
            text("role"),
            text("calendar"),
            text("email"),
        ],
    ),
    (
        "engagement",
        &[
            text("account"),
            text("contact"),
            req("kind"),
            text("asset"),
            of("asset_tags", FieldKind::List),
            of("duration_s", FieldKind::Integer),
            text("channel"),
            text("campaign"),
        ],
    ),
    (
        "stage",
        &[
            req("account"),
            req("stage"),
            text("tier"),
            text("rep"),
            text("reason"),
            text("channel"),
            text("campaign"),
        ],
    ),
    ("handoff", &[req("account"), req("rep"), text("tier")]),
    ("accepted", &[req("account"), text("rep")]),
    ("rejected", &[req("account"), req("reason"), text("rep")]),
    ("nurture", &[req("account"), text("reason")]),
    (
        "activity",
        &[
            req("account"),
            text("rep"),
            req("kind"),
            of("automated", FieldKind::Bool),
        ],
    ),
    (
        "disposition",
        &[
            req("account"),
            req("status"),
            text("next_step"),
            text("rep"),
        ],
    ),
    (
        "opportunity",
        &[
            req("opportunity"),
            req("account"),
            req("stage"),
            of("amount", FieldKind::Number),
            text("currency"),
            text("rep"),
        ],
    ),
    ("reassign", &[req("account"), req("rep"), text("reason")]),
];

/// The only event type with free-form `attributes`.
const ATTRIBUTES_TYPE: &str = "account";

fn fields_of(type_name: &str) -> Option<(&'static str, &'static [FieldDef])> {
    EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == type_name)
        .copied()
}

// ---------------------------------------------------------------------------
// The compiled mapping.

/// The input format of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// A compiled mapping file.
#[derive(Debug)]
pub struct Mapping {
    /// The mapping file, for messages.
    pub path: PathBuf,
    /// The input format, if the mapping fixes it (else from the extension).
    pub format: Option<InputFormat>,
    /// CSV field delimiter.
    pub delimiter: u8,
    /// The columns the mapping reads, by slot.
    pub columns: Vec<ColumnRef>,
    /// Columns a file may lack (`[source] optional_columns`); they read as
    /// empty cells then.
    pub optional_columns: Vec<String>,
    /// Row-level rejection rules, tried first.
    pub rejects: Vec<RejectRule>,
    /// The events one row can produce.
    pub events: Vec<EventMapping>,
}

/// A column the mapping reads.
#[derive(Debug, Clone)]
pub struct ColumnRef {
    /// Its header name (or JSON key).
    pub name: String,
    /// Where the mapping first names it, `file:line`.
    pub named_at: String,
}

/// A rule that rejects a whole row with a fixed reason.
#[derive(Debug)]
pub struct RejectRule {
    /// When it applies.
    pub when: Condition,
    /// The reason recorded with the rejected row.
    pub reason: String,
}

/// How one event is built from a row.
#[derive(Debug)]
pub struct EventMapping {
    /// The event `type`.
    pub type_name: &'static str,
    /// The event id.
    pub id: Template,
    /// The occurrence instant.
    pub at: AtSpec,
    /// The event is built only when this holds.
    pub when: Option<Condition>,
    /// The fields, in the order of the event type.
    pub fields: Vec<FieldMapping>,
    /// `attributes` entries (account events only).
    pub attributes: Vec<(String, ValueSpec)>,
    /// Position of the `[[event]]` entry, for messages: `event 2 (stage)`.
    pub label: String,
}

/// One field of an event and where its value comes from.
#[derive(Debug)]
pub struct FieldMapping {
    /// The field's definition.
    pub def: FieldDef,
    /// Its value.
    pub spec: ValueSpec,
}

/// Where a value comes from.
#[derive(Debug)]
pub enum ValueSpec {
    /// A fixed JSON value (a number or boolean in the mapping).
    Const(serde_json::Value),
    /// Text from the row, transformed.
    Text(TextSpec),
}

/// Text taken from the row and transformed: fallback, map, case, prefix,
/// and for numbers `strip` and `scale`, for lists `split`.
#[derive(Debug)]
pub struct TextSpec {
    /// The column or template read.
    pub source: Template,
    /// Used when `source` is empty.
    pub fallback: Option<Box<TextSpec>>,
    /// Value map applied to the (trimmed) text.
    pub map: Option<HashMap<String, String>>,
    /// What to do with values the map does not list.
    pub unmapped: Unmapped,
    /// Lowercase the text (after the map).
    pub lowercase: bool,
    /// Prepended to the text (after map and case).
    pub prefix: String,
    /// Numbers: substrings removed before parsing (currency signs,
    /// thousands separators).
    pub strip: Vec<String>,
    /// Numbers: multiplier applied after parsing.
    pub scale: Option<f64>,
    /// Lists: separator.
    pub split: String,
}

/// The `at` value: text parsed as a date-time.
#[derive(Debug)]
pub struct AtSpec {
    /// Where the text comes from.
    pub text: TextSpec,
    /// strftime formats tried in order after RFC 3339.
    pub formats: Vec<String>,
    /// Time zone of dates without an offset.
    pub timezone: Option<Tz>,
}

/// A template: literal text with `{column}` placeholders. `{{` and `}}`
/// stand for literal braces.
#[derive(Debug, Clone)]
pub struct Template {
    /// The parts in order.
    pub parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone)]
pub enum Part {
    /// Literal text.
    Literal(String),
    /// The value of a column slot.
    Column(usize),
}

impl Template {
    /// The column slots it reads.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Column(slot) => Some(*slot),
            Part::Literal(_) => None,
        })
    }
}

/// A test on a row.
#[derive(Debug)]
pub enum Condition {
    /// Every listed column is non-empty.
    Present(Vec<usize>),
    /// Every listed column is empty.
    Empty(Vec<usize>),
    /// The column equals the text.
    Equals(usize, String),
    /// The column is one of the texts.
    In(usize, Vec<String>),
    /// The column is none of the texts.
    NotIn(usize, Vec<String>),
    /// All hold.
    All(Vec<Condition>),
    /// At least one holds.
    Any(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
}

// ---------------------------------------------------------------------------
// Compiling.

impl Mapping {
    /// Reads and compiles a mapping file; the error lists every problem as
    /// `file:line:column: what`.
    pub fn load(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading mapping file {}", path.display()))?;
        Mapping::parse(path, &text)
    }

    /// Compiles mapping text; `path` only names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Mapping> {
        let place = Locator {
            file: path.display().to_string(),
            text,
        };
        let config: MappingConfig = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| place.at(&s))
                .unwrap_or_else(|| place.file.clone());
            anyhow::anyhow!(
                "{at}: {}{}",
                e.message().trim_end(),
                place.excerpt(e.span())
            )
        })?;
        let mut compiler = Compiler {
            place: &place,
            columns: Vec::new(),
            problems: Vec::new(),
        };
        let mapping = compiler.mapping(path, config);
        if compiler.problems.is_empty() {
            Ok(mapping)
        } else {
            anyhow::bail!(
                "{} problem(s) in mapping {}:\n{}",
                compiler.problems.len(),
                place.file,
                compiler.problems.join("\n")
            )
        }
    }
}

/// Turns byte offsets into `file:line:column`.
struct Locator<'a> {
    file: String,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: &Range<usize>) -> String {
        let (line, col) = self.line_col(span.start);
        format!("{}:{line}:{col}", self.file)
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn excerpt(&self, span: Option<Range<usize>>) -> String {
        let Some(span) = span else {
            return String::new();
        };
        let (line, _) = self.line_col(span.start);
        match self.text.lines().nth(line - 1) {
            Some(l) => format!("\n  {line} | {l}"),
            None => String::new(),
        }
    }
}

struct Compiler<'a> {
    place: &'a Locator<'a>,
    columns: Vec<ColumnRef>,
    problems: Vec<String>,
}

impl Compiler<'_> {
    fn problem(&mut self, span: &Range<usize>, message: String) {
        let at = self.place.at(span);
        self.problems.push(format!("{at}: {message}"));
    }

    fn mapping(&mut self, path: &Path, config: MappingConfig) -> Mapping {
        let source = config.source;
        let optional_columns = source.optional_columns.clone();
        let format = source.format.as_ref().and_then(|f| self.format(f));
        let delimiter = source
            .delimiter
            .as_ref()
            .map_or(b',', |d| self.delimiter(d));
        let timezone = source
            .timezone
            .as_ref()
            .and_then(|tz| self.timezone(tz.get_ref(), tz.span()));
        let date_formats = source.date_formats.map(|f| {
            let span = f.span();
            let formats = f.into_inner();
            formats
                .iter()
                .for_each(|fmt| self.check_date_format(fmt, &span));
            formats
        });
        let defaults = AtDefaults {
            timezone,
            timezone_named: source.timezone.is_some(),
            formats: date_formats.unwrap_or_default(),
        };

        let rejects = config
            .reject
            .into_iter()
            .map(|r| {
                let span = r.when.span();
                RejectRule {
                    when: self.condition(r.when.into_inner(), &span),
                    reason: r.reason,
                }
            })
            .collect();
        if config.event.is_empty() {
            self.problems.push(format!(
                "{}: no [[event]] entries: a mapping must say which events a row produces",
                self.place.file
            ));
        }
        let events = config
            .event
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| self.event(i + 1, e, &defaults))
            .collect();
        Mapping {
            path: path.to_path_buf(),
            format,
            delimiter,
            columns: std::mem::take(&mut self.columns),
            optional_columns,
            rejects,
            events,
        }
    }

    fn format(&mut self, f: &Spanned<String>) -> Option<InputFormat> {
        match f.get_ref().as_str() {
            "csv" => Some(InputFormat::Csv),
            "jsonl" => Some(InputFormat::JsonLines),
            other => {
                self.problem(
                    &f.span(),
                    format!("source.format: {other:?} is not csv or jsonl"),
                );
                None
            }
        }
    }

    fn delimiter(&mut self, d: &Spanned<String>) -> u8 {
        match d.get_ref().as_bytes() {
            [b] => *b,
            _ => {
                let msg = format!(
                    "source.delimiter: {:?} must be one ASCII character",
                    d.get_ref()
                );
                self.problem(&d.span(), msg);
                b','
            }
        }
    }

    fn timezone(&mut self, name: &str, span: Range<usize>) -> Option<Tz> {
        match name.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let msg = format!(
                    "timezone: {name:?} is not an IANA time zone name (e.g. \"America/Sao_Paulo\")"
                );
                self.problem(&span, msg);
                None
            }
        }
    }

    fn check_date_format(&mut self, format: &str, span: &Range<usize>) {
        if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
            let msg = format!("date format {format:?} is not a valid chrono strftime format");
            self.problem(span, msg);
        }
    }

    fn event(
        &mut self,
        index: usize,
        config: Spanned<EventConfig>,
        defaults: &AtDefaults,
    ) -> Option<EventMapping> {
        let event_span = config.span();
        let config = config.into_inner();
        let type_span = config.kind.span();
        let Some((type_name, defs)) = fields_of(config.kind.get_ref()) else {
            let known: Vec<_> = EVENT_TYPES.iter().map(|(n, _)| *n).collect();
            let msg = format!(
                "event {index}: type {:?} is not an event type; expected one of {}",
                config.kind.get_ref(),
                known.join(", ")
            );
            self.problem(&type_span, msg);
            return None;
        };
        let label = format!("event {index} ({type_name})");

        let id = self.id(config.id, &label);
        let at = self.at(config.at, defaults, &label);
        let when = config.when.map(|w| {
            let span = w.span();
            self.condition(w.into_inner(), &span)
        });
        let fields = self.fields(&label, defs, config.fields, &event_span);
        let attributes = self.attributes(&label, type_name, config.attributes);
        Some(EventMapping {
            type_name,
            id,
            at: at?,
            when,
            fields,
            attributes,
            label,
        })
    }

    fn id(&mut self, id: Spanned<IdConfig>, label: &str) -> Template {
        let span = id.span();
        let text = match id.into_inner() {
            IdConfig::One(s) => s,
            IdConfig::Parts(parts) => parts.join(ID_PART_SEPARATOR),
        };
        let template = self.template(&text, &span, &format!("{label}: id"));
        if template.slots().next().is_none() {
            let msg = format!(
                "{label}: id {text:?} names no column, so every row would get the same id; \
                 add a placeholder such as \"{{record_id}}\""
            );
            self.problem(&span, msg);
        }
        template
    }

    fn at(
        &mut self,
        at: Spanned<ValueConfig>,
        defaults: &AtDefaults,
        label: &str,
    ) -> Option<AtSpec> {
        let span = at.span();
        let what = format!("{label}: at");
        let (formats, timezone) = match at.get_ref() {
            ValueConfig::Table(t) => (t.formats.clone(), t.timezone.clone()),
            _ => (None, None),
        };
        let formats = match formats {
            Some(f) => {
                f.iter().for_each(|fmt| self.check_date_format(fmt, &span));
                f
            }
            None => defaults.formats.clone(),
        };
        // A misspelt zone is reported once, not again as a missing one.
        let named = timezone.is_some() || defaults.timezone_named;
        let timezone = match timezone {
            Some(name) => self.timezone(&name, span.clone()),
            None => defaults.timezone,
        };
        if !named {
            if let Some(naive) = formats.iter().find(|f| !has_offset(f)) {
                let msg = format!(
                    "{what}: date format {naive:?} has no UTC offset, so a time zone is needed: \
                     set timezone = \"Area/City\" under [source] or on this value"
                );
                self.problem(&span, msg);
            }
        }
        let text = self.text_spec(at.into_inner(), &span, &what, FieldKind::Text)?;
        Some(AtSpec {
            text,
            formats,
            timezone,
        })
    }

    fn fields(
        &mut self,
        label: &str,
        defs: &'static [FieldDef],
        given: BTreeMap<Spanned<String>, Spanned<ValueConfig>>,
        event_span: &Range<usize>,
    ) -> Vec<FieldMapping> {
        let mut by_name: HashMap<String, Spanned<ValueConfig>> = HashMap::new();
        for (name, value) in given {
            if !defs.iter().any(|d| d.name == name.get_ref()) {
                let known: Vec<_> = defs.iter().map(|d| d.name).collect();
                let msg = format!(
                    "{label}: fields.{} is not a field of this event type; expected one of {}",
                    name.get_ref(),
                    known.join(", ")
                );
                self.problem(&name.span(), msg);
                continue;
            }
            by_name.insert(name.into_inner(), value);
        }
        let mut fields = Vec::new();
        for def in defs {
            let Some(value) = by_name.remove(def.name) else {
                if def.required {
                    let msg = format!("{label}: fields.{} is required and not given", def.name);
                    self.problem(event_span, msg);
                }
                continue;
            };
            let what = format!("{label}: fields.{}", def.name);
            if let Some(spec) = self.value_spec(value, &what, def.kind) {
                fields.push(FieldMapping { def: *def, spec });
            }
        }
        fields
    }

    fn attributes(
        &mut self,
        label: &str,
        type_name: &str,
        given: BTreeMap<Spanned<String>, Spanned<ValueConfig>>,
    ) -> Vec<(String, ValueSpec)> {
        let mut out = Vec::new();
        for (name, value) in given {
            if type_name != ATTRIBUTES_TYPE {
                let msg = format!("{label}: attributes are only for account events");
                self.problem(&name.span(), msg);
                continue;
            }
            let what = format!("{label}: attributes.{}", name.get_ref());
            if let Some(spec) = self.value_spec(value, &what, FieldKind::Text) {
                out.push((name.into_inner(), spec));
            }
        }
        out
    }

    fn value_spec(
        &mut self,
        value: Spanned<ValueConfig>,
        what: &str,
        kind: FieldKind,
    ) -> Option<ValueSpec> {
        let span = value.span();
        let constant = match value.get_ref() {
            ValueConfig::Integer(i) => Some(serde_json::Value::from(*i)),
            ValueConfig::Float(f) => Some(serde_json::Value::from(*f)),
            ValueConfig::Bool(b) => Some(serde_json::Value::from(*b)),
            _ => None,
        };
        if let Some(constant) = constant {
            let fits = match kind {
                FieldKind::Integer => constant.as_u64().is_some(),
                FieldKind::Number => constant.is_number(),
                FieldKind::Bool => constant.is_boolean(),
                FieldKind::Text | FieldKind::List => false,
            };
            if !fits {
                let msg = format!("{what}: constant {constant} does not fit a {kind:?} field");
                self.problem(&span, msg);
                return None;
            }
            return Some(ValueSpec::Const(constant));
        }
        self.text_spec(value.into_inner(), &span, what, kind)
            .map(ValueSpec::Text)
    }

    fn text_spec(
        &mut self,
        value: ValueConfig,
        span: &Range<usize>,
        what: &str,
        kind: FieldKind,
    ) -> Option<TextSpec> {
        let table = match value {
            ValueConfig::Template(t) => {
                return Some(TextSpec::plain(self.template(&t, span, what)));
            }
            ValueConfig::Table(table) => *table,
            ValueConfig::Integer(_) | ValueConfig::Float(_) | ValueConfig::Bool(_) => {
                let msg = format!("{what}: a fallback must be text: a template or a table");
                self.problem(span, msg);
                return None;
            }
        };
        let source = match (&table.column, &table.template) {
            (Some(column), None) => Template {
                parts: vec![Part::Column(self.slot(column, span))],
            },
            (None, Some(template)) => self.template(template, span, what),
            _ => {
                let msg = format!("{what}: give exactly one of `column` or `template`");
                self.problem(span, msg);
                return None;
            }
        };
        let is_number = matches!(kind, FieldKind::Integer | FieldKind::Number);
        if (table.scale.is_some() || table.strip.is_some()) && !is_number {
            let msg = format!("{what}: `scale` and `strip` apply to number fields only");
            self.problem(span, msg);
        }
        if table.split.is_some() && kind != FieldKind::List {
            self.problem(span, format!("{what}: `split` applies to list fields only"));
        }
        if (table.formats.is_some() || table.timezone.is_some()) && !what.ends_with(": at") {
            self.problem(
                span,
                format!("{what}: `formats` and `timezone` apply to `at` only"),
            );
        }
        let fallback = match table.fallback {
            Some(f) => Some(Box::new(self.text_spec(f, span, what, kind)?)),
            None => None,
        };
        Some(TextSpec {
            source,
            fallback,
            map: table.map.map(|m| m.into_iter().collect()),
            unmapped: table.unmapped.unwrap_or_default(),
            lowercase: table.lowercase,
            prefix: table.prefix.unwrap_or_default(),
            strip: table.strip.unwrap_or_default(),
            scale: table.scale,
            split: table
                .split
                .unwrap_or_else(|| DEFAULT_LIST_SEPARATOR.to_string()),
        })
    }

    fn template(&mut self, text: &str, span: &Range<usize>, what: &str) -> Template {
        match parse_template(text) {
            Ok(pieces) => {
                let parts = pieces
                    .into_iter()
                    .map(|p| match p {
                        Piece::Literal(l) => Part::Literal(l),
                        Piece::Column(c) => Part::Column(self.slot(&c, span)),
                    })
                    .collect();
                Template { parts }
            }
            Err(e) => {
                self.problem(span, format!("{what}: template {text:?}: {e}"));
                Template { parts: Vec::new() }
            }
        }
    }

    fn slot(&mut self, column: &str, span: &Range<usize>) -> usize {
        if let Some(i) = self.columns.iter().position(|c| c.name == column) {
            return i;
        }
        let (line, _) = self.place.line_col(span.start);
        let named_at = format!("{}:{line}", self.place.file);
        self.columns.push(ColumnRef {
            name: column.to_string(),
            named_at,
        });
        self.columns.len() - 1
    }

    fn condition(&mut self, c: ConditionConfig, span: &Range<usize>) -> Condition {
        let mut all = Vec::new();
        let column = c.column.as_ref().map(|name| self.slot(name, span));
        let needs_column = c.equals.is_some() || c.one_of.is_some() || c.not_in.is_some();
        match (column, needs_column) {
            (Some(slot), _) => {
                if let Some(v) = c.equals {
                    all.push(Condition::Equals(slot, v));
                }
                if let Some(v) = c.one_of {
                    all.push(Condition::In(slot, v));
                }
                if let Some(v) = c.not_in {
                    all.push(Condition::NotIn(slot, v));
                }
                if !needs_column {
                    let msg = "when: `column` needs `equals`, `in` or `not_in`".to_string();
                    self.problem(span, msg);
                }
            }
            (None, true) => {
                let msg = "when: `equals`, `in` and `not_in` need `column`".to_string();
                self.problem(span, msg);
            }
            (None, false) => {}
        }
        if let Some(cols) = c.present {
            let slots = cols.into_vec().iter().map(|n| self.slot(n, span)).collect();
            all.push(Condition::Present(slots));
        }
        if let Some(cols) = c.empty {
            let slots = cols.into_vec().iter().map(|n| self.slot(n, span)).collect();
            all.push(Condition::Empty(slots));
        }
        if let Some(list) = c.all {
            all.push(Condition::All(
                list.into_iter().map(|c| self.condition(c, span)).collect(),
            ));
        }
        if let Some(list) = c.any {
            all.push(Condition::Any(
                list.into_iter().map(|c| self.condition(c, span)).collect(),
            ));
        }
        if let Some(inner) = c.not {
            all.push(Condition::Not(Box::new(self.condition(*inner, span))));
        }
        if all.is_empty() {
            self.problem(span, "when: the condition tests nothing".to_string());
        }
        if all.len() == 1 {
            all.pop().expect("length checked just above")
        } else {
            Condition::All(all)
        }
    }
}

struct AtDefaults {
    timezone: Option<Tz>,
    /// Whether `[source]` names a zone (even one that does not exist).
    timezone_named: bool,
    formats: Vec<String>,
}

impl TextSpec {
    fn plain(source: Template) -> TextSpec {
        TextSpec {
            source,
            fallback: None,
            map: None,
            unmapped: Unmapped::Keep,
            lowercase: false,
            prefix: String::new(),
            strip: Vec::new(),
            scale: None,
            split: DEFAULT_LIST_SEPARATOR.to_string(),
        }
    }
}

/// Whether a strftime format carries a UTC offset.
pub fn has_offset(format: &str) -> bool {
    StrftimeItems::new(format).any(|i| {
        use chrono::format::Fixed::*;
        matches!(
            i,
            Item::Fixed(TimezoneOffset | TimezoneOffsetColon | TimezoneOffsetColonZ)
                | Item::Fixed(TimezoneOffsetZ | TimezoneOffsetDoubleColon)
                | Item::Fixed(TimezoneOffsetTripleColon | RFC3339 | RFC2822)
        )
    })
}

#[derive(Debug, PartialEq)]
enum Piece {
    Literal(String),
    Column(String),
}

/// Splits `"mql:{mql_id}:stage"` into literals and column names.
fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err(format!("`{{{name}` is not closed with `}}`"));
                }
                if name.trim().is_empty() || name.contains('{') {
                    return Err("empty or nested `{}`; write `{{` for a literal brace".into());
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Column(name));
            }
            '}' => return Err("lone `}`; write `}}` for a literal brace".into()),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Mapping> {
        Mapping::parse(Path::new("m.toml"), text)
    }

    const MINIMAL: &str = r#"
[source]
timezone = "America/Sao_Paulo"
date_formats = ["%d-%m-%Y"]

[[event]]
type = "stage"
id = ["olist-mql", "{mql_id}"]
at = { column = "first_contact_date" }
[event.fields]
account = "{mql_id}"
stage = "mqa"
channel = { column = "origin" }
"#;

    #[test]
    fn minimal_mapping_compiles_with_three_column_slots() {
        let m = parse(MINIMAL).unwrap();
        let names: Vec<_> = m.columns.iter().map(|c| c.name.as_str()).collect();
        // id reads mql_id first, then at, then the fields in event order.
        assert_eq!(names, ["mql_id", "first_contact_date", "origin"]);
        assert_eq!(m.events.len(), 1);
        assert_eq!(m.events[0].fields.len(), 3);
    }

    #[test]
    fn template_parts_and_escapes() {
        let p = parse_template("mql:{mql_id}:{{x}}").unwrap();
        assert_eq!(
            p,
            [
                Piece::Literal("mql:".into()),
                Piece::Column("mql_id".into()),
                Piece::Literal(":{x}".into())
            ]
        );
        assert!(parse_template("a{b").is_err());
        assert!(parse_template("a}b").is_err());
        assert!(parse_template("{Record ID}").is_ok());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace("column = \"origin\"", "colum = \"origin\"");
        let err = parse(&text).unwrap_err().to_string();
        // `channel = { colum = ... }` is on line 13 of the text.
        assert!(err.starts_with("m.toml:13:"), "{err}");
        assert!(err.contains("colum"), "{err}");
    }

    #[test]
    fn unknown_field_for_type_names_line_and_lists_fields() {
        let text = MINIMAL.replace("channel =", "chanel =");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("m.toml:13:1: event 1 (stage): fields.chanel"),
            "{err}"
        );
        assert!(err.contains("expected one of account, stage"), "{err}");
    }

    #[test]
    fn naive_date_format_without_time_zone_is_an_error() {
        let text = MINIMAL.replace("timezone = \"America/Sao_Paulo\"\n", "");
        let err = parse(&text).unwrap_err().to_string();
        // One line less above it: `at = ...` is now line 8.
        assert!(err.contains("m.toml:8:6: event 1 (stage): at"), "{err}");
        assert!(err.contains("no UTC offset"), "{err}");
    }

    #[test]
    fn bad_time_zone_and_type_are_all_reported() {
        let text = MINIMAL
            .replace("America/Sao_Paulo", "Mars/Olympus")
            .replace("\"stage\"", "\"stag\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("2 problem(s)"), "{err}");
        assert!(
            err.contains("m.toml:3:12: timezone: \"Mars/Olympus\""),
            "{err}"
        );
        assert!(err.contains("m.toml:7:8: event 1: type \"stag\""), "{err}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let text = MINIMAL.replace("stage = \"mqa\"\n", "");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("fields.stage is required"), "{err}");
    }

    #[test]
    fn id_without_placeholder_is_an_error() {
        let text = MINIMAL.replace("[\"olist-mql\", \"{mql_id}\"]", "\"fixed\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("names no column"), "{err}");
    }

    #[test]
    fn scale_on_text_field_is_an_error() {
        let text = MINIMAL.replace("column = \"origin\"", "column = \"origin\", scale = 12");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("fields.channel: `scale` and `strip` apply to number"),
            "{err}"
        );
    }

    #[test]
    fn offset_detection() {
        assert!(has_offset("%Y-%m-%d %H:%M:%S%z"));
        assert!(has_offset("%Y-%m-%dT%H:%M:%S%:z"));
        assert!(!has_offset("%d-%m-%Y %H:%M"));
    }

    /// Every field the mapping schema lists is a field `Event` knows: build
    /// an event with each field set, serialise it, and find the field again.
    #[test]
    fn schema_matches_the_event_model() {
        use handoff_core::event::Event;
        for (type_name, defs) in EVENT_TYPES {
            let mut obj = serde_json::Map::new();
            obj.insert("id".into(), "x".into());
            obj.insert("type".into(), (*type_name).into());
            obj.insert("at".into(), "2026-01-01T00:00:00Z".into());
            for def in *defs {
                let v = match (def.name, def.kind) {
                    ("stage", _) if *type_name == "stage" => "mqa".into(),
                    (_, FieldKind::Text) => "v".into(),
                    (_, FieldKind::Integer) => 3.into(),
                    (_, FieldKind::Number) => 2.5.into(),
                    (_, FieldKind::Bool) => true.into(),
                    (_, FieldKind::List) => serde_json::json!(["t"]),
                };
                obj.insert(def.name.into(), v);
            }
            let event: Event = serde_json::from_value(obj.clone().into())
                .unwrap_or_else(|e| panic!("{type_name}: {e}"));
            let back = serde_json::to_value(&event).unwrap();
            for def in *defs {
                assert_eq!(
                    back.get(def.name),
                    obj.get(def.name),
                    "{type_name}.{}",
                    def.name
                );
            }
        }
    }
}
