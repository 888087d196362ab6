//! `handoff import`: CSV and JSON Lines files into the event log.
//!
//! A file in handoff's own event model (JSON Lines, `docs/events.md`) needs
//! no mapping. Any other file is read through a *mapping* ([`Mapping`],
//! `docs/import.md`) that turns each row into events. A row that cannot be
//! turned into events is a *reject*: it is written, with file, line, reason
//! and the raw text, to the reject file (`<db>.rejects.jsonl` unless
//! `--rejects` says otherwise; it holds the rejects of the latest run) and to
//! the store's `rejected_rows` table (which keeps them all). Every event a
//! row produces is checked with [`Event::validate`] (non-blank ids, ARR 0 or
//! more) before it reaches the store; one that fails rejects its row. The
//! run ends with a summary on stderr: rows read, events imported, duplicate
//! and conflicting, rows rejected, and the first reject reasons and
//! conflicts.

mod apply;
pub(crate) mod event_json;
mod lines;
mod mapping;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use handoff_core::event::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use apply::{localize, parse_at};
pub use mapping::{FieldDef, FieldKind, InputFormat, Mapping, Unmapped, EVENT_TYPES};

use crate::cli::{ImportArgs, EXIT_OK, EXIT_PROBLEMS};
use crate::store::{AppendOutcome, Conflict, Location, Provenance, RejectedRow, Store};
use lines::LineTracker;

/// Events appended per transaction. Large enough that the per-commit cost
/// vanishes, small enough to bound memory on big files.
const BATCH_EVENTS: usize = 50_000;

/// Files smaller than this get no progress bar: they finish too fast for
/// one to help.
const PROGRESS_MIN_BYTES: u64 = 1 << 20;

/// Conflicts listed one by one in the summary; the rest are counted.
const CONFLICTS_LISTED: usize = 5;

/// Reject reasons listed in the summary; the rest are in the reject file.
const REJECTS_LISTED: usize = 5;

/// The counts of one file or one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Data rows (CSV records or non-blank JSON lines) read.
    pub rows: u64,
    /// Events the accepted rows produced.
    pub events: u64,
    /// Events stored for the first time.
    pub imported: u64,
    /// Events already stored with the identical payload.
    pub duplicates: u64,
    /// Events already stored with a different payload (first kept).
    pub conflicts: u64,
    /// Rows rejected.
    pub rejected: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.rows += other.rows;
        self.events += other.events;
        self.imported += other.imported;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.rejected += other.rejected;
    }

    /// The summary line, e.g. `8000 rows read, 16000 events: 16000
    /// imported, 0 duplicate, 0 conflicting; 0 rows rejected`.
    pub fn summary(&self) -> String {
        format!(
            "{} rows read, {} events: {} imported, {} duplicate, {} conflicting; {} rows rejected",
            self.rows, self.events, self.imported, self.duplicates, self.conflicts, self.rejected
        )
    }
}

/// Runs `handoff import`.
pub fn run(args: &ImportArgs) -> Result<u8> {
    let mapping = args.mapping.as_deref().map(Mapping::load).transpose()?;
    let db = args.store.location()?;
    let mut store = Store::open_at(&db)?;
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| rejects_path_for(&db));
    let mut rejects = RejectFile::new(rejects_path)?;
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    // The adapter's own reading of the wall clock, recorded with conflicts
    // and rejects; the store reads none.
    let received_at = chrono::Utc::now().to_rfc3339();

    let mut total = Tally::default();
    let mut conflicts = Vec::new();
    for file in &args.files {
        let mut importer = FileImport {
            store: &mut store,
            rejects: &mut rejects,
            received_at: &received_at,
            tally: Tally::default(),
            conflicts: &mut conflicts,
        };
        importer.run(file, mapping.as_ref(), show_progress)?;
        eprintln!("handoff: {}: {}", file.display(), importer.tally.summary());
        total.add(&importer.tally);
    }
    print_summary(&total, &conflicts, &rejects, args.files.len());
    tracing::info!(
        rows = total.rows,
        imported = total.imported,
        duplicates = total.duplicates,
        conflicts = total.conflicts,
        rejected = total.rejected,
        "import finished"
    );

    rebuild(&mut store, args.store.policy.as_deref())?;
    let problems = total.rejected > 0 || total.conflicts > 0;
    Ok(if args.strict && problems {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}

/// Replays the log so derived state reflects the import, under the policy
/// file given, else the store's (see [`crate::replay::rebuild`]).
fn rebuild(store: &mut Store, policy: Option<&Path>) -> Result<()> {
    let summary = crate::replay::rebuild(store, policy).context(
        "the events are stored, but rebuilding the derived state failed; \
         fix the cause and run `handoff rebuild`",
    )?;
    eprintln!(
        "handoff: rebuilt {} accounts from {} events: {} alerts, {} data warnings",
        summary.accounts,
        summary.events,
        summary.alerts,
        summary.warnings.len()
    );
    summary.print_warnings(crate::replay::WARNINGS_SHOWN);
    Ok(())
}

/// The default reject file: `<db>.rejects.jsonl` beside a SQLite file, or
/// `<database name>.rejects.jsonl` in the current folder for PostgreSQL.
pub fn rejects_path_for(db: &Location) -> PathBuf {
    db.sibling_file(".rejects.jsonl")
}

fn print_summary(total: &Tally, conflicts: &[Conflict], rejects: &RejectFile, files: usize) {
    if files > 1 {
        eprintln!("handoff: total: {}", total.summary());
    }
    for c in conflicts.iter().take(CONFLICTS_LISTED) {
        eprintln!(
            "handoff: conflict: event {:?} from {} differs from the stored one; the stored one \
             is kept and both are in the conflicts table\n  kept:     {}\n  rejected: {}",
            c.id, c.source, c.kept, c.rejected
        );
    }
    if conflicts.len() > CONFLICTS_LISTED {
        eprintln!(
            "handoff: ... and {} more conflicts",
            conflicts.len() - CONFLICTS_LISTED
        );
    }
    if !conflicts.is_empty() {
        eprintln!("handoff: {}", conflict_advice(conflicts.len()));
    }
    if total.rejected > 0 {
        eprintln!(
            "handoff: {} rejected rows written to {} (and kept in the database's rejected_rows; \
             --strict makes them fail the command)",
            total.rejected,
            rejects.path.display()
        );
        for reject in &rejects.first {
            eprintln!("handoff: {reject}");
        }
        let more = total.rejected.saturating_sub(rejects.first.len() as u64);
        if more > 0 {
            eprintln!("handoff: ... and {more} more in {}", rejects.path.display());
        }
    }
}

/// What the store does with conflicts and how to correct a wrong import.
fn conflict_advice(count: usize) -> String {
    let events = if count == 1 { "event" } else { "events" };
    format!(
        "{count} conflicting {events}: the store keeps the first version of an id; to correct \
         events imported wrongly, import into a fresh database (or give the corrected events \
         new ids)"
    )
}

/// The reject file of this run: replaced at the first reject, so it never
/// mixes runs; a stale one from an earlier run is removed.
struct RejectFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// The run's first rejects as `file:line: reason`, for the summary.
    first: Vec<String>,
}

impl RejectFile {
    fn new(path: PathBuf) -> Result<RejectFile> {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing old {}", path.display()));
            }
        }
        Ok(RejectFile {
            path,
            out: None,
            first: Vec::new(),
        })
    }

    fn write(&mut self, rows: &[RejectedRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.out.is_none() {
            let file = File::create(&self.path)
                .with_context(|| format!("creating reject file {}", self.path.display()))?;
            self.out = Some(BufWriter::new(file));
        }
        // Set just above.
        let out = self.out.as_mut().expect("reject file opened above");
        for row in rows {
            if self.first.len() < REJECTS_LISTED {
                let listed = format!("{}:{}: {}", row.source, row.line, row.reason);
                self.first.push(listed);
            }
            let line = serde_json::json!({
                "file": row.source,
                "line": row.line,
                "reason": row.reason,
                "raw": row.raw,
            });
            writeln!(out, "{line}")?;
        }
        out.flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The import of one file: reads rows, maps them, appends in batches.
struct FileImport<'a> {
    store: &'a mut Store,
    rejects: &'a mut RejectFile,
    received_at: &'a str,
    tally: Tally,
    conflicts: &'a mut Vec<Conflict>,
}

/// Events and rejects waiting to be written.
#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    sources: Vec<String>,
    rejects: Vec<RejectedRow>,
}

impl FileImport<'_> {
    fn run(&mut self, file: &Path, mapping: Option<&Mapping>, show_progress: bool) -> Result<()> {
        let format = input_format(file, mapping)?;
        let name = file.display().to_string();
        let handle = File::open(file).with_context(|| format!("opening {name}"))?;
        let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
        let progress = progress_bar(&name, size, show_progress);
        let span = tracing::info_span!("import_file", file = %name);
        let _entered = span.enter();

        let reader = BufReader::new(handle);
        match (format, mapping) {
            (InputFormat::Csv, Some(m)) => self.read_csv(&name, reader, m, &progress)?,
            (InputFormat::JsonLines, Some(m)) => {
                self.read_jsonl(&name, reader, Some(m), &progress)?
            }
            (InputFormat::JsonLines, None) => self.read_jsonl(&name, reader, None, &progress)?,
            (InputFormat::Csv, None) => anyhow::bail!(
                "{name}: a CSV file needs --mapping: see mappings/ for shipped ones and \
                 docs/import.md to write one"
            ),
        }
        progress.finish_and_clear();
        Ok(())
    }

    fn read_csv(
        &mut self,
        name: &str,
        reader: impl std::io::Read,
        mapping: &Mapping,
        progress: &ProgressBar,
    ) -> Result<()> {
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(mapping.delimiter)
            .flexible(true)
            .from_reader(LineTracker::new(reader));
        let header_record = csv
            .byte_headers()
            .with_context(|| format!("{name}:1: reading the header"))?
            .clone();
        let header_end = csv.position().byte();
        let header_line = lines::record_line(csv.get_mut(), header_end, &header_record);
        let header = header_record
            .iter()
            .map(|h| std::str::from_utf8(h).map(|h| h.trim().to_string()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "{name}:{header_line}: the header is not valid UTF-8: save the file as UTF-8"
                )
            })?;
        let positions = resolve_columns(name, header_line, &header, mapping)?;

        let mut pending = Pending::default();
        let mut record = csv::ByteRecord::new();
        let mut row = vec![String::new(); positions.len()];
        loop {
            let more = csv
                .read_byte_record(&mut record)
                .with_context(|| format!("{name}: reading after byte {}", csv.position().byte()))?;
            if !more {
                break;
            }
            let end = csv.position().byte();
            let line = lines::record_line(csv.get_mut(), end, &record);
            self.tally.rows += 1;
            let result = if record.len() != header.len() {
                Err(format!(
                    "row has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ))
            } else {
                fill_row(&mut row, &record, &positions, &header).and_then(|()| mapping.apply(&row))
            };
            // Mapping::apply validates each event it builds.
            match result {
                Ok(events) => pending.add_events(events, name, line),
                Err(reason) => pending.add_reject(name, line, reason, raw_csv(&record)),
            }
            if pending.events.len() >= BATCH_EVENTS {
                self.flush(&mut pending)?;
            }
            if self.tally.rows.is_multiple_of(1024) {
                progress.set_position(csv.position().byte());
            }
        }
        self.flush(&mut pending)
    }

    fn read_jsonl(
        &mut self,
        name: &str,
        reader: impl BufRead,
        mapping: Option<&Mapping>,
        progress: &ProgressBar,
    ) -> Result<()> {
        let mut pending = Pending::default();
        let mut bytes = 0u64;
        for (index, text) in reader.lines().enumerate() {
            let line = index as u64 + 1;
            let text = text.with_context(|| format!("{name}:{line}: reading"))?;
            bytes += text.len() as u64 + 1;
            // The first line may start with a byte-order mark.
            let trimmed = text.trim_start_matches('\u{feff}').trim();
            if trimmed.is_empty() {
                continue;
            }
            self.tally.rows += 1;
            let result = match mapping {
                None => event_json::parse_event_line(trimmed)
                    .and_then(|e| e.validate().map(|()| vec![e])),
                Some(m) => json_row(trimmed, m).and_then(|row| m.apply(&row)),
            };
            match result {
                Ok(events) => pending.add_events(events, name, line),
                Err(reason) => pending.add_reject(name, line, reason, trimmed.to_string()),
            }
            if pending.events.len() >= BATCH_EVENTS {
                self.flush(&mut pending)?;
            }
            if line.is_multiple_of(1024) {
                progress.set_position(bytes);
            }
        }
        self.flush(&mut pending)
    }

    /// Appends pending events in one transaction and keeps pending rejects.
    fn flush(&mut self, pending: &mut Pending) -> Result<()> {
        if !pending.events.is_empty() {
            let from = Provenance {
                sources: &pending.sources,
                default_source: "",
                recorded_at: Some(self.received_at),
            };
            let outcome: AppendOutcome = self.store.append_from(&pending.events, &from)?;
            self.tally.events += pending.events.len() as u64;
            self.tally.imported += outcome.inserted as u64;
            self.tally.duplicates += outcome.duplicates as u64;
            self.tally.conflicts += outcome.conflicts.len() as u64;
            self.conflicts.extend(outcome.conflicts);
            pending.events.clear();
            pending.sources.clear();
        }
        if !pending.rejects.is_empty() {
            self.tally.rejected += pending.rejects.len() as u64;
            self.store
                .record_rejects_at(&pending.rejects, Some(self.received_at))?;
            self.rejects.write(&pending.rejects)?;
            pending.rejects.clear();
        }
        Ok(())
    }
}

impl Pending {
    fn add_events(&mut self, events: Vec<Event>, file: &str, line: u64) {
        for event in events {
            self.events.push(event);
            self.sources.push(format!("{file}:{line}"));
        }
    }

    fn add_reject(&mut self, file: &str, line: u64, reason: String, raw: String) {
        tracing::debug!(file, line, reason = %reason, "row rejected");
        self.rejects.push(RejectedRow {
            source: file.to_string(),
            line,
            reason,
            raw,
        });
    }
}

/// The format from the mapping, else from the file's extension.
fn input_format(file: &Path, mapping: Option<&Mapping>) -> Result<InputFormat> {
    if let Some(format) = mapping.and_then(|m| m.format) {
        return Ok(format);
    }
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "txt" => Ok(InputFormat::Csv),
        "jsonl" | "ndjson" | "json" => Ok(InputFormat::JsonLines),
        _ => anyhow::bail!(
            "{}: cannot tell the format from the extension {ext:?}: name it .csv or .jsonl, \
             or set format under [source] in the mapping",
            file.display()
        ),
    }
}

/// The position of an optional column the file lacks.
const ABSENT: usize = usize::MAX;

/// For each column slot of the mapping, its position in the header
/// ([`ABSENT`] for a missing optional column).
fn resolve_columns(
    name: &str,
    header_line: u64,
    header: &[String],
    mapping: &Mapping,
) -> Result<Vec<usize>> {
    let mut positions = Vec::with_capacity(mapping.columns.len());
    let mut missing = Vec::new();
    for column in &mapping.columns {
        match header.iter().position(|h| *h == column.name) {
            Some(p) => positions.push(p),
            None if mapping.optional_columns.contains(&column.name) => positions.push(ABSENT),
            None => missing.push(format!("`{}` (named at {})", column.name, column.named_at)),
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "{name}:{header_line}: the header lacks column(s) {} that mapping {} reads; the \
         header has: {}; if your export leaves them out, list them under [source] \
         optional_columns",
        missing.join(", "),
        mapping.path.display(),
        if header.iter().all(|h| h.is_empty()) {
            "nothing (is the file empty?)".to_string()
        } else {
            header.join(", ")
        }
    );
    Ok(positions)
}

/// Copies the cells the mapping reads into `row`.
fn fill_row(
    row: &mut [String],
    record: &csv::ByteRecord,
    positions: &[usize],
    header: &[String],
) -> Result<(), String> {
    for (cell, &p) in row.iter_mut().zip(positions) {
        if p == ABSENT {
            cell.clear();
            continue;
        }
        let text = std::str::from_utf8(&record[p]).map_err(|_| {
            format!(
                "column `{}` is not valid UTF-8: save the file as UTF-8",
                header[p]
            )
        })?;
        cell.clear();
        cell.push_str(text);
    }
    Ok(())
}

/// The cells of a JSON object for the mapping's columns: strings as they
/// are, numbers and booleans as written, null as empty, anything else as
/// JSON text.
fn json_row(text: &str, mapping: &Mapping) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| event_json::json_syntax_reason(&e))?;
    let serde_json::Value::Object(obj) = value else {
        return Err("not a JSON object".to_string());
    };
    let cell = |name: &str| match obj.get(name) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok(mapping.columns.iter().map(|c| cell(&c.name)).collect())
}

/// A CSV record re-encoded as one CSV line (quoting as needed).
fn raw_csv(record: &csv::ByteRecord) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(vec![]);
    let text = out
        .write_byte_record(record)
        .ok()
        .and_then(|()| out.into_inner().ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    text.map_or_else(String::new, |t| t.trim_end_matches('\n').to_string())
}

fn progress_bar(name: &str, size: u64, show: bool) -> ProgressBar {
    if !show || size < PROGRESS_MIN_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "handoff: {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(name.to_string());
    bar
}
