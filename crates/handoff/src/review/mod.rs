//! `handoff review`: the weekly revenue review, and its delivery on the
//! policy's schedule by `handoff serve`.
//!
//! The review is built by `handoff_core::review` from one replay of the log
//! as of an instant, with the marketing touches collected in the same pass
//! for attribution; [`render`] writes it as HTML, Markdown, JSON or text;
//! [`schedule`] is the service's task that sends it once a week through
//! the notification channels ([`send`]).

pub mod chart;
pub mod render;
pub mod schedule;
pub mod send;
pub mod view;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use handoff_core::period::Period;
use handoff_core::policy::PeriodKind;
use handoff_core::review::Review;

use crate::cli::ReviewArgs;
use crate::replay::{load_policies, open_existing, parse_as_of, replay_log_with_touches, Policies};
use crate::store::Store;

/// Runs `handoff review`.
pub fn run(args: &ReviewArgs) -> Result<u8> {
    let store = open_existing(&args.store.location()?)?;
    let policies = load_policies(&store, args.store.policy.as_deref())?;
    let policy = &policies.latest().policy;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let tz = policy.org_calendar().tz();
    let week = match &args.week {
        Some(w) => Period::parse_week(w, tz).map_err(anyhow::Error::msg)?,
        None => last_whole_week(as_of, tz),
    };
    let review = build(&store, &policies, &week, as_of, true)?;
    let text = render::render(policy, &review, args.format)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "handoff: review of {} written to {}",
                week.label,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(crate::cli::EXIT_OK)
}

/// The last ISO week that ended at or before `at`.
pub fn last_whole_week(at: DateTime<Utc>, tz: chrono_tz::Tz) -> Period {
    Period::containing(PeriodKind::Week, at, tz).previous(PeriodKind::Week, tz)
}

/// Replays the log as of `as_of` and builds the review of `week`;
/// `tell` says on stderr how many later events were left out.
pub fn build(
    store: &Store,
    policies: &Policies,
    week: &Period,
    as_of: DateTime<Utc>,
    tell: bool,
) -> Result<Review> {
    let (replay, touches) = replay_log_with_touches(store, policies, as_of)?;
    let policy = &policies.latest().policy;
    if tell {
        crate::replay::tell_left_out(&replay, as_of);
    }
    Ok(handoff_core::review::build(
        policy,
        &replay.snapshot,
        &touches,
        week,
        as_of,
    ))
}
