//! The policy: the SLA between Marketing and Sales, as checked data.
//!
//! A *policy* holds the ICP, the intent tiers, the calendars, the
//! commitments and the alert rules. It is read from one TOML file
//! ([`raw::PolicyConfig`]) and compiled into [`Policy`], whose values are
//! parsed and cross-checked: durations, targets, time zones, working hours,
//! tier and commitment references. Compilation collects every problem as a
//! [`Diagnostic`] naming the key path, what is wrong and how to fix it.

mod compile;
mod locate;
pub mod raw;
mod values;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;

pub use compile::{compile, Diagnostic, PathSeg};
pub use locate::{line_col, locate};
pub use values::{parse_duration, parse_target, Comparison, Target};

use crate::calendar::Calendar;

/// A checked policy, ready for the engine.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub currency: String,
    /// The organisation's calendar; its zone fixes report periods.
    pub org_calendar: String,
    pub clock_calendar: ClockCalendar,
    pub calendars: BTreeMap<String, Calendar>,
    pub team_calendars: BTreeMap<String, String>,
    /// Per-rep calendars from the policy; they win over rep events.
    pub rep_calendars: BTreeMap<String, String>,
    pub team_managers: BTreeMap<String, String>,
    pub icp: Icp,
    /// Strongest first.
    pub tiers: Vec<Tier>,
    pub commitments: Vec<Commitment>,
    pub alerts: Vec<AlertRule>,
    pub recycle_window: Duration,
    pub influence_lookback: Duration,
    /// The attribution models' shares and half-life (`[attribution]`).
    pub attribution: crate::attribution::Params,
    /// The weekly revenue review (`[review]`).
    pub review: ReviewSettings,
    /// Engagement kinds named by any tier condition: only these can
    /// qualify an account, so only these are kept in full.
    pub intent_kinds: Vec<String>,
}

impl Policy {
    /// Parses and checks a policy from TOML text.
    pub fn from_toml(text: &str) -> Result<Policy, Vec<Diagnostic>> {
        let config: raw::PolicyConfig = toml::from_str(text).map_err(|e| {
            vec![Diagnostic {
                path: Vec::new(),
                span: e.span(),
                message: e.message().to_string(),
                help: None,
            }]
        })?;
        compile(&config)
    }

    /// The organisation's calendar.
    pub fn org_calendar(&self) -> &Calendar {
        // compile() guarantees the organisation's calendar exists.
        &self.calendars[&self.org_calendar]
    }

    /// The tier's rank (0 = strongest), if it exists.
    pub fn tier_rank(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.name == name)
    }

    /// Whether an engagement of this kind can count towards a tier.
    pub fn is_intent_kind(&self, kind: &str) -> bool {
        // A handful of kinds: a scan beats hashing on every engagement.
        self.intent_kinds.iter().any(|k| k == kind)
    }

    /// A commitment by id.
    pub fn commitment(&self, id: &str) -> Option<&Commitment> {
        self.commitments.iter().find(|c| c.id == id)
    }
}

/// Which calendar times a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockCalendar {
    /// The owner rep's, else their team's, else the organisation's.
    Owner,
    /// The calendar named after the account's region, else the organisation's.
    Region,
}

/// The ideal customer profile.
#[derive(Debug, Clone, Default)]
pub struct Icp {
    pub missing_fits: bool,
    /// Lowercased accepted industries.
    pub industry: Option<Vec<String>>,
    pub employees: Option<(Option<f64>, Option<f64>)>,
    /// Uppercased accepted countries.
    pub country: Option<Vec<String>>,
    pub annual_revenue: Option<(Option<f64>, Option<f64>)>,
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// An intent tier.
#[derive(Debug, Clone)]
pub struct Tier {
    pub name: String,
    /// `None`: the whole history counts.
    pub window: Option<WindowSpan>,
    pub mode: TierMode,
    pub conditions: Vec<Condition>,
    pub contacts: u32,
}

/// A rolling window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpan {
    /// Wall-clock days in the organisation's zone.
    Days(u32),
    /// Physical duration.
    Exact(Duration),
}

/// How a tier combines its conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierMode {
    Any,
    All,
}

/// One engagement condition.
#[derive(Debug, Clone)]
pub struct Condition {
    pub kind: String,
    pub count: u32,
    pub seconds: Option<f64>,
    pub assets: Option<Vec<String>>,
    pub asset_tag: Option<String>,
    pub contacts: u32,
}

/// Owner side of a commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Marketing,
    Sales,
}

impl Side {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Marketing => "marketing",
            Side::Sales => "sales",
        }
    }
}

/// Calendar period used by metrics and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Week,
    Month,
    Quarter,
}

/// Metrics a periodic commitment or an alert may watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    MqaCount,
    HandoffCount,
    SalCount,
    AcceptanceRate,
    RecycleRate,
    SalToSqo,
    WinRate,
    WonArr,
    InfluencedArrShare,
}

impl MetricName {
    /// Every metric, with its file name.
    pub const ALL: [(&'static str, MetricName); 9] = [
        ("mqa_count", MetricName::MqaCount),
        ("handoff_count", MetricName::HandoffCount),
        ("sal_count", MetricName::SalCount),
        ("acceptance_rate", MetricName::AcceptanceRate),
        ("recycle_rate", MetricName::RecycleRate),
        ("sal_to_sqo", MetricName::SalToSqo),
        ("win_rate", MetricName::WinRate),
        ("won_arr", MetricName::WonArr),
        ("influenced_arr_share", MetricName::InfluencedArrShare),
    ];

    /// Looks a metric up by its file name.
    pub fn parse(name: &str) -> Option<MetricName> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    /// The file name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Whether the metric is a share (0..=1) rather than a count or amount.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            MetricName::AcceptanceRate
                | MetricName::RecycleRate
                | MetricName::SalToSqo
                | MetricName::WinRate
                | MetricName::InfluencedArrShare
        )
    }
}

/// One promise of the SLA.
#[derive(Debug, Clone)]
pub struct Commitment {
    pub id: String,
    pub owner: Side,
    pub description: String,
    pub period: PeriodKind,
    pub target: Target,
    pub measure: Measure,
}

/// What a commitment measures.
#[derive(Debug, Clone)]
pub enum Measure {
    /// A periodic metric.
    Metric(MetricName),
    /// The share of its clocks that were met.
    Clock(ClockSpec),
}

/// Lifecycle points a clock can start or stop on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Mqa,
    Handoff,
    Accepted,
    Rejected,
    Nurture,
    Activity,
    Disposition,
    Sqo,
    Won,
    Lost,
    Reassign,
}

impl Trigger {
    /// Every trigger, with its file name.
    pub const ALL: [(&'static str, Trigger); 11] = [
        ("mqa", Trigger::Mqa),
        ("handoff", Trigger::Handoff),
        ("accepted", Trigger::Accepted),
        ("rejected", Trigger::Rejected),
        ("nurture", Trigger::Nurture),
        ("activity", Trigger::Activity),
        ("disposition", Trigger::Disposition),
        ("sqo", Trigger::Sqo),
        ("won", Trigger::Won),
        ("lost", Trigger::Lost),
        ("reassign", Trigger::Reassign),
    ];

    /// Looks a trigger up by its file name.
    pub fn parse(name: &str) -> Option<Trigger> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The file name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// How a clock counts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    Business,
    Calendar,
}

/// The length of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockLength {
    /// Business or physical seconds.
    Seconds(i64),
    /// Wall-clock days (same local time N dates later).
    Days(u32),
}

/// A clock's definition.
#[derive(Debug, Clone)]
pub struct ClockSpec {
    pub tiers: Option<Vec<String>>,
    pub start: Trigger,
    pub kind: ClockKind,
    pub length: ClockLength,
    pub time: TimeBasis,
    /// The duration as written, for reports.
    pub within_text: String,
}

/// Deadline or cadence.
#[derive(Debug, Clone)]
pub enum ClockKind {
    /// Met by any stop event at or before the deadline.
    Deadline { stop: Vec<Trigger> },
    /// Met by `at_least` counted events inside the window, or by an end event.
    Cadence {
        count: Trigger,
        at_least: u32,
        ends: Vec<Trigger>,
    },
}

impl ClockSpec {
    /// Whether the clock applies to a hand-off of this tier.
    pub fn applies_to(&self, tier: Option<&str>) -> bool {
        match (&self.tiers, tier) {
            (None, _) => true,
            (Some(list), Some(t)) => list.iter().any(|x| x == t),
            (Some(_), None) => false,
        }
    }

    /// The deadline for a clock started at `start` on `calendar`.
    pub fn deadline(&self, calendar: &Calendar, start: DateTime<Utc>) -> DateTime<Utc> {
        self.length.after(self.time, calendar, start)
    }
}

impl ClockLength {
    /// The instant this length after `start`, counted on `calendar` in the
    /// given basis.
    pub fn after(
        self,
        time: TimeBasis,
        calendar: &Calendar,
        start: DateTime<Utc>,
    ) -> DateTime<Utc> {
        match (self, time) {
            (ClockLength::Seconds(s), TimeBasis::Business) => calendar.add_business(start, s),
            (ClockLength::Seconds(s), TimeBasis::Calendar) => start + Duration::seconds(s),
            (ClockLength::Days(d), TimeBasis::Calendar) => calendar.add_calendar_days(start, d),
            // compile() turns business days into business seconds.
            (ClockLength::Days(d), TimeBasis::Business) => {
                calendar.add_business(start, i64::from(d) * 86_400)
            }
        }
    }
}

/// What triggers an alert rule.
#[derive(Debug, Clone)]
pub enum AlertTrigger {
    /// A metric crossing a threshold within the current period.
    Metric {
        metric: MetricName,
        threshold: f64,
        below: bool,
        period: PeriodKind,
        min_sample: u32,
        /// The metric must recover to this value (at or past it, away from
        /// the alerting side) before the rule may raise again.
        rearm: f64,
    },
    /// A breach of a commitment's clock.
    Breach {
        commitment: String,
        tiers: Option<Vec<String>>,
    },
}

/// An alert rule.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub id: String,
    pub description: String,
    pub trigger: AlertTrigger,
    pub notify: Vec<String>,
    pub reassign: bool,
    /// The first notice may reach people outside their working hours.
    pub wake: bool,
    /// Later steps, in order of `after` (breach alerts only).
    pub escalate: Vec<EscalationStep>,
}

/// A later step of an escalation chain: raised `after` the breach (counted
/// on the breached clock's calendar in business time, or in calendar time)
/// when nobody acted on the account in between.
#[derive(Debug, Clone)]
pub struct EscalationStep {
    pub after: ClockLength,
    pub time: TimeBasis,
    /// The duration as written, for messages.
    pub after_text: String,
    pub notify: Vec<String>,
    pub wake: bool,
}

/// The weekly revenue review's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSettings {
    /// When the service sends it; `None`: never on a schedule.
    pub schedule: Option<ReviewSchedule>,
    /// Roles it goes to.
    pub notify: Vec<String>,
    /// Hold campaign spend while more hand-offs than this wait for their
    /// first touch.
    pub hold_spend_backlog: u32,
    /// Audit lead quality while acceptance is below this share.
    pub audit_acceptance_below: f64,
}

/// The default of `hold_spend_backlog`.
pub const DEFAULT_HOLD_SPEND_BACKLOG: u32 = 20;
/// The default of `audit_acceptance_below`: the source text's 75%.
pub const DEFAULT_AUDIT_ACCEPTANCE_BELOW: f64 = 0.75;

impl Default for ReviewSettings {
    fn default() -> ReviewSettings {
        ReviewSettings {
            schedule: None,
            notify: Vec::new(),
            hold_spend_backlog: DEFAULT_HOLD_SPEND_BACKLOG,
            audit_acceptance_below: DEFAULT_AUDIT_ACCEPTANCE_BELOW,
        }
    }
}

/// A weekly slot: a weekday and a local time of day, in a zone given when
/// it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewSchedule {
    pub weekday: Weekday,
    /// Seconds after local midnight.
    pub second_of_day: u32,
}

impl ReviewSchedule {
    /// Parses `"mon 08:00"`; the error says what to write.
    pub fn parse(text: &str) -> Result<ReviewSchedule, String> {
        let bad = || {
            format!(
                "\"{text}\" is not a weekly slot; write a weekday and a local time, \
                 e.g. \"mon 08:00\""
            )
        };
        let mut parts = text.split_whitespace();
        let (Some(day), Some(time), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let weekday = match day.to_lowercase().as_str() {
            "mon" => Weekday::Mon,
            "tue" => Weekday::Tue,
            "wed" => Weekday::Wed,
            "thu" => Weekday::Thu,
            "fri" => Weekday::Fri,
            "sat" => Weekday::Sat,
            "sun" => Weekday::Sun,
            _ => {
                return Err(format!(
                    "unknown weekday \"{day}\" in \"{text}\"; use mon, tue, wed, thu, fri, \
                     sat or sun"
                ))
            }
        };
        let second_of_day = crate::calendar::Calendar::parse_hhmm(time)
            .ok()
            .filter(|s| *s < 86_400)
            .ok_or_else(bad)?;
        Ok(ReviewSchedule {
            weekday,
            second_of_day,
        })
    }

    /// The slot of the week of local date `monday` (a Monday).
    fn slot_in_week(self, monday: NaiveDate, tz: Tz) -> DateTime<Utc> {
        let day = monday + chrono::Days::new(u64::from(self.weekday.num_days_from_monday()));
        crate::period::local_instant(day, self.second_of_day, tz)
    }

    /// The latest slot at or before `now`.
    pub fn latest_at_or_before(self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let today = now.with_timezone(&tz).date_naive();
        let monday = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()));
        let this_week = self.slot_in_week(monday, tz);
        if this_week <= now {
            this_week
        } else {
            self.slot_in_week(monday - chrono::Days::new(7), tz)
        }
    }

    /// The first slot strictly after `now`.
    pub fn next_after(self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let latest = self.latest_at_or_before(now, tz);
        let monday = latest.with_timezone(&tz).date_naive();
        let monday = monday - chrono::Days::new(u64::from(monday.weekday().num_days_from_monday()));
        self.slot_in_week(monday + chrono::Days::new(7), tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_monday_slot_follows_new_york_across_the_dst_change() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let s = ReviewSchedule::parse("mon 08:00").unwrap();
        // Monday 2 March 2026 08:00 EST = 13:00Z. One second before it, the
        // latest slot is the Monday before, 23 February 13:00Z.
        assert_eq!(
            s.latest_at_or_before(at("2026-03-02T12:59:59Z"), tz),
            at("2026-02-23T13:00:00Z")
        );
        assert_eq!(
            s.latest_at_or_before(at("2026-03-02T13:00:00Z"), tz),
            at("2026-03-02T13:00:00Z")
        );
        // Clocks go forward on Sunday 8 March: Monday 9 March 08:00 is EDT,
        // 12:00Z.
        assert_eq!(
            s.next_after(at("2026-03-02T13:00:00Z"), tz),
            at("2026-03-09T12:00:00Z")
        );
        assert!(ReviewSchedule::parse("mon 24:00").is_err());
        assert!(ReviewSchedule::parse("mon").is_err());
    }
}
