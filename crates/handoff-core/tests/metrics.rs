//! Every scorecard metric on small histories worked out by hand.
//!
//! Each test builds a few accounts' events, replays them through the engine
//! under the default policy (policies/default.toml) and checks one period's
//! scorecard against figures computed by hand in the comments beside the
//! assertions. docs/metrics.md states the definitions being checked.
//!
//! Time: the headquarters calendar is New York, Mon-Fri 09:00-17:00. New York
//! is UTC-5 (EST) until Sunday 8 March 2026 02:00 and UTC-4 (EDT) after, so
//! 09:00 local is 14:00Z before the change and 13:00Z after, 17:00 local is
//! 22:00Z before and 21:00Z after. Report periods are `[from, to)` between
//! local midnights: March 2026 is [2026-03-01T05:00Z, 2026-04-01T04:00Z).
//! 2 March 2026 is a Monday.

use chrono::{DateTime, Utc};
use handoff_core::engine::{sort_events, Engine, Snapshot};
use handoff_core::metrics::{self, CommitmentResult, Dimension, Scorecard, Status};
use handoff_core::period::Period;
use handoff_core::{Event, Policy};
use serde_json::{json, Value};

const DEFAULT_POLICY: &str = include_str!("../../../policies/default.toml");

/// Two metric commitments the default policy does not have, appended to it
/// so that SAL to SQO and influenced ARR are judged as commitments too.
const EXTRA_COMMITMENTS: &str = r#"
[[commitments]]
id = "sal-to-sqo"
owner = "sales"
description = "SALs that reach SQO"
metric = "sal_to_sqo"
period = "quarter"
target = ">= 40%"

[[commitments]]
id = "influenced"
owner = "marketing"
description = "Share of won ARR that marketing influenced"
metric = "influenced_arr_share"
period = "quarter"
target = ">= 50%"
"#;

fn default_policy() -> Policy {
    Policy::from_toml(DEFAULT_POLICY).unwrap()
}

fn extended_policy() -> Policy {
    Policy::from_toml(&format!("{DEFAULT_POLICY}{EXTRA_COMMITMENTS}")).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A history under construction; events get ids `e0`, `e1`, ... in order.
#[derive(Default)]
struct History {
    events: Vec<Event>,
}

impl History {
    fn add(&mut self, kind: &str, when: &str, mut body: Value) -> &mut Self {
        body["id"] = json!(format!("e{}", self.events.len()));
        body["type"] = json!(kind);
        body["at"] = json!(when);
        self.events.push(serde_json::from_value(body).unwrap());
        self
    }

    /// Firmographics that fit the default ICP (software, 50+ employees).
    fn fits_icp(&mut self, account: &str) -> &mut Self {
        let body = json!({"account": account, "industry": "Software", "employees": 200});
        self.add("account", "2026-01-01T00:00:00Z", body)
    }

    fn engage(&mut self, account: &str, kind: &str, when: &str) -> &mut Self {
        self.add(
            "engagement",
            when,
            json!({"account": account, "kind": kind}),
        )
    }

    /// An upstream MQA assertion of the high tier, with no channel.
    fn mqa(&mut self, account: &str, when: &str) -> &mut Self {
        let body = json!({"account": account, "stage": "mqa", "tier": "high"});
        self.add("stage", when, body)
    }

    fn handoff(&mut self, account: &str, rep: &str, when: &str) -> &mut Self {
        self.add("handoff", when, json!({"account": account, "rep": rep}))
    }

    /// A hand-off of the high tier, which the first-touch clock applies to.
    fn handoff_high(&mut self, account: &str, rep: &str, when: &str) -> &mut Self {
        let body = json!({"account": account, "rep": rep, "tier": "high"});
        self.add("handoff", when, body)
    }

    fn accept(&mut self, account: &str, when: &str) -> &mut Self {
        self.add("accepted", when, json!({"account": account}))
    }

    fn reject(&mut self, account: &str, when: &str, reason: &str) -> &mut Self {
        let body = json!({"account": account, "reason": reason});
        self.add("rejected", when, body)
    }

    fn nurture(&mut self, account: &str, when: &str) -> &mut Self {
        self.add("nurture", when, json!({"account": account}))
    }

    fn touch(&mut self, account: &str, rep: &str, when: &str) -> &mut Self {
        let body = json!({"account": account, "rep": rep, "kind": "call"});
        self.add("activity", when, body)
    }

    fn dispose(&mut self, account: &str, when: &str) -> &mut Self {
        let body = json!({"account": account, "status": "working",
            "next_step": "discovery call"});
        self.add("disposition", when, body)
    }

    /// An opportunity event; `amount` only on `won`.
    fn opp(&mut self, account: &str, stage: &str, when: &str, amount: Option<f64>) -> &mut Self {
        let mut body = json!({"opportunity": format!("o-{account}"), "account": account,
            "stage": stage});
        if let Some(a) = amount {
            body["amount"] = json!(a);
        }
        self.add("opportunity", when, body)
    }

    /// Replays the events known at `as_of` (later ones have not happened)
    /// and judges the clocks as of it.
    fn snapshot(&self, policy: &Policy, as_of: &str) -> Snapshot {
        let as_of = at(as_of);
        let mut events: Vec<Event> = self
            .events
            .iter()
            .filter(|e| e.at_utc() <= as_of)
            .cloned()
            .collect();
        sort_events(&mut events);
        let mut engine = Engine::new(policy);
        let mut effects = Vec::new();
        for e in &events {
            engine.apply(e, &mut effects);
        }
        engine.finish(as_of)
    }

    /// The scorecard of `period` with the clocks judged as of `as_of`.
    fn card(&self, policy: &Policy, period: &Period, as_of: &str) -> Scorecard {
        let snapshot = self.snapshot(policy, as_of);
        metrics::scorecard(policy, &snapshot, period, at(as_of))
    }
}

fn month(policy: &Policy, text: &str) -> Period {
    Period::parse_month(text, policy.org_calendar().tz()).unwrap()
}

fn quarter(policy: &Policy, text: &str) -> Period {
    Period::parse_quarter(text, policy.org_calendar().tz()).unwrap()
}

fn commitment<'a>(card: &'a Scorecard, id: &str) -> &'a CommitmentResult {
    card.commitments.iter().find(|c| c.id == id).unwrap()
}

/// `(actual, n, pending, status)` of one commitment.
fn judged(card: &Scorecard, id: &str) -> (Option<f64>, u32, u32, Status) {
    let c = commitment(card, id);
    (c.actual, c.n, c.pending, c.status)
}

fn assert_close(actual: Option<f64>, expected: f64) {
    let a = actual.unwrap_or_else(|| panic!("expected {expected}, got None"));
    assert!((a - expected).abs() < 1e-9, "expected {expected}, got {a}");
}

// ---------------------------------------------------------------- periods

#[test]
fn report_periods_are_local_months_of_the_organisation() {
    let p = default_policy();
    let march = month(&p, "2026-03");
    // 1 March 00:00 EST = 05:00Z; 1 April 00:00 EDT = 04:00Z.
    assert_eq!(march.from, at("2026-03-01T05:00:00Z"));
    assert_eq!(march.to, at("2026-04-01T04:00:00Z"));
    // Q1: 1 January 00:00 EST = 05:00Z, to 1 April 00:00 EDT.
    let q1 = quarter(&p, "2026Q1");
    assert_eq!(q1.from, at("2026-01-01T05:00:00Z"));
    assert_eq!(q1.to, at("2026-04-01T04:00:00Z"));
}

// ------------------------------------------------------------- MQA count

#[test]
fn mqa_count_counts_every_entry_and_a_new_cycle_again() {
    let p = default_policy();
    let mut h = History::default();
    for a in ["a", "b1", "b2", "b3", "b4"] {
        h.fits_icp(a);
    }
    // a: a demo request qualifies it (MQA 1), it is handed off, rejected and
    // nurtured; a pricing-page view on 20 March qualifies it again (MQA 2).
    h.engage("a", "demo_request", "2026-03-02T14:00:00Z")
        .handoff("a", "r1", "2026-03-02T20:00:00Z")
        .reject("a", "2026-03-03T15:00:00Z", "no budget")
        .nurture("a", "2026-03-03T18:00:00Z")
        .engage("a", "pricing_page_view", "2026-03-20T15:00:00Z");
    // Boundaries, each a demo request that qualifies at its own instant:
    // b4 Sat 28 Feb 23:59:59 EST (February), b1 Sun 1 Mar 00:00:00 EST
    // (exactly March's start: March), b3 Tue 31 Mar 23:59:59 EDT (March),
    // b2 Wed 1 Apr 00:00:00 EDT (exactly March's end: April).
    h.engage("b4", "demo_request", "2026-03-01T04:59:59Z")
        .engage("b1", "demo_request", "2026-03-01T05:00:00Z")
        .engage("b3", "demo_request", "2026-04-01T03:59:59Z")
        .engage("b2", "demo_request", "2026-04-01T04:00:00Z");
    let as_of = "2026-05-01T00:00:00Z";

    // March: a twice, b1, b3 = 4. (With UTC months b4 would be in March
    // and b2 in April too: the zone matters.)
    let march = h.card(&p, &month(&p, "2026-03"), as_of);
    assert_eq!(march.funnel.mqa, 4);
    // This history has no accept event at all: MQA to SAL is unknown, not
    // 0% (a source without a SAL step must not read as 0% conversion).
    assert_eq!(march.funnel.conversions.mqa_to_sal, None);
    assert_eq!(h.card(&p, &month(&p, "2026-02"), as_of).funnel.mqa, 1); // b4
    assert_eq!(h.card(&p, &month(&p, "2026-04"), as_of).funnel.mqa, 1); // b2

    // Q1: a twice, b1, b3, b4 = 5.
    assert_eq!(h.card(&p, &quarter(&p, "2026Q1"), as_of).funnel.mqa, 5);
}

// ------------------------------------------------------------- SAL count

/// SALs: s1 at exactly March's start, s2 at exactly its end, s3, s4
/// accepted twice in one cycle, s5 accepted in two cycles.
fn sal_history() -> History {
    let mut h = History::default();
    h.handoff("s1", "r1", "2026-02-27T15:00:00Z")
        .accept("s1", "2026-03-01T05:00:00Z")
        .handoff("s2", "r1", "2026-03-31T15:00:00Z")
        .accept("s2", "2026-04-01T04:00:00Z")
        .handoff("s3", "r1", "2026-03-09T14:00:00Z")
        .accept("s3", "2026-03-10T14:00:00Z")
        .handoff("s4", "r1", "2026-03-10T14:00:00Z")
        .accept("s4", "2026-03-11T14:00:00Z")
        .accept("s4", "2026-03-12T14:00:00Z");
    // s5: accepted, the deal is lost (the cycle ends), handed off and
    // accepted again in a second cycle.
    h.handoff("s5", "r1", "2026-03-02T15:00:00Z")
        .accept("s5", "2026-03-03T15:00:00Z")
        .opp("s5", "lost", "2026-03-05T15:00:00Z", None)
        .handoff("s5", "r2", "2026-03-20T14:00:00Z")
        .accept("s5", "2026-03-23T14:00:00Z");
    h
}

#[test]
fn sal_count_counts_accept_events_once_per_cycle() {
    let p = default_policy();
    let h = sal_history();
    let as_of = "2026-05-01T00:00:00Z";
    let march = h.card(&p, &month(&p, "2026-03"), as_of);
    // s1 (at the start, counts) + s3 + s4 (second accept of the same cycle
    // is a duplicate, not counted) + s5 twice (two cycles) = 5; s2 is at
    // March's end, so April's.
    assert_eq!(march.funnel.sal, 5);
    let c = commitment(&march, "sal-volume");
    assert_eq!((c.actual, c.n, c.is_rate), (Some(5.0), 5, false));
    assert_eq!((c.target.as_str(), c.status), (">= 40", Status::Missed));
    assert_eq!(c.note, None);
    // Hand-offs of March: s2 (31st), s3, s4, s5 twice = 5; s1's was in Feb.
    assert_eq!(march.funnel.handoffs, 5);
    let april = h.card(&p, &month(&p, "2026-04"), as_of);
    assert_eq!(april.funnel.sal, 1); // s2
    let snapshot = h.snapshot(&p, as_of);
    let s4 = snapshot.accounts.iter().find(|a| a.id == "s4").unwrap();
    assert!(s4
        .warnings
        .iter()
        .any(|w| w.message.contains("accepted twice")));
}

#[test]
fn count_targets_scale_to_the_report_period() {
    let p = default_policy();
    let h = sal_history();
    let as_of = "2026-05-01T00:00:00Z";
    let tz = p.org_calendar().tz();

    // A quarter spans 3 calendar months: ">= 40" per month asks 3 x 40.
    let q1 = h.card(&p, &quarter(&p, "2026Q1"), as_of);
    let c = commitment(&q1, "sal-volume");
    assert_eq!(c.target, ">= 120");
    assert_eq!(
        c.note.as_deref(),
        Some("target >= 40 per month scaled to the period")
    );
    // Q1 SALs: s1, s3, s4, s5 twice = 5 (s2 is in Q2).
    assert_eq!(c.actual, Some(5.0));

    // A calendar month is one month, long or short: March (31 days, one of
    // them 23 hours long) and February (28 days) both ask exactly 40.
    for m in ["2026-03", "2026-02"] {
        let card = h.card(&p, &month(&p, m), as_of);
        let c = commitment(&card, "sal-volume");
        assert_eq!(
            (c.target.as_str(), c.note.as_deref()),
            (">= 40", None),
            "{m}"
        );
    }
    // February had no SALs but the data has accounts: a real 0, missed.
    let feb = h.card(&p, &month(&p, "2026-02"), as_of);
    let c = commitment(&feb, "sal-volume");
    assert_eq!((c.actual, c.status), (Some(0.0), Status::Missed));

    // A week is 7 local dates over a mean month of 365.2425 / 12 =
    // 30.436875 days: 40 x 7 / 30.436875 = 9.1993, rounded to 9.
    // ISO week 11 of 2026 is Mon 9 - Sun 15 March: s3 (10th), s4 (11th).
    let week = Period::parse_week("2026-W11", tz).unwrap();
    let card = h.card(&p, &week, as_of);
    let c = commitment(&card, "sal-volume");
    assert_eq!((c.target.as_str(), c.actual), (">= 9", Some(2.0)));

    // A quarterly target of 450 asks a month for 450 / 3 = 150.
    let text = DEFAULT_POLICY.replace(
        "period = \"month\"\ntarget = \">= 40\"",
        "period = \"quarter\"\ntarget = \">= 450\"",
    );
    assert_ne!(text, DEFAULT_POLICY);
    let pq = Policy::from_toml(&text).unwrap();
    let card = h.card(&pq, &month(&pq, "2026-03"), as_of);
    let c = commitment(&card, "sal-volume");
    assert_eq!(c.target, ">= 150");
    assert_eq!(
        c.note.as_deref(),
        Some("target >= 450 per quarter scaled to the period")
    );
    let card = h.card(&pq, &quarter(&pq, "2026Q1"), as_of);
    let c = commitment(&card, "sal-volume");
    assert_eq!((c.target.as_str(), c.note.as_deref()), (">= 450", None));
}

// ------------------------------------------------------- acceptance rate

fn acceptance_history() -> History {
    let mut h = History::default();
    h.handoff("c1", "r1", "2026-03-02T15:00:00Z")
        .accept("c1", "2026-03-03T15:00:00Z")
        .handoff("c2", "r1", "2026-03-04T15:00:00Z")
        .accept("c2", "2026-03-05T15:00:00Z")
        .handoff("c3", "r1", "2026-03-06T15:00:00Z")
        .reject("c3", "2026-03-09T14:00:00Z", "not in a buying cycle")
        .handoff("c4", "r1", "2026-03-10T14:00:00Z")
        .handoff("c5", "r1", "2026-03-31T14:00:00Z")
        .accept("c5", "2026-04-02T14:00:00Z")
        .handoff("c6", "r1", "2026-02-27T15:00:00Z")
        .accept("c6", "2026-03-02T15:00:00Z");
    h
}

#[test]
fn acceptance_rate_follows_the_hand_offs_of_the_period() {
    let p = default_policy();
    let h = acceptance_history();
    let march = month(&p, "2026-03");

    // As of 10 April. March's hand-offs: c1..c5 (c6's was in February).
    // Accepted c1, c2 and c5 (on 2 April: the decision may come later,
    // the hand-off places it) = 3; rejected c3 = 1; undecided c4 = pending.
    // 3 / (3 + 1) = 75%, under "> 80%".
    let card = h.card(&p, &march, "2026-04-10T00:00:00Z");
    assert_eq!(
        judged(&card, "acceptance-rate"),
        (Some(0.75), 4, 1, Status::Missed)
    );
    let f = &card.funnel;
    assert_eq!((f.handoffs, f.pending, f.rejected), (5, 1, 1));
    // SALs of March by acceptance instant: c1, c2, c6 (c5 is April's).
    assert_eq!(f.sal, 3);
    assert_eq!(f.conversions.acceptance, Some(0.75));

    // As of March's end c5 is still undecided: 2 / (2 + 1), 2 pending.
    let card = h.card(&p, &march, "2026-04-01T04:00:00Z");
    let (actual, n, pending, _) = judged(&card, "acceptance-rate");
    assert_close(actual, 2.0 / 3.0);
    assert_eq!((n, pending), (3, 2));

    // February: c6 handed off and accepted: 1 / 1 = 100%, over 80%.
    let card = h.card(&p, &month(&p, "2026-02"), "2026-04-10T00:00:00Z");
    assert_eq!(
        judged(&card, "acceptance-rate"),
        (Some(1.0), 1, 0, Status::Met)
    );
}

#[test]
fn several_periods_at_once_read_as_each_alone() {
    // metrics::scorecards gathers the snapshot once for many periods; each
    // card must be the one metrics::scorecard gives for its period alone.
    // By hand for the acceptance history: February 1 of 1 accepted, March
    // 3 of 4 (the test above), April no hand-off.
    let p = default_policy();
    let h = acceptance_history();
    let periods = [
        month(&p, "2026-02"),
        month(&p, "2026-03"),
        month(&p, "2026-04"),
    ];
    let snapshot = h.snapshot(&p, "2026-04-10T00:00:00Z");
    let as_of = at("2026-04-10T00:00:00Z");
    let cards = metrics::scorecards(&p, &snapshot, &periods, as_of);
    assert_eq!(cards.len(), 3);
    for (card, period) in cards.iter().zip(&periods) {
        let alone = metrics::scorecard(&p, &snapshot, period, as_of);
        assert_eq!(
            serde_json::to_value(card).unwrap(),
            serde_json::to_value(&alone).unwrap(),
            "{}",
            period.label
        );
    }
    let acceptance: Vec<Option<f64>> = cards
        .iter()
        .map(|c| c.funnel.conversions.acceptance)
        .collect();
    assert_eq!(acceptance, vec![Some(1.0), Some(0.75), None]);
}

#[test]
fn a_running_engine_copies_what_the_scorecard_reads() {
    // Engine::metrics_snapshot (the live service's dashboard) at the
    // instant of the last event applied gives the scorecards finish gives at
    // that instant: no deadline lies between, so finish judges nothing
    // more, and what the copy leaves out the scorecard does not read.
    let p = default_policy();
    let h = acceptance_history();
    let mut events = h.events.clone();
    sort_events(&mut events);
    let last = events.last().unwrap().at_utc();
    let run = |engine: &mut Engine| {
        let mut effects = Vec::new();
        for e in &events {
            engine.apply(e, &mut effects);
        }
    };
    let mut running = Engine::new(&p);
    run(&mut running);
    let copy = running.metrics_snapshot(last);
    let mut finished = Engine::new(&p);
    run(&mut finished);
    let done = finished.finish(last);
    let periods = [
        month(&p, "2026-02"),
        month(&p, "2026-03"),
        month(&p, "2026-04"),
    ];
    assert_eq!(
        serde_json::to_value(metrics::scorecards(&p, &copy, &periods, last)).unwrap(),
        serde_json::to_value(metrics::scorecards(&p, &done, &periods, last)).unwrap()
    );
    // The same accounts and cycles; the copy carries no stage history.
    assert_eq!(copy.accounts.len(), done.accounts.len());
    assert!(copy.accounts.iter().all(|a| a.history.is_empty()));
    assert!(done.accounts.iter().any(|a| !a.history.is_empty()));
    // The copy leaves the engine running: it takes more events.
    assert_eq!(running.metrics_snapshot(last).accounts.len(), 6);
}

// ---------------------------------------------------------- recycle rate

fn recycle_history() -> History {
    let mut h = History::default();
    // r1: nurtured exactly 24 h after the rejection (inside the window).
    h.handoff("r1", "rep1", "2026-03-02T15:00:00Z")
        .reject("r1", "2026-03-03T15:00:00Z", "no budget")
        .nurture("r1", "2026-03-04T15:00:00Z");
    // r2: 24 h and one second after (outside).
    h.handoff("r2", "rep1", "2026-03-02T15:00:00Z")
        .reject("r2", "2026-03-03T15:00:00Z", "no budget")
        .nurture("r2", "2026-03-04T15:00:01Z");
    // r3: never nurtured; its window ended 11 March 14:00Z.
    h.handoff("r3", "rep1", "2026-03-09T14:00:00Z").reject(
        "r3",
        "2026-03-10T14:00:00Z",
        "wrong persona",
    );
    // r4: rejected Tue 31 March 16:00 EDT; window open until 1 April 20:00Z.
    h.handoff("r4", "rep1", "2026-03-30T14:00:00Z").reject(
        "r4",
        "2026-03-31T20:00:00Z",
        "no budget",
    );
    // r5: nurtured at the very instant of the rejection.
    h.handoff("r5", "rep1", "2026-03-05T15:00:00Z")
        .reject("r5", "2026-03-06T15:00:00Z", "duplicate")
        .nurture("r5", "2026-03-06T15:00:00Z");
    h
}

#[test]
fn recycle_rate_counts_nurture_within_the_24_hour_window() {
    let p = default_policy();
    let h = recycle_history();
    let march = month(&p, "2026-03");

    // As of 1 April 10:00Z: recycled r1, r5 = 2; missed r2, r3 = 2; r4's
    // window is still open: pending. 2 / (2 + 2) = 50%, under 100%.
    let card = h.card(&p, &march, "2026-04-01T10:00:00Z");
    assert_eq!(judged(&card, "recycle"), (Some(0.5), 4, 1, Status::Missed));
    assert_eq!(card.funnel.rejected, 5);
    // Reasons, most frequent first, ties by name: no budget (r1, r2, r4).
    let reasons: Vec<(&str, u32)> = card
        .rejection_reasons
        .iter()
        .map(|b| (b.label.as_str(), b.count))
        .collect();
    assert_eq!(
        reasons,
        vec![("no budget", 3), ("duplicate", 1), ("wrong persona", 1)]
    );

    // As of 2 April 00:00Z r4's window (to 1 April 20:00Z) has closed with
    // no nurture: 2 / 5 = 40%, nothing pending.
    let card = h.card(&p, &march, "2026-04-02T00:00:00Z");
    assert_eq!(judged(&card, "recycle"), (Some(0.4), 5, 0, Status::Missed));
}

// ------------------------------------------------------------ first touch

#[test]
fn first_touch_median_p90_and_share_within_target() {
    let p = default_policy();
    let mut h = History::default();
    // Ten high-intent hand-offs to rep r1; business time on New York hours.
    // f01 Mon 2 Mar 09:00 EST, touched 09:30: 0.5 h = 1,800 s.
    h.handoff_high("f01", "r1", "2026-03-02T14:00:00Z")
        .touch("f01", "r1", "2026-03-02T14:30:00Z");
    // f02 Mon 07:00 EST (before opening), touched 10:00: 09-10 = 3,600 s.
    h.handoff_high("f02", "r1", "2026-03-02T12:00:00Z")
        .touch("f02", "r1", "2026-03-02T15:00:00Z");
    // f03 Mon 16:00 EST, touched by another rep Tue 09:30: 16-17 Mon (1 h)
    // + 09:00-09:30 Tue (0.5 h) = 5,400 s.
    h.handoff_high("f03", "r1", "2026-03-02T21:00:00Z")
        .touch("f03", "r2", "2026-03-03T14:30:00Z");
    // f04 Fri 6 Mar 16:00 EST, touched Mon 9 Mar 10:00 EDT, 65 real hours
    // later across the weekend and the DST change: 1 h Fri + 1 h Mon =
    // 7,200 s.
    h.handoff_high("f04", "r1", "2026-03-06T21:00:00Z")
        .touch("f04", "r1", "2026-03-09T14:00:00Z");
    // f05 Sat 7 Mar 12:00 EST (closed until Monday), touched Mon 11:00 EDT:
    // 09-11 = 7,200 s.
    h.handoff_high("f05", "r1", "2026-03-07T17:00:00Z")
        .touch("f05", "r1", "2026-03-09T15:00:00Z");
    // f06 Tue 10 Mar 14:00 EDT, touched 17:00 EDT: 10,800 s.
    h.handoff_high("f06", "r1", "2026-03-10T18:00:00Z")
        .touch("f06", "r1", "2026-03-10T21:00:00Z");
    // f07 Wed 11 Mar 15:30 EDT, touched Thu 11:00: 1.5 h + 2 h = 12,600 s.
    h.handoff_high("f07", "r1", "2026-03-11T19:30:00Z")
        .touch("f07", "r1", "2026-03-12T15:00:00Z");
    // f08 Thu 12 Mar 10:00 EDT, touched 14:00 EDT, exactly at the 4 h
    // deadline: 14,400 s, met.
    h.handoff_high("f08", "r1", "2026-03-12T14:00:00Z")
        .touch("f08", "r1", "2026-03-12T18:00:00Z");
    // f09 Fri 13 Mar 11:00 EDT (deadline 15:00), touched Mon 16 Mar 09:00:
    // 11-17 Fri = 21,600 s, missed.
    h.handoff_high("f09", "r1", "2026-03-13T15:00:00Z")
        .touch("f09", "r1", "2026-03-16T13:00:00Z");
    // f10 Mon 16 Mar 09:00 EDT (deadline 13:00), touched Tue 10:00 EDT:
    // 8 h + 1 h = 32,400 s, missed.
    h.handoff_high("f10", "r1", "2026-03-16T13:00:00Z")
        .touch("f10", "r1", "2026-03-17T14:00:00Z");

    let card = h.card(&p, &month(&p, "2026-03"), "2026-04-01T00:00:00Z");
    let ft = &card.first_touch;
    // Sorted: 1800, 3600, 5400, 7200, 7200, 10800, 12600, 14400, 21600,
    // 32400. Median of 10 = mean of the 5th and 6th = (7200 + 10800) / 2 =
    // 9,000 s. p90 = the ceil(0.9 x 10) = 9th smallest = 21,600 s (a linear
    // interpolation would give 22,680).
    assert_eq!((ft.n, ft.untouched), (10, 0));
    assert_eq!(ft.median_s, Some(9_000.0));
    assert_eq!(ft.p90_s, Some(21_600.0));
    let buckets: Vec<u32> = ft.buckets.iter().map(|b| b.count).collect();
    // under 1h: 1800; 1h-4h: 3600 .. 12600 (6); 4h-24h: 14400, 21600,
    // 32400 (3); 24h or more: none; untouched: none.
    assert_eq!(buckets, vec![1, 6, 3, 0, 0]);
    // Within target: f01-f08 = 8 of 10 = 80%, under ">= 100%".
    assert_eq!(
        judged(&card, "first-touch"),
        (Some(0.8), 10, 0, Status::Missed)
    );
    // Each miss raised the high-intent alert once. Its escalation step
    // (4 business hours after the breach, unless someone acted) went out
    // once: f09 breached Fri 15:00 EDT, step due Mon 11:00 EDT, but r1
    // touched it Mon 09:00; f10 breached Mon 13:00 EDT, step due Mon 17:00
    // EDT, touched only Tue 10:00.
    let steps: Vec<(u32, Option<&str>)> = card
        .alerts
        .iter()
        .filter(|a| a.rule == "high-intent-untouched")
        .map(|a| (a.step, a.account.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [(0, Some("f09")), (0, Some("f10")), (1, Some("f10"))]
    );
}

#[test]
fn untouched_hand_off_is_pending_until_its_deadline_then_missed() {
    let p = default_policy();
    let mut h = History::default();
    // u1 Mon 2 Mar 15:00 EST, never touched: 2 h Mon + 2 h Tue, deadline
    // Tue 11:00 EST = 16:00Z.
    h.handoff_high("u1", "r1", "2026-03-02T20:00:00Z");
    // u2 Tue 09:00 EST, touched 10:00: met.
    h.handoff_high("u2", "r1", "2026-03-03T14:00:00Z")
        .touch("u2", "r1", "2026-03-03T15:00:00Z");
    // u3 Tue 10:30 EST, never touched: deadline Tue 14:30 EST = 19:30Z.
    h.handoff_high("u3", "r1", "2026-03-03T15:30:00Z");
    let march = month(&p, "2026-03");

    // Mon 15:30 EST: only u1 exists, within its 4 h: nothing to judge.
    let card = h.card(&p, &march, "2026-03-02T20:30:00Z");
    let c = commitment(&card, "first-touch");
    assert_eq!((c.actual, c.n, c.pending), (None, 0, 1));
    assert_eq!(c.status, Status::NoData);
    assert_eq!(
        c.note.as_deref(),
        Some("all 1 first-touch clocks still running")
    );

    // At exactly u1's deadline a touch would still meet: pending. u2 met,
    // u3 pending: 1 / 1.
    let card = h.card(&p, &march, "2026-03-03T16:00:00Z");
    assert_eq!(judged(&card, "first-touch"), (Some(1.0), 1, 2, Status::Met));

    // One second later u1 is missed: 1 / 2, u3 still pending.
    let card = h.card(&p, &march, "2026-03-03T16:00:01Z");
    assert_eq!(
        judged(&card, "first-touch"),
        (Some(0.5), 2, 1, Status::Missed)
    );

    // Wednesday: u3's deadline has passed too: 1 / 3.
    let card = h.card(&p, &march, "2026-03-04T14:00:00Z");
    let (actual, n, pending, _) = judged(&card, "first-touch");
    assert_close(actual, 1.0 / 3.0);
    assert_eq!((n, pending), (3, 0));
    // The median and p90 are over touched hand-offs only (u2: 3,600 s).
    let ft = &card.first_touch;
    assert_eq!((ft.n, ft.untouched, ft.median_s), (1, 2, Some(3_600.0)));

    // A report as of Wednesday over a replay judged as of Tuesday 16:00Z
    // (u1 and u3 still open there) counts both open clocks past their
    // deadlines as missed: 1 / 3 again.
    let snapshot = h.snapshot(&p, "2026-03-03T16:00:00Z");
    let card = metrics::scorecard(&p, &snapshot, &march, at("2026-03-04T14:00:00Z"));
    let (actual, n, pending, _) = judged(&card, "first-touch");
    assert_close(actual, 1.0 / 3.0);
    assert_eq!((n, pending), (3, 0));
}

// --------------------------------------------------------------- attempts

/// `n` daily calls at 15:00Z from Tuesday 3 March.
fn calls(h: &mut History, account: &str, n: u32) {
    for day in 0..n {
        let when = format!("2026-03-{:02}T15:00:00Z", 3 + day);
        h.touch(account, "r1", &when);
    }
}

#[test]
fn attempts_cadence_met_by_seven_calls_or_ended_early() {
    let p = default_policy();
    let mut h = History::default();
    // t1, t2, t3, t4, t7, t8: handed off Mon 2 Mar 15:00 EST. The 14-day
    // window is wall-clock days: it closes Mon 16 Mar 15:00 EDT = 19:00Z
    // (13 days 23 hours later, because of the DST change on the 8th).
    for a in ["t1", "t2", "t3", "t4", "t7", "t8"] {
        h.handoff(a, "r1", "2026-03-02T20:00:00Z");
        if a != "t4" {
            h.accept(a, "2026-03-02T21:00:00Z");
        }
    }
    calls(&mut h, "t1", 7); // 7 calls, 3-9 March: met.
    calls(&mut h, "t2", 6); // 6 calls: missed at the window's close.
    calls(&mut h, "t3", 2); // 2 calls, then SQO on 5 March: ended, met.
    h.opp("t3", "sqo", "2026-03-05T15:00:00Z", None);
    calls(&mut h, "t4", 1); // 1 call, then rejected: ended, met.
    h.reject("t4", "2026-03-04T15:00:00Z", "no budget");
    calls(&mut h, "t7", 6); // 6 in the window, the 7th a day late: missed.
    h.touch("t7", "r1", "2026-03-17T15:00:00Z");
    calls(&mut h, "t8", 6); // the 7th at the very close: met.
    h.touch("t8", "r1", "2026-03-16T19:00:00Z");
    // t5: handed off Tue 10 Feb, no calls; window closed 24 Feb.
    h.handoff("t5", "r1", "2026-02-10T15:00:00Z");
    // t6: handed off Fri 20 Mar 10:00 EDT, 3 calls; window closes Fri 3 Apr.
    h.handoff("t6", "r1", "2026-03-20T14:00:00Z")
        .accept("t6", "2026-03-20T15:00:00Z")
        .touch("t6", "r1", "2026-03-23T14:00:00Z")
        .touch("t6", "r1", "2026-03-24T14:00:00Z")
        .touch("t6", "r1", "2026-03-25T14:00:00Z");
    let as_of = "2026-04-01T10:00:00Z";

    // March: windows closed in March are t1, t2, t3, t4, t7, t8. Met t1, t3,
    // t4, t8 = 4; missed t2, t7 = 2: 4 / 6.
    let card = h.card(&p, &month(&p, "2026-03"), as_of);
    let (actual, n, pending, status) = judged(&card, "attempts");
    assert_close(actual, 4.0 / 6.0);
    assert_eq!((n, pending, status), (6, 0, Status::Missed));

    // February: t5 had no calls but was never accepted: not a SAL, so the
    // cadence does not judge it (it shows as pending acceptance instead).
    let card = h.card(&p, &month(&p, "2026-02"), as_of);
    assert_eq!(judged(&card, "attempts"), (None, 0, 0, Status::NoData));
    assert_eq!(card.funnel.pending, 1);

    // April as of 1 April: t6's window is still open: pending, no figure.
    let card = h.card(&p, &month(&p, "2026-04"), as_of);
    assert_eq!(judged(&card, "attempts"), (None, 0, 1, Status::NoData));
}

// ------------------------------------------------------------ disposition

#[test]
fn disposition_within_48_hours_of_acceptance() {
    let p = default_policy();
    let mut h = History::default();
    // d1: accepted Mon 2 Mar 21:00Z, disposition exactly 48 h later: met.
    h.handoff("d1", "r1", "2026-03-02T20:00:00Z")
        .accept("d1", "2026-03-02T21:00:00Z")
        .dispose("d1", "2026-03-04T21:00:00Z");
    // d2: one second after the 48 h: missed.
    h.handoff("d2", "r1", "2026-03-02T20:00:00Z")
        .accept("d2", "2026-03-02T21:00:00Z")
        .dispose("d2", "2026-03-04T21:00:01Z");
    // d3: accepted Fri 6 Mar 15:00 EST, disposition Sun 8 Mar 15:30 EDT:
    // 48.5 h on the wall clock but 47.5 real hours (the clocks went
    // forward): met. The deadline is 16:00 EDT = 20:00Z.
    h.handoff("d3", "r1", "2026-03-06T19:00:00Z")
        .accept("d3", "2026-03-06T20:00:00Z")
        .dispose("d3", "2026-03-08T19:30:00Z");
    // d4: accepted Tue 31 Mar 16:00 EDT, none yet; due 2 Apr 20:00Z.
    h.handoff("d4", "r1", "2026-03-31T19:00:00Z")
        .accept("d4", "2026-03-31T20:00:00Z");
    // d5: accepted 20 Mar, never disposed; due 22 Mar: missed.
    h.handoff("d5", "r1", "2026-03-19T14:00:00Z")
        .accept("d5", "2026-03-20T14:00:00Z");
    // d6: a February SAL, disposed the next day.
    h.handoff("d6", "r1", "2026-02-26T15:00:00Z")
        .accept("d6", "2026-02-27T15:00:00Z")
        .dispose("d6", "2026-02-28T15:00:00Z");
    let as_of = "2026-04-01T10:00:00Z";

    // March SALs: d1..d5. Met d1, d3; missed d2, d5; pending d4: 2 / 4.
    let card = h.card(&p, &month(&p, "2026-03"), as_of);
    assert_eq!(
        judged(&card, "disposition"),
        (Some(0.5), 4, 1, Status::Missed)
    );
    // February: d6: 1 / 1.
    let card = h.card(&p, &month(&p, "2026-02"), as_of);
    assert_eq!(judged(&card, "disposition"), (Some(1.0), 1, 0, Status::Met));
}

// ------------------------------------------------------------- SAL to SQO

fn sqo_history() -> History {
    let mut h = History::default();
    h.handoff("q1", "r1", "2026-03-02T15:00:00Z")
        .accept("q1", "2026-03-02T16:00:00Z")
        .opp("q1", "sqo", "2026-03-10T14:00:00Z", None);
    h.handoff("q2", "r1", "2026-03-03T15:00:00Z")
        .accept("q2", "2026-03-03T16:00:00Z")
        .opp("q2", "sqo", "2026-04-15T14:00:00Z", None);
    h.handoff("q3", "r1", "2026-03-04T15:00:00Z")
        .accept("q3", "2026-03-04T16:00:00Z");
    h.handoff("q4", "r1", "2026-03-05T15:00:00Z")
        .accept("q4", "2026-03-05T16:00:00Z")
        .nurture("q4", "2026-03-20T14:00:00Z");
    h.handoff("q5", "r1", "2026-02-19T15:00:00Z")
        .accept("q5", "2026-02-20T15:00:00Z")
        .opp("q5", "sqo", "2026-03-05T15:00:00Z", None);
    h
}

#[test]
fn sal_to_sqo_counts_sqos_so_far_and_shows_pending() {
    let p = extended_policy();
    let h = sqo_history();
    let march = month(&p, "2026-03");

    // As of 1 May. March SALs: q1..q4 (q5 is February's). Reached SQO so
    // far: q1 (10 Mar), q2 (15 Apr) = 2 of 4 = 50%. Still open without one:
    // q3 (pending); q4 went back to nurture (counted, not pending).
    let card = h.card(&p, &march, "2026-05-01T00:00:00Z");
    let c = &card.funnel.conversions;
    assert_eq!((c.sal_to_sqo, c.sal_to_sqo_pending), (Some(0.5), 1));
    assert_eq!(judged(&card, "sal-to-sqo"), (Some(0.5), 4, 1, Status::Met));
    // SQOs opened in March: q1 (10th), q5 (5th) = 2.
    assert_eq!(card.funnel.sqo, 2);

    // As of March's end q2 has no SQO yet: 1 / 4, pending q2 and q3.
    let card = h.card(&p, &march, "2026-04-01T04:00:00Z");
    let c = &card.funnel.conversions;
    assert_eq!((c.sal_to_sqo, c.sal_to_sqo_pending), (Some(0.25), 2));
    assert_eq!(
        judged(&card, "sal-to-sqo"),
        (Some(0.25), 4, 2, Status::Missed)
    );
}

// --------------------------------------------------------------- velocity

#[test]
fn velocity_medians_and_formula_inputs() {
    let p = default_policy();
    let mut h = History::default();
    // (account, SAL, SQO, won, ARR). SAL and SQO at 15:00Z, 10:00 EST.
    let won = [
        // SAL 5 Jan, won 2 Mar: 56 days; SQO 2 Feb to won: 28 days.
        (
            "v1",
            "2026-01-05",
            "2026-02-02",
            "2026-03-02T15:00:00Z",
            12_000.0,
        ),
        // SAL 2 Feb, won 16 Mar 15:00Z: 42 days; SQO 16 Feb: 28 days.
        (
            "v2",
            "2026-02-02",
            "2026-02-16",
            "2026-03-16T15:00:00Z",
            30_000.0,
        ),
        // SAL 9 Feb 10:00 EST, won 23 Mar 10:00 EDT: 42 dates later, but 41
        // days 23 hours = 41.958333 days; SQO 2 Mar 15:00Z: 20.958333 days.
        (
            "v3",
            "2026-02-09",
            "2026-03-02",
            "2026-03-23T14:00:00Z",
            18_000.0,
        ),
        // SAL 2 Mar, won 30 Mar 15:00Z: 28 days; SQO 9 Mar: 21 days.
        (
            "v8",
            "2026-03-02",
            "2026-03-09",
            "2026-03-30T15:00:00Z",
            20_000.0,
        ),
        // Won on 6 April: not March's; open at March's end.
        (
            "v4",
            "2026-03-02",
            "2026-03-09",
            "2026-04-06T14:00:00Z",
            50_000.0,
        ),
    ];
    for (a, sal, sqo, won_at, arr) in won {
        h.handoff(a, "r1", &format!("{sal}T14:00:00Z"))
            .accept(a, &format!("{sal}T15:00:00Z"))
            .opp(a, "sqo", &format!("{sqo}T15:00:00Z"), None)
            .opp(a, "won", won_at, Some(arr));
    }
    // v5 lost on 20 March; v6 and v7 still open.
    h.handoff("v5", "r1", "2026-02-19T14:00:00Z")
        .accept("v5", "2026-02-19T15:00:00Z")
        .opp("v5", "sqo", "2026-02-20T15:00:00Z", None)
        .opp("v5", "lost", "2026-03-20T14:00:00Z", None);
    h.handoff("v6", "r1", "2026-03-23T14:00:00Z")
        .accept("v6", "2026-03-23T15:00:00Z")
        .opp("v6", "sqo", "2026-03-25T14:00:00Z", None);
    h.handoff("v7", "r1", "2026-01-14T14:00:00Z")
        .accept("v7", "2026-01-14T15:00:00Z")
        .opp("v7", "sqo", "2026-01-15T15:00:00Z", None);

    let card = h.card(&p, &month(&p, "2026-03"), "2026-04-10T00:00:00Z");
    let v = &card.velocity;
    // Won in March: v1, v2, v3, v8.
    assert_eq!((v.won, v.negative_durations), (4, 0));
    // SAL to won sorted: 28, 41.958333, 42, 56; median of 4 = (41.958333 +
    // 42) / 2 = 42 - 1/48 = 41.979167.
    assert_close(v.median_days_sal_to_won, 42.0 - 1.0 / 48.0);
    // SQO to won sorted: 20.958333, 21, 28, 28; median (21 + 28) / 2.
    assert_close(v.median_days_sqo_to_won, 24.5);
    // No cycle had an MQA.
    assert_eq!(v.median_days_mqa_to_won, None);
    // Inputs: open SQOs at March's end (1 Apr 04:00Z, before as_of): v4
    // (won later), v6, v7 = 3. Win rate: 4 won / (4 + 1 lost, v5) = 0.8.
    // Average won ARR: (12,000 + 30,000 + 18,000 + 20,000) / 4 = 20,000.
    // Average days SQO to close: (28 + 28 + 20.958333 + 21) / 4 =
    // (2351 / 24) / 4 = 2351 / 96 = 24.489583.
    assert_eq!(v.open_sqos, 3);
    assert_close(v.win_rate, 0.8);
    assert_close(v.avg_won_arr, 20_000.0);
    assert_close(v.avg_days_to_close, 2351.0 / 96.0);
    // 3 x 0.8 x 20,000 / (2351 / 96) = 4,608,000 / 2351 = 1,960.017 a day.
    assert_close(v.arr_per_day, 4_608_000.0 / 2351.0);
    let f = &card.funnel;
    assert_eq!((f.won, f.lost, f.won_arr), (4, 1, 80_000.0));
    assert_eq!(f.conversions.win_rate, Some(0.8));
}

// --------------------------------------------------- marketing influence

#[test]
fn influenced_arr_looks_back_180_days_not_181() {
    let p = extended_policy();
    let mut h = History::default();
    // Each opportunity opens (SQO) Mon 2 Mar 2026 15:00Z. The look-back is
    // 180 x 24 h: back to 3 Sep 2025 15:00Z.
    let deals = [
        // i1: a webinar exactly 180 days before: influenced. Won 10 March.
        (
            "i1",
            "2025-09-03T15:00:00Z",
            "2026-03-10T15:00:00Z",
            10_000.0,
        ),
        // i2: 181 days before: not influenced. Won 12 March.
        (
            "i2",
            "2025-09-02T15:00:00Z",
            "2026-03-12T15:00:00Z",
            30_000.0,
        ),
        // i3: only after the opportunity opened: not influenced. 13 March.
        (
            "i3",
            "2026-03-03T15:00:00Z",
            "2026-03-13T15:00:00Z",
            20_000.0,
        ),
        // i4: 10 days before: influenced, but won in April.
        (
            "i4",
            "2026-02-20T15:00:00Z",
            "2026-04-02T14:00:00Z",
            50_000.0,
        ),
    ];
    for (a, engaged, won, arr) in deals {
        h.engage(a, "webinar", engaged)
            .opp(a, "sqo", "2026-03-02T15:00:00Z", None)
            .opp(a, "won", won, Some(arr));
    }
    let as_of = "2026-04-10T00:00:00Z";

    // March: won ARR 10,000 + 30,000 + 20,000 = 60,000; influenced 10,000
    // (i1): 10,000 / 60,000 = 1/6, under the extra ">= 50%" commitment.
    let card = h.card(&p, &month(&p, "2026-03"), as_of);
    let i = &card.influenced_arr;
    assert_eq!((i.won_arr, i.influenced_arr), (60_000.0, 10_000.0));
    assert_eq!((i.won_deals, i.influenced_deals), (3, 1));
    assert_close(i.share, 1.0 / 6.0);
    let (actual, n, _, status) = judged(&card, "influenced");
    assert_close(actual, 1.0 / 6.0);
    assert_eq!((n, status), (3, Status::Missed));

    // April: i4 alone: 50,000 of 50,000.
    let card = h.card(&p, &month(&p, "2026-04"), as_of);
    assert_close(card.influenced_arr.share, 1.0);
}

// --------------------------------------------------------------- no data

#[test]
fn absent_inputs_give_a_note_not_zero_or_hundred_percent() {
    let p = extended_policy();
    let march = month(&p, "2026-03");
    let as_of = "2026-04-10T00:00:00Z";

    // No events at all.
    let card = History::default().card(&p, &march, as_of);
    let notes = [
        ("sal-volume", "no accept events in this data"),
        ("acceptance-rate", "no hand-offs in this period"),
        ("recycle", "no reject events in this period"),
        ("first-touch", "no first-touch clocks in this period"),
        ("attempts", "no attempts clocks in this period"),
        ("disposition", "no disposition clocks in this period"),
        ("sal-to-sqo", "no SALs (accept events) in this period"),
        ("influenced", "no won ARR in this period"),
    ];
    for (id, note) in notes {
        let c = commitment(&card, id);
        assert_eq!((c.actual, c.status), (None, Status::NoData), "{id}");
        assert_eq!(c.note.as_deref(), Some(note), "{id}");
    }
    let cv = &card.funnel.conversions;
    assert_eq!(
        (cv.acceptance, cv.mqa_to_sal, cv.sal_to_sqo),
        (None, None, None)
    );
    assert_eq!((cv.win_rate, cv.mqa_to_won), (None, None));
    assert_eq!(
        (card.first_touch.median_s, card.first_touch.p90_s),
        (None, None)
    );
    let v = &card.velocity;
    assert_eq!((v.median_days_sal_to_won, v.win_rate), (None, None));
    assert_eq!((v.avg_won_arr, v.arr_per_day), (None, None));
    assert_eq!(card.influenced_arr.share, None);

    // Hand-offs whose source has no accept or reject events: the rate is
    // absent and the three hand-offs are shown as pending.
    let mut h = History::default();
    for a in ["n1", "n2", "n3"] {
        h.handoff(a, "r1", "2026-03-02T15:00:00Z");
    }
    // An open SQO with no deal closed yet: velocity has no figure, not 0.
    h.opp("n1", "sqo", "2026-03-04T15:00:00Z", None);
    let card = h.card(&p, &march, as_of);
    let c = commitment(&card, "acceptance-rate");
    assert_eq!((c.actual, c.n, c.pending), (None, 0, 3));
    assert_eq!(
        c.note.as_deref(),
        Some("no accept or reject events for the 3 hand-offs")
    );
    assert_eq!(card.velocity.open_sqos, 1);
    assert_eq!(card.velocity.arr_per_day, None);
    // The same source has no SAL count either: a missing step, not zero.
    let c = commitment(&card, "sal-volume");
    assert_eq!(
        (c.actual, c.note.as_deref()),
        (None, Some("no accept events in this data"))
    );

    // A rejection whose 24 h window is still open: absent, and said so.
    let mut h = History::default();
    h.handoff("w1", "r1", "2026-03-30T14:00:00Z")
        .reject("w1", "2026-03-31T20:00:00Z", "no budget");
    let card = h.card(&p, &march, "2026-04-01T10:00:00Z");
    let c = commitment(&card, "recycle");
    assert_eq!((c.actual, c.n, c.pending), (None, 0, 1));
    assert_eq!(
        c.note.as_deref(),
        Some("all 1 rejections of this period are still inside the recycle window")
    );
}

// ------------------------------------------------------------- breakdown

#[test]
fn breakdown_by_rep_sums_to_the_totals() {
    let p = default_policy();
    let mut h = History::default();
    for a in ["a1", "a2", "a3", "b1", "b2", "c1"] {
        h.mqa(a, "2026-03-02T14:00:00Z");
    }
    // r1: a1 accepted, a2 rejected, a3 undecided.
    h.handoff("a1", "r1", "2026-03-02T15:00:00Z")
        .accept("a1", "2026-03-03T15:00:00Z")
        .handoff("a2", "r1", "2026-03-02T15:00:00Z")
        .reject("a2", "2026-03-03T15:00:00Z", "no budget")
        .handoff("a3", "r1", "2026-03-02T15:00:00Z");
    // r2: b1 accepted, its deal owned by account executive ae1 and won;
    // b2 accepted. c1 was never handed off: key "(none)".
    h.handoff("b1", "r2", "2026-03-02T15:00:00Z")
        .accept("b1", "2026-03-03T15:00:00Z")
        .add(
            "opportunity",
            "2026-03-10T14:00:00Z",
            json!({"opportunity": "o-b1", "account": "b1", "stage": "sqo", "rep": "ae1"}),
        )
        .add(
            "opportunity",
            "2026-03-20T14:00:00Z",
            json!({"opportunity": "o-b1", "account": "b1", "stage": "won",
                "amount": 5000.0, "rep": "ae1"}),
        )
        .handoff("b2", "r2", "2026-03-02T15:00:00Z")
        .accept("b2", "2026-03-04T15:00:00Z");
    let as_of = "2026-04-10T00:00:00Z";
    let march = month(&p, "2026-03");
    let snapshot = h.snapshot(&p, as_of);
    let total = metrics::scorecard(&p, &snapshot, &march, at(as_of));
    let rows = metrics::breakdown(&p, &snapshot, &march, at(as_of), Dimension::Rep);

    // Totals: 6 MQAs, 5 hand-offs, 3 SALs, 1 rejected, 1 pending, 1 SQO,
    // 1 won for 5,000.
    let f = &total.funnel;
    let counts = |f: &metrics::Funnel| {
        [
            f.mqa, f.handoffs, f.sal, f.rejected, f.pending, f.sqo, f.won, f.lost,
        ]
    };
    assert_eq!(counts(f), [6, 5, 3, 1, 1, 1, 1, 0]);
    assert_eq!(f.won_arr, 5_000.0);

    // Rows sorted by key: "(none)" (c1's MQA), "ae1" (b1's deal), "r1"
    // (a1-a3), "r2" (b1, b2).
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["(none)", "ae1", "r1", "r2"]);
    let row = |k: &str| &rows.iter().find(|(key, _)| key == k).unwrap().1;
    assert_eq!(counts(&row("(none)").funnel), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(counts(&row("ae1").funnel), [0, 0, 0, 0, 0, 1, 1, 0]);
    assert_eq!(counts(&row("r1").funnel), [3, 3, 1, 1, 1, 0, 0, 0]);
    assert_eq!(counts(&row("r2").funnel), [2, 2, 2, 0, 0, 0, 0, 0]);
    assert_eq!(row("ae1").funnel.won_arr, 5_000.0);
    // r1: 1 accepted / (1 + 1 rejected), a3 pending; r2: 2 / 2.
    assert_eq!(
        judged(row("r1"), "acceptance-rate"),
        (Some(0.5), 2, 1, Status::Missed)
    );
    assert_eq!(
        judged(row("r2"), "acceptance-rate"),
        (Some(1.0), 2, 0, Status::Met)
    );
    // SAL to SQO stays with the SAL's rep: r2's b1 reached SQO, b2 open.
    let c = &row("r2").funnel.conversions;
    assert_eq!((c.sal_to_sqo, c.sal_to_sqo_pending), (Some(0.5), 1));

    // Every count sums over the rows to the total.
    let mut sum = [0u32; 8];
    for (_, card) in &rows {
        for (s, v) in sum.iter_mut().zip(counts(&card.funnel)) {
            *s += v;
        }
    }
    assert_eq!(sum, counts(f));
    let won_arr: f64 = rows.iter().map(|(_, c)| c.funnel.won_arr).sum();
    assert_eq!(won_arr, f.won_arr);
    // So do the clock commitments' n and pending: the attempts windows (all
    // closed by 16 March) are r1: a1 missed, a2 met (rejected); a3 was never
    // accepted and is left out; r2: b1 met (SQO), b2 missed. Total 2 / 4.
    for id in ["first-touch", "attempts", "disposition"] {
        let (_, n, pending, _) = judged(&total, id);
        let n_sum: u32 = rows.iter().map(|(_, c)| judged(c, id).1).sum();
        let pending_sum: u32 = rows.iter().map(|(_, c)| judged(c, id).2).sum();
        assert_eq!((n_sum, pending_sum), (n, pending), "{id}");
    }
    assert_eq!(
        judged(&total, "attempts"),
        (Some(0.5), 4, 0, Status::Missed)
    );
    let (actual, n, _, _) = judged(row("r1"), "attempts");
    assert_close(actual, 1.0 / 2.0);
    assert_eq!(n, 2);
}

// ------------------------------------------------- median and percentile

#[test]
fn median_of_an_even_count_is_the_mean_of_the_middle_pair() {
    assert_eq!(metrics::median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    assert_eq!(metrics::median(&mut [5.0, 1.0, 3.0]), Some(3.0));
    assert_eq!(metrics::median(&mut []), None);
}

#[test]
fn p90_is_the_nearest_rank() {
    // n = 10: ceil(9.0) = 9th smallest.
    let mut ten: Vec<f64> = (1..=10).map(f64::from).rev().collect();
    assert_eq!(metrics::percentile(&mut ten, 0.9), Some(9.0));
    // n = 3: ceil(2.7) = 3rd; n = 1: the value itself.
    assert_eq!(
        metrics::percentile(&mut [30.0, 10.0, 20.0], 0.9),
        Some(30.0)
    );
    assert_eq!(metrics::percentile(&mut [7.0], 0.9), Some(7.0));
    // n = 11: ceil(9.9) = 10th smallest.
    let mut eleven: Vec<f64> = (1..=11).map(f64::from).collect();
    assert_eq!(metrics::percentile(&mut eleven, 0.9), Some(10.0));
    assert_eq!(metrics::percentile(&mut [], 0.9), None);
}

// ------------------------------------------------------------ JSON shape

#[test]
fn scorecard_serialises_to_the_documented_keys() {
    let p = default_policy();
    let h = acceptance_history();
    let card = h.card(&p, &month(&p, "2026-03"), "2026-04-10T00:00:00Z");
    let v = serde_json::to_value(&card).unwrap();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "alerts",
            "as_of",
            "commitments",
            "first_touch",
            "funnel",
            "influenced_arr",
            "period",
            "rejection_reasons",
            "velocity"
        ]
    );
    assert_eq!(keys(&v["period"]), ["from", "label", "time_zone", "to"]);
    assert_eq!(
        keys(&v["commitments"][0]),
        [
            "actual",
            "description",
            "id",
            "is_rate",
            "n",
            "note",
            "owner",
            "pending",
            "status",
            "target"
        ]
    );
    let acceptance = &v["commitments"][1];
    assert_eq!(acceptance["id"], "acceptance-rate");
    assert_eq!(acceptance["owner"], "marketing");
    assert_eq!(acceptance["status"], "missed");
    assert_eq!(acceptance["actual"], 0.75);
    assert_eq!(
        keys(&v["funnel"]),
        [
            "conversions",
            "handoffs",
            "lost",
            "mqa",
            "pending",
            "rejected",
            "sal",
            "sqo",
            "won",
            "won_arr"
        ]
    );
    assert_eq!(
        keys(&v["funnel"]["conversions"]),
        [
            "acceptance",
            "mqa_to_sal",
            "mqa_to_won",
            "sal_to_sqo",
            "sal_to_sqo_pending",
            "win_rate"
        ]
    );
    assert_eq!(
        keys(&v["first_touch"]),
        ["buckets", "median_s", "n", "p90_s", "untouched"]
    );
    assert_eq!(
        keys(&v["influenced_arr"]),
        [
            "influenced_arr",
            "influenced_deals",
            "note",
            "share",
            "won_arr",
            "won_deals"
        ]
    );
    assert_eq!(
        keys(&v["velocity"]),
        [
            "arr_per_day",
            "avg_days_to_close",
            "avg_won_arr",
            "median_days_mqa_to_won",
            "median_days_sal_to_won",
            "median_days_sqo_to_won",
            "negative_durations",
            "open_sqos",
            "win_rate",
            "won",
            "won_without_arr"
        ]
    );
    // An absent figure is null, not 0.
    assert!(v["velocity"]["median_days_sal_to_won"].is_null());
}
