//! Policy versions over time.
//!
//! A store may hold several versions of the policy, each in force from its
//! effective instant until the next one's. The engine follows them as time
//! advances: before it applies an event or judges a timer at instant `t` it
//! switches to the version in force at `t`, so that version decides what
//! happens then (qualification, which clocks start, which alert rules
//! fire). A clock keeps the deadline and the stop rules of the version that
//! started it, and an escalation chain keeps the rule of the version that
//! raised its first notice. The first version also governs anything before
//! its effective instant: there is nothing older to apply.

use chrono::{DateTime, Utc};

use super::Engine;
use crate::policy::Policy;

/// One version of the policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyVersion<'p> {
    /// Its number in the store, from 1; 0 for a policy outside the store
    /// (an explicit file, a what-if candidate).
    pub number: u32,
    /// From when it is in force.
    pub effective_at: DateTime<Utc>,
    pub policy: &'p Policy,
}

impl<'p> Engine<'p> {
    /// A fresh engine following `versions`, which must be in order of
    /// effective instant.
    ///
    /// # Panics
    /// When `versions` is empty: an engine needs a policy.
    pub fn with_versions(versions: Vec<PolicyVersion<'p>>) -> Engine<'p> {
        let first = *versions.first().expect("at least one policy version");
        debug_assert!(versions
            .windows(2)
            .all(|w| w[0].effective_at <= w[1].effective_at));
        let mut engine = Engine::new(first.policy);
        engine.versions = versions;
        engine
    }

    /// The number of the version in force at the engine's current instant.
    pub fn version_in_force(&self) -> u32 {
        self.versions[self.current].number
    }

    /// Moves to the version in force at `t`; time only moves forward.
    pub(super) fn switch_to(&mut self, t: DateTime<Utc>) {
        while let Some(next) = self.versions.get(self.current + 1) {
            if next.effective_at > t {
                break;
            }
            self.current += 1;
            self.policy = next.policy;
        }
    }
}

/// The policy of the version numbered `number`, else `fallback` (a record
/// made under a version this engine does not follow).
pub(super) fn numbered<'p>(
    versions: &[PolicyVersion<'p>],
    number: u32,
    fallback: &'p Policy,
) -> &'p Policy {
    versions
        .iter()
        .find(|v| v.number == number)
        .map_or(fallback, |v| v.policy)
}

#[cfg(test)]
mod tests {
    //! The default policy's headquarters calendar is New York, Mon-Fri
    //! 09:00-17:00; in early March 2026 New York is UTC-5, so 09:00 local is
    //! 14:00Z and 17:00 local is 22:00Z. Version 1 is the default policy
    //! (first touch within 4 business hours of a high-intent hand-off);
    //! version 2, effective Wednesday 4 March 00:00Z, asks for 2 hours.

    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::PolicyVersion;
    use crate::engine::tests::{at, ev, v1_then_v2};
    use crate::engine::{sort_events, ClockRecord, ClockState, Engine, Snapshot};
    use crate::event::Event;
    use crate::policy::Policy;

    const DEFAULT: &str = include_str!("../../../../policies/default.toml");

    fn two_hour_policy() -> Policy {
        let text = DEFAULT.replacen(
            "stop = [\"activity\"]\nwithin = \"4h\"",
            "stop = [\"activity\"]\nwithin = \"2h\"",
            1,
        );
        assert_ne!(
            text, DEFAULT,
            "the first-touch target is where the test expects it"
        );
        Policy::from_toml(&text).unwrap()
    }

    /// A high-intent account (demo request) handed to r1 at `handoff`,
    /// never touched.
    fn untouched(account: &str, demo: &str, handoff: &str) -> Vec<Event> {
        vec![
            ev(json!({"id":format!("acc-{account}"),"type":"account",
                "at":"2026-02-01T00:00:00Z","account":account,
                "industry":"Software","employees":200})),
            ev(
                json!({"id":format!("d-{account}"),"type":"engagement","at":demo,
                "account":account,"kind":"demo_request"}),
            ),
            ev(
                json!({"id":format!("h-{account}"),"type":"handoff","at":handoff,
                "account":account,"rep":"r1"}),
            ),
        ]
    }

    fn history() -> Vec<Event> {
        let mut es = vec![
            ev(
                json!({"id":"rep-m1","type":"rep","at":"2026-01-01T00:00:00Z","rep":"m1",
                "team":"east","role":"sales_manager"}),
            ),
            ev(
                json!({"id":"rep-r1","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r1",
                "team":"east","manager":"m1"}),
            ),
        ];
        // Before the change, breached before it: hand-off Mon 15:00 EST;
        // 4h = 15:00-17:00 Mon + 09:00-11:00 Tue: Tue 11:00 EST = 16:00Z.
        es.extend(untouched(
            "early",
            "2026-03-02T14:00:00Z",
            "2026-03-02T20:00:00Z",
        ));
        // Before the change, due after it: hand-off Tue 16:00 EST; 4h =
        // 16:00-17:00 Tue + 09:00-12:00 Wed: Wed 12:00 EST = 17:00Z (under
        // version 2 it would have been Wed 10:00 EST = 15:00Z).
        es.extend(untouched(
            "straddle",
            "2026-03-03T20:30:00Z",
            "2026-03-03T21:00:00Z",
        ));
        // After the change: hand-off Wed 14:00 EST; 2h = 14:00-16:00 Wed:
        // Wed 16:00 EST = 21:00Z.
        es.extend(untouched(
            "late",
            "2026-03-04T14:00:00Z",
            "2026-03-04T19:00:00Z",
        ));
        sort_events(&mut es);
        es
    }

    fn run(versions: Vec<PolicyVersion<'_>>, as_of: &str) -> Snapshot {
        let mut engine = Engine::with_versions(versions);
        let mut out = Vec::new();
        // Only what had happened by `as_of`, as a replay does.
        for e in history().iter().filter(|e| e.at_utc() <= at(as_of)) {
            engine.apply(e, &mut out);
        }
        engine.finish(at(as_of))
    }

    fn clock<'a>(s: &'a Snapshot, account: &str) -> &'a ClockRecord {
        let a = s.accounts.iter().find(|a| a.id == account).unwrap();
        a.cycles[0]
            .clocks
            .iter()
            .find(|c| c.commitment == "first-touch")
            .unwrap()
    }

    #[test]
    fn clocks_keep_the_targets_of_the_version_that_started_them() {
        let (v1, v2) = (Policy::from_toml(DEFAULT).unwrap(), two_hour_policy());
        let s = run(
            v1_then_v2(&v1, &v2, "2026-03-04T00:00:00Z"),
            "2026-03-10T00:00:00Z",
        );
        let expect = [
            ("early", "2026-03-03T16:00:00Z", 1),
            ("straddle", "2026-03-04T17:00:00Z", 1),
            ("late", "2026-03-04T21:00:00Z", 2),
        ];
        for (account, deadline, version) in expect {
            let k = clock(&s, account);
            assert_eq!(k.deadline, at(deadline), "{account}");
            assert_eq!(k.state, ClockState::Breached, "{account}");
            assert_eq!(k.policy_version, version, "{account}");
        }
        // Breach notices come from the rules in force at the breach: the
        // straddling clock of version 1 breached under version 2.
        let breach = |account: &str| {
            s.alerts
                .iter()
                .find(|a| {
                    a.rule == "high-intent-untouched"
                        && a.step == 0
                        && a.account.as_deref() == Some(account)
                })
                .unwrap()
        };
        assert_eq!(breach("early").policy_version, 1);
        assert_eq!(breach("early").at, at("2026-03-03T16:00:00Z"));
        assert_eq!(breach("straddle").policy_version, 2);
        assert_eq!(breach("late").policy_version, 2);
        // The early breach's escalation: 4 business hours after Tue 11:00
        // EST is Tue 15:00 EST = 20:00Z, under the rule of version 1.
        let step = s
            .alerts
            .iter()
            .find(|a| a.step == 1 && a.account.as_deref() == Some("early"))
            .unwrap();
        assert_eq!(step.at, at("2026-03-03T20:00:00Z"));
        assert_eq!(step.policy_version, 1);
    }

    #[test]
    fn a_later_version_never_changes_the_earlier_period() {
        // As of Tue 3 March 23:00Z (before version 2's instant) the replay
        // under [v1] and under [v1, v2] must agree record for record.
        let (v1, v2) = (Policy::from_toml(DEFAULT).unwrap(), two_hour_policy());
        let one = |n| PolicyVersion {
            number: n,
            effective_at: DateTime::<Utc>::MIN_UTC,
            policy: &v1,
        };
        let before = run(vec![one(1)], "2026-03-03T23:00:00Z");
        let after = run(
            v1_then_v2(&v1, &v2, "2026-03-04T00:00:00Z"),
            "2026-03-03T23:00:00Z",
        );
        // "late" exists (its account facts are from February) but has no
        // cycle yet.
        assert_eq!(before.accounts.len(), 3);
        let late = before.accounts.iter().find(|a| a.id == "late").unwrap();
        assert!(late.cycles.is_empty());
        assert!(
            serde_json::to_string(&before.accounts).unwrap()
                == serde_json::to_string(&after.accounts).unwrap(),
            "the accounts differ once version 2 is known"
        );
        assert_eq!(before.alerts, after.alerts);
        assert_eq!(
            clock(&after, "straddle").deadline,
            at("2026-03-04T17:00:00Z")
        );
    }

    #[test]
    fn one_policy_engine_records_version_zero() {
        let p = Policy::from_toml(DEFAULT).unwrap();
        let s = run(
            vec![PolicyVersion {
                number: 0,
                effective_at: DateTime::<Utc>::MIN_UTC,
                policy: &p,
            }],
            "2026-03-10T00:00:00Z",
        );
        let mut engine = Engine::new(&p);
        let mut out = Vec::new();
        for e in &history() {
            engine.apply(e, &mut out);
        }
        let plain = engine.finish(at("2026-03-10T00:00:00Z"));
        assert_eq!(clock(&plain, "late").policy_version, 0);
        assert_eq!(clock(&plain, "late").deadline, at("2026-03-05T15:00:00Z"));
        assert_eq!(s.alerts, plain.alerts);
    }
}
