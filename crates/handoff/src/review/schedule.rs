//! The weekly review on the policy's schedule: a task of `handoff serve`.
//!
//! The *slot* is the policy's `[review] schedule` (e.g. Monday 08:00 in the
//! organisation's zone). From each slot until [`CATCH_UP`] after it, the
//! task sends the review of the week that ended before the slot, judged as
//! of the slot instant, to every channel that carries the review's roles. A
//! service that was down at the slot sends when it comes back within that
//! day; later, the review would be stale for the meeting it is for, and
//! that week's is not sent days late.
//! Each channel's delivery is recorded durably in the store's meta table
//! under the *dedupe key* `review:WEEK:CHANNEL` (e.g.
//! `review:2026-W48:vp-mail`) once the channel accepted it, so a restart,
//! or the next step, never sends that week to that channel again. A failed
//! channel is tried again at the next step ([`POLL`] later) until the next
//! slot comes. Time is the service's injected clock; one step is
//! [`ReviewTask::step`], which tests drive directly.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::send;
use crate::notify::Channels;
use crate::serve::AppState;
use crate::store::{Location, Store};

/// How often the task looks at the clock: a review leaves within about
/// this long after its slot, and a failed channel is retried this often.
pub const POLL: Duration = Duration::from_secs(60);

/// How long after its slot a review may still be sent.
pub const CATCH_UP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// The policy has no `[review] schedule`.
    NotScheduled,
    /// The latest slot is more than [`CATCH_UP`] ago: nothing is due
    /// before the next slot.
    NotDue { next: DateTime<Utc> },
    /// No channel of `notify.toml` carries the review's roles.
    NoChannel,
    /// Every carrying channel already has the review of `week`.
    AlreadySent { week: String },
    /// Sent the review of `week` to these channels; `failed` names the
    /// others with the reason.
    Sent {
        week: String,
        sent: Vec<String>,
        failed: Vec<String>,
    },
}

/// The service's review task: the state (policy, store, clock) and the
/// channels it sends through.
pub struct ReviewTask {
    state: AppState,
    channels: Channels,
    client: reqwest::Client,
    /// Pause between steps.
    pub poll: Duration,
}

/// The meta key recording that `channel` has the review of `week`.
pub fn dedupe_key(week: &str, channel: &str) -> String {
    format!("review:{week}:{channel}")
}

impl ReviewTask {
    /// A task over the service's state sending through `channels`.
    pub fn new(state: AppState, channels: Channels) -> Result<ReviewTask> {
        let client = crate::notify::client(&channels)?;
        Ok(ReviewTask {
            state,
            channels,
            client,
            poll: POLL,
        })
    }

    /// One step at `now`: sends the review of the latest slot's week to
    /// each carrying channel that does not have it yet.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<StepOutcome> {
        let policy = self.state.policy();
        let Some(schedule) = policy.review.schedule else {
            return Ok(StepOutcome::NotScheduled);
        };
        let tz = policy.org_calendar().tz();
        let slot = schedule.latest_at_or_before(now, tz);
        if now - slot > CATCH_UP {
            return Ok(StepOutcome::NotDue {
                next: schedule.next_after(now, tz),
            });
        }
        let week = super::last_whole_week(slot, tz);
        let roles = &policy.review.notify;
        let carrying: Vec<&crate::notify::Channel> = self
            .channels
            .channels
            .iter()
            .filter(|c| send::carries(c, roles))
            .collect();
        if carrying.is_empty() {
            return Ok(StepOutcome::NoChannel);
        }

        // Which channels still lack this week's review.
        let db = self.state.db().clone();
        let names: Vec<String> = carrying.iter().map(|c| c.name.clone()).collect();
        let label = week.label.clone();
        let missing = off_thread(move || {
            let store = Store::open_at(&db)?;
            let mut missing = Vec::new();
            for name in names {
                if store.meta(&dedupe_key(&label, &name))?.is_none() {
                    missing.push(name);
                }
            }
            Ok(missing)
        })
        .await
        .context("reading the review's dedupe keys")?;
        if missing.is_empty() {
            return Ok(StepOutcome::AlreadySent { week: week.label });
        }

        // Build and render the review as of the slot, on the blocking pool.
        let (db, state) = (self.state.db().clone(), self.state.clone());
        let week_for_build = week.clone();
        let rendered = off_thread(move || {
            let store = Store::open_at(&db)?;
            let policy = state.policy();
            let review = super::build(&store, state.policies(), &week_for_build, slot, false)?;
            send::rendered(policy, &review)
        })
        .await
        .with_context(|| format!("building the review of {}", week.label))?;

        let (mut sent, mut failed) = (Vec::new(), Vec::new());
        for channel in carrying.iter().filter(|c| missing.contains(&c.name)) {
            match send::send(&self.channels, &self.client, channel, &rendered, now).await {
                Ok(()) => {
                    record(self.state.db(), &week.label, &channel.name, now).await?;
                    tracing::info!(week = %week.label, channel = %channel.name, "weekly review sent");
                    sent.push(channel.name.clone());
                }
                Err(why) => {
                    tracing::warn!(week = %week.label, channel = %channel.name, error = %why,
                        "weekly review not delivered; will retry");
                    failed.push(format!("{}: {why}", channel.name));
                }
            }
        }
        Ok(StepOutcome::Sent {
            week: week.label,
            sent,
            failed,
        })
    }

    /// Steps on the injected clock every [`ReviewTask::poll`] until
    /// `shutdown`.
    pub async fn run(self, mut shutdown: oneshot::Receiver<()>) {
        loop {
            let now = self.state.now();
            if let Err(e) = self.step(now).await {
                tracing::error!(error = %format!("{e:#}"), "weekly review step failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = &mut shutdown => break,
            }
        }
    }
}

/// Records durably that `channel` has the review of `week`.
async fn record(db: &Location, week: &str, channel: &str, now: DateTime<Utc>) -> Result<()> {
    let (db, key) = (db.clone(), dedupe_key(week, channel));
    off_thread(move || {
        let mut store = Store::open_at(&db)?;
        store
            .set_meta(&key, &now.to_rfc3339())
            .with_context(|| format!("recording {key}"))
    })
    .await
}

/// Runs synchronous store work on tokio's blocking pool.
async fn off_thread<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .context("a blocking review task did not finish")?
}

/// Starts the review task of `handoff serve` when the policy schedules a
/// review and a notification file is given; `None` otherwise (saying why
/// when a schedule cannot be served).
pub fn spawn(
    state: &AppState,
    notify: Option<&Path>,
    shutdown: oneshot::Receiver<()>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let review = &state.policy().review;
    let (Some(schedule), Some(path)) = (review.schedule, notify) else {
        if review.schedule.is_some() {
            tracing::warn!("the policy schedules a weekly review but serve has no --notify file");
        }
        return Ok(None);
    };
    let channels = Channels::load(path)?;
    let roles = &review.notify;
    if !channels.channels.iter().any(|c| send::carries(c, roles)) {
        tracing::error!(roles = ?roles, "no channel of the notify file carries the weekly review's roles");
    }
    tracing::info!(weekday = %schedule.weekday, "weekly review scheduled");
    let task = ReviewTask::new(state.clone(), channels)?;
    Ok(Some(tokio::spawn(task.run(shutdown))))
}
