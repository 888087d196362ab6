//! The engine: state plus event gives new state plus effects.
//!
//! The engine keeps, per account, its firmographics, its engagements, its
//! *cycles* (one trip through the funnel: MQA, hand-off, SAL or rejection,
//! nurture) and its opportunities, and for each cycle the SLA *clocks* the
//! policy starts. It consumes events in occurrence order ([`sort_events`])
//! and learns that time has passed only from those events and from
//! [`Engine::advance_to`]; it never reads the wall clock. Every change it
//! makes is also emitted as an [`Effect`] (stage change, qualification,
//! clock started or ended, breach, alert, data warning) for adapters that
//! act on them, such as a live notifier.
//!
//! Results depend on the set of events, not the order they arrived in:
//! callers sort with [`sort_events`] (by instant, then a fixed rank of event
//! types, then id) before applying.

mod clocks;
mod escalate;
mod late;
mod reassign;
mod records;
mod versions;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use chrono::{DateTime, Utc};

pub use escalate::{acting_on, auto_reassign_id};
pub use reassign::{pick_reassignee, takes_accounts};
pub use records::*;
pub use versions::PolicyVersion;

use crate::event::{
    AccountFacts, Activity, Event, EventBody, Opportunity, RepFacts, Stage, StageAssertion,
};
use crate::policy::{AlertTrigger, MetricName, Policy, Trigger};
use crate::qualify::{self, EngagementRecord, Qualification};

/// Orders events for the engine: by instant, then by type (facts before the
/// lifecycle moves that use them), then by id.
pub fn sort_events(events: &mut [Event]) {
    events.sort_by(|a, b| {
        (a.at_utc(), type_rank(&a.body), &a.id).cmp(&(b.at_utc(), type_rank(&b.body), &b.id))
    });
}

/// Rank of an event type among events of the same instant.
pub fn type_rank(body: &EventBody) -> u8 {
    use EventBody::*;
    match body {
        Account(_) => 0,
        Contact(_) => 1,
        Rep(_) => 2,
        Engagement(_) => 3,
        Stage(_) => 4,
        Handoff(_) => 5,
        Reassign(_) => 6,
        Accepted(_) => 7,
        Rejected(_) => 8,
        Activity(_) => 9,
        Disposition(_) => 10,
        Opportunity(_) => 11,
        Nurture(_) => 12,
    }
}

/// A clock deadline, or a later step of an escalation chain, waiting to be
/// judged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    due: DateTime<Utc>,
    account: String,
    cycle: u32,
    clock: u32,
    /// 0: the clock's deadline; n: step n of alert rule `rule`'s chain.
    step: u32,
    rule: u32,
    /// Index of the policy version whose alert rule scheduled the step.
    version: u32,
}

/// Accounts by id: the records in a vector, found through a small index.
///
/// Every event looks its account up, in time order, so consecutive events
/// rarely share one. Keeping records out of the hash table keeps its buckets
/// small, and ids of up to 24 bytes live inside the bucket (`CompactString`),
/// so a lookup reads one bucket instead of chasing a heap key.
#[derive(Default)]
struct Accounts {
    records: Vec<AccountRecord>,
    /// When each account was last touched, beside its record (`late`).
    marks: Vec<late::AccountMarks>,
    index: hashbrown::HashMap<compact_str::CompactString, u32>,
}

impl Accounts {
    fn get(&self, id: &str) -> Option<&AccountRecord> {
        self.index.get(id).map(|i| &self.records[*i as usize])
    }

    fn marks(&self, id: &str) -> Option<&late::AccountMarks> {
        self.index.get(id).map(|i| &self.marks[*i as usize])
    }

    fn marks_mut(&mut self, id: &str) -> Option<&mut late::AccountMarks> {
        self.index.get(id).map(|i| &mut self.marks[*i as usize])
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut AccountRecord> {
        self.index.get(id).map(|i| &mut self.records[*i as usize])
    }

    /// The account, created on first sight.
    fn ensure(&mut self, id: &str) -> &mut AccountRecord {
        let i = match self.index.get(id) {
            Some(i) => *i as usize,
            None => {
                self.records.push(AccountRecord::new(id));
                self.marks.push(late::AccountMarks::default());
                let i = self.records.len() - 1;
                // More than 4 billion accounts would not fit in memory first.
                self.index.insert(id.into(), i as u32);
                i
            }
        };
        &mut self.records[i]
    }
}

/// Acceptance decisions of one alert rule's period.
#[derive(Debug, Default, Clone)]
struct RateWatch {
    accepted: u32,
    rejected: u32,
    raised: bool,
    /// Crossings so far; a re-armed rule raises a new alert with a new id.
    crossings: u32,
    /// Every decision counted, in order, so that a late one can be put in
    /// its place (`late`).
    decisions: Vec<late::Decided>,
    /// The crossings raised, in order.
    crossed: Vec<late::Crossing>,
}

/// The engine over one policy.
pub struct Engine<'p> {
    policy: &'p Policy,
    accounts: Accounts,
    contacts: hashbrown::HashMap<String, String>,
    reps: BTreeMap<String, RepFacts>,
    timers: BinaryHeap<Reverse<Timer>>,
    alerts: Vec<Alert>,
    /// Whether `alerts` keeps every alert raised (see [`Engine::forget_alerts`]).
    keep_alerts: bool,
    /// By alert rule id and period label.
    watches: HashMap<(String, String), RateWatch>,
    /// When shared state was last touched, for late events (`late`).
    late: late::Marks,
    now: Option<DateTime<Utc>>,
    events: u64,
    /// The versions followed (one for [`Engine::new`]) and the index of the
    /// one in force ([`versions`]).
    versions: Vec<PolicyVersion<'p>>,
    current: usize,
}

impl<'p> Engine<'p> {
    /// A fresh engine with no accounts.
    pub fn new(policy: &'p Policy) -> Engine<'p> {
        Engine {
            policy,
            accounts: Accounts::default(),
            contacts: hashbrown::HashMap::new(),
            reps: BTreeMap::new(),
            timers: BinaryHeap::new(),
            alerts: Vec::new(),
            keep_alerts: true,
            watches: HashMap::new(),
            late: late::Marks::default(),
            now: None,
            events: 0,
            versions: vec![PolicyVersion {
                number: 0,
                effective_at: DateTime::<Utc>::MIN_UTC,
                policy,
            }],
            current: 0,
        }
    }

    /// The same engine, keeping no list of the alerts it raises: each still
    /// comes out as an [`Effect::Alert`], but [`Engine::finish`] lists none.
    /// For a long-lived engine whose caller records every alert from the
    /// effects (the live service): the list would only grow, and growing a
    /// list of half a million alerts copies it whole while time is judged.
    pub fn forget_alerts(mut self) -> Engine<'p> {
        self.keep_alerts = false;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        self.policy
    }

    /// The reps known from rep events, by rep id.
    pub fn reps(&self) -> &BTreeMap<String, RepFacts> {
        &self.reps
    }

    /// An account's current state.
    pub fn account(&self, id: &str) -> Option<&AccountRecord> {
        self.accounts.get(id)
    }

    /// The earliest deadline still waiting to be judged, if any: a live
    /// service sleeps until just after it, then calls [`Engine::advance_to`].
    /// It may belong to a clock already stopped, in which case advancing past
    /// it changes nothing.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.timers.peek().map(|Reverse(t)| t.due)
    }

    /// Judges every clock whose deadline lies strictly before `t`.
    ///
    /// A stop event at exactly the deadline meets the clock, so a deadline
    /// is judged only once time has moved past it.
    pub fn advance_to(&mut self, t: DateTime<Utc>, out: &mut Vec<Effect>) {
        while let Some(Reverse(timer)) = self.timers.peek() {
            if timer.due >= t {
                break;
            }
            let Some(Reverse(timer)) = self.timers.pop() else {
                break;
            };
            self.switch_to(timer.due);
            self.fire(timer, out);
        }
        self.switch_to(t);
        if self.now.is_none_or(|n| n < t) {
            self.now = Some(t);
        }
    }

    /// Applies one event. Events must come in [`sort_events`] order.
    pub fn apply(&mut self, ev: &Event, out: &mut Vec<Effect>) {
        let at = ev.at_utc();
        self.advance_to(at, out);
        self.events += 1;
        match &ev.body {
            EventBody::Account(f) => self.on_account(ev, at, f, out),
            EventBody::Contact(c) => {
                let account = c.account.clone().unwrap_or_else(|| lone_lead(&c.contact));
                self.contacts.insert(c.contact.clone(), account.clone());
                self.ensure(&account);
            }
            EventBody::Rep(r) => self.on_rep(r),
            EventBody::Engagement(e) => self.on_engagement(ev, at, e, out),
            EventBody::Stage(s) => self.on_stage(ev, at, s, out),
            EventBody::Handoff(h) => {
                self.on_handoff(ev, at, &h.account, &h.rep, h.tier.as_deref(), out)
            }
            EventBody::Accepted(d) => self.on_accepted(ev, at, &d.account, out),
            EventBody::Rejected(r) => self.on_rejected(ev, at, &r.account, &r.reason, out),
            EventBody::Nurture(n) => self.on_nurture(ev, at, &n.account, n.reason.as_deref(), out),
            EventBody::Activity(a) => self.on_activity(ev, at, a, out),
            EventBody::Disposition(d) => self.on_disposition(ev, at, &d.account, out),
            EventBody::Opportunity(o) => self.on_opportunity(ev, at, o, out),
            EventBody::Reassign(r) => self.on_reassign(ev, at, &r.account, &r.rep, out),
        }
        self.note_action(ev, at);
        self.mark(ev, at);
    }

    /// A copy of the state as it stands, for a reader that must not stop
    /// the engine (the live service's dashboard), without what the
    /// scorecard never reads: each account's kept engagements, stage history
    /// and data warnings are left empty, and accounts stay in the engine's
    /// order. Clocks are judged up to the engine's last step; an open clock
    /// past its deadline at `as_of` counts as missed in a scorecard, as in
    /// any snapshot.
    pub fn metrics_snapshot(&self, as_of: DateTime<Utc>) -> Snapshot {
        let accounts = self
            .accounts
            .records
            .iter()
            .map(|a| AccountRecord {
                id: a.id.clone(),
                facts: a.facts.clone(),
                stage: a.stage,
                owner: a.owner.clone(),
                channel: a.channel.clone(),
                campaign: a.campaign.clone(),
                engagements: Vec::new(),
                marketing_touches: a.marketing_touches,
                last_marketing_touch: a.last_marketing_touch,
                cycles: a.cycles.clone(),
                opportunities: a.opportunities.clone(),
                history: Vec::new(),
                icp_miss: a.icp_miss.clone(),
                floor: a.floor,
                loose_activities: a.loose_activities,
                last_action: a.last_action,
                warnings: Vec::new(),
            })
            .collect();
        Snapshot {
            as_of,
            events: self.events,
            accounts,
            alerts: self.alerts.clone(),
            reps: self.reps.clone(),
        }
    }

    /// Judges the clocks due before `as_of` and hands over the final state.
    pub fn finish(mut self, as_of: DateTime<Utc>) -> Snapshot {
        let mut sink = Vec::new();
        self.advance_to(as_of, &mut sink);
        let mut accounts = self.accounts.records;
        // By id, so that a snapshot reads the same however it was made.
        accounts.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Snapshot {
            as_of,
            events: self.events,
            accounts,
            alerts: self.alerts,
            reps: self.reps,
        }
    }

    fn ensure(&mut self, id: &str) -> &mut AccountRecord {
        self.accounts.ensure(id)
    }

    fn on_account(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        f: &AccountFacts,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(&f.account);
        merge_facts(&mut acc.facts, f);
        // New firmographics may make an engaged account fit the ICP.
        self.try_qualify(&f.account, ev, at, out);
    }

    fn on_rep(&mut self, r: &RepFacts) {
        let entry = self.reps.entry(r.rep.clone()).or_insert_with(|| RepFacts {
            rep: r.rep.clone(),
            ..Default::default()
        });
        macro_rules! merge {
            ($($f:ident),*) => { $( if r.$f.is_some() { entry.$f = r.$f.clone(); } )* };
        }
        merge!(name, team, manager, role, calendar, email);
    }

    fn resolve_account<'e>(&self, account: Option<&'e str>, contact: Option<&str>) -> Cow<'e, str> {
        match (account, contact) {
            (Some(a), _) => Cow::Borrowed(a),
            (None, Some(c)) => Cow::Owned(
                self.contacts
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| lone_lead(c)),
            ),
            (None, None) => Cow::Borrowed("(unknown)"),
        }
    }

    fn on_engagement(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        e: &crate::event::Engagement,
        out: &mut Vec<Effect>,
    ) {
        let id = self.resolve_account(e.account.as_deref(), e.contact.as_deref());
        let intent = self.policy.is_intent_kind(&e.kind);
        let acc = self.ensure(&id);
        if acc.channel.is_none() && e.channel.is_some() {
            acc.channel = e.channel.clone();
            acc.campaign = e.campaign.clone();
        }
        // Every engagement is a marketing touch (for influenced ARR); only
        // kinds that a tier names are kept whole, for qualification. The
        // others (newsletter clicks, blog views) are most of the volume.
        acc.touch_marketing(at);
        if !intent {
            return;
        }
        acc.engagements.push(EngagementRecord {
            at,
            event_id: ev.id.clone(),
            kind: e.kind.clone(),
            asset: e.asset.clone(),
            tags: e.asset_tags.clone(),
            seconds: e.duration_s.unwrap_or(0) as f64,
            contact: e.contact.clone(),
            channel: e.channel.clone(),
            campaign: e.campaign.clone(),
        });
        self.try_qualify(&id, ev, at, out);
    }

    /// Qualifies the account when it may enter a new cycle, fits the ICP
    /// and reaches a tier.
    fn try_qualify(&mut self, id: &str, ev: &Event, at: DateTime<Utc>, out: &mut Vec<Effect>) {
        let policy = self.policy;
        let Some(acc) = self.accounts.get_mut(id) else {
            return;
        };
        if !acc.is_qualifiable() || acc.engagements.is_empty() {
            return;
        }
        if let Err(reason) = qualify::fits_icp(&policy.icp, &acc.facts) {
            acc.icp_miss = Some(reason);
            return;
        }
        acc.icp_miss = None;
        let Some(q) = qualify::evaluate(policy, &acc.engagements, acc.floor, at) else {
            return;
        };
        let channel = first_channel(&acc.engagements, &q);
        self.start_cycle_at_mqa(id, ev, at, Some(q), channel, None, out);
    }

    #[expect(clippy::too_many_arguments, reason = "one call site per way into MQA")]
    fn start_cycle_at_mqa(
        &mut self,
        id: &str,
        ev: &Event,
        at: DateTime<Utc>,
        q: Option<Qualification>,
        channel: (Option<String>, Option<String>),
        tier: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(id);
        let number = acc.cycles.len() as u32 + 1;
        let mut cycle = Cycle::new(number, at);
        cycle.mqa_at = Some(at);
        cycle.mqa_event = Some(ev.id.clone());
        cycle.tier = q.as_ref().map(|q| q.tier.clone()).or(tier);
        cycle.qualification = q.clone();
        cycle.channel = channel.0;
        cycle.campaign = channel.1;
        if acc.channel.is_none() {
            acc.channel = cycle.channel.clone();
            acc.campaign = cycle.campaign.clone();
        }
        // Opportunities recorded before the account's first cycle (data
        // entered out of order upstream) belong to it.
        if acc.cycles.is_empty() {
            for opp in acc.opportunities.iter_mut().filter(|o| o.cycle.is_none()) {
                opp.cycle = Some(number);
                cycle.absorb_opportunity(opp);
                acc.warnings.push(DataWarning {
                    at,
                    event_id: ev.id.clone(),
                    message: format!(
                        "opportunity {} reached {} before the account's MQA on {}; \
                         durations from MQA are left out",
                        opp.id,
                        if opp.won_at.is_some() { "won" } else { "sqo" },
                        at.format("%Y-%m-%d")
                    ),
                });
                out.push(Effect::Warning {
                    account: id.to_string(),
                    event_id: ev.id.clone(),
                });
            }
        }
        // A cycle whose adopted deal already closed is over: the account
        // keeps its stage (won stays won) and no clock starts.
        let closed = cycle.won_at.or(cycle.lost_at).is_some();
        if closed {
            cycle.ended_at = Some(at);
        }
        push_tight(&mut acc.cycles, cycle);
        if let Some(q) = q {
            out.push(Effect::Qualified {
                account: id.to_string(),
                qualification: q,
            });
        }
        if closed {
            return;
        }
        self.move_stage(id, ev, at, Stage::Mqa, None, out);
        self.start_clocks(id, Trigger::Mqa, ev, at, out);
    }

    fn move_stage(
        &mut self,
        id: &str,
        ev: &Event,
        at: DateTime<Utc>,
        to: Stage,
        reason: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(id);
        let from = acc.stage;
        if from == Some(to) {
            return;
        }
        let backward = from.is_some_and(|f| is_backward(f, to));
        let reason = match (backward, reason) {
            (_, Some(r)) => Some(r),
            (true, None) => Some(format!("{} event {}", ev.type_name(), ev.id)),
            (false, None) => None,
        };
        let change = StageChange {
            at,
            from,
            to,
            event_id: ev.id.clone(),
            reason,
        };
        acc.history.push(change.clone());
        acc.stage = Some(to);
        out.push(Effect::StageChanged {
            account: id.to_string(),
            change,
        });
    }

    fn on_stage(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        s: &StageAssertion,
        out: &mut Vec<Effect>,
    ) {
        let id = s.account.clone();
        match s.stage {
            Stage::Mqa => self.assert_mqa(&id, ev, at, s, out),
            Stage::HandedOff => match &s.rep {
                Some(rep) => self.on_handoff(ev, at, &id, rep, s.tier.as_deref(), out),
                None => self.warn(&id, ev, at, "stage handed_off without a rep; ignored", out),
            },
            Stage::Sal => self.on_accepted(ev, at, &id, out),
            Stage::Rejected => {
                let reason = s.reason.clone().unwrap_or_else(|| "no reason given".into());
                self.on_rejected(ev, at, &id, &reason, out)
            }
            Stage::Nurture => self.on_nurture(ev, at, &id, s.reason.as_deref(), out),
            Stage::Sqo | Stage::Won | Stage::Lost => {
                let opp = Opportunity {
                    opportunity: format!("{id}:asserted"),
                    account: id.clone(),
                    stage: s.stage.as_str().to_string(),
                    amount: None,
                    currency: None,
                    rep: s.rep.clone(),
                };
                self.on_opportunity(ev, at, &opp, out)
            }
            Stage::Engaged => {
                self.ensure(&id);
                self.move_stage(&id, ev, at, Stage::Engaged, s.reason.clone(), out)
            }
        }
    }

    fn assert_mqa(
        &mut self,
        id: &str,
        ev: &Event,
        at: DateTime<Utc>,
        s: &StageAssertion,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(id);
        if s.channel.is_some() {
            // An upstream MQA credited to a channel is a marketing touch.
            acc.touch_marketing(at);
        }
        if let Some(c) = acc.open_cycle_mut() {
            if c.mqa_at.is_some() {
                // Another contact of an account already in the funnel
                // reaching MQL: normal for account-based marketing.
                return;
            }
            c.mqa_at = Some(at);
            c.mqa_event = Some(ev.id.clone());
            c.tier = c.tier.take().or(s.tier.clone());
            c.channel = s.channel.clone();
            c.campaign = s.campaign.clone();
            let late = c.handoff_at.or(c.accepted_at).is_some_and(|t| t < at);
            if acc.channel.is_none() {
                acc.channel = s.channel.clone();
                acc.campaign = s.campaign.clone();
            }
            if late {
                let msg = "MQA recorded after the hand-off or SAL of the same cycle (a source \
                           with dates but no times?); kept, durations from MQA are left out";
                self.warn(id, ev, at, msg, out);
            }
            return;
        }
        let channel = (s.channel.clone(), s.campaign.clone());
        self.start_cycle_at_mqa(id, ev, at, None, channel, s.tier.clone(), out);
    }

    fn on_handoff(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        id: &str,
        rep: &str,
        tier: Option<&str>,
        out: &mut Vec<Effect>,
    ) {
        let team = self.reps.get(rep).and_then(|r| r.team.clone());
        if !self.reps.contains_key(rep) {
            let msg = format!(
                "hand-off to rep {rep}, who has no rep event: no team, manager or calendar \
                 known; the organisation's calendar times the clocks"
            );
            self.warn(id, ev, at, &msg, out);
        }
        let acc = self.ensure(id);
        let reassigning = acc.open_cycle().is_some_and(|c| c.handoff_at.is_some());
        if reassigning {
            return self.on_reassign(ev, at, id, rep, out);
        }
        if acc.open_cycle().is_none() {
            let number = acc.cycles.len() as u32 + 1;
            push_tight(&mut acc.cycles, Cycle::new(number, at));
        }
        let cycle = acc
            .open_cycle_mut()
            .expect("an open cycle exists or was just pushed");
        cycle.handoff_at = Some(at);
        cycle.handoff_event = Some(ev.id.clone());
        cycle.handoff_rep = Some(rep.to_string());
        cycle.handoff_team = team;
        if let Some(t) = tier {
            cycle.tier = Some(t.to_string());
        }
        push_tight(
            &mut cycle.owners,
            OwnerStretch {
                rep: rep.to_string(),
                from: at,
                to: None,
            },
        );
        acc.owner = Some(rep.to_string());
        self.move_stage(id, ev, at, Stage::HandedOff, None, out);
        self.stop_clocks(id, Trigger::Handoff, ev, at, out);
        self.start_clocks(id, Trigger::Handoff, ev, at, out);
    }

    fn on_reassign(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        id: &str,
        rep: &str,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(id);
        acc.owner = Some(rep.to_string());
        if let Some(c) = acc.open_cycle_mut() {
            if let Some(last) = c.owners.last_mut() {
                last.to.get_or_insert(at);
            }
            push_tight(
                &mut c.owners,
                OwnerStretch {
                    rep: rep.to_string(),
                    from: at,
                    to: None,
                },
            );
        }
        self.stop_clocks(id, Trigger::Reassign, ev, at, out);
    }

    fn on_accepted(&mut self, ev: &Event, at: DateTime<Utc>, id: &str, out: &mut Vec<Effect>) {
        let acc = self.ensure(id);
        if acc.open_cycle().is_none() {
            let number = acc.cycles.len() as u32 + 1;
            push_tight(&mut acc.cycles, Cycle::new(number, at));
        }
        let c = acc
            .open_cycle_mut()
            .expect("an open cycle exists or was just pushed");
        if c.accepted_at.is_some() {
            return self.warn(
                id,
                ev,
                at,
                "accepted twice in one cycle; the first counts",
                out,
            );
        }
        c.accepted_at = Some(at);
        c.accepted_event = Some(ev.id.clone());
        let handoff_at = c.handoff_at;
        if handoff_at.is_none() {
            let msg = "accepted without a hand-off: counted as a SAL, outside the acceptance rate";
            self.warn(id, ev, at, msg, out);
        }
        self.move_stage(id, ev, at, Stage::Sal, None, out);
        self.stop_clocks(id, Trigger::Accepted, ev, at, out);
        self.start_clocks(id, Trigger::Accepted, ev, at, out);
        if let Some(h) = handoff_at {
            self.watch_acceptance(ev, at, h, true, out);
        }
    }

    fn on_rejected(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        id: &str,
        reason: &str,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(id);
        let Some(c) = acc.open_cycle_mut() else {
            return self.warn(id, ev, at, "rejected with no hand-off open; ignored", out);
        };
        c.rejected_at = Some(at);
        c.rejected_event = Some(ev.id.clone());
        c.reject_reason = Some(reason.to_string());
        let handoff_at = c.handoff_at;
        acc.floor = Some(at);
        self.move_stage(id, ev, at, Stage::Rejected, Some(reason.to_string()), out);
        self.end_cycle(id, Trigger::Rejected, ev, at, out);
        if let Some(h) = handoff_at {
            self.watch_acceptance(ev, at, h, false, out);
        }
    }

    fn on_nurture(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        id: &str,
        reason: Option<&str>,
        out: &mut Vec<Effect>,
    ) {
        let acc = self.ensure(id);
        acc.floor = Some(at);
        let open = acc.open_cycle().is_some();
        if let Some(c) = acc.cycles.last_mut() {
            if c.nurture_at.is_none() && (open || c.rejected_at.is_some()) {
                c.nurture_at = Some(at);
                c.nurture_event = Some(ev.id.clone());
            }
        }
        let reason = reason
            .map(String::from)
            .or_else(|| Some("returned to nurture".into()));
        self.move_stage(id, ev, at, Stage::Nurture, reason, out);
        if open {
            self.end_cycle(id, Trigger::Nurture, ev, at, out);
        }
    }

    fn on_activity(&mut self, ev: &Event, at: DateTime<Utc>, a: &Activity, out: &mut Vec<Effect>) {
        let calendars = self.policy;
        let acc = self.ensure(&a.account);
        let Some(c) = acc.open_cycle_mut() else {
            acc.loose_activities += 1;
            return;
        };
        if c.handoff_at.is_none_or(|h| at < h) {
            c.activities_before_handoff += 1;
            return;
        }
        if a.automated {
            c.automated += 1;
            return;
        }
        c.activities.push(at);
        if c.first_touch_at.is_none() {
            c.first_touch_at = Some(at);
            c.first_touch_rep = a.rep.clone();
            let cal = c
                .handoff_calendar
                .as_deref()
                .and_then(|n| calendars.calendars.get(n));
            if let (Some(h), Some(cal)) = (c.handoff_at, cal) {
                c.first_touch_business_s = Some(cal.business_seconds_between(h, at));
            }
        }
        self.stop_clocks(&a.account, Trigger::Activity, ev, at, out);
    }

    fn on_disposition(&mut self, ev: &Event, at: DateTime<Utc>, id: &str, out: &mut Vec<Effect>) {
        let acc = self.ensure(id);
        let Some(c) = acc.open_cycle_mut() else {
            return self.warn(id, ev, at, "disposition with no cycle open; ignored", out);
        };
        c.disposition_at.get_or_insert(at);
        self.stop_clocks(id, Trigger::Disposition, ev, at, out);
    }

    fn on_opportunity(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        o: &Opportunity,
        out: &mut Vec<Effect>,
    ) {
        let lookback = self.policy.influence_lookback;
        let acc = self.ensure(&o.account);
        let cycle_number = acc.open_cycle().map(|c| c.number);
        // A real deal takes over an open placeholder that an upstream stage
        // assertion (e.g. a CRM's "became an opportunity" date) created, so
        // that one deal is not counted twice.
        let placeholder = format!("{}:asserted", o.account);
        let existing =
            acc.opportunities
                .iter()
                .position(|x| x.id == o.opportunity)
                .or_else(|| {
                    let p = acc.opportunities.iter().position(|x| {
                        x.id == placeholder && x.won_at.is_none() && x.lost_at.is_none()
                    });
                    p.filter(|_| o.opportunity != placeholder)
                });
        if let Some(i) = existing {
            if acc.opportunities[i].id == placeholder {
                acc.opportunities[i].id = o.opportunity.clone();
                acc.opportunities[i].sqo_implied = false;
            }
        }
        let idx = match existing {
            Some(i) => i,
            None => {
                let influenced = acc.was_influenced(at, lookback);
                let mut opp = OpportunityRecord::new(
                    &o.opportunity,
                    at,
                    cycle_number,
                    o.rep.clone(),
                    influenced,
                );
                opp.sqo_implied = o.stage != "sqo";
                acc.opportunities.push(opp);
                acc.opportunities.len() - 1
            }
        };
        if acc.owner.is_none() {
            acc.owner = o.rep.clone();
        }
        let opp = &mut acc.opportunities[idx];
        if o.rep.is_some() {
            opp.rep = o.rep.clone();
        }
        if o.currency.is_some() {
            opp.currency = o.currency.clone();
        }
        let (stage, trigger) = match o.stage.as_str() {
            "sqo" => (Stage::Sqo, Trigger::Sqo),
            "won" => {
                opp.won_at.get_or_insert(at);
                opp.amount = o.amount.or(opp.amount);
                (Stage::Won, Trigger::Won)
            }
            "lost" => {
                opp.lost_at.get_or_insert(at);
                (Stage::Lost, Trigger::Lost)
            }
            custom => {
                opp.custom_stages.push((custom.to_string(), at));
                return;
            }
        };
        if let Some(n) = opp.cycle {
            let snapshot = opp.clone();
            if let Some(c) = acc.cycles.iter_mut().find(|c| c.number == n) {
                c.absorb_opportunity(&snapshot);
            }
        }
        self.move_stage(&o.account, ev, at, stage, None, out);
        match trigger {
            Trigger::Sqo => {
                self.stop_clocks(&o.account, Trigger::Sqo, ev, at, out);
                self.start_clocks(&o.account, Trigger::Sqo, ev, at, out);
            }
            t => self.end_cycle(&o.account, t, ev, at, out),
        }
    }

    fn warn(&mut self, id: &str, ev: &Event, at: DateTime<Utc>, msg: &str, out: &mut Vec<Effect>) {
        let acc = self.ensure(id);
        acc.warnings.push(DataWarning {
            at,
            event_id: ev.id.clone(),
            message: msg.to_string(),
        });
        out.push(Effect::Warning {
            account: id.to_string(),
            event_id: ev.id.clone(),
        });
    }

    /// Counts a decision towards acceptance-rate alert rules, raising an
    /// alert when the rate of the hand-off's period crosses the threshold
    /// and re-arming once it recovers. A late decision is put in its place
    /// among the period's decisions (`late`).
    fn watch_acceptance(
        &mut self,
        ev: &Event,
        at: DateTime<Utc>,
        handoff_at: DateTime<Utc>,
        accepted: bool,
        out: &mut Vec<Effect>,
    ) {
        let tz = self.policy.org_calendar().tz();
        for rule in &self.policy.alerts {
            let AlertTrigger::Metric {
                metric,
                threshold,
                below,
                period,
                min_sample,
                rearm,
            } = rule.trigger
            else {
                continue;
            };
            if metric != MetricName::AcceptanceRate {
                continue;
            }
            let gauge = late::Gauge {
                threshold,
                below,
                min_sample,
                rearm,
            };
            let p = crate::period::Period::containing(period, handoff_at, tz);
            let w = self
                .watches
                .entry((rule.id.clone(), p.label.clone()))
                .or_default();
            let key = (at, type_rank(&ev.body), ev.id.clone());
            let crossings = match w.decide(key, accepted, &gauge) {
                Ok(c) => c,
                Err(()) => {
                    self.mark_needs_replay();
                    continue;
                }
            };
            for c in crossings {
                let alert = self.rate_alert(rule, &p.label, below, threshold, &c);
                self.raise(alert, out);
            }
        }
    }

    /// The alert of a watch's crossing.
    fn rate_alert(
        &self,
        rule: &crate::policy::AlertRule,
        label: &str,
        below: bool,
        threshold: f64,
        c: &late::Crossing,
    ) -> Alert {
        let rate = f64::from(c.accepted) / f64::from(c.n);
        let (at, _, event_id) = &c.key;
        Alert {
            id: match c.number {
                1 => format!("{}:{label}", rule.id),
                n => format!("{}:{label}:{n}", rule.id),
            },
            rule: rule.id.clone(),
            at: *at,
            kind: AlertKind::Metric,
            account: None,
            commitment: None,
            tier: None,
            owner: None,
            recipients: self.recipients_at(&rule.notify, None, *at, rule.wake),
            reassign: false,
            message: format!(
                "acceptance rate {:.1}% for hand-offs of {label} ({} accepted of {} decided) is {} \
                 {:.0}%",
                rate * 100.0,
                c.accepted,
                c.n,
                if below { "under" } else { "over" },
                threshold * 100.0
            ),
            metric: Some(MetricReading {
                value: rate,
                n: c.n,
                period: label.to_string(),
            }),
            evidence: vec![event_id.clone()],
            step: 0,
            policy_version: self.version_in_force(),
        }
    }

    /// Hands an alert out as an effect, and keeps it unless told not to.
    fn raise(&mut self, alert: Alert, out: &mut Vec<Effect>) {
        if self.keep_alerts {
            self.alerts.push(alert.clone());
        }
        out.push(Effect::Alert(alert));
    }

    /// People to notify for roles, resolved through the organisation.
    fn recipients(&self, roles: &[String], owner: Option<&str>) -> Vec<Recipient> {
        roles
            .iter()
            .map(|role| {
                let who = match role.as_str() {
                    "owner" | "rep" => owner.map(String::from),
                    "sales_manager" => self.manager_of(owner),
                    other => self
                        .reps
                        .values()
                        .find(|r| r.role.as_deref() == Some(other))
                        .map(|r| r.rep.clone()),
                };
                Recipient {
                    role: role.clone(),
                    who,
                    deliver_at: None,
                }
            })
            .collect()
    }

    fn manager_of(&self, owner: Option<&str>) -> Option<String> {
        let rep = self.reps.get(owner?)?;
        if let Some(m) = &rep.manager {
            return Some(m.clone());
        }
        let team = rep.team.as_ref()?;
        if let Some(m) = self.policy.team_managers.get(team) {
            return Some(m.clone());
        }
        self.reps
            .values()
            .find(|r| r.team.as_ref() == Some(team) && r.role.as_deref() == Some("sales_manager"))
            .map(|r| r.rep.clone())
    }
}

/// Pushes onto a list that stays short (an account's cycles, a cycle's
/// clocks and owners), growing it by one place: `Vec` would jump from none
/// to four, and with a million accounts in a live engine the three spare
/// places of a 664-byte cycle alone cost 2 GB (benches/live_clocks.rs).
pub(crate) fn push_tight<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

/// Account id of a lone lead with no company.
pub fn lone_lead(contact: &str) -> String {
    format!("lead:{contact}")
}

fn merge_facts(into: &mut AccountFacts, f: &AccountFacts) {
    macro_rules! merge {
        ($($field:ident),*) => { $( if f.$field.is_some() { into.$field = f.$field.clone(); } )* };
    }
    merge!(name, industry, employees, country, annual_revenue, region);
    for (k, v) in &f.attributes {
        into.attributes.insert(k.clone(), v.clone());
    }
}

/// Channel and campaign of the earliest engagement behind a qualification.
fn first_channel(es: &[EngagementRecord], q: &Qualification) -> (Option<String>, Option<String>) {
    es.iter()
        .filter(|e| q.evidence.binary_search(&e.event_id).is_ok())
        .find(|e| e.channel.is_some())
        .map(|e| (e.channel.clone(), e.campaign.clone()))
        .unwrap_or((None, None))
}

/// Whether moving from `from` to `to` goes back up the funnel.
fn is_backward(from: Stage, to: Stage) -> bool {
    use Stage::*;
    let rank = |s: Stage| match s {
        Engaged | Nurture => 0,
        Mqa => 1,
        HandedOff => 2,
        Sal | Rejected => 3,
        Sqo => 4,
        Won | Lost => 5,
    };
    rank(to) < rank(from) && !(to == Nurture && matches!(from, Rejected | Lost))
}

#[cfg(test)]
mod tests;
