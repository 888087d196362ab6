//! The policy file as written: TOML deserialised into plain structs.
//!
//! These types mirror the file one to one and reject unknown keys, so a typo
//! fails loudly. Nothing here is checked beyond its TOML type; `compile`
//! turns a [`PolicyConfig`] into a checked [`super::Policy`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub organisation: OrganisationConfig,
    #[serde(default)]
    pub calendars: BTreeMap<String, CalendarConfig>,
    /// Optional per-team settings, keyed by team name.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamConfig>,
    /// Optional per-rep settings, keyed by rep id; override rep events.
    #[serde(default)]
    pub reps: BTreeMap<String, RepConfig>,
    #[serde(default)]
    pub icp: IcpConfig,
    #[serde(default)]
    pub tiers: Vec<TierConfig>,
    #[serde(default)]
    pub commitments: Vec<CommitmentConfig>,
    #[serde(default)]
    pub alerts: Vec<AlertRuleConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub attribution: AttributionConfig,
    #[serde(default)]
    pub review: ReviewConfig,
}

/// `[organisation]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// Name of the organisation's calendar in `[calendars]`; its time zone
    /// also fixes the calendar periods of every report.
    pub calendar: String,
    #[serde(default)]
    pub currency: Option<String>,
    /// `owner` (default) or `region`.
    #[serde(default)]
    pub clock_calendar: Option<String>,
}

/// `[calendars.NAME]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Working hours per weekday (`mon` … `sun`), each a list of
    /// `"HH:MM-HH:MM"` ranges; a missing day is closed. Absent altogether:
    /// open around the clock.
    #[serde(default)]
    pub hours: Option<BTreeMap<String, Vec<String>>>,
    /// Whole local dates on which the calendar is closed, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// `[teams.NAME]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    #[serde(default)]
    pub calendar: Option<String>,
    #[serde(default)]
    pub manager: Option<String>,
}

/// `[reps.ID]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    /// Calendar that times this rep's clocks.
    #[serde(default)]
    pub calendar: Option<String>,
}

/// A numeric range condition: `{ min = 50, max = 5000 }`, both inclusive.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeConfig {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// `[icp]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcpConfig {
    /// Whether an account lacking a field a condition asks about fits.
    #[serde(default)]
    pub missing_fits: bool,
    #[serde(default)]
    pub industry: Option<Vec<String>>,
    #[serde(default)]
    pub employees: Option<RangeConfig>,
    #[serde(default)]
    pub country: Option<Vec<String>>,
    #[serde(default)]
    pub annual_revenue: Option<RangeConfig>,
    /// Custom attributes: a value, or a list of accepted values.
    #[serde(default)]
    pub attributes: BTreeMap<String, OneOrMany>,
}

/// A single string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[[tiers]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    /// Rolling window for the conditions, e.g. `"30d"`; absent: no limit.
    #[serde(default)]
    pub window: Option<String>,
    /// Qualifies when any one condition holds.
    #[serde(default)]
    pub any: Vec<ConditionConfig>,
    /// Qualifies when every condition holds.
    #[serde(default)]
    pub all: Vec<ConditionConfig>,
    /// Distinct contacts needed among the matching engagements.
    #[serde(default)]
    pub contacts: Option<u32>,
}

/// One engagement condition inside a tier.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Engagement kind, e.g. `case_study_view`.
    pub kind: String,
    /// At least this many matching engagements (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// At least this many minutes in total across matching engagements.
    #[serde(default)]
    pub minutes: Option<f64>,
    /// Only these asset ids match.
    #[serde(default)]
    pub assets: Option<Vec<String>>,
    /// Only assets carrying this tag match.
    #[serde(default)]
    pub asset_tag: Option<String>,
    /// At least this many distinct contacts among the matches.
    #[serde(default)]
    pub contacts: Option<u32>,
}

/// `[[commitments]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentConfig {
    pub id: String,
    /// `marketing` or `sales`.
    pub owner: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Periodic metric name (see docs/metrics.md); exclusive with `clock`.
    #[serde(default)]
    pub metric: Option<String>,
    /// `week`, `month` or `quarter`.
    #[serde(default)]
    pub period: Option<String>,
    /// E.g. `">= 150"`, `"> 80%"`.
    pub target: String,
    #[serde(default)]
    pub clock: Option<ClockConfig>,
}

/// `[commitments.clock]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Tiers the clock applies to; absent: every hand-off.
    #[serde(default)]
    pub tiers: Option<Vec<String>>,
    /// The event that starts it: `handoff`, `accepted`, `mqa`, `sqo`.
    pub start: String,
    /// Events that stop it (deadline clocks).
    #[serde(default)]
    pub stop: Vec<String>,
    /// Event counted by a cadence clock, with `at_least`.
    #[serde(default)]
    pub count: Option<String>,
    #[serde(default)]
    pub at_least: Option<u32>,
    /// Events that end a cadence early, counted as met.
    #[serde(default)]
    pub ends: Vec<String>,
    /// Duration, e.g. `"4h"`, `"48h"`, `"14d"`, `"1h30m"`.
    pub within: String,
    /// `business` or `calendar`.
    pub time: String,
}

/// `[[alerts]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleConfig {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Metric watched (metric alerts).
    #[serde(default)]
    pub metric: Option<String>,
    /// Threshold under which the alert is raised, e.g. `"75%"`.
    #[serde(default)]
    pub below: Option<String>,
    /// Threshold over which the alert is raised.
    #[serde(default)]
    pub above: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
    /// Sample needed in the period before the metric is judged.
    #[serde(default)]
    pub min_sample: Option<u32>,
    /// Where the metric must come back to before the alert may be raised
    /// again (the hysteresis band), e.g. `"80%"` for `below = "75%"`.
    #[serde(default)]
    pub rearm_at: Option<String>,
    /// Commitment id whose clock breaches raise the alert (breach alerts).
    #[serde(default)]
    pub breach: Option<String>,
    #[serde(default)]
    pub tiers: Option<Vec<String>>,
    /// Roles notified, e.g. `sales_manager`, `marketing_vp`.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Actions, e.g. `reassign`.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Whether the notice may reach people outside their working hours.
    /// Default: it waits for each recipient's next working instant.
    #[serde(default)]
    pub wake: Option<bool>,
    /// Later steps of the chain, each raised only when nobody acted on the
    /// account since the breach (breach alerts).
    #[serde(default)]
    pub escalate: Vec<EscalationStepConfig>,
}

/// `[[alerts.escalate]]`: one later step of an escalation chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStepConfig {
    /// How long after the breach, e.g. `"4h"`.
    pub after: String,
    /// `business` (default: on the breached clock's calendar) or `calendar`.
    #[serde(default)]
    pub time: Option<String>,
    /// Roles notified at this step, e.g. `sales_vp`.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Whether this step may reach people outside their working hours.
    /// Default: the rule's `wake`.
    #[serde(default)]
    pub wake: Option<bool>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default)]
    pub recycle_window: Option<String>,
    #[serde(default)]
    pub influence_lookback: Option<String>,
}

/// `[attribution]`: the shares and half-life of the attribution models.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionConfig {
    /// U-shaped shares; default 40% / 20% / 40%.
    #[serde(default)]
    pub u_shaped: Option<UShapedConfig>,
    /// W-shaped shares; default 30% / 30% / 30% / 10%.
    #[serde(default)]
    pub w_shaped: Option<WShapedConfig>,
    /// Time decay: a touch this long before the conversion counts half as
    /// much as one at the conversion, e.g. `"7d"` (the default).
    #[serde(default)]
    pub half_life: Option<String>,
}

/// `u_shaped = { first = "40%", middle = "20%", last = "40%" }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UShapedConfig {
    pub first: String,
    pub middle: String,
    pub last: String,
}

/// `w_shaped = { first = "30%", lead = "30%", opportunity = "30%", rest = "10%" }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WShapedConfig {
    /// The first touch.
    pub first: String,
    /// The lead-creation touch (the last one at or before the MQA).
    pub lead: String,
    /// The opportunity-creation touch (the last one at or before the SQO).
    pub opportunity: String,
    /// Shared by every other touch.
    pub rest: String,
}

/// `[review]`: the weekly revenue review's schedule, recipients and the
/// thresholds of its recommendations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// When `handoff serve` sends the review of the week just ended: a
    /// weekday and a local time in the organisation's zone, e.g.
    /// `"mon 08:00"`. Absent: never sent on a schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Roles the review goes to, e.g. `["cmo", "sales_vp"]`; the channels
    /// of `notify.toml` that carry any of them send it.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Recommend holding campaign spend while more hand-offs than this wait
    /// for their first touch (default 20).
    #[serde(default)]
    pub hold_spend_backlog: Option<u32>,
    /// Recommend a lead quality audit while the week's acceptance rate is
    /// below this share (default `"75%"`).
    #[serde(default)]
    pub audit_acceptance_below: Option<String>,
}
