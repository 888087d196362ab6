//! Late events: applying an event that sorts before events already applied,
//! when that gives what a replay in order would.
//!
//! The engine's results are defined by applying events in [`sort_events`]
//! order. A live caller gets them in arrival order, which differs a little
//! whenever several sources post at once. An event is *late* when it sorts
//! before an event already applied, or at or before a deadline already
//! judged. Applied in place, a late event still gives the in-order result
//! when nothing applied or judged after its instant touched the state it
//! reads or writes: its account (record, cycles, clocks), the contact it is
//! found through, and the reps, which nearly every event reads. The engine
//! keeps *marks*, the latest instant each of these was touched, and
//! [`Engine::can_apply_late`] compares the event's instant with them
//! (strictly: an equal instant counts as touched after, since the type
//! rank and id might order the two either way).
//!
//! Acceptance-rate *watches* are shared by every account whose hand-off
//! falls in the watch's period, so decisions posted by different sources
//! meet there. A watch therefore keeps its decisions in order; a late
//! decision is inserted in place and the watch is replayed from them. The
//! alerts it raised already must come out the same (new ones are raised
//! now, as a replay would have raised them); if one would differ, the
//! engine [needs a replay](Engine::needs_replay).
//!
//! [`sort_events`]: super::sort_events

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{lone_lead, Engine, RateWatch};
use crate::event::{Event, EventBody};

/// When an account was last touched.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct AccountMarks {
    /// Instant of the latest event applied to it.
    event: Option<DateTime<Utc>>,
    /// The latest deadline judged on its clocks.
    judged: Option<DateTime<Utc>>,
}

/// When the state shared between accounts was last touched.
#[derive(Debug, Default)]
pub(super) struct Marks {
    /// Instant of the latest rep event.
    reps: Option<DateTime<Utc>>,
    /// Per contact id, the latest event that named it: its contact event,
    /// or an engagement found through it.
    contacts: hashbrown::HashMap<String, DateTime<Utc>>,
    /// Set when a late decision would change an alert already raised.
    needs_replay: bool,
}

/// Moves a mark forward to `at`.
fn touch(mark: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) {
    *mark = Some(mark.map_or(at, |t| t.max(at)));
}

/// Whether a mark lies strictly before `at`.
fn is_before(mark: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    mark.is_none_or(|t| t < at)
}

impl Engine<'_> {
    /// Whether `ev`, which sorts before events already applied or at or
    /// before a deadline already judged, may be applied now with the result
    /// a replay in order would give (see the module doc). Conservative: a
    /// `false` may be a commuting event the marks cannot tell apart. A late
    /// decision is checked when applied; see [`Engine::needs_replay`].
    pub fn can_apply_late(&self, ev: &Event) -> bool {
        let at = ev.at_utc();
        if !is_before(self.late.reps, at) {
            return false;
        }
        // The engine has moved on to the version in force: an event from
        // before that version took effect belongs to an earlier one.
        if self.versions[self.current].effective_at > at {
            return false;
        }
        let contact = match &ev.body {
            // Every later event may have read the reps it changes.
            EventBody::Rep(_) => return false,
            EventBody::Contact(c) => Some(c.contact.as_str()),
            EventBody::Engagement(e) if e.account.is_none() => e.contact.as_deref(),
            _ => None,
        };
        if let Some(c) = contact {
            if !is_before(self.late.contacts.get(c).copied(), at) {
                return false;
            }
        }
        let Some(account) = self.touched_account(ev) else {
            return false;
        };
        self.accounts
            .marks(&account)
            .is_none_or(|m| is_before(m.event, at) && is_before(m.judged, at))
    }

    /// Whether a late decision changed an alert that its acceptance-rate
    /// watch had already raised: the engine's state then differs from a
    /// replay in order, and only a replay mends it.
    pub fn needs_replay(&self) -> bool {
        self.late.needs_replay
    }

    /// Records that `ev`, just applied, touched its account, its contact
    /// and the reps.
    pub(super) fn mark(&mut self, ev: &Event, at: DateTime<Utc>) {
        let contact = match &ev.body {
            EventBody::Rep(_) => return touch(&mut self.late.reps, at),
            EventBody::Contact(c) => Some(&c.contact),
            EventBody::Engagement(e) if e.account.is_none() => e.contact.as_ref(),
            _ => None,
        };
        if let Some(c) = contact {
            let mark = self.late.contacts.entry(c.clone()).or_insert(at);
            *mark = (*mark).max(at);
        }
        if let Some(account) = self.touched_account(ev).map(Cow::into_owned) {
            if let Some(m) = self.accounts.marks_mut(&account) {
                touch(&mut m.event, at);
            }
        }
    }

    /// Records that a deadline of `account` was judged.
    pub(super) fn mark_judged(&mut self, account: &str, due: DateTime<Utc>) {
        if let Some(m) = self.accounts.marks_mut(account) {
            touch(&mut m.judged, due);
        }
    }

    /// Records that applying a late decision would change an alert raised.
    pub(super) fn mark_needs_replay(&mut self) {
        self.late.needs_replay = true;
    }

    /// The account an event changes; `None` for a rep event.
    fn touched_account<'e>(&self, ev: &'e Event) -> Option<Cow<'e, str>> {
        match &ev.body {
            EventBody::Rep(_) => None,
            EventBody::Contact(c) => Some(match &c.account {
                Some(a) => Cow::Borrowed(a.as_str()),
                None => Cow::Owned(lone_lead(&c.contact)),
            }),
            EventBody::Engagement(e) => {
                Some(self.resolve_account(e.account.as_deref(), e.contact.as_deref()))
            }
            _ => ev.account().map(Cow::Borrowed),
        }
    }
}

/// A decision's place in [`super::sort_events`] order: instant, type rank, id.
pub(super) type DecisionKey = (DateTime<Utc>, u8, String);

/// One decision counted by a watch.
#[derive(Debug, Clone)]
pub(super) struct Decided {
    key: DecisionKey,
    accepted: bool,
}

/// A watch's crossing of its threshold: the decision that crossed, the
/// counts then, and which crossing of the watch it is (from 1).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Crossing {
    pub key: DecisionKey,
    pub accepted: u32,
    pub n: u32,
    pub number: u32,
}

/// An acceptance-rate rule's numbers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gauge {
    pub threshold: f64,
    pub below: bool,
    pub min_sample: u32,
    pub rearm: f64,
}

impl RateWatch {
    /// Counts a decision. In order, one step; late, the watch is replayed
    /// from its decisions. Returns the crossings to raise now, or `Err` when
    /// a late decision would change a crossing already raised.
    pub(super) fn decide(
        &mut self,
        key: DecisionKey,
        accepted: bool,
        gauge: &Gauge,
    ) -> Result<Vec<Crossing>, ()> {
        let at = self.decisions.partition_point(|d| d.key < key);
        let decided = Decided { key, accepted };
        if at == self.decisions.len() {
            self.decisions.push(decided.clone());
            return Ok(self.step(&decided, gauge).into_iter().collect());
        }
        self.decisions.insert(at, decided);
        let mut fresh = RateWatch::default();
        for d in &self.decisions {
            fresh.step(d, gauge);
        }
        let raised = self.crossed.len();
        let same = fresh.crossed.get(..raised) == Some(&self.crossed[..]);
        let new = fresh.crossed.get(raised..).unwrap_or_default().to_vec();
        fresh.decisions = std::mem::take(&mut self.decisions);
        *self = fresh;
        if same {
            Ok(new)
        } else {
            Err(())
        }
    }

    /// One decision counted in order: the crossing it makes, if any. The
    /// rule raises once per crossing and re-arms only after the rate has
    /// recovered past its band, so a rate hovering at the threshold does not
    /// flap.
    fn step(&mut self, d: &Decided, g: &Gauge) -> Option<Crossing> {
        if d.accepted {
            self.accepted += 1;
        } else {
            self.rejected += 1;
        }
        let (accepted, n) = (self.accepted, self.accepted + self.rejected);
        let rate = f64::from(accepted) / f64::from(n);
        let crossed = if g.below {
            rate < g.threshold
        } else {
            rate > g.threshold
        };
        if n < g.min_sample {
            return None;
        }
        if !crossed {
            let recovered = if g.below {
                rate >= g.rearm
            } else {
                rate <= g.rearm
            };
            if recovered {
                self.raised = false;
            }
            return None;
        }
        if self.raised {
            return None;
        }
        self.raised = true;
        self.crossings += 1;
        let crossing = Crossing {
            key: d.key.clone(),
            accepted,
            n,
            number: self.crossings,
        };
        self.crossed.push(crossing.clone());
        Some(crossing)
    }
}
