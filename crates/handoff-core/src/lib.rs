//! handoff-core: the pure engine of the Marketing-Sales SLA.
//!
//! State plus event gives new state plus effects. Nothing here does I/O or
//! reads the wall clock: time arrives with events and through
//! [`engine::Engine::advance_to`], so a live service and a replay of last
//! year's history compute the same results.
//!
//! Reading order:
//! - [`event`]: the facts handoff consumes (accounts, engagements, hand-offs,
//!   decisions, activities, opportunities).
//! - [`calendar`]: business time: working hours, holidays, time zones.
//! - [`policy`]: the SLA as checked data: ICP, intent tiers, calendars,
//!   commitments, alert rules.
//! - [`qualify`]: ICP fit and intent tiers over rolling windows.
//! - [`engine`]: the lifecycle of each account, its SLA clocks, breaches and
//!   alerts.
//! - [`metrics`]: the scorecard: every commitment and the funnel, velocity
//!   and ARR figures for a calendar period.
//! - [`attribution`]: credit for won ARR and pipeline shared among channels
//!   and campaigns by seven models.
//! - [`stats`]: Wilson and normal confidence intervals.
//! - [`review`]: the weekly revenue review built from the scorecards.
//! - [`plan`]: the SAL volume an ARR goal needs, from the measured funnel.

pub mod attribution;
pub mod calendar;
pub mod engine;
pub mod event;
pub mod metrics;
pub mod period;
pub mod plan;
pub mod policy;
pub mod qualify;
pub mod review;
pub mod stats;

pub use event::{Event, EventBody};
pub use policy::Policy;
