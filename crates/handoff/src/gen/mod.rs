//! The synthetic event generator behind `handoff gen` and `handoff demo`.
//!
//! It invents a sales organisation (teams in three time zones, reps, their
//! managers, a marketing VP) and a set of *accounts*, and writes a
//! realistic year of events for them: firmographics and contacts, bursts of
//! engagement, hand-offs of the accounts that qualify under the default
//! policy, Sales' decisions and follow-up paced by each rep's own working
//! hours, opportunities, and returns to nurture (see [`account`] for one
//! account's year and [`cycle`] for one sales cycle).
//!
//! Output is deterministic: the same [`GenConfig`] gives byte-identical
//! JSON Lines. Every account draws from its own ChaCha8 stream (stream 0
//! is the organisation's), so an account's events depend only on the seed
//! and its index, and accounts are generated one at a time without holding
//! the whole history in memory. Rep events come first; each account's
//! events follow in time order; lines of different accounts interleave in
//! time, which handoff does not mind since it orders by `at`. Event ids
//! are `g{seed}-{account number}-{k}` (`g{seed}-r-{k}` for reps). Each `at`
//! carries the offset of the zone where it happened: the buyer's for
//! account, contact and engagement events, the rep's team calendar for
//! Sales' events, the organisation's for hand-off and nurture.
//!
//! The generator mirrors the default policy's ICP and tiers in its own
//! constants ([`ICP_INDUSTRIES`], [`HIGH_INTENT_KINDS`], ...) and uses the
//! policy's calendars `headquarters`, `pacific` and `london` for the three
//! teams. Floating-point draws go through `exp`/`ln`/`cos`, so output is
//! identical on one platform but could differ in rare last-digit cases
//! across platforms' maths libraries.

mod account;
mod cycle;
mod demo;
mod engagement;
mod names;
mod org;
mod random;
mod timing;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use handoff_core::event::{Event, EventBody};
use handoff_core::Policy;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use account::{ICP_INDUSTRIES, ICP_MIN_EMPLOYEES};
pub use demo::run_demo;
pub use engagement::{
    HIGH_INTENT_KINDS, KEY_TAG, MID_CASE_STUDIES, MID_KEY_READING_S, MID_WINDOW_DAYS,
};

use crate::cli::GenArgs;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Number of accounts.
    pub accounts: u32,
    /// Length of the history in days (calendar days of the organisation's
    /// zone).
    pub days: u32,
    /// Random seed; the same seed gives the same events.
    pub seed: u64,
    /// First day of the history, a local date in the organisation's zone.
    pub start: NaiveDate,
}

impl GenConfig {
    /// The configuration the command line asks for.
    pub fn from_args(args: &crate::cli::HistoryArgs) -> Result<GenConfig> {
        Ok(GenConfig {
            accounts: args.accounts,
            days: args.days,
            seed: args.seed,
            start: parse_start(&args.start)?,
        })
    }
}

/// An event before it gets its id: instant, zone to stamp it in, payload.
struct Draft {
    pub at: DateTime<Utc>,
    pub tz: Tz,
    pub body: EventBody,
}

/// What every account's simulation shares: the organisation and the
/// period.
struct World {
    pub org: org::Org,
    pub seed: u64,
    /// First instant of the period (midnight of the start date).
    pub start: DateTime<Utc>,
    /// First instant after the period; nothing at or after it is written.
    pub end: DateTime<Utc>,
    /// The organisation's zone (marketing's events, report periods).
    pub org_tz: Tz,
}

/// A configured generator; ask it for the rep events, then for each
/// account's events.
pub struct Generator {
    config: GenConfig,
    world: World,
}

impl Generator {
    /// Builds the organisation for `config` on `policy`'s calendars; fails
    /// when the policy lacks one of the teams' calendars.
    pub fn new(config: GenConfig, policy: &Policy) -> Result<Generator> {
        let org_tz = policy.org_calendar().tz();
        let start = timing::local_instant(org_tz, config.start, 0);
        let end_date = config
            .start
            .checked_add_days(Days::new(u64::from(config.days)))
            .context("--days takes the history past the year 262143")?;
        let end = timing::local_instant(org_tz, end_date, 0);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let org = org::Org::build(config.accounts, policy, &mut rng)?;
        let world = World {
            org,
            seed: config.seed,
            start,
            end,
            org_tz,
        };
        Ok(Generator { config, world })
    }

    /// The configuration.
    pub fn config(&self) -> &GenConfig {
        &self.config
    }

    /// The period covered: first instant, and first instant after.
    pub fn period(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.world.start, self.world.end)
    }

    /// One `rep` event per person, at the start of the period.
    pub fn rep_events(&self) -> Vec<Event> {
        let seed = self.config.seed;
        let teams = &self.world.org.teams;
        self.world
            .org
            .reps
            .iter()
            .enumerate()
            .map(|(k, rep)| {
                let cal = rep.facts.calendar.as_deref();
                let tz = teams
                    .iter()
                    .find(|t| Some(t.calendar.name()) == cal)
                    .map_or(self.world.org_tz, |t| t.calendar.tz());
                Event {
                    id: format!("g{seed}-r-{}", k + 1),
                    at: timing::stamp(self.world.start, tz),
                    body: EventBody::Rep(rep.facts.clone()),
                }
            })
            .collect()
    }

    /// All events of account `index` (0-based), in time order.
    pub fn account_events(&self, index: u32) -> Vec<Event> {
        let mut drafts = account::AccountSim::new(&self.world, index).run();
        // Stable: drafts at the same instant keep the order they were made.
        drafts.sort_by_key(|d| d.at);
        let prefix = format!("g{}-{}-", self.config.seed, index + 1);
        drafts
            .into_iter()
            .enumerate()
            .map(|(k, d)| Event {
                id: format!("{prefix}{}", k + 1),
                at: timing::stamp(d.at, d.tz),
                body: d.body,
            })
            .collect()
    }
}

/// Counts of what was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenSummary {
    pub accounts: u32,
    pub events: u64,
    /// Events per `type`, in name order.
    pub by_type: BTreeMap<&'static str, u64>,
    /// Bytes written (JSON Lines output only).
    pub bytes: u64,
}

impl GenSummary {
    /// Counts one event.
    pub fn count(&mut self, event: &Event) {
        self.events += 1;
        *self.by_type.entry(event.type_name()).or_default() += 1;
    }
}

/// Writes every event as JSON Lines to `out`, calling `on_account` after
/// each account (for progress). A closed pipe surfaces as an
/// `io::ErrorKind::BrokenPipe` error in the chain.
pub fn write_jsonl<W: Write>(
    generator: &Generator,
    out: W,
    mut on_account: impl FnMut(u32),
) -> Result<GenSummary> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let mut summary = GenSummary::default();
    let mut line = Vec::with_capacity(512);
    let mut write = |event: &Event, summary: &mut GenSummary| -> io::Result<()> {
        line.clear();
        serde_json::to_writer(&mut line, event).map_err(io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)?;
        summary.count(event);
        summary.bytes += line.len() as u64;
        Ok(())
    };
    for event in generator.rep_events() {
        write(&event, &mut summary)?;
    }
    for index in 0..generator.config.accounts {
        for event in generator.account_events(index) {
            write(&event, &mut summary)?;
        }
        summary.accounts += 1;
        on_account(index + 1);
    }
    out.flush()?;
    Ok(summary)
}

/// The built-in default policy, compiled.
pub fn default_policy() -> Result<Policy> {
    crate::replay::parse_policy(
        crate::replay::DEFAULT_POLICY,
        "policies/default.toml (built in)",
    )
}

/// Parses a `--start` date.
fn parse_start(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("--start {text:?}: expected a date as YYYY-MM-DD"))
}

/// A progress bar over accounts on stderr (hidden when stderr is not a
/// terminal).
pub(crate) fn account_bar(accounts: u32, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(u64::from(accounts));
    let style = ProgressStyle::with_template(&format!(
        "handoff: {what} {{bar:30}} {{pos}}/{{len}} accounts ({{eta}} left)"
    ));
    // The template is a constant apart from `what`, which has no braces.
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// Runs `handoff gen`.
pub fn run_gen(args: &GenArgs) -> Result<u8> {
    let config = GenConfig::from_args(&args.history)?;
    let bar = account_bar(config.accounts, "generating");
    let generator = Generator::new(config, &default_policy()?)?;
    let started = Instant::now();
    let result = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            write_jsonl(&generator, file, |n| bar.set_position(u64::from(n)))
                .with_context(|| format!("writing {}", path.display()))
        }
        None => write_jsonl(&generator, io::stdout().lock(), |n| {
            bar.set_position(u64::from(n))
        }),
    };
    bar.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(e) if is_broken_pipe(&e) => return Ok(crate::cli::EXIT_OK),
        Err(e) => return Err(e),
    };
    report_summary(&summary, args.out.as_deref(), started);
    Ok(crate::cli::EXIT_OK)
}

/// Whether the error is a reader that went away (`handoff gen | head`).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn report_summary(summary: &GenSummary, out: Option<&Path>, started: Instant) {
    let counts: Vec<String> = summary
        .by_type
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    let target = out.map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    eprintln!(
        "handoff: wrote {} events for {} accounts to {} ({:.1} MB) in {:.1}s",
        summary.events,
        summary.accounts,
        target,
        summary.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    eprintln!("handoff: by type: {}", counts.join(", "));
}
