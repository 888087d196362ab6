//! Late events against a replay in order: a generated history fed to the
//! engine in a jittered arrival order, the way the live service takes it
//! (each batch in order if it sorts after everything applied, in place if
//! `Engine::can_apply_late` allows every late event, else a replay of all
//! events so far), stands after every batch taken late in place as a replay
//! of everything received would, ends in the state a replay in order gives,
//! and every alert of that replay was raised on the way with the same
//! content.
//!
//! The expected state is not worked out by hand: it is the engine's own
//! replay in `sort_events` order, the definition of a result (the engine
//! tests in handoff-core check that replay against hand-worked histories).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use handoff::gen::{self, GenConfig, Generator};
use handoff_core::engine::{sort_events, type_rank, Alert, Effect, Engine};
use handoff_core::{Event, Policy};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Where an event sorts: instant, type rank, id.
type SortKey = (DateTime<Utc>, u8, String);

fn sort_key(ev: &Event) -> SortKey {
    (ev.at_utc(), type_rank(&ev.body), ev.id.clone())
}

/// Takes batches as the live engine does, counting how each was taken.
struct Feed<'p> {
    policy: &'p Policy,
    engine: Engine<'p>,
    /// Every event received so far.
    received: Vec<Event>,
    last: Option<SortKey>,
    /// The clock: the latest instant received, as if posted when it
    /// happened; deadlines before it are judged after each batch.
    now: Option<DateTime<Utc>>,
    /// Every alert raised, by id, as first raised.
    raised: BTreeMap<String, Alert>,
    in_order: usize,
    late_in_place: usize,
    replays: usize,
}

impl<'p> Feed<'p> {
    fn new(policy: &'p Policy) -> Feed<'p> {
        Feed {
            policy,
            engine: Engine::new(policy),
            received: Vec::new(),
            last: None,
            now: None,
            raised: BTreeMap::new(),
            in_order: 0,
            late_in_place: 0,
            replays: 0,
        }
    }

    fn take(&mut self, mut batch: Vec<Event>) {
        sort_events(&mut batch);
        // In order: after every event applied and every deadline judged
        // (all those before `now`).
        let ordered = batch.first().is_some_and(|e| {
            let after_judged = self.now.is_none_or(|n| e.at_utc() >= n);
            after_judged && self.last.as_ref().is_none_or(|k| sort_key(e) > *k)
        });
        self.received.extend(batch.iter().cloned());
        let at = batch.iter().map(Event::at_utc).max();
        self.now = self.now.max(at);
        let mut out = Vec::new();
        if ordered || batch.iter().all(|e| self.engine.can_apply_late(e)) {
            for e in &batch {
                self.engine.apply(e, &mut out);
                self.last = self.last.take().max(Some(sort_key(e)));
            }
            if self.engine.needs_replay() {
                return self.replay();
            }
            if ordered {
                self.in_order += 1;
            } else {
                self.late_in_place += 1;
            }
        } else {
            return self.replay();
        }
        if let Some(now) = self.now {
            self.engine.advance_to(now, &mut out);
        }
        self.keep(out);
        if !ordered {
            self.assert_as_replayed();
        }
    }

    /// After a batch applied late in place: every account stands as in a
    /// replay in order of everything received, judged to the same now.
    fn assert_as_replayed(&self) {
        let mut all = self.received.clone();
        sort_events(&mut all);
        let mut replay = Engine::new(self.policy);
        let mut out = Vec::new();
        for e in &all {
            replay.apply(e, &mut out);
        }
        replay.advance_to(self.now.unwrap(), &mut out);
        for id in all.iter().filter_map(Event::account) {
            let got = serde_json::to_value(self.engine.account(id)).unwrap();
            let expected = serde_json::to_value(replay.account(id)).unwrap();
            assert!(
                got == expected,
                "account {id} after a late batch:\n{got}\n{expected}"
            );
        }
    }

    fn replay(&mut self) {
        self.replays += 1;
        let mut all = self.received.clone();
        sort_events(&mut all);
        self.engine = Engine::new(self.policy);
        let mut out = Vec::new();
        for e in &all {
            self.engine.apply(e, &mut out);
        }
        self.last = all.last().map(sort_key);
        if let Some(now) = self.now {
            self.engine.advance_to(now, &mut out);
        }
        self.keep(out);
    }

    fn keep(&mut self, out: Vec<Effect>) {
        for e in out {
            if let Effect::Alert(a) = e {
                self.raised.entry(a.id.clone()).or_insert(a);
            }
        }
    }
}

/// A generated history of `accounts` accounts over `days`, in engine order.
fn history(policy: &Policy, accounts: u32, days: u32) -> Vec<Event> {
    let config = GenConfig {
        accounts,
        days,
        seed: 11,
        start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
    };
    let generator = Generator::new(config, policy).unwrap();
    let mut bytes = Vec::new();
    gen::write_jsonl(&generator, &mut bytes, |_| {}).unwrap();
    let mut events: Vec<Event> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| Event::from_json(l).unwrap())
        .collect();
    sort_events(&mut events);
    events
}

#[test]
fn a_jittered_arrival_order_ends_as_the_replay_in_order_and_raises_its_alerts() {
    // Arrange: batches of 20 events in engine order, each window of four
    // batches shuffled, as four sources posting at once would deliver them.
    let policy = gen::default_policy().unwrap();
    let events = history(&policy, 600, 200);
    let mut batches: Vec<Vec<Event>> = events.chunks(20).map(<[Event]>::to_vec).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for window in batches.chunks_mut(4) {
        window.shuffle(&mut rng);
    }

    // Act.
    let mut feed = Feed::new(&policy);
    for batch in batches {
        feed.take(batch);
    }

    eprintln!(
        "COUNTS {} {} {} alerts {}",
        feed.in_order,
        feed.late_in_place,
        feed.replays,
        feed.raised.len()
    );
    // Assert: the final state is the replay's...
    let as_of = feed.now.unwrap();
    let mut replay = Engine::new(&policy);
    let mut out = Vec::new();
    for e in &events {
        replay.apply(e, &mut out);
    }
    let expected = replay.finish(as_of);
    let mut live = std::mem::replace(&mut feed.engine, Engine::new(&policy));
    live.advance_to(as_of, &mut out);
    let got = live.finish(as_of);
    assert_eq!(got.events, expected.events);
    assert!(
        serde_json::to_value(&got.accounts).unwrap()
            == serde_json::to_value(&expected.accounts).unwrap(),
        "the final state differs from the replay in order"
    );
    // ...each of the replay's alerts was raised with its content...
    assert!(!expected.alerts.is_empty(), "the history raises alerts");
    for a in &expected.alerts {
        let raised = feed.raised.get(&a.id);
        assert_eq!(raised, Some(a), "alert {} as the replay raises it", a.id);
    }
    // ...and the late path was taken, not only replays.
    assert!(
        feed.late_in_place > 0 && feed.replays > 0 && feed.in_order > 0,
        "in order {}, late in place {}, replays {}",
        feed.in_order,
        feed.late_in_place,
        feed.replays
    );
}
