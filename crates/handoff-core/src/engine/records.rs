//! What the engine records: accounts, cycles, opportunities, clocks, alerts.
//!
//! These records are the derived state. They serialise to JSON so that an
//! adapter can store them, and [`crate::metrics`] computes the scorecard from
//! them alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{AccountFacts, RepFacts, Stage};
use crate::policy::{TimeBasis, Trigger};
use crate::qualify::{EngagementRecord, Qualification};

/// The engine's final state after a replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Clocks were judged as of this instant.
    pub as_of: DateTime<Utc>,
    /// Events applied.
    pub events: u64,
    /// Every account, sorted by id.
    pub accounts: Vec<AccountRecord>,
    /// Every alert raised, in order.
    pub alerts: Vec<Alert>,
    /// The organisation, from rep events.
    pub reps: BTreeMap<String, RepFacts>,
}

/// One account's derived state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountRecord {
    pub id: String,
    pub facts: AccountFacts,
    /// Current stage; absent before anything happened.
    pub stage: Option<Stage>,
    /// The rep holding the account.
    pub owner: Option<String>,
    /// Channel and campaign of the account's first known marketing touch.
    pub channel: Option<String>,
    pub campaign: Option<String>,
    /// Engagements of the kinds an intent tier names, kept whole.
    pub engagements: Vec<EngagementRecord>,
    /// Marketing touches seen: every engagement, and upstream MQA
    /// assertions credited to a channel.
    #[serde(default)]
    pub marketing_touches: u32,
    /// The latest of them. Events arrive in time order, so when an
    /// opportunity opens this is the latest touch at or before it: all that
    /// influence needs, without keeping every touch.
    #[serde(default)]
    pub last_marketing_touch: Option<DateTime<Utc>>,
    pub cycles: Vec<Cycle>,
    pub opportunities: Vec<OpportunityRecord>,
    /// Append-only stage history; backward moves carry a reason.
    pub history: Vec<StageChange>,
    /// Why the account does not fit the ICP, when it was last checked.
    pub icp_miss: Option<String>,
    /// Engagements at or before this instant cannot start a new cycle.
    pub floor: Option<DateTime<Utc>>,
    /// Activities with no cycle open.
    pub loose_activities: u32,
    /// The last time a person acted on the account (see
    /// [`acting_on`](super::acting_on)); an escalation step is raised only
    /// when nobody acted since the breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<DateTime<Utc>>,
    /// Data problems found while applying events.
    pub warnings: Vec<DataWarning>,
}

impl AccountRecord {
    /// An account nothing has happened to yet.
    pub fn new(id: &str) -> AccountRecord {
        AccountRecord {
            id: id.to_string(),
            facts: AccountFacts {
                account: id.to_string(),
                ..Default::default()
            },
            stage: None,
            owner: None,
            channel: None,
            campaign: None,
            engagements: Vec::new(),
            marketing_touches: 0,
            last_marketing_touch: None,
            cycles: Vec::new(),
            opportunities: Vec::new(),
            history: Vec::new(),
            icp_miss: None,
            floor: None,
            loose_activities: 0,
            last_action: None,
            warnings: Vec::new(),
        }
    }

    /// The cycle still in progress, if any.
    pub fn open_cycle(&self) -> Option<&Cycle> {
        self.cycles.last().filter(|c| c.ended_at.is_none())
    }

    /// The cycle still in progress, mutably.
    pub fn open_cycle_mut(&mut self) -> Option<&mut Cycle> {
        self.cycles.last_mut().filter(|c| c.ended_at.is_none())
    }

    /// Whether a qualification may start a new cycle now.
    pub fn is_qualifiable(&self) -> bool {
        self.open_cycle().is_none() && !matches!(self.stage, Some(Stage::Won) | Some(Stage::Sqo))
    }

    /// Records a marketing touch at `at`.
    pub fn touch_marketing(&mut self, at: DateTime<Utc>) {
        self.marketing_touches += 1;
        self.last_marketing_touch = Some(self.last_marketing_touch.map_or(at, |t| t.max(at)));
    }

    /// Whether a marketing touch lies within `lookback` before `at`, for an
    /// `at` no earlier than every touch seen so far (engine order).
    pub fn was_influenced(&self, at: DateTime<Utc>, lookback: Duration) -> bool {
        self.last_marketing_touch
            .is_some_and(|t| t >= at - lookback && t <= at)
    }
}

/// One trip of an account through the funnel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cycle {
    /// 1 for the first cycle; a return after nurture starts the next.
    pub number: u32,
    pub started_at: Option<DateTime<Utc>>,
    /// Closed by a rejection, nurture, won or lost.
    pub ended_at: Option<DateTime<Utc>>,
    pub mqa_at: Option<DateTime<Utc>>,
    pub mqa_event: Option<String>,
    /// Tier reached; decides which clocks apply.
    pub tier: Option<String>,
    /// Absent when the MQA was asserted by an upstream system.
    pub qualification: Option<Qualification>,
    pub channel: Option<String>,
    pub campaign: Option<String>,
    pub handoff_at: Option<DateTime<Utc>>,
    pub handoff_event: Option<String>,
    pub handoff_rep: Option<String>,
    pub handoff_team: Option<String>,
    /// Calendar of the rep at hand-off; times the first touch.
    pub handoff_calendar: Option<String>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_event: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejected_event: Option<String>,
    pub reject_reason: Option<String>,
    pub nurture_at: Option<DateTime<Utc>>,
    pub nurture_event: Option<String>,
    /// First non-automated activity at or after hand-off.
    pub first_touch_at: Option<DateTime<Utc>>,
    pub first_touch_rep: Option<String>,
    /// Business seconds from hand-off to first touch, on `handoff_calendar`.
    pub first_touch_business_s: Option<i64>,
    /// Non-automated activities at or after hand-off.
    pub activities: Vec<DateTime<Utc>>,
    pub automated: u32,
    pub activities_before_handoff: u32,
    pub disposition_at: Option<DateTime<Utc>>,
    /// First opportunity of the cycle reaching SQO, won or lost.
    pub sqo_at: Option<DateTime<Utc>>,
    pub won_at: Option<DateTime<Utc>>,
    pub lost_at: Option<DateTime<Utc>>,
    pub won_amount: Option<f64>,
    /// Who held the account, stretch by stretch.
    pub owners: Vec<OwnerStretch>,
    pub clocks: Vec<ClockRecord>,
}

impl Cycle {
    /// A cycle starting at `at`.
    pub fn new(number: u32, at: DateTime<Utc>) -> Cycle {
        Cycle {
            number,
            started_at: Some(at),
            ..Default::default()
        }
    }

    /// Carries an opportunity's milestones into the cycle summary.
    pub fn absorb_opportunity(&mut self, o: &OpportunityRecord) {
        if self.sqo_at.is_none() {
            self.sqo_at = Some(o.opened_at);
        }
        if self.won_at.is_none() && o.won_at.is_some() {
            self.won_at = o.won_at;
            self.won_amount = o.amount;
        }
        if self.lost_at.is_none() && o.lost_at.is_some() {
            self.lost_at = o.lost_at;
        }
    }
}

/// One rep's stretch of ownership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnerStretch {
    pub rep: String,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

/// An opportunity: a deal with its own SQO, won or lost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpportunityRecord {
    pub id: String,
    /// When it reached SQO (or, with no SQO event, its first event).
    pub opened_at: DateTime<Utc>,
    /// The account's cycle it belongs to, if one was open.
    pub cycle: Option<u32>,
    pub rep: Option<String>,
    pub won_at: Option<DateTime<Utc>>,
    pub lost_at: Option<DateTime<Utc>>,
    /// ARR when won.
    pub amount: Option<f64>,
    pub currency: Option<String>,
    /// A marketing touch lay within the look-back before it opened.
    pub influenced: bool,
    /// No `sqo` event was seen: it first appeared already won or lost.
    #[serde(default)]
    pub sqo_implied: bool,
    pub custom_stages: Vec<(String, DateTime<Utc>)>,
}

impl OpportunityRecord {
    /// A new opportunity.
    pub fn new(
        id: &str,
        opened_at: DateTime<Utc>,
        cycle: Option<u32>,
        rep: Option<String>,
        influenced: bool,
    ) -> OpportunityRecord {
        OpportunityRecord {
            id: id.to_string(),
            opened_at,
            cycle,
            rep,
            won_at: None,
            lost_at: None,
            amount: None,
            currency: None,
            influenced,
            sqo_implied: false,
            custom_stages: Vec::new(),
        }
    }
}

/// One entry of the append-only stage history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageChange {
    pub at: DateTime<Utc>,
    pub from: Option<Stage>,
    pub to: Stage,
    pub event_id: String,
    /// Why; always present on a backward move.
    pub reason: Option<String>,
}

/// How a clock ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Open,
    Met,
    Breached,
    Cancelled,
}

/// One SLA clock on one account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClockRecord {
    /// The commitment's id.
    pub commitment: String,
    /// `deadline` or `cadence`.
    pub kind: String,
    pub tier: Option<String>,
    /// Calendar that times it, chosen at start and kept for its life.
    pub calendar: String,
    pub time: TimeBasis,
    pub start_at: DateTime<Utc>,
    pub start_event: String,
    /// Deadline, or the end of a cadence window.
    pub deadline: DateTime<Utc>,
    pub state: ClockState,
    pub stop_at: Option<DateTime<Utc>>,
    pub stop_event: Option<String>,
    pub stop_trigger: Option<Trigger>,
    pub breach_at: Option<DateTime<Utc>>,
    /// The rep holding the account at the breach.
    pub breach_owner: Option<String>,
    /// Counted events inside a cadence window.
    pub attempts: u32,
    /// Start to stop, in the clock's own basis (business or calendar seconds).
    pub elapsed_s: Option<i64>,
    /// The owner at the stop (or breach) and their own time since assignment.
    pub owner: Option<String>,
    pub owner_elapsed_s: Option<i64>,
    /// The number of the policy version that started the clock (and so set
    /// its deadline and stop rules); 0 for a policy outside the store's
    /// versions (an explicit file, a candidate) and for records written
    /// before versions existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub policy_version: u32,
}

/// A data problem found while applying an event; the event is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataWarning {
    pub at: DateTime<Utc>,
    pub event_id: String,
    pub message: String,
}

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Breach,
    Metric,
}

/// A person to notify, resolved from a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recipient {
    pub role: String,
    /// Absent when nobody in the organisation holds the role.
    pub who: Option<String>,
    /// The notice waits until this instant, the start of the recipient's
    /// next working hours; absent when it may go at once (inside working
    /// hours, or the rule may wake them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_at: Option<DateTime<Utc>>,
}

/// A metric value behind a metric alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricReading {
    pub value: f64,
    pub n: u32,
    pub period: String,
}

/// An alert raised by a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Stable: the same history raises the same ids.
    pub id: String,
    pub rule: String,
    pub at: DateTime<Utc>,
    pub kind: AlertKind,
    pub account: Option<String>,
    pub commitment: Option<String>,
    pub tier: Option<String>,
    pub owner: Option<String>,
    pub recipients: Vec<Recipient>,
    /// The rule asks for the account to be reassigned.
    pub reassign: bool,
    pub message: String,
    pub metric: Option<MetricReading>,
    /// Event ids behind the alert.
    pub evidence: Vec<String>,
    /// 0 for the first notice; n for step n of the rule's escalation chain.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub step: u32,
    /// The number of the policy version whose rule raised it (0: a policy
    /// outside the store's versions, or an alert recorded before versions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub policy_version: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A change the engine made, for adapters that act on changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StageChanged {
        account: String,
        change: StageChange,
    },
    Qualified {
        account: String,
        qualification: Qualification,
    },
    ClockStarted {
        account: String,
        commitment: String,
        deadline: DateTime<Utc>,
    },
    ClockEnded {
        account: String,
        commitment: String,
        state: ClockState,
        at: DateTime<Utc>,
    },
    Breach {
        account: String,
        commitment: String,
        at: DateTime<Utc>,
        owner: Option<String>,
    },
    Alert(Alert),
    Warning {
        account: String,
        event_id: String,
    },
}
