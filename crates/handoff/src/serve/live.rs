//! The live engine: the service's SLA clocks, kept current in memory.
//!
//! The *live engine* is one [`Engine`] fed with every stored event as it is
//! ingested and moved forward by the clock task, so that a deadline is
//! judged the moment it passes rather than on the next replay. *Now* is the
//! injected [`Clock`]'s. At start-up the engine is *rebuilt*: the stored
//! log is replayed up to now. Events whose instant is still in the future
//! are *held back* and applied once the clock reaches them.
//!
//! The engine is *settled* up to the last event it applied (by
//! [`sort_events`] order) and the last deadline it judged. An ingested event
//! that sorts after both is applied in place. One that sorts before either
//! is *late*: it is applied in place too when the engine can tell that
//! nothing applied or judged after its instant touched what it touches
//! ([`Engine::can_apply_late`]: its account, its contact, the reps), which
//! is the common case when several sources post at once. Otherwise it is
//! *out of order*: it could change what was already judged, so the engine
//! is rebuilt from the log once the event is stored, as it is when a late
//! decision would change an acceptance-rate alert already raised
//! ([`Engine::needs_replay`]). Results depend on the set of events, not on
//! their arrival.
//!
//! Every alert the engine raises goes to the store's *outbox* under its
//! stable id, inserted once: with its events in one transaction on ingest,
//! on its own when time passing raised it. *live_since* (a meta key set on
//! the first start) is when the service went live: an alert raised for an
//! instant before it is *historical*, kept but never sent, so importing old
//! history pages nobody; any later alert is *pending* until the sender
//! delivers it. A deadline that passed while the service was down is
//! recorded at start-up with its true breach instant, and a restart records
//! nothing twice.
//!
//! An alert whose rule asks for *reassignment* (`actions = ["reassign"]`)
//! and that is sent (not historical) moves its account, right after the
//! alert is recorded, to the next rep of the owner's team in round robin
//! ([`pick_reassignee`]): a `reassign` event with the id
//! `auto-reassign:{alert id}`, dated one second after the breach (so the
//! breach stays with the rep who held the account), is appended to the log
//! and the engine is rebuilt from it. The id makes a restart or a second
//! raise of the alert a no-op. The team's *rotation* (the rep chosen last)
//! is the meta key `reassign_rotation:{team}`.
//!
//! Other writers may store events in the same log: a second service on
//! the same PostgreSQL database, or an import. The engine remembers the
//! log position it has read up to and *catches up* (`Live::catch_up`)
//! before each clock step and around each ingest: the events stored since
//! are applied like ingested ones (in order, else by a rebuild). So a first
//! touch posted to one service stops the clock on the other before that
//! one judges the deadline, and an alert both would raise has one id, is
//! recorded once and sent once.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Duration, Utc};
use handoff_core::engine::{
    auto_reassign_id, pick_reassignee, sort_events, type_rank, Alert, Effect, Engine, Snapshot,
};
use handoff_core::event::{EventBody, Reassign};
use handoff_core::Event;
use tokio::sync::Notify;

use super::clock::Clock;
use crate::replay::Policies;
use crate::store::{AppendOutcome, DeliveryStatus, NewAlert, OutboxEntry, Provenance, Store};

/// The meta key holding the instant the service first went live.
pub const LIVE_SINCE: &str = "live_since";

/// Prefix of the meta key holding a team's rotation: the rep chosen last.
pub const REASSIGN_ROTATION: &str = "reassign_rotation";

/// The live engine, its clock and the wake-up signal of the clock task.
pub struct Live {
    policies: &'static Policies,
    clock: Arc<dyn Clock>,
    live_since: DateTime<Utc>,
    state: Mutex<LiveState>,
    wake: Notify,
}

/// Where an event sorts: instant, type rank, id ([`sort_events`]).
type SortKey = (DateTime<Utc>, u8, String);

fn sort_key(ev: &Event) -> SortKey {
    (ev.at_utc(), type_rank(&ev.body), ev.id.clone())
}

/// The engine and what it has settled.
struct LiveState {
    engine: Engine<'static>,
    /// Sort key of the last event applied.
    last_event: Option<SortKey>,
    /// Latest deadline judged.
    last_fired: Option<DateTime<Utc>>,
    /// Stored events after now, in engine order.
    held: VecDeque<Event>,
    /// The log position read up to ([`Store::events_after`]).
    position: i64,
}

impl LiveState {
    fn new(policies: &'static Policies) -> LiveState {
        LiveState {
            // Every alert is taken from the effects and recorded in the
            // outbox: a list in the engine would only grow.
            engine: policies.engine().forget_alerts(),
            last_event: None,
            last_fired: None,
            held: VecDeque::new(),
            position: 0,
        }
    }

    /// Judges every deadline before `t`, one instant at a time so that the
    /// latest one judged is known; collects the alerts raised.
    fn advance(&mut self, t: DateTime<Utc>, alerts: &mut Vec<Alert>) {
        let mut effects = Vec::new();
        while let Some(due) = self.engine.next_deadline() {
            if due >= t {
                break;
            }
            // Past `due` by the smallest step: judges the timers due then.
            self.engine
                .advance_to(due + Duration::nanoseconds(1), &mut effects);
            self.last_fired = self.last_fired.max(Some(due));
        }
        self.engine.advance_to(t, &mut effects);
        collect_alerts(effects, alerts);
    }

    /// Applies one event, judging the deadlines before it first.
    fn apply(&mut self, ev: &Event, alerts: &mut Vec<Alert>) {
        self.advance(ev.at_utc(), alerts);
        let mut effects = Vec::new();
        self.engine.apply(ev, &mut effects);
        collect_alerts(effects, alerts);
        // A late event applied in place leaves the latest where it was.
        self.last_event = self.last_event.take().max(Some(sort_key(ev)));
    }

    /// Whether applying `ev` now gives what a replay would: it sorts after
    /// everything settled, or it is late but touches nothing settled after
    /// it ([`Engine::can_apply_late`]).
    fn in_order(&self, ev: &Event) -> bool {
        let after_fired = self.last_fired.is_none_or(|d| ev.at_utc() > d);
        let after_last = self.last_event.as_ref().is_none_or(|k| sort_key(ev) > *k);
        (after_fired && after_last) || self.engine.can_apply_late(ev)
    }

    /// The held-back events due at `now`, removed from the queue.
    fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        let mut due = Vec::new();
        while self.held.front().is_some_and(|e| e.at_utc() <= now) {
            due.extend(self.held.pop_front());
        }
        due
    }

    /// Adds events to the held-back queue, keeping it in engine order.
    fn hold(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.held.extend(events);
        sort_events(self.held.make_contiguous());
    }
}

/// Why a retracted alert was retracted.
const MOOT: &str = "retracted: an event dated before the breach, stored after it was raised, \
                    shows the alert no longer holds";

/// The outbox entries of one alert: the alert under its own id when every
/// recipient may hear at the same instant (the usual case), else one entry
/// per recipient, `{alert id}>{role}`, carrying only that recipient, so
/// that each waits for its own working hours.
fn outbox_entries(alert: &Alert) -> Vec<(String, Alert)> {
    let first = alert.recipients.first().map(|r| r.deliver_at);
    if alert.recipients.iter().all(|r| Some(r.deliver_at) == first) {
        return vec![(alert.id.clone(), alert.clone())];
    }
    alert
        .recipients
        .iter()
        .map(|r| {
            let mut one = alert.clone();
            one.recipients = vec![r.clone()];
            (format!("{}>{}", alert.id, r.role), one)
        })
        .collect()
}

fn collect_alerts(effects: Vec<Effect>, alerts: &mut Vec<Alert>) {
    alerts.extend(effects.into_iter().filter_map(|e| match e {
        Effect::Alert(a) => Some(a),
        _ => None,
    }));
}

impl Live {
    /// Starts the live engine on `store`: sets live_since on the first
    /// start, replays the log up to now and records the alerts of that
    /// replay in the outbox (each once). Returns the engine and how many
    /// alerts were new to the outbox.
    pub fn start(
        store: &mut Store,
        policies: &'static Policies,
        clock: Arc<dyn Clock>,
    ) -> Result<(Live, usize)> {
        let now = clock.now();
        // Set once, by whichever service sharing the store starts first.
        let text = store.meta_or_set(LIVE_SINCE, &now.to_rfc3339())?;
        let live_since = DateTime::parse_from_rfc3339(&text)
            .with_context(|| format!("reading {LIVE_SINCE} {text:?} from the store"))?
            .with_timezone(&Utc);
        if live_since == now {
            tracing::info!(%now, "the service goes live");
        }
        let live = Live {
            policies,
            clock,
            live_since,
            state: Mutex::new(LiveState::new(policies)),
            wake: Notify::new(),
        };
        let recorded = {
            let mut st = live.lock()?;
            live.rebuild(&mut st, store, now)?
        };
        Ok((live, recorded))
    }

    /// The instant the service first went live.
    pub fn live_since(&self) -> DateTime<Utc> {
        self.live_since
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Completes when ingest may have brought an earlier wake-up instant.
    pub async fn changed(&self) {
        self.wake.notified().await
    }

    /// When the clock task should next step: just after the earliest
    /// deadline waiting, or at the earliest held-back event.
    pub fn next_wake(&self) -> Result<Option<DateTime<Utc>>> {
        let st = self.lock()?;
        let deadline = st
            .engine
            .next_deadline()
            .map(|d| d + Duration::milliseconds(1));
        let held = st.held.front().map(Event::at_utc);
        Ok(match (deadline, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// A copy of the live engine's state as of now, with what the scorecard
    /// reads ([`Engine::metrics_snapshot`]): what a replay up to now would
    /// give the dashboard, without reading the log.
    pub fn metrics_snapshot(&self) -> Result<Snapshot> {
        let now = self.clock.now();
        let st = self.lock()?;
        Ok(st.engine.metrics_snapshot(now))
    }

    fn lock(&self) -> Result<MutexGuard<'_, LiveState>> {
        self.state
            .lock()
            .map_err(|_| anyhow!("the live engine was poisoned by an earlier panic"))
    }

    /// An alert's delivery status when recorded: historical before
    /// live_since, else pending.
    fn status_of(&self, alert: &Alert) -> DeliveryStatus {
        if alert.at < self.live_since {
            DeliveryStatus::Historical
        } else {
            DeliveryStatus::Pending
        }
    }

    fn outbox_rows(&self, alerts: &[Alert]) -> Result<Vec<NewAlert>> {
        let mut rows = Vec::with_capacity(alerts.len());
        for a in alerts {
            for (id, alert) in outbox_entries(a) {
                rows.push(NewAlert {
                    id,
                    json: serde_json::to_string(&alert).context("writing an alert as JSON")?,
                    status: self.status_of(&alert),
                    not_before: alert.recipients.first().and_then(|r| r.deliver_at),
                });
            }
        }
        Ok(rows)
    }

    /// Retracts the pending outbox entries raised up to `now` that a
    /// replay of the whole log no longer raises: an event dated before the
    /// breach arrived after it fired. `pending` was read before the log, so
    /// every entry in it was committed with the events that raised it.
    fn retract_moot(
        &self,
        store: &mut Store,
        pending: Vec<OutboxEntry>,
        alerts: &[Alert],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let raised: HashSet<String> = alerts
            .iter()
            .flat_map(|a| outbox_entries(a).into_iter().map(|(id, _)| id))
            .collect();
        let moot: Vec<String> = pending
            .into_iter()
            .filter(|e| !raised.contains(&e.alert_id))
            .filter(|e| serde_json::from_str::<Alert>(&e.alert).is_ok_and(|a| a.at <= now))
            .map(|e| e.alert_id)
            .collect();
        if moot.is_empty() {
            return Ok(0);
        }
        let n = store.outbox_retract(&moot, MOOT)?;
        tracing::info!(retracted = n, alerts = ?moot, "alerts made moot by late events retracted");
        Ok(n)
    }

    /// Replaces the engine with a replay of the stored log up to `now`,
    /// records the replay's alerts (each once) and carries out their
    /// reassignments; returns how many alerts were new.
    fn rebuild(&self, st: &mut LiveState, store: &mut Store, now: DateTime<Utc>) -> Result<usize> {
        let (mut recorded, mut alerts) = self.replay(st, store, now)?;
        // A reassignment is an event: once stored, replay again so that the
        // engine holds it. The second pass finds every id stored, so this
        // ends after at most two passes.
        while self.reassign(st, store, &alerts, now)? > 0 {
            let (more, again) = self.replay(st, store, now)?;
            recorded += more;
            alerts = again;
        }
        Ok(recorded)
    }

    /// Appends a reassign event for each sent alert that asks for one and
    /// whose event is not stored yet; returns how many were appended.
    fn reassign(
        &self,
        st: &LiveState,
        store: &mut Store,
        alerts: &[Alert],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut appended = 0;
        for alert in alerts {
            let (Some(account), Some(owner)) = (&alert.account, &alert.owner) else {
                continue;
            };
            if !alert.reassign || self.status_of(alert) == DeliveryStatus::Historical {
                continue;
            }
            let id = auto_reassign_id(&alert.id);
            if !store.stored_ids(std::iter::once(id.as_str()))?.is_empty() {
                continue;
            }
            let reps = st.engine.reps();
            let Some(team) = reps.get(owner).and_then(|r| r.team.clone()) else {
                tracing::warn!(alert = %alert.id, %owner, "no team known: not reassigned");
                continue;
            };
            let key = format!("{REASSIGN_ROTATION}:{team}");
            let last = store.meta(&key)?;
            let Some(rep) = pick_reassignee(
                &self.policies.in_force_at(alert.at).policy,
                reps,
                owner,
                alert.at,
                last.as_deref(),
            ) else {
                let why = "no rep of the team qualifies or is open: not reassigned";
                tracing::warn!(alert = %alert.id, %team, "{why}");
                continue;
            };
            let rep = rep.to_string();
            let event = Event {
                id,
                // One second after the breach instant: the breach (judged
                // strictly after its deadline) stays with the rep who held
                // the account, also when the log is replayed later.
                at: (alert.at + Duration::seconds(1)).fixed_offset(),
                body: EventBody::Reassign(Reassign {
                    account: account.clone(),
                    rep: rep.clone(),
                    reason: Some(format!(
                        "first-touch breached: reassigned round robin by rule {}",
                        alert.rule
                    )),
                }),
            };
            let recorded_at = now.to_rfc3339();
            let from = Provenance {
                sources: &[],
                default_source: "auto-reassign",
                recorded_at: Some(&recorded_at),
            };
            let outcome = store
                .append_from(std::slice::from_ref(&event), &from)
                .with_context(|| format!("storing the reassignment {}", event.id))?;
            if outcome.inserted == 1 {
                store.set_meta(&key, &rep)?;
                tracing::info!(alert = %alert.id, %account, from = %owner, to = %rep, "reassigned");
                appended += 1;
            }
        }
        Ok(appended)
    }

    /// Replaces the engine with a replay of the stored log up to `now` and
    /// records the replay's alerts (each once); returns how many were new
    /// and the alerts raised.
    fn replay(
        &self,
        st: &mut LiveState,
        store: &mut Store,
        now: DateTime<Utc>,
    ) -> Result<(usize, Vec<Alert>)> {
        let pending: Vec<OutboxEntry> = store
            .outbox_all()?
            .into_iter()
            .filter(|e| e.status == DeliveryStatus::Pending)
            .collect();
        let (mut events, position) = store
            .events_with_position()
            .context("reading the event log")?;
        sort_events(&mut events);
        let known = events.partition_point(|e| e.at_utc() <= now);
        let held: VecDeque<Event> = events.split_off(known).into();
        let mut fresh = LiveState::new(self.policies);
        let mut alerts = Vec::new();
        for ev in &events {
            fresh.apply(ev, &mut alerts);
        }
        fresh.advance(now, &mut alerts);
        fresh.held = held;
        fresh.position = position;
        *st = fresh;
        let rows = self.outbox_rows(&alerts)?;
        let recorded = store.outbox_record(&rows, now)?;
        self.retract_moot(store, pending, &alerts, now)?;
        tracing::info!(
            events = events.len(),
            held_back = st.held.len(),
            alerts = alerts.len(),
            recorded,
            %now,
            "live engine rebuilt from the log"
        );
        Ok((recorded, alerts))
    }

    /// Catches the engine up with the events stored after its log position
    /// by another writer (`own` names this service's events of the moment,
    /// applied already): those due are applied if they sort after
    /// everything settled, else the engine is rebuilt; later ones are held
    /// back. Their alerts are recorded as on ingest. Returns how many alerts
    /// were new to the outbox.
    fn catch_up(
        &self,
        st: &mut LiveState,
        store: &mut Store,
        now: DateTime<Utc>,
        own: &HashSet<String>,
    ) -> Result<usize> {
        // Right after this service stored `own`: when they alone fill the
        // log since the position, there is nothing to read back.
        if !own.is_empty() {
            let last = store.last_position()?;
            if last == st.position + own.len() as i64 {
                st.position = last;
                return Ok(0);
            }
        }
        let (news, position) = store
            .events_after(st.position, own)
            .context("reading events stored by other writers")?;
        st.position = position;
        if news.is_empty() {
            return Ok(0);
        }
        tracing::debug!(
            events = news.len(),
            position,
            "events stored by another writer"
        );
        let (mut due, later): (Vec<Event>, Vec<Event>) =
            news.into_iter().partition(|e| e.at_utc() <= now);
        if due.iter().any(|e| !st.in_order(e)) {
            return self.rebuild(st, store, now);
        }
        due.extend(st.take_due(now));
        sort_events(&mut due);
        let mut alerts = Vec::new();
        for ev in &due {
            st.apply(ev, &mut alerts);
        }
        st.hold(later);
        let rows = self.outbox_rows(&alerts)?;
        let mut recorded = store.outbox_record(&rows, now)?;
        if st.engine.needs_replay() || self.reassign(st, store, &alerts, now)? > 0 {
            recorded += self.rebuild(st, store, now)?;
        }
        Ok(recorded)
    }

    /// Rebuilds after a failure, so that memory never runs ahead of disk.
    fn recover(&self, st: &mut LiveState, store: &mut Store, why: &anyhow::Error) {
        tracing::warn!(error = %why, "rebuilding the live engine from the store");
        if let Err(e) = self.rebuild(st, store, self.clock.now()) {
            tracing::error!(error = %e, "the live engine could not be rebuilt");
        }
    }

    /// Stores a batch of valid events and applies the new ones to the
    /// live engine; the alerts they raise are stored with them in one
    /// transaction. Returns the store's outcome and the alerts recorded.
    pub fn ingest(
        &self,
        store: &mut Store,
        events: &[Event],
        from: &Provenance,
    ) -> Result<(AppendOutcome, usize)> {
        let now = self.clock.now();
        let mut st = self.lock()?;
        self.catch_up(&mut st, store, now, &HashSet::new())?;
        // Only events new to the log change the engine: a duplicate was
        // applied when first stored, a conflicting copy is not stored.
        let stored = store.stored_ids(events.iter().map(|e| e.id.as_str()))?;
        let mut seen = HashSet::new();
        let fresh: Vec<Event> = events
            .iter()
            .filter(|e| !stored.contains(&e.id) && seen.insert(e.id.as_str()))
            .cloned()
            .collect();
        let (mut due, later): (Vec<Event>, Vec<Event>) =
            fresh.iter().cloned().partition(|e| e.at_utc() <= now);
        if due.iter().any(|e| !st.in_order(e)) {
            let (outcome, _) = store.append_with_alerts(events, from, &[], now)?;
            let recorded = self.rebuild(&mut st, store, now)?;
            self.wake.notify_one();
            return Ok((outcome, recorded));
        }

        let result = (|| {
            due.extend(st.take_due(now));
            sort_events(&mut due);
            let mut alerts = Vec::new();
            for ev in &due {
                st.apply(ev, &mut alerts);
            }
            let rows = self.outbox_rows(&alerts)?;
            let (outcome, recorded) = store.append_with_alerts(events, from, &rows, now)?;
            Ok((outcome, recorded, alerts))
        })();
        match result {
            Ok((outcome, mut recorded, alerts)) => {
                st.hold(later);
                if outcome.inserted != fresh.len() {
                    // Another writer stored some of these in between.
                    let why = anyhow!("{} of {} new events stored", outcome.inserted, fresh.len());
                    self.recover(&mut st, store, &why);
                } else if st.engine.needs_replay() {
                    // A late decision would change an alert its watch had
                    // raised: only a replay in order gives the right state.
                    recorded += self.rebuild(&mut st, store, now)?;
                } else if self.reassign(&st, store, &alerts, now)? > 0 {
                    recorded += self.rebuild(&mut st, store, now)?;
                } else {
                    // Past this batch's own events, to any another writer
                    // stored meanwhile.
                    let own = fresh.iter().map(|e| e.id.clone()).collect();
                    recorded += self.catch_up(&mut st, store, now, &own)?;
                }
                self.wake.notify_one();
                Ok((outcome, recorded))
            }
            Err(e) => {
                self.recover(&mut st, store, &e);
                Err(e)
            }
        }
    }

    /// One step of the clock task: applies the held-back events that are
    /// due, judges every deadline before now and records the alerts raised.
    /// Returns how many alerts were new to the outbox.
    pub fn tick(&self, store: &mut Store) -> Result<usize> {
        let now = self.clock.now();
        let mut st = self.lock()?;
        let result = (|| {
            let mut recorded = self.catch_up(&mut st, store, now, &HashSet::new())?;
            let due = st.take_due(now);
            let mut alerts = Vec::new();
            for ev in &due {
                st.apply(ev, &mut alerts);
            }
            st.advance(now, &mut alerts);
            if alerts.is_empty() {
                return Ok(recorded);
            }
            let rows = self.outbox_rows(&alerts)?;
            recorded += store.outbox_record(&rows, now)?;
            if self.reassign(&st, store, &alerts, now)? > 0 {
                recorded += self.rebuild(&mut st, store, now)?;
            }
            Ok(recorded)
        })();
        if let Err(e) = &result {
            self.recover(&mut st, store, e);
        }
        result
    }
}
