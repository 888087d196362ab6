//! Escalation: the later steps of a breach alert's chain, and when a notice
//! may reach its recipient.
//!
//! A breach alert whose rule has `[[alerts.escalate]]` steps schedules its
//! first step `after` the breach, counted on the breached clock's calendar
//! (business time by default). When the step comes due the engine raises it
//! only if nobody acted on the account since the breach ([`acting_on`]);
//! otherwise the chain ends there. A raised step schedules the next one.
//!
//! Every notice carries, per recipient, the instant it may be delivered:
//! the start of that person's next working hours on their calendar (the
//! rep's, else the team's, else the organisation's), unless the rule (or
//! the step) says it may wake them.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};

use super::{reassign, AlertKind, Engine, Recipient, Timer};
use crate::engine::Alert;
use crate::event::{Event, EventBody};
use crate::policy::EscalationStep;

/// The prefix of the ids of reassign events the service makes by itself.
const AUTO_REASSIGN: &str = "auto-reassign:";

/// The id of the reassign event an alert's automatic reassignment records.
pub fn auto_reassign_id(alert_id: &str) -> String {
    format!("{AUTO_REASSIGN}{alert_id}")
}

/// The account a person acted on with this event, if it is an action: an
/// activity a person made (not an automated one), an acceptance, a
/// rejection, a return to nurture, a disposition, a stage change, an
/// opportunity, or a reassignment someone asked for (not an automatic one).
pub fn acting_on(ev: &Event) -> Option<&str> {
    match &ev.body {
        EventBody::Activity(a) if !a.automated => Some(&a.account),
        EventBody::Accepted(d) => Some(&d.account),
        EventBody::Rejected(r) => Some(&r.account),
        EventBody::Nurture(n) => Some(&n.account),
        EventBody::Disposition(d) => Some(&d.account),
        EventBody::Stage(s) => Some(&s.account),
        EventBody::Opportunity(o) => Some(&o.account),
        EventBody::Reassign(r) if !ev.id.starts_with(AUTO_REASSIGN) => Some(&r.account),
        _ => None,
    }
}

/// The stable id of the breach alert rule `rule` raises for a clock.
pub(super) fn breach_alert_id(rule: &str, account: &str, cycle: u32, clock: u32) -> String {
    format!("{rule}:{account}:{cycle}:{clock}")
}

impl Engine<'_> {
    /// Remembers that a person acted on the event's account.
    pub(super) fn note_action(&mut self, ev: &Event, at: DateTime<Utc>) {
        if let Some(id) = acting_on(ev) {
            let acc = self.ensure(id);
            acc.last_action = Some(acc.last_action.map_or(at, |t| t.max(at)));
        }
    }

    /// Schedules step `step` (1-based) of rule `rule` (of policy version
    /// index `version`)'s chain for the clock of `timer`, breached at
    /// `breach_at` on `calendar`.
    pub(super) fn schedule_step(
        &mut self,
        timer: &Timer,
        version: usize,
        rule: usize,
        step: usize,
        breach_at: DateTime<Utc>,
        calendar: &str,
    ) {
        let policy = self.versions[version].policy;
        let Some(spec) = policy.alerts[rule].escalate.get(step - 1) else {
            return;
        };
        let cal = policy
            .calendars
            .get(calendar)
            .unwrap_or_else(|| policy.org_calendar());
        let due = spec.after.after(spec.time, cal, breach_at);
        if due == DateTime::<Utc>::MAX_UTC {
            return;
        }
        self.timers.push(Reverse(Timer {
            due,
            account: timer.account.clone(),
            cycle: timer.cycle,
            clock: timer.clock,
            step: step as u32,
            rule: rule as u32,
            version: version as u32,
        }));
    }

    /// Judges a due escalation step: raised when nobody acted on the
    /// account since the breach, and then the next step is scheduled.
    pub(super) fn fire_step(&mut self, timer: Timer, out: &mut Vec<super::Effect>) {
        // The chain keeps the rule of the version that raised its first
        // notice.
        let version = self.versions[timer.version as usize];
        let policy = version.policy;
        let rule_index = timer.rule as usize;
        let step = timer.step as usize;
        let rule = &policy.alerts[rule_index];
        let Some(spec) = rule.escalate.get(step - 1) else {
            return;
        };
        let Some(acc) = self.accounts.get(&timer.account) else {
            return;
        };
        let Some(cycle) = acc.cycles.get(timer.cycle as usize - 1) else {
            return;
        };
        let Some(clock) = cycle.clocks.get(timer.clock as usize) else {
            return;
        };
        let Some(breach_at) = clock.breach_at else {
            return;
        };
        if acc.last_action.is_some_and(|t| t >= breach_at) {
            return;
        }
        let owner = acc.owner.clone();
        let tier = cycle.tier.clone();
        let commitment = clock.commitment.clone();
        let calendar = clock.calendar.clone();
        let evidence = vec![clock.start_event.clone()];
        let base = breach_alert_id(&rule.id, &timer.account, timer.cycle, timer.clock);
        let recipients = self.recipients_at(&spec.notify, owner.as_deref(), timer.due, spec.wake);
        let alert = Alert {
            id: format!("{base}:step{step}"),
            rule: rule.id.clone(),
            at: timer.due,
            kind: AlertKind::Breach,
            account: Some(timer.account.clone()),
            commitment: Some(commitment.clone()),
            tier,
            owner: owner.clone(),
            recipients,
            reassign: false,
            message: step_message(spec, &commitment, &timer.account, owner.as_deref()),
            metric: None,
            evidence,
            step: step as u32,
            policy_version: version.number,
        };
        self.raise(alert, out);
        let index = timer.version as usize;
        self.schedule_step(&timer, index, rule_index, step + 1, breach_at, &calendar);
    }

    /// The people holding `roles`, each with the instant their notice may
    /// be delivered for an alert raised `at`.
    pub(super) fn recipients_at(
        &self,
        roles: &[String],
        owner: Option<&str>,
        at: DateTime<Utc>,
        wake: bool,
    ) -> Vec<Recipient> {
        let mut out = self.recipients(roles, owner);
        if !wake {
            for r in &mut out {
                r.deliver_at = self.working_from(r.who.as_deref(), at);
            }
        }
        out
    }

    /// When a notice raised `at` may reach `who`: `None` inside their
    /// working hours (or when their calendar never opens, rather than
    /// never), else the next opening.
    fn working_from(&self, who: Option<&str>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let name = who
            .and_then(|w| self.reps.get(w))
            .map(|r| reassign::rep_calendar_name(self.policy, r))
            .unwrap_or_else(|| self.policy.org_calendar.clone());
        let cal = self.policy.calendars.get(&name)?;
        let open = cal.next_open(at);
        (open > at && open != DateTime::<Utc>::MAX_UTC).then_some(open)
    }
}

fn step_message(
    spec: &EscalationStep,
    commitment: &str,
    account: &str,
    owner: Option<&str>,
) -> String {
    format!(
        "{commitment} breached on account {account} (owner {}) and nobody has acted for {}{}: \
         escalated to {}",
        owner.unwrap_or("nobody"),
        spec.after_text,
        match spec.time {
            crate::policy::TimeBasis::Business => " of business time",
            crate::policy::TimeBasis::Calendar => "",
        },
        spec.notify.join(", ")
    )
}
