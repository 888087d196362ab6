//! SLA clocks: starting, stopping and judging them.
//!
//! A clock starts on its commitment's start trigger for the cycle's tier,
//! takes one calendar for its whole life (the owner rep's, else the team's,
//! else the organisation's; or the account region's), and ends met, breached
//! or cancelled. A deadline clock is met by a stop event at or before its
//! deadline; a cadence clock by enough counted events inside its window, or
//! early by one of its end events. Reassignment does not restart a clock; a
//! breach belongs to the rep holding the account at the breach instant.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};

use super::escalate::breach_alert_id;
use super::versions::numbered;
use super::{
    push_tight, AccountRecord, Alert, AlertKind, ClockRecord, ClockState, Effect, Engine, Timer,
};
use crate::event::Event;
use crate::policy::{AlertTrigger, ClockCalendar, ClockKind, Measure, TimeBasis, Trigger};

impl Engine<'_> {
    /// Name of the calendar a clock started now on this account uses.
    pub(super) fn clock_calendar(&self, acc: &AccountRecord) -> String {
        let p = self.policy;
        let known = |name: &str| p.calendars.contains_key(name);
        match p.clock_calendar {
            ClockCalendar::Region => acc
                .facts
                .region
                .clone()
                .filter(|r| known(r))
                .unwrap_or_else(|| p.org_calendar.clone()),
            ClockCalendar::Owner => {
                let rep = acc.owner.as_ref().and_then(|o| self.reps.get(o));
                let from_policy = acc.owner.as_ref().and_then(|o| p.rep_calendars.get(o));
                let own = from_policy
                    .cloned()
                    .or_else(|| rep.and_then(|r| r.calendar.clone()))
                    .filter(|c| known(c));
                let team = rep
                    .and_then(|r| r.team.as_ref())
                    .and_then(|t| p.team_calendars.get(t))
                    .cloned();
                own.or(team).unwrap_or_else(|| p.org_calendar.clone())
            }
        }
    }

    /// Starts the clocks whose start trigger is `trigger`, on the open cycle.
    pub(super) fn start_clocks(
        &mut self,
        id: &str,
        trigger: Trigger,
        ev: &Event,
        at: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let policy = self.policy;
        let Some(acc) = self.accounts.get(id) else {
            return;
        };
        let calendar_name = self.clock_calendar(acc);
        let calendar = &policy.calendars[&calendar_name];
        if trigger == Trigger::Handoff {
            if let Some(c) = self.accounts.get_mut(id).and_then(|a| a.open_cycle_mut()) {
                c.handoff_calendar = Some(calendar_name.clone());
            }
        }
        let Some(acc) = self.accounts.get_mut(id) else {
            return;
        };
        let owner = acc.owner.clone();
        let Some(cycle) = acc.open_cycle_mut() else {
            return;
        };
        let version = self.versions[self.current].number;
        for commitment in &policy.commitments {
            let Measure::Clock(spec) = &commitment.measure else {
                continue;
            };
            if spec.start != trigger || !spec.applies_to(cycle.tier.as_deref()) {
                continue;
            }
            let deadline = spec.deadline(calendar, at);
            let kind = match spec.kind {
                ClockKind::Deadline { .. } => "deadline",
                ClockKind::Cadence { .. } => "cadence",
            };
            push_tight(
                &mut cycle.clocks,
                ClockRecord {
                    commitment: commitment.id.clone(),
                    kind: kind.into(),
                    tier: cycle.tier.clone(),
                    calendar: calendar_name.clone(),
                    time: spec.time,
                    start_at: at,
                    start_event: ev.id.clone(),
                    deadline,
                    state: ClockState::Open,
                    stop_at: None,
                    stop_event: None,
                    stop_trigger: None,
                    breach_at: None,
                    breach_owner: None,
                    attempts: 0,
                    elapsed_s: None,
                    owner: owner.clone(),
                    owner_elapsed_s: None,
                    policy_version: version,
                },
            );
            self.timers.push(Reverse(Timer {
                due: deadline,
                account: id.to_string(),
                cycle: cycle.number,
                clock: (cycle.clocks.len() - 1) as u32,
                step: 0,
                rule: 0,
                version: self.current as u32,
            }));
            out.push(Effect::ClockStarted {
                account: id.to_string(),
                commitment: commitment.id.clone(),
                deadline,
            });
        }
    }

    /// Applies a stop, count or end trigger to the open cycle's clocks.
    pub(super) fn stop_clocks(
        &mut self,
        id: &str,
        trigger: Trigger,
        ev: &Event,
        at: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        let in_force = self.policy;
        let versions = &self.versions;
        let Some(acc) = self.accounts.get_mut(id) else {
            return;
        };
        let owner = acc.owner.clone();
        let Some(cycle) = acc.open_cycle_mut() else {
            return;
        };
        let owner_from = cycle.owners.last().map(|o| o.from);
        for clock in cycle.clocks.iter_mut() {
            // A clock keeps the stop rules of the version that started it.
            let policy = numbered(versions, clock.policy_version, in_force);
            let Some(Measure::Clock(spec)) =
                policy.commitment(&clock.commitment).map(|c| &c.measure)
            else {
                continue;
            };
            let stops = match &spec.kind {
                ClockKind::Deadline { stop } => stop.contains(&trigger),
                ClockKind::Cadence {
                    count,
                    at_least,
                    ends,
                } => {
                    let mut done = ends.contains(&trigger);
                    if *count == trigger && clock.state == ClockState::Open && at <= clock.deadline
                    {
                        clock.attempts += 1;
                        done |= clock.attempts >= *at_least;
                    }
                    done
                }
            };
            if !stops || clock.stop_at.is_some() {
                continue;
            }
            match clock.state {
                ClockState::Open => clock.state = ClockState::Met,
                // A late stop on a breached deadline clock is kept for
                // time-to-touch figures; the breach stands.
                ClockState::Breached if clock.kind == "deadline" => {}
                _ => continue,
            }
            let calendar = &policy.calendars[&clock.calendar];
            let measure = |from: DateTime<Utc>| match clock.time {
                TimeBasis::Business => calendar.business_seconds_between(from, at),
                TimeBasis::Calendar => (at - from).num_seconds(),
            };
            clock.stop_at = Some(at);
            clock.stop_event = Some(ev.id.clone());
            clock.stop_trigger = Some(trigger);
            clock.elapsed_s = Some(measure(clock.start_at));
            clock.owner = owner.clone();
            clock.owner_elapsed_s = owner_from.map(|f| measure(f.max(clock.start_at)));
            out.push(Effect::ClockEnded {
                account: id.to_string(),
                commitment: clock.commitment.clone(),
                state: clock.state,
                at,
            });
        }
    }

    /// Ends the open cycle: stop triggers apply first, then every clock
    /// still open is cancelled.
    pub(super) fn end_cycle(
        &mut self,
        id: &str,
        trigger: Trigger,
        ev: &Event,
        at: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        self.stop_clocks(id, trigger, ev, at, out);
        let Some(acc) = self.accounts.get_mut(id) else {
            return;
        };
        let Some(cycle) = acc.open_cycle_mut() else {
            return;
        };
        for clock in cycle
            .clocks
            .iter_mut()
            .filter(|c| c.state == ClockState::Open)
        {
            clock.state = ClockState::Cancelled;
            clock.stop_at = Some(at);
            clock.stop_event = Some(ev.id.clone());
            clock.stop_trigger = Some(trigger);
            out.push(Effect::ClockEnded {
                account: id.to_string(),
                commitment: clock.commitment.clone(),
                state: ClockState::Cancelled,
                at,
            });
        }
        if let Some(last) = cycle.owners.last_mut() {
            last.to.get_or_insert(at);
        }
        cycle.ended_at = Some(at);
        // A new cycle needs new evidence, whatever ended this one.
        acc.floor = Some(acc.floor.map_or(at, |f| f.max(at)));
    }

    /// Judges one due clock: still open past its deadline means breached.
    pub(super) fn fire(&mut self, timer: Timer, out: &mut Vec<Effect>) {
        self.mark_judged(&timer.account, timer.due);
        if timer.step > 0 {
            return self.fire_step(timer, out);
        }
        let Some(acc) = self.accounts.get_mut(&timer.account) else {
            return;
        };
        let owner = acc.owner.clone();
        let Some(cycle) = acc.cycles.get_mut(timer.cycle as usize - 1) else {
            return;
        };
        let tier = cycle.tier.clone();
        let Some(clock) = cycle.clocks.get_mut(timer.clock as usize) else {
            return;
        };
        if clock.state != ClockState::Open || clock.deadline != timer.due {
            return;
        }
        clock.state = ClockState::Breached;
        clock.breach_at = Some(clock.deadline);
        clock.breach_owner = owner.clone();
        let commitment = clock.commitment.clone();
        let start_event = clock.start_event.clone();
        let calendar = clock.calendar.clone();
        let at = clock.deadline;
        out.push(Effect::Breach {
            account: timer.account.clone(),
            commitment: commitment.clone(),
            at,
            owner: owner.clone(),
        });
        let raised =
            self.raise_breach_alerts(&timer, &commitment, tier, owner, at, start_event, out);
        for rule in raised {
            self.schedule_step(&timer, self.current, rule, 1, at, &calendar);
        }
    }

    /// Raises the breach alerts of the rules watching this commitment and
    /// tier; returns the indices of those rules.
    #[expect(clippy::too_many_arguments, reason = "the breach's facts, passed once")]
    fn raise_breach_alerts(
        &mut self,
        timer: &Timer,
        commitment: &str,
        tier: Option<String>,
        owner: Option<String>,
        at: DateTime<Utc>,
        start_event: String,
        out: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let mut raised = Vec::new();
        let policy = self.policy;
        for (index, rule) in policy.alerts.iter().enumerate() {
            let AlertTrigger::Breach {
                commitment: c,
                tiers,
            } = &rule.trigger
            else {
                continue;
            };
            if c != commitment {
                continue;
            }
            if let Some(list) = tiers {
                if !tier.as_ref().is_some_and(|t| list.contains(t)) {
                    continue;
                }
            }
            let alert = Alert {
                id: breach_alert_id(&rule.id, &timer.account, timer.cycle, timer.clock),
                rule: rule.id.clone(),
                at,
                kind: AlertKind::Breach,
                account: Some(timer.account.clone()),
                commitment: Some(commitment.to_string()),
                tier: tier.clone(),
                owner: owner.clone(),
                recipients: self.recipients_at(&rule.notify, owner.as_deref(), at, rule.wake),
                reassign: rule.reassign,
                message: format!(
                    "{} breached on account {} (tier {}, owner {}){}",
                    commitment,
                    timer.account,
                    tier.as_deref().unwrap_or("none"),
                    owner.as_deref().unwrap_or("nobody"),
                    if rule.reassign {
                        ": reassign or follow up now"
                    } else {
                        ""
                    }
                ),
                metric: None,
                evidence: vec![start_event.clone()],
                step: 0,
                policy_version: self.version_in_force(),
            };
            self.raise(alert, out);
            raised.push(index);
        }
        raised
    }
}
