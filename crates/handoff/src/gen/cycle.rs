//! One sales cycle: from hand-off to won, lost or back to nurture.
//!
//! The *owner* is the rep who holds the account; a reassignment changes it
//! mid-cycle. The rep's team calendar paces everything Sales does: delays
//! are drawn in business seconds of that calendar, so a hand-off at 16:30 on
//! a Friday is first touched on Monday morning, in the rep's own zone.
//! The numbers below are the generator's picture of a realistic sales
//! floor (most reps meet the default policy's clocks, some miss, a few
//! miss often); they are simulation inputs, not SLA targets.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handoff_core::calendar::Calendar;
use handoff_core::event::{
    Activity, Decision, Disposition, EventBody, Handoff, Nurture, Opportunity, Reassign, Rejection,
};

use super::account::AccountSim;
use super::engagement::Tier;
use super::names::REJECTION_REASONS;
use super::random::{chance, lognormal, one_of, pick, secs_between};
use super::timing::{after_business, local_date, local_instant, plus, rep_time, DAY, HOUR};

/// Business seconds after which a manager may reassign an untouched
/// high-intent hand-off (mirrors the default policy's first-touch clock).
const ESCALATE_AFTER_S: f64 = 4.0 * 3_600.0;
/// Calendar seconds within which most dispositions land (mirrors the
/// default policy's disposition clock).
const DISPOSITION_WITHIN_S: i64 = 48 * HOUR;
/// Share of won opportunities among those that close.
const WIN_RATE: f64 = 0.30;
/// Median ARR of a won deal, in USD.
const MEDIAN_ARR: f64 = 30_000.0;

/// How a cycle ended, as far as the account's future goes.
pub(super) enum CycleEnd {
    /// Back in nurture at `at`; `comeback` is the chance of a new cycle.
    Nurtured { at: DateTime<Utc>, comeback: f64 },
    /// Won, lost for good, or still open at the end of the period.
    Done,
}

/// Who owns the account from when, within one cycle.
struct Owners(Vec<(DateTime<Utc>, usize)>);

impl Owners {
    fn at(&self, t: DateTime<Utc>) -> usize {
        // The first entry is the hand-off, so the list is never empty.
        self.0
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .unwrap_or(&self.0[0])
            .1
    }
}

impl AccountSim<'_> {
    /// Runs a cycle for an account that reached `tier` at `qualified`.
    pub(super) fn run_cycle(&mut self, qualified: DateTime<Utc>, tier: Tier) -> CycleEnd {
        self.cycles += 1;
        let world = self.world;
        let team = &world.org.teams[self.territory];
        let cal = &team.calendar;
        let rep = *one_of(&mut self.rng, &team.members);

        // Hand-off, with a marketing-automation welcome e-mail sometimes.
        let handoff = self.handoff_time(cal, qualified);
        let body = Handoff {
            account: self.id.clone(),
            rep: self.rep_id(rep),
            tier: None,
        };
        self.push(handoff, self.world.org_tz, EventBody::Handoff(body));
        if chance(&mut self.rng, 0.3) {
            let at = plus(handoff, secs_between(&mut self.rng, 60, 300));
            self.activity(at, cal.tz(), rep, "email", true);
        }

        // The first touch (maybe after an escalation) and the decision.
        let mut owners = Owners(vec![(handoff, rep)]);
        let first_touch = self.first_touch(cal, handoff, tier, &mut owners);
        let decided = after_business(cal, handoff, lognormal(&mut self.rng, 80.0 * 60.0, 1.0));
        let decider = owners.at(decided);
        let accept = self.accept_probability(tier, decider);
        if chance(&mut self.rng, accept) {
            let (owner, kind) = (owners.at(first_touch), first_touch_kind(self));
            self.activity(first_touch, cal.tz(), owner, kind, false);
            self.accepted(cal, tier, handoff, decided, first_touch, owners)
        } else {
            self.rejected(cal, decided, first_touch, &owners)
        }
    }

    fn rep_id(&self, rep: usize) -> String {
        self.world.org.reps[rep].facts.rep.clone()
    }

    fn activity(&mut self, at: DateTime<Utc>, tz: Tz, rep: usize, kind: &str, automated: bool) {
        let body = Activity {
            account: self.id.clone(),
            rep: Some(self.rep_id(rep)),
            kind: kind.to_string(),
            automated,
        };
        self.push(at, tz, EventBody::Activity(body));
    }

    /// Minutes to a few hours after qualifying; routing mostly waits for
    /// the rep's working hours.
    fn handoff_time(&mut self, cal: &Calendar, qualified: DateTime<Utc>) -> DateTime<Utc> {
        let delay = lognormal(&mut self.rng, 40.0 * 60.0, 1.0).clamp(120.0, 8.0 * 3_600.0);
        let t = plus(qualified, delay as i64);
        if !cal.is_open(t) && chance(&mut self.rng, 0.8) {
            rep_time(&mut self.rng, cal, t)
        } else {
            t
        }
    }

    /// When the owner first touches the account. A slow touch on a
    /// high-intent hand-off is sometimes escalated: the manager reassigns
    /// it and the new owner calls soon after.
    fn first_touch(
        &mut self,
        cal: &Calendar,
        handoff: DateTime<Utc>,
        tier: Tier,
        owners: &mut Owners,
    ) -> DateTime<Utc> {
        let rep = &self.world.org.reps[owners.at(handoff)];
        let slower = if tier == Tier::Mid { 2.5 } else { 1.0 };
        let secs = lognormal(&mut self.rng, rep.first_touch_median_s * slower, 1.1);
        let mut touch = after_business(cal, handoff, secs);
        if !cal.is_open(handoff) && chance(&mut self.rng, 0.12) {
            // An eager rep answers from their phone in the evening.
            touch = touch.min(plus(handoff, secs_between(&mut self.rng, 15 * 60, 90 * 60)));
        }
        let slow =
            secs > ESCALATE_AFTER_S && touch > after_business(cal, handoff, ESCALATE_AFTER_S);
        if tier == Tier::High && slow && chance(&mut self.rng, 0.4) {
            let extra = secs_between(&mut self.rng, 5 * 60, 60 * 60) as f64;
            let at = after_business(cal, handoff, ESCALATE_AFTER_S + extra);
            if self
                .reassign(cal, at, owners, "first touch overdue")
                .is_some()
            {
                let quick = lognormal(&mut self.rng, 30.0 * 60.0, 0.6);
                touch = after_business(cal, at, quick);
            }
        }
        touch
    }

    /// Moves the account to another rep of the team at `at`, recording the
    /// reassignment; `None` when the team has nobody else.
    fn reassign(
        &mut self,
        cal: &Calendar,
        at: DateTime<Utc>,
        owners: &mut Owners,
        reason: &str,
    ) -> Option<usize> {
        let from = owners.at(at);
        let others: Vec<usize> = self.world.org.teams[self.territory]
            .members
            .iter()
            .copied()
            .filter(|r| *r != from)
            .collect();
        if others.is_empty() {
            return None;
        }
        let to = *one_of(&mut self.rng, &others);
        let body = Reassign {
            account: self.id.clone(),
            rep: self.rep_id(to),
            reason: Some(reason.into()),
        };
        self.push(at, cal.tz(), EventBody::Reassign(body));
        owners.0.push((at, to));
        Some(to)
    }

    /// High-intent hand-offs are accepted more often; small companies and
    /// picky reps less.
    fn accept_probability(&self, tier: Tier, rep: usize) -> f64 {
        let base = if tier == Tier::High { 0.84 } else { 0.74 };
        let small = if self.employees < 120 { -0.08 } else { 0.0 };
        (base + small + self.world.org.reps[rep].accept_bias).clamp(0.3, 0.98)
    }

    /// A rejection with a reason, usually followed by nurture within a day.
    fn rejected(
        &mut self,
        cal: &Calendar,
        decided: DateTime<Utc>,
        first_touch: DateTime<Utc>,
        owners: &Owners,
    ) -> CycleEnd {
        let reason = if self.employees < 120 && chance(&mut self.rng, 0.4) {
            "too small"
        } else {
            *pick(&mut self.rng, REJECTION_REASONS)
        };
        // A wrong number or the wrong person shows up on the first call.
        let after_call =
            matches!(reason, "bad data" | "wrong persona") && chance(&mut self.rng, 0.6);
        let at = if after_call {
            decided.max(plus(
                first_touch,
                secs_between(&mut self.rng, 5 * 60, 60 * 60),
            ))
        } else {
            decided
        };
        if first_touch < at {
            let kind = first_touch_kind(self);
            self.activity(first_touch, cal.tz(), owners.at(first_touch), kind, false);
        }
        let rep = owners.at(at);
        let body = Rejection {
            account: self.id.clone(),
            reason: reason.into(),
            rep: Some(self.rep_id(rep)),
        };
        self.push(at, cal.tz(), EventBody::Rejected(body));

        let comeback = if matches!(reason, "existing customer" | "bad data") {
            0.15
        } else {
            0.35
        };
        let roll: f64 = rand::Rng::gen(&mut self.rng);
        let nurture_at = if roll < 0.90 {
            let delay = lognormal(&mut self.rng, 3.0 * 3_600.0, 1.2).clamp(300.0, 23.5 * 3_600.0);
            plus(at, delay as i64)
        } else if roll < 0.95 {
            plus(at, secs_between(&mut self.rng, 26 * HOUR, 96 * HOUR))
        } else {
            // Never recycled: the account sits in "rejected".
            return CycleEnd::Done;
        };
        self.nurture(nurture_at, format!("rejected: {reason}"));
        CycleEnd::Nurtured {
            at: nurture_at,
            comeback,
        }
    }

    fn nurture(&mut self, at: DateTime<Utc>, reason: String) {
        let body = Nurture {
            account: self.id.clone(),
            reason: Some(reason),
        };
        self.push(at, self.world.org_tz, EventBody::Nurture(body));
    }

    /// A SAL: acceptance, disposition, the cadence, and an opportunity or a
    /// return to nurture.
    fn accepted(
        &mut self,
        cal: &Calendar,
        tier: Tier,
        handoff: DateTime<Utc>,
        at: DateTime<Utc>,
        first_touch: DateTime<Utc>,
        mut owners: Owners,
    ) -> CycleEnd {
        let body = Decision {
            account: self.id.clone(),
            rep: Some(self.rep_id(owners.at(at))),
        };
        self.push(at, cal.tz(), EventBody::Accepted(body));
        self.disposition(cal, at, &owners);

        let sqo_rate = if tier == Tier::High { 0.40 } else { 0.27 };
        let sqo_at = chance(&mut self.rng, sqo_rate).then(|| {
            let days = lognormal(&mut self.rng, 10.0, 0.6).max(2.0);
            rep_time(&mut self.rng, cal, plus(at, (days * DAY as f64) as i64))
        });
        let last = self.cadence(cal, handoff, first_touch, sqo_at, &mut owners);
        match sqo_at {
            Some(sqo) => self.opportunity(cal, sqo, &owners),
            None => self.stalled(cal, last, &owners),
        }
    }

    /// The rep's disposition: usually within hours; some land after the
    /// 48 hours, forgotten over a weekend or a busy week.
    fn disposition(&mut self, cal: &Calendar, accepted: DateTime<Utc>, owners: &Owners) {
        let at = if chance(&mut self.rng, 0.85) {
            let t = after_business(cal, accepted, lognormal(&mut self.rng, 90.0 * 60.0, 1.0));
            let late = (t - accepted).num_seconds() > DISPOSITION_WITHIN_S;
            if late && chance(&mut self.rng, 0.6) {
                plus(accepted, secs_between(&mut self.rng, 10 * 60, 90 * 60))
            } else {
                t
            }
        } else {
            let secs = secs_between(&mut self.rng, 10 * HOUR, 40 * HOUR) as f64;
            after_business(cal, accepted, secs)
        };
        let statuses = [
            (("contacted", "follow up by phone this week"), 0.35),
            (("working", "send case study and book discovery call"), 0.30),
            (("meeting_booked", "discovery call booked"), 0.20),
            (("qualifying", "confirm budget and timeline"), 0.15),
        ];
        let (status, next) = *pick(&mut self.rng, &statuses);
        self.record_disposition(cal, at, owners.at(at), status, next);
    }

    fn record_disposition(
        &mut self,
        cal: &Calendar,
        at: DateTime<Utc>,
        rep: usize,
        status: &str,
        next: &str,
    ) {
        let body = Disposition {
            account: self.id.clone(),
            status: status.into(),
            next_step: Some(next.into()),
            rep: Some(self.rep_id(rep)),
        };
        self.push(at, cal.tz(), EventBody::Disposition(body));
    }

    /// Follow-up attempts after the first touch; a diligent owner makes 7
    /// to 10 within about two weeks, others 2 to 6 and maybe a few late
    /// ones. Attempts stop at the opportunity. Answers the last attempt.
    fn cadence(
        &mut self,
        cal: &Calendar,
        handoff: DateTime<Utc>,
        first_touch: DateTime<Utc>,
        stop: Option<DateTime<Utc>>,
        owners: &mut Owners,
    ) -> DateTime<Utc> {
        // Plan the attempts in business seconds after the first touch.
        let diligence = self.world.org.reps[owners.at(first_touch)].diligence;
        let diligent = chance(&mut self.rng, diligence);
        let (n, span_h) = if diligent {
            (
                secs_between(&mut self.rng, 7, 10),
                secs_between(&mut self.rng, 16, 56),
            )
        } else {
            (
                secs_between(&mut self.rng, 2, 6),
                secs_between(&mut self.rng, 10, 70),
            )
        };
        let mut offsets: Vec<i64> = (1..n)
            .map(|_| secs_between(&mut self.rng, 30 * 60, span_h * HOUR))
            .collect();
        if !diligent && chance(&mut self.rng, 0.5) {
            let late = secs_between(&mut self.rng, 1, 3);
            offsets.extend((0..late).map(|_| secs_between(&mut self.rng, 85 * HOUR, 130 * HOUR)));
        }
        offsets.sort_unstable();
        let reassign_at = chance(&mut self.rng, 0.02).then(|| {
            let k = secs_between(&mut self.rng, 0, offsets.len() as i64 - 1).max(0) as usize;
            offsets.get(k).copied().unwrap_or(0)
        });

        // Record them, up to the opportunity.
        let mut last = first_touch;
        for off in offsets {
            let mut at = after_business(cal, first_touch, off as f64);
            let mut kind = attempt_kind(self);
            if chance(&mut self.rng, 0.05) {
                at = plus(at, secs_between(&mut self.rng, 2 * HOUR, 5 * HOUR));
                kind = "email";
            }
            if stop.is_some_and(|s| at >= s) {
                break;
            }
            if reassign_at == Some(off) {
                self.reassign(cal, plus(at, -600), owners, "owner out of office");
            }
            self.activity(at, cal.tz(), owners.at(at), kind, false);
            last = last.max(at);
        }
        if let Some(s) = stop {
            // The meeting that made it an opportunity.
            let meeting = plus(s, -secs_between(&mut self.rng, HOUR, 3 * HOUR)).max(first_touch);
            self.activity(meeting, cal.tz(), owners.at(meeting), "meeting", false);
        }
        self.sequence_emails(cal, handoff, owners);
        last
    }

    /// Some SALs get two automated sequence e-mails, sent early morning in
    /// the rep's zone on days 3 and 7.
    fn sequence_emails(&mut self, cal: &Calendar, handoff: DateTime<Utc>, owners: &Owners) {
        if !chance(&mut self.rng, 0.2) {
            return;
        }
        let day0 = local_date(handoff, cal.tz());
        for days in [3u64, 7] {
            let date = day0 + chrono::Days::new(days);
            let secs = secs_between(&mut self.rng, 6 * HOUR, 7 * HOUR) as u32;
            let at = local_instant(cal.tz(), date, secs);
            self.activity(at, cal.tz(), owners.at(at), "email", true);
        }
    }

    /// An opportunity from SQO to won or lost.
    fn opportunity(&mut self, cal: &Calendar, sqo: DateTime<Utc>, owners: &Owners) -> CycleEnd {
        let id = format!("opp-{}-{}", &self.id[5..], self.cycles);
        let size = (self.employees as f64 / 300.0).powf(0.15);
        let arr = round_to(lognormal(&mut self.rng, MEDIAN_ARR * size, 0.65), 100.0);
        let estimate = round_to(arr * lognormal(&mut self.rng, 1.1, 0.2), 100.0);
        self.opp_stage(cal, sqo, owners.at(sqo), &id, "sqo", Some(estimate));

        let won = chance(&mut self.rng, WIN_RATE);
        let days = if won {
            lognormal(&mut self.rng, 55.0, 0.45)
        } else {
            lognormal(&mut self.rng, 70.0, 0.6)
        };
        let close = rep_time(
            &mut self.rng,
            cal,
            plus(sqo, (days.max(7.0) * DAY as f64) as i64),
        );
        if chance(&mut self.rng, 0.5) {
            let half = (close - sqo).num_seconds() / 2;
            let mid = rep_time(&mut self.rng, cal, plus(sqo, half)).min(plus(close, -HOUR));
            self.opp_stage(cal, mid, owners.at(mid), &id, "proposal", Some(estimate));
        }
        if won {
            self.opp_stage(cal, close, owners.at(close), &id, "won", Some(arr));
            return CycleEnd::Done;
        }
        self.opp_stage(cal, close, owners.at(close), &id, "lost", None);
        if close >= self.world.end || !chance(&mut self.rng, 0.6) {
            return CycleEnd::Done;
        }
        let at = plus(close, secs_between(&mut self.rng, DAY, 14 * DAY));
        self.nurture(at, "closed lost".into());
        CycleEnd::Nurtured { at, comeback: 0.12 }
    }

    fn opp_stage(
        &mut self,
        cal: &Calendar,
        at: DateTime<Utc>,
        rep: usize,
        id: &str,
        stage: &str,
        amount: Option<f64>,
    ) {
        let body = Opportunity {
            opportunity: id.to_string(),
            account: self.id.clone(),
            stage: stage.into(),
            amount,
            currency: amount.map(|_| "USD".to_string()),
            rep: Some(self.rep_id(rep)),
        };
        self.push(at, cal.tz(), EventBody::Opportunity(body));
    }

    /// A SAL that goes nowhere: a closing disposition some days after the
    /// last attempt and, usually, a return to nurture.
    fn stalled(&mut self, cal: &Calendar, last: DateTime<Utc>, owners: &Owners) -> CycleEnd {
        let later = plus(last, secs_between(&mut self.rng, 2 * DAY, 10 * DAY));
        let at = rep_time(&mut self.rng, cal, later);
        let rep = owners.at(at);
        self.record_disposition(
            cal,
            at,
            rep,
            "not_ready",
            "return to nurture; revisit next quarter",
        );
        if !chance(&mut self.rng, 0.85) {
            return CycleEnd::Done;
        }
        let nurture_at = plus(at, secs_between(&mut self.rng, 10 * 60, 3 * DAY));
        self.nurture(nurture_at, "sales: not ready".into());
        CycleEnd::Nurtured {
            at: nurture_at,
            comeback: 0.2,
        }
    }
}

/// How reps first reach out, and how they follow up, with weights.
const FIRST_TOUCH_KINDS: [(&str, f64); 3] = [("call", 0.55), ("email", 0.40), ("social", 0.05)];
const ATTEMPT_KINDS: [(&str, f64); 4] = [
    ("call", 0.42),
    ("email", 0.40),
    ("social", 0.12),
    ("meeting", 0.06),
];

fn first_touch_kind(sim: &mut AccountSim<'_>) -> &'static str {
    let &kind = pick(&mut sim.rng, &FIRST_TOUCH_KINDS);
    kind
}

fn attempt_kind(sim: &mut AccountSim<'_>) -> &'static str {
    let &kind = pick(&mut sim.rng, &ATTEMPT_KINDS);
    kind
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}
