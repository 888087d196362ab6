//! Engine tests on small histories worked out by hand.
//!
//! The default policy's headquarters calendar is New York, Mon-Fri
//! 09:00-17:00. In March 2026 before the 8th New York is UTC-5 (EST), so
//! 09:00 local is 14:00Z and 17:00 local is 22:00Z.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::metrics;
use crate::period::Period;

fn policy() -> Policy {
    Policy::from_toml(include_str!("../../../../policies/default.toml")).unwrap()
}

pub(super) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Builds an event from a JSON object literal with `id`, `type`, `at`.
pub(super) fn ev(v: serde_json::Value) -> Event {
    serde_json::from_value(v).unwrap()
}

/// Version 1 (`v1`) from the beginning, version 2 (`v2`) from `from`.
pub(super) fn v1_then_v2<'p>(v1: &'p Policy, v2: &'p Policy, from: &str) -> Vec<PolicyVersion<'p>> {
    vec![
        PolicyVersion {
            number: 1,
            effective_at: DateTime::<Utc>::MIN_UTC,
            policy: v1,
        },
        PolicyVersion {
            number: 2,
            effective_at: at(from),
            policy: v2,
        },
    ]
}

fn base(account: &str) -> Vec<Event> {
    vec![
        ev(
            json!({"id":"rep-m1","type":"rep","at":"2026-01-01T00:00:00Z","rep":"m1",
            "team":"east","role":"sales_manager"}),
        ),
        ev(
            json!({"id":"rep-r1","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r1",
            "team":"east","manager":"m1"}),
        ),
        ev(
            json!({"id":"rep-r2","type":"rep","at":"2026-01-01T00:00:00Z","rep":"r2",
            "team":"east","manager":"m1"}),
        ),
        ev(
            json!({"id":format!("acc-{account}"),"type":"account","at":"2026-02-01T00:00:00Z",
            "account":account,"industry":"Software","employees":200}),
        ),
    ]
}

fn run(policy: &Policy, mut events: Vec<Event>, as_of: &str) -> Snapshot {
    sort_events(&mut events);
    let mut engine = Engine::new(policy);
    let mut out = Vec::new();
    for e in &events {
        engine.apply(e, &mut out);
    }
    engine.finish(at(as_of))
}

/// Demo request Monday 2 March 09:00 EST, hand-off 15:00 EST to r1.
/// First-touch target 4 business hours: 15:00-17:00 Monday (2h) plus
/// 09:00-11:00 Tuesday (2h): deadline Tuesday 11:00 EST = 16:00Z.
fn high_intent_handoff(account: &str) -> Vec<Event> {
    let mut es = base(account);
    es.push(ev(
        json!({"id":"d1","type":"engagement","at":"2026-03-02T14:00:00Z",
        "account":account,"kind":"demo_request","channel":"paid_search"}),
    ));
    es.push(ev(
        json!({"id":"h1","type":"handoff","at":"2026-03-02T20:00:00Z",
        "account":account,"rep":"r1"}),
    ));
    es
}

fn first_clock<'a>(s: &'a Snapshot, account: &str, commitment: &str) -> &'a ClockRecord {
    let a = s.accounts.iter().find(|a| a.id == account).unwrap();
    a.cycles[0]
        .clocks
        .iter()
        .find(|c| c.commitment == commitment)
        .unwrap()
}

#[test]
fn touch_before_deadline_meets_first_touch() {
    let mut es = high_intent_handoff("acme");
    // Tuesday 10:30 EST = 15:30Z: 2h Monday + 1.5h Tuesday = 12,600 s.
    es.push(ev(
        json!({"id":"a1","type":"activity","at":"2026-03-03T15:30:00Z",
        "account":"acme","rep":"r1","kind":"call"}),
    ));
    let p = policy();
    let s = run(&p, es, "2026-03-10T00:00:00Z");
    let acc = &s.accounts[0];
    assert_eq!(acc.cycles[0].tier.as_deref(), Some("high"));
    assert_eq!(acc.cycles[0].channel.as_deref(), Some("paid_search"));
    let k = first_clock(&s, "acme", "first-touch");
    assert_eq!(k.deadline, at("2026-03-03T16:00:00Z"));
    assert_eq!(k.state, ClockState::Met);
    assert_eq!(k.elapsed_s, Some(12_600));
    assert_eq!(k.calendar, "headquarters");
    assert_eq!(acc.cycles[0].first_touch_business_s, Some(12_600));
    assert!(s.alerts.is_empty());
}

#[test]
fn touch_at_exactly_the_deadline_meets() {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"a1","type":"activity","at":"2026-03-03T16:00:00Z",
        "account":"acme","rep":"r1","kind":"call"}),
    ));
    let s = run(&policy(), es, "2026-03-10T00:00:00Z");
    assert_eq!(
        first_clock(&s, "acme", "first-touch").state,
        ClockState::Met
    );
}

#[test]
fn untouched_high_intent_breaches_and_alerts_the_manager() {
    let mut es = high_intent_handoff("acme");
    // 11:30 EST, half an hour late.
    es.push(ev(
        json!({"id":"a1","type":"activity","at":"2026-03-03T16:30:00Z",
        "account":"acme","rep":"r1","kind":"call"}),
    ));
    let s = run(&policy(), es, "2026-03-10T00:00:00Z");
    let k = first_clock(&s, "acme", "first-touch");
    assert_eq!(k.state, ClockState::Breached);
    assert_eq!(k.breach_at, Some(at("2026-03-03T16:00:00Z")));
    assert_eq!(k.breach_owner.as_deref(), Some("r1"));
    // The late touch is still recorded: 4.5 business hours.
    assert_eq!(k.elapsed_s, Some(16_200));
    let breach_alerts: Vec<&Alert> = s
        .alerts
        .iter()
        .filter(|a| a.rule == "high-intent-untouched")
        .collect();
    assert_eq!(breach_alerts.len(), 1);
    let a = breach_alerts[0];
    assert_eq!(a.at, at("2026-03-03T16:00:00Z"));
    assert!(a.reassign);
    assert_eq!(
        a.recipients,
        vec![Recipient {
            role: "sales_manager".into(),
            who: Some("m1".into()),
            // 11:00 EST on a Tuesday: inside the manager's hours, at once.
            deliver_at: None,
        }]
    );
}

#[test]
fn automated_email_is_not_a_touch() {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"auto","type":"activity","at":"2026-03-02T20:01:00Z",
        "account":"acme","rep":"r1","kind":"email","automated":true}),
    ));
    let s = run(&policy(), es, "2026-03-10T00:00:00Z");
    assert_eq!(
        first_clock(&s, "acme", "first-touch").state,
        ClockState::Breached
    );
    assert_eq!(s.accounts[0].cycles[0].automated, 1);
}

#[test]
fn reassignment_keeps_the_clock_and_the_breach_goes_to_the_new_owner() {
    let mut es = high_intent_handoff("acme");
    // Reassigned Tuesday 09:30 EST (14:30Z); r2 calls at 12:00 EST (17:00Z).
    es.push(ev(
        json!({"id":"re1","type":"reassign","at":"2026-03-03T14:30:00Z",
        "account":"acme","rep":"r2"}),
    ));
    es.push(ev(
        json!({"id":"a1","type":"activity","at":"2026-03-03T17:00:00Z",
        "account":"acme","rep":"r2","kind":"call"}),
    ));
    let s = run(&policy(), es, "2026-03-10T00:00:00Z");
    let k = first_clock(&s, "acme", "first-touch");
    assert_eq!(
        k.deadline,
        at("2026-03-03T16:00:00Z"),
        "deadline not restarted"
    );
    assert_eq!(k.state, ClockState::Breached);
    assert_eq!(k.breach_owner.as_deref(), Some("r2"));
    // Whole wait: Mon 15-17 (2h) + Tue 09-12 (3h) = 18,000 s; r2's own
    // time: 09:30-12:00 = 9,000 s.
    assert_eq!(k.elapsed_s, Some(18_000));
    assert_eq!(k.owner_elapsed_s, Some(9_000));
}

#[test]
fn rejected_then_qualified_again_starts_a_second_cycle() {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"rj","type":"rejected","at":"2026-03-03T15:00:00Z",
        "account":"acme","reason":"no budget"}),
    ));
    // Engagement before nurture (after rejection) cannot requalify: the floor
    // is the rejection, and the demo request lies before it.
    es.push(ev(
        json!({"id":"n1","type":"nurture","at":"2026-03-03T18:00:00Z","account":"acme"}),
    ));
    es.push(ev(
        json!({"id":"cs","type":"engagement","at":"2026-03-20T15:00:00Z",
        "account":"acme","kind":"case_study_view"}),
    ));
    es.push(ev(
        json!({"id":"pp","type":"engagement","at":"2026-04-01T15:00:00Z",
        "account":"acme","kind":"pricing_page_view","channel":"email"}),
    ));
    let p = policy();
    let s = run(&p, es, "2026-05-01T00:00:00Z");
    let a = &s.accounts[0];
    assert_eq!(a.cycles.len(), 2);
    assert_eq!(a.cycles[0].nurture_at, Some(at("2026-03-03T18:00:00Z")));
    assert_eq!(a.cycles[1].mqa_at, Some(at("2026-04-01T15:00:00Z")));
    assert_eq!(
        a.cycles[1].qualification.as_ref().unwrap().evidence,
        vec!["pp"]
    );
    // The open first-touch clock was cancelled by the rejection.
    assert_eq!(a.cycles[0].clocks[0].state, ClockState::Cancelled);
    let rejected_to_nurture = a.history.iter().find(|h| h.to == Stage::Nurture).unwrap();
    assert_eq!(rejected_to_nurture.from, Some(Stage::Rejected));
    // Two MQAs in the period, one rejection, recycled within 24 hours.
    let period = Period::parse_range("2026-03-01", "2026-05-01", p.org_calendar().tz()).unwrap();
    let card = metrics::scorecard(&p, &s, &period, s.as_of);
    assert_eq!(card.funnel.mqa, 2);
    let recycle = card.commitments.iter().find(|c| c.id == "recycle").unwrap();
    assert_eq!((recycle.actual, recycle.n), (Some(1.0), 1));
}

#[test]
fn seven_attempts_meet_the_cadence_and_six_breach_at_window_end() {
    let mut seven = high_intent_handoff("a7");
    let mut six = high_intent_handoff("a6");
    for i in 0..7 {
        let t = format!("2026-03-{:02}T15:00:00Z", 3 + i);
        seven.push(ev(json!({"id":format!("x{i}"),"type":"activity","at":t,
            "account":"a7","rep":"r1","kind":"call"})));
        if i < 6 {
            six.push(ev(json!({"id":format!("y{i}"),"type":"activity","at":t,
                "account":"a6","rep":"r1","kind":"call"})));
        }
    }
    seven.retain(|e| !e.id.starts_with("rep-") && !e.id.starts_with("acc-"));
    let mut es = six;
    es.extend(seven);
    es.push(ev(
        json!({"id":"acc-a7","type":"account","at":"2026-02-01T00:00:00Z",
        "account":"a7","industry":"Software","employees":200}),
    ));
    let s = run(&policy(), dedupe_ids(es), "2026-04-01T00:00:00Z");
    let k7 = first_clock(&s, "a7", "attempts");
    assert_eq!((k7.state, k7.attempts), (ClockState::Met, 7));
    assert_eq!(k7.stop_at, Some(at("2026-03-09T15:00:00Z")));
    let k6 = first_clock(&s, "a6", "attempts");
    // 14 wall-clock days after Mon 2 March 15:00 EST is Mon 16 March 15:00
    // EDT (DST began on the 8th) = 19:00Z.
    assert_eq!(k6.deadline, at("2026-03-16T19:00:00Z"));
    assert_eq!((k6.state, k6.attempts), (ClockState::Breached, 6));
}

/// Gives events shared by two histories (same demo/hand-off ids) unique ids.
fn dedupe_ids(es: Vec<Event>) -> Vec<Event> {
    es.into_iter()
        .map(|mut e| {
            if let Some(a) = e.account() {
                if !e.id.starts_with("acc-") {
                    e.id = format!("{}-{}", a, e.id);
                }
            }
            e
        })
        .collect()
}

#[test]
fn disposition_clock_is_48_calendar_hours_from_acceptance() {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"ok","type":"accepted","at":"2026-03-02T21:00:00Z","account":"acme"}),
    ));
    // 47 hours later.
    es.push(ev(
        json!({"id":"disp","type":"disposition","at":"2026-03-04T20:00:00Z",
        "account":"acme","status":"working","next_step":"discovery call"}),
    ));
    let s = run(&policy(), es, "2026-03-10T00:00:00Z");
    let k = first_clock(&s, "acme", "disposition");
    assert_eq!(k.deadline, at("2026-03-04T21:00:00Z"));
    assert_eq!((k.state, k.elapsed_s), (ClockState::Met, Some(47 * 3600)));
}

#[test]
fn arrival_order_does_not_change_the_result() {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"ok","type":"accepted","at":"2026-03-02T21:00:00Z","account":"acme"}),
    ));
    es.push(ev(
        json!({"id":"a1","type":"activity","at":"2026-03-03T15:30:00Z",
        "account":"acme","rep":"r1","kind":"call"}),
    ));
    let p = policy();
    let forward = run(&p, es.clone(), "2026-03-10T00:00:00Z");
    es.reverse();
    let backward = run(&p, es, "2026-03-10T00:00:00Z");
    assert_eq!(
        serde_json::to_string(&forward.accounts).unwrap(),
        serde_json::to_string(&backward.accounts).unwrap()
    );
}

#[test]
fn acceptance_alert_is_raised_once_on_crossing() {
    let text = include_str!("../../../../policies/default.toml")
        .replace("min_sample = 20", "min_sample = 4");
    let p = Policy::from_toml(&text).unwrap();
    let mut es = Vec::new();
    // Five accounts handed off in March; decisions: accept, reject, reject,
    // accept, reject. After the 4th decision: 2 of 4 = 50% < 75%: raised.
    // After the 5th: 2 of 5 = 40%, still under: not raised again.
    for (i, decision) in ["accepted", "rejected", "rejected", "accepted", "rejected"]
        .iter()
        .enumerate()
    {
        let id = format!("c{i}");
        es.extend(base(&id).into_iter().map(|mut e| {
            if e.id.starts_with("rep-") {
                e.id = format!("{}-{id}", e.id);
            }
            e
        }));
        es.push(ev(
            json!({"id":format!("h{i}"),"type":"handoff","at":"2026-03-02T15:00:00Z",
            "account":id,"rep":"r1"}),
        ));
        let mut d = json!({"id":format!("d{i}"),"type":decision,
            "at":format!("2026-03-{:02}T15:00:00Z", 3 + i),"account":id});
        if *decision == "rejected" {
            d["reason"] = json!("bad fit");
        }
        es.push(ev(d));
    }
    let s = run(&p, es, "2026-04-01T00:00:00Z");
    let metric_alerts: Vec<&Alert> = s
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Metric)
        .collect();
    assert_eq!(metric_alerts.len(), 1);
    assert_eq!(metric_alerts[0].at, at("2026-03-06T15:00:00Z"));
    assert_eq!(metric_alerts[0].metric.as_ref().unwrap().value, 0.5);
    assert_eq!(metric_alerts[0].recipients[0].role, "marketing_vp");
}

#[test]
fn won_before_its_mqa_is_flagged_and_kept_out_of_velocity() {
    let es = vec![
        ev(
            json!({"id":"won","type":"opportunity","at":"2018-03-06T22:38:00Z",
            "opportunity":"o1","account":"b91","stage":"won","amount":1200.0}),
        ),
        ev(
            json!({"id":"mql","type":"stage","at":"2018-03-08T03:00:00Z",
            "account":"b91","stage":"mqa","channel":"organic_search"}),
        ),
    ];
    let p = policy();
    let s = run(&p, es, "2019-01-01T00:00:00Z");
    let a = &s.accounts[0];
    assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
    assert_eq!(a.opportunities[0].cycle, Some(1));
    // The late MQA record does not move a won account back.
    assert_eq!(a.stage, Some(Stage::Won));
    assert!(
        a.history.iter().all(|h| h.to != Stage::Mqa),
        "{:?}",
        a.history
    );
    let period = Period::parse_range("2018-01-01", "2019-01-01", p.org_calendar().tz()).unwrap();
    let card = metrics::scorecard(&p, &s, &period, s.as_of);
    assert_eq!((card.funnel.mqa, card.funnel.won), (1, 1));
    assert_eq!(card.funnel.conversions.mqa_to_won, Some(1.0));
    assert_eq!(card.velocity.median_days_mqa_to_won, None);
    assert_eq!(card.velocity.negative_durations, 1);
    // No lost deal and no SQO event anywhere in the data: the win rate and
    // the time to close are unknown, not 100% and 0 days.
    assert_eq!(card.funnel.conversions.win_rate, None);
    assert_eq!(card.velocity.median_days_sqo_to_won, None);
}

#[test]
fn a_rep_in_london_is_timed_on_the_london_calendar() {
    // The policy puts r1 on the london calendar (09:00-17:00 Europe/London,
    // GMT in early March). Hand-off Monday 2 March 15:00 EST = 20:00Z, which
    // is 20:00 in London: closed. Four business hours run 09:00-13:00 GMT on
    // Tuesday: deadline 13:00Z (08:00 in New York, before the org opens).
    let text = format!(
        "{}\n[reps.r1]\ncalendar = \"london\"\n",
        include_str!("../../../../policies/default.toml")
    );
    let p = Policy::from_toml(&text).unwrap();
    let s = run(&p, high_intent_handoff("acme"), "2026-03-10T00:00:00Z");
    let k = first_clock(&s, "acme", "first-touch");
    assert_eq!(k.calendar, "london");
    assert_eq!(k.deadline, at("2026-03-03T13:00:00Z"));
    assert_eq!(k.state, ClockState::Breached);
}

#[test]
fn acceptance_alert_rearms_only_after_recovering_to_the_band() {
    let text = include_str!("../../../../policies/default.toml")
        .replace("min_sample = 20", "min_sample = 4");
    let p = Policy::from_toml(&text).unwrap();
    // The default rule: raised under 75%, re-armed at 80% (rearm_at).
    // Running tallies, decision by decision:
    //   R R A A        -> 2/4 = 50%: raised (#1, 6 March)
    //   A A A A        -> 6/8 = 75%: not under 75%, but not back to 80%
    //   R              -> 6/9 = 66.7%: under again, still raised: no flap
    //   A A A A A A    -> 12/15 = 80%: recovered, re-armed
    //   R              -> 12/16 = 75%: not under
    //   R              -> 12/17 = 70.6%: raised again (#2, 19 March)
    let decisions = [
        "rejected", "rejected", "accepted", "accepted", "accepted", "accepted", "accepted",
        "accepted", "rejected", "accepted", "accepted", "accepted", "accepted", "accepted",
        "accepted", "rejected", "rejected",
    ];
    let mut es = base("c0");
    for (i, decision) in decisions.iter().enumerate() {
        let id = format!("c{i}");
        es.push(ev(
            json!({"id":format!("h{i}"),"type":"handoff","at":"2026-03-02T15:00:00Z",
            "account":id,"rep":"r1"}),
        ));
        let mut d = json!({"id":format!("d{i}"),"type":decision,
            "at":format!("2026-03-{:02}T15:00:00Z", 3 + i),"account":id});
        if *decision == "rejected" {
            d["reason"] = json!("bad fit");
        }
        es.push(ev(d));
    }
    let s = run(&p, es, "2026-04-01T00:00:00Z");
    let ids: Vec<(&str, DateTime<Utc>)> = s
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Metric)
        .map(|a| (a.id.as_str(), a.at))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("acceptance-below-75:2026Q1", at("2026-03-06T15:00:00Z")),
            ("acceptance-below-75:2026Q1:2", at("2026-03-19T15:00:00Z")),
        ]
    );
}

#[test]
fn an_unfinished_month_shows_counts_in_progress_and_a_future_one_no_data() {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"ok","type":"accepted","at":"2026-03-02T21:00:00Z","account":"acme"}),
    ));
    let p = policy();
    let march = Period::parse_month("2026-03", p.org_calendar().tz()).unwrap();
    // As of 16 March 12:00 EDT the month is half over (15.5 of 31 days,
    // less the DST hour): 1 SAL against 40 is not yet a miss.
    let as_of = at("2026-03-16T16:00:00Z");
    let s = run(&p, es.clone(), "2026-03-16T16:00:00Z");
    let card = metrics::scorecard(&p, &s, &march, as_of);
    let sal = card
        .commitments
        .iter()
        .find(|c| c.id == "sal-volume")
        .unwrap();
    assert_eq!(
        (sal.actual, sal.status),
        (Some(1.0), metrics::Status::InProgress)
    );
    assert_eq!(
        sal.note.as_deref(),
        Some("period in progress: 50% of it has elapsed")
    );
    // April has not started as of then: no data, whatever the counts.
    let april = Period::parse_month("2026-04", p.org_calendar().tz()).unwrap();
    let card = metrics::scorecard(&p, &s, &april, as_of);
    let sal = card
        .commitments
        .iter()
        .find(|c| c.id == "sal-volume")
        .unwrap();
    assert_eq!((sal.actual, sal.status), (None, metrics::Status::NoData));
}

#[test]
fn orphan_acceptance_and_unknown_rep_are_flagged() {
    let es = vec![
        ev(
            json!({"id":"h","type":"handoff","at":"2026-03-02T15:00:00Z","account":"a","rep":"ghost"}),
        ),
        ev(json!({"id":"x","type":"accepted","at":"2026-03-02T16:00:00Z","account":"b"})),
    ];
    let s = run(&policy(), es, "2026-03-10T00:00:00Z");
    let warning = |id: &str| {
        s.accounts.iter().find(|a| a.id == id).unwrap().warnings[0]
            .message
            .clone()
    };
    assert!(
        warning("a").contains("rep ghost, who has no rep event"),
        "{}",
        warning("a")
    );
    assert!(
        warning("b").starts_with("accepted without a hand-off"),
        "{}",
        warning("b")
    );
}

#[test]
fn a_real_deal_takes_over_the_placeholder_of_an_asserted_sqo() {
    // A CRM's "became an opportunity" date asserts SQO; the deals export
    // then brings deal 5001 for the same account: one opportunity, not two.
    let es = vec![
        ev(
            json!({"id":"s","type":"stage","at":"2026-03-02T15:00:00Z","account":"a","stage":"sqo"}),
        ),
        ev(
            json!({"id":"o1","type":"opportunity","at":"2026-03-03T15:00:00Z",
            "opportunity":"5001","account":"a","stage":"sqo"}),
        ),
        ev(
            json!({"id":"o2","type":"opportunity","at":"2026-04-03T15:00:00Z",
            "opportunity":"5001","account":"a","stage":"won","amount":12000.0}),
        ),
    ];
    let p = policy();
    let s = run(&p, es, "2026-05-01T00:00:00Z");
    let opps = &s.accounts[0].opportunities;
    assert_eq!(opps.len(), 1, "{opps:?}");
    assert_eq!(opps[0].id, "5001");
    // It opened when the upstream system said so.
    assert_eq!(opps[0].opened_at, at("2026-03-02T15:00:00Z"));
    let q = Period::parse_range("2026-03-01", "2026-05-01", p.org_calendar().tz()).unwrap();
    let card = metrics::scorecard(&p, &s, &q, s.as_of);
    assert_eq!(
        (card.funnel.sqo, card.funnel.won, card.velocity.open_sqos),
        (1, 1, 0)
    );
}

#[test]
fn clocks_whose_stop_event_the_data_never_records_have_no_data() {
    // Accepted SALs and no disposition event anywhere in the data: the
    // disposition clocks ran out, but that says nothing about Sales.
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"ok","type":"accepted","at":"2026-03-02T21:00:00Z","account":"acme"}),
    ));
    es.push(ev(
        json!({"id":"a1","type":"activity","at":"2026-03-02T21:30:00Z",
        "account":"acme","rep":"r1","kind":"call"}),
    ));
    let p = policy();
    let s = run(&p, es, "2026-04-01T00:00:00Z");
    let march = Period::parse_month("2026-03", p.org_calendar().tz()).unwrap();
    let card = metrics::scorecard(&p, &s, &march, s.as_of);
    let d = card
        .commitments
        .iter()
        .find(|c| c.id == "disposition")
        .unwrap();
    assert_eq!((d.actual, d.status), (None, metrics::Status::NoData));
    assert_eq!(
        d.note.as_deref(),
        Some("no disposition events in this data: its disposition clocks can never be met")
    );
    // The first touch was recorded: it is judged (met, 30 minutes).
    let f = card
        .commitments
        .iter()
        .find(|c| c.id == "first-touch")
        .unwrap();
    assert_eq!((f.actual, f.n), (Some(1.0), 1));
}

#[test]
fn an_mqa_dated_after_the_sal_is_kept_with_its_channel_and_flagged() {
    // A source with dates only: converted (SAL) at midnight, created (MQA)
    // at 21:05 the same day.
    let es = vec![
        ev(
            json!({"id":"sal","type":"stage","at":"2026-03-02T05:00:00Z","account":"b","stage":"sal"}),
        ),
        ev(
            json!({"id":"mqa","type":"stage","at":"2026-03-03T02:05:00Z","account":"b",
            "stage":"mqa","channel":"partner referral"}),
        ),
    ];
    let s = run(&policy(), es, "2026-04-01T00:00:00Z");
    let a = &s.accounts[0];
    assert_eq!(a.cycles.len(), 1);
    assert_eq!(a.cycles[0].mqa_at, Some(at("2026-03-03T02:05:00Z")));
    assert_eq!(a.channel.as_deref(), Some("partner referral"));
    assert!(
        a.warnings
            .iter()
            .any(|w| w.message.starts_with("MQA recorded after")),
        "{a:?}"
    );
}

#[test]
fn next_deadline_is_the_earliest_clock_still_to_judge() {
    let p = policy();
    let mut es = high_intent_handoff("acme");
    sort_events(&mut es);
    let mut engine = Engine::new(&p);
    let mut out = Vec::new();
    for e in &es {
        engine.apply(e, &mut out);
    }
    // After the hand-off: first touch (Tue 16:00Z) comes before the 14-day
    // attempts window (Mon 16 Mar 19:00Z).
    assert_eq!(engine.next_deadline(), Some(at("2026-03-03T16:00:00Z")));
    out.clear();
    engine.advance_to(at("2026-03-03T16:00:01Z"), &mut out);
    assert!(
        out.iter().any(|e| matches!(e, Effect::Breach { .. })),
        "{out:?}"
    );
    // Then the escalation step, 4 business hours after the breach on the
    // New York calendar: 11:00 EST + 4 h = 15:00 EST = 20:00Z.
    assert_eq!(engine.next_deadline(), Some(at("2026-03-03T20:00:00Z")));
    engine.advance_to(at("2026-03-03T20:00:01Z"), &mut out);
    assert_eq!(engine.next_deadline(), Some(at("2026-03-16T19:00:00Z")));
}

/// The hand-off of [`high_intent_handoff`] and a sales VP on the
/// organisation's calendar. Left untouched, first-touch breaches Tue 3 Mar
/// 16:00Z (11:00 EST); the default chain's step comes 4 business hours
/// later on the clock's New York calendar: 15:00 EST = 20:00Z.
fn breach_with_vp(extra: Vec<serde_json::Value>) -> Snapshot {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"rep-vp","type":"rep","at":"2026-01-01T00:00:00Z","rep":"vp",
        "team":"sales","role":"sales_vp"}),
    ));
    es.extend(extra.into_iter().map(ev));
    run(&policy(), es, "2026-03-10T00:00:00Z")
}

fn chain(s: &Snapshot) -> Vec<(&str, DateTime<Utc>, u32)> {
    s.alerts
        .iter()
        .filter(|a| a.rule == "high-intent-untouched")
        .map(|a| (a.id.as_str(), a.at, a.step))
        .collect()
}

#[test]
fn nobody_acting_escalates_to_the_sales_vp_four_business_hours_after_the_breach() {
    let s = breach_with_vp(vec![]);
    assert_eq!(
        chain(&s),
        [
            (
                "high-intent-untouched:acme:1:0",
                at("2026-03-03T16:00:00Z"),
                0
            ),
            (
                "high-intent-untouched:acme:1:0:step1",
                at("2026-03-03T20:00:00Z"),
                1
            ),
        ]
    );
    let step = &s.alerts[1];
    assert_eq!(
        step.recipients,
        vec![Recipient {
            role: "sales_vp".into(),
            who: Some("vp".into()),
            // 15:00 EST, inside the VP's (organisation's) hours.
            deliver_at: None,
        }]
    );
    assert!(!step.reassign);
    assert_eq!(step.owner.as_deref(), Some("r1"));
}

#[test]
fn a_person_acting_before_the_step_ends_the_chain() {
    // A late call at 18:00Z, between the breach and the step.
    let late_call = json!({"id":"a1","type":"activity","at":"2026-03-03T18:00:00Z",
        "account":"acme","rep":"r1","kind":"call"});
    assert_eq!(chain(&breach_with_vp(vec![late_call])).len(), 1);
    // Acting at the step's very instant counts, as a touch at a deadline
    // meets it.
    let on_time = json!({"id":"a1","type":"activity","at":"2026-03-03T20:00:00Z",
        "account":"acme","rep":"r1","kind":"call"});
    assert_eq!(chain(&breach_with_vp(vec![on_time])).len(), 1);
    // An automated email is nobody acting.
    let robot = json!({"id":"a1","type":"activity","at":"2026-03-03T18:00:00Z",
        "account":"acme","rep":"r1","kind":"email","automated":true});
    assert_eq!(chain(&breach_with_vp(vec![robot])).len(), 2);
}

#[test]
fn an_automatic_reassignment_is_nobody_acting_but_a_manager_reassigning_is() {
    let auto = json!({"id": auto_reassign_id("high-intent-untouched:acme:1:0"),
        "type":"reassign","at":"2026-03-03T16:00:01Z","account":"acme","rep":"r2"});
    let s = breach_with_vp(vec![auto]);
    assert_eq!(chain(&s).len(), 2);
    // The step names the owner at its instant: r2 after the reassignment.
    assert_eq!(s.alerts[1].owner.as_deref(), Some("r2"));
    let manual = json!({"id":"m-17","type":"reassign","at":"2026-03-03T17:00:00Z",
        "account":"acme","rep":"r2"});
    assert_eq!(chain(&breach_with_vp(vec![manual])).len(), 1);
}

/// Hand-off Mon 2 Mar 16:30 EST (21:30Z): 0.5 h Monday and 3.5 h Tuesday
/// give a first-touch deadline of Tue 12:30 EST = 17:30Z. The manager m1
/// works in London (09:00-17:00 GMT): at 17:30Z they have gone home.
fn breach_after_london_closes(policy: &Policy) -> Snapshot {
    let mut es = base("acme");
    es.retain(|e| e.id != "rep-m1");
    es.push(ev(
        json!({"id":"rep-m1","type":"rep","at":"2026-01-01T00:00:00Z","rep":"m1",
        "team":"east","role":"sales_manager","calendar":"london"}),
    ));
    es.push(ev(
        json!({"id":"d1","type":"engagement","at":"2026-03-02T14:00:00Z",
        "account":"acme","kind":"demo_request","channel":"paid_search"}),
    ));
    es.push(ev(
        json!({"id":"h1","type":"handoff","at":"2026-03-02T21:30:00Z",
        "account":"acme","rep":"r1"}),
    ));
    run(policy, es, "2026-03-03T18:00:00Z")
}

#[test]
fn a_notice_waits_for_the_recipients_working_hours_unless_the_rule_may_wake_them() {
    let s = breach_after_london_closes(&policy());
    let breach = &s.alerts[0];
    assert_eq!(breach.at, at("2026-03-03T17:30:00Z"));
    let m1 = &breach.recipients[0];
    assert_eq!(m1.who.as_deref(), Some("m1"));
    // London opens again Wed 4 Mar 09:00 GMT = 09:00Z.
    assert_eq!(m1.deliver_at, Some(at("2026-03-04T09:00:00Z")));

    let text = include_str!("../../../../policies/default.toml");
    let waking = text.replace("wake = false", "wake = true");
    assert_ne!(waking, text, "the default policy changed");
    let waking = Policy::from_toml(&waking).unwrap();
    let s = breach_after_london_closes(&waking);
    assert_eq!(s.alerts[0].recipients[0].deliver_at, None);
}

#[test]
fn an_engine_that_forgets_alerts_still_raises_them_as_effects() {
    // The untouched hand-off of `high_intent_handoff`: one breach alert at
    // Tuesday 16:00Z (worked out above), raised once past the deadline.
    let p = policy();
    let mut es = high_intent_handoff("acme");
    sort_events(&mut es);
    let mut engine = Engine::new(&p).forget_alerts();
    let mut out = Vec::new();
    for e in &es {
        engine.apply(e, &mut out);
    }
    engine.advance_to(at("2026-03-03T16:00:01Z"), &mut out);
    let raised: Vec<&Alert> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Alert(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(raised.len(), 1, "{out:?}");
    assert_eq!(raised[0].id, "high-intent-untouched:acme:1:0");
    assert_eq!(raised[0].at, at("2026-03-03T16:00:00Z"));
    // Nothing kept: the snapshot lists no alert, the clock is breached.
    let s = engine.finish(at("2026-03-04T00:00:00Z"));
    assert!(s.alerts.is_empty(), "{:?}", s.alerts);
    let k = first_clock(&s, "acme", "first-touch");
    assert_eq!(k.state, ClockState::Breached);
}

// Late events (engine/late.rs). `high_intent_handoff("acme")`: demo
// request Monday 2 March 14:00Z, hand-off 20:00Z, first-touch deadline
// Tuesday 16:00Z (worked out above).

/// An engine fed `events` in sort order.
fn engine_after<'p>(p: &'p Policy, mut events: Vec<Event>) -> Engine<'p> {
    sort_events(&mut events);
    let mut engine = Engine::new(p);
    let mut out = Vec::new();
    for e in &events {
        engine.apply(e, &mut out);
    }
    engine
}

fn call(id: &str, account: &str, at: &str) -> Event {
    ev(json!({"id":id,"type":"activity","at":at,"account":account,"rep":"r1","kind":"call"}))
}

/// acme's hand-off, then globex's first engagement on Tuesday 10:00Z.
fn acme_then_globex() -> Vec<Event> {
    let mut es = high_intent_handoff("acme");
    es.push(ev(
        json!({"id":"g1","type":"engagement","at":"2026-03-03T10:00:00Z",
        "account":"globex","kind":"webinar","channel":"events"}),
    ));
    es
}

#[test]
fn a_late_event_on_an_account_nothing_later_touched_gives_the_in_order_result() {
    let p = policy();
    let mut engine = engine_after(&p, acme_then_globex());
    // A call on acme at Monday 21:00Z arrives after globex's Tuesday
    // engagement: late, but acme's last event is its 20:00Z hand-off and no
    // deadline of acme has been judged (the engine stands at Tuesday 10:00Z).
    let late = call("a1", "acme", "2026-03-02T21:00:00Z");
    assert!(engine.can_apply_late(&late));
    let mut out = Vec::new();
    engine.apply(&late, &mut out);
    let live = engine.finish(at("2026-03-10T00:00:00Z"));
    let mut all = acme_then_globex();
    all.push(late);
    let replay = run(&p, all, "2026-03-10T00:00:00Z");
    assert_eq!(
        serde_json::to_value(&live.accounts).unwrap(),
        serde_json::to_value(&replay.accounts).unwrap()
    );
    assert_eq!(
        first_clock(&live, "acme", "first-touch").state,
        ClockState::Met
    );
}

#[test]
fn a_late_event_before_its_accounts_latest_event_or_judged_deadline_is_refused() {
    let p = policy();
    let mut engine = engine_after(&p, acme_then_globex());
    // Before acme's own hand-off (20:00Z): it would sort before it.
    assert!(!engine.can_apply_late(&call("a0", "acme", "2026-03-02T19:00:00Z")));
    // Equal instants are refused too: rank and id might order them either way.
    assert!(!engine.can_apply_late(&call("a0", "acme", "2026-03-02T20:00:00Z")));
    // Past acme's deadline (Tuesday 16:00Z, judged breached), a call dated
    // 15:30Z would have met it: refused. globex has no judged deadline.
    let mut out = Vec::new();
    engine.advance_to(at("2026-03-03T17:00:00Z"), &mut out);
    assert!(out.iter().any(|e| matches!(e, Effect::Breach { .. })));
    assert!(!engine.can_apply_late(&call("a1", "acme", "2026-03-03T15:30:00Z")));
    assert!(engine.can_apply_late(&call("g2", "globex", "2026-03-03T15:30:00Z")));
    // After the judged deadline, a late call on acme is fine again.
    assert!(engine.can_apply_late(&call("a2", "acme", "2026-03-03T16:30:00Z")));
}

#[test]
fn a_late_event_after_a_rep_or_contact_changed_is_refused() {
    let p = policy();
    let mut es = acme_then_globex();
    // r2 moves team on Tuesday 12:00Z; jo joins globex at 12:00Z too.
    es.push(ev(
        json!({"id":"rep-r2b","type":"rep","at":"2026-03-03T12:00:00Z","rep":"r2","team":"west"}),
    ));
    es.push(ev(
        json!({"id":"c-jo","type":"contact","at":"2026-03-03T12:00:00Z",
        "contact":"jo@globex.example","account":"globex"}),
    ));
    let engine = engine_after(&p, es);
    // Every event reads the reps: one dated before the rep change is refused.
    assert!(!engine.can_apply_late(&call("g2", "globex", "2026-03-03T11:00:00Z")));
    // A late rep event is always refused: any later event may have read it.
    let rep = ev(json!({"id":"rep-r3","type":"rep","at":"2026-03-03T13:00:00Z","rep":"r3"}));
    let after = call("g3", "globex", "2026-03-03T13:00:00Z");
    assert!(engine.can_apply_late(&after));
    assert!(!engine.can_apply_late(&rep));
    // An engagement found through jo, dated at or before jo's contact event,
    // might have found no account then.
    let through_jo = |at: &str| {
        ev(json!({"id":"e-jo","type":"engagement","at":at,
            "contact":"jo@globex.example","kind":"webinar"}))
    };
    assert!(!engine.can_apply_late(&through_jo("2026-03-03T12:00:00Z")));
    assert!(engine.can_apply_late(&through_jo("2026-03-03T12:30:00Z")));
}

/// Accounts c0..cN handed off to r1 on 2 March 15:00Z, decided one a day
/// from 3 March 15:00Z, under the default policy with `min_sample = 4`.
fn decisions(kinds: &[&str]) -> (Policy, Vec<Event>) {
    let text = include_str!("../../../../policies/default.toml")
        .replace("min_sample = 20", "min_sample = 4");
    let mut es = base("c0");
    for (i, kind) in kinds.iter().enumerate() {
        let id = format!("c{i}");
        es.push(ev(
            json!({"id":format!("h{i}"),"type":"handoff","at":"2026-03-02T15:00:00Z",
            "account":id,"rep":"r1"}),
        ));
        let mut d = json!({"id":format!("d{i}"),"type":kind,
            "at":format!("2026-03-{:02}T15:00:00Z", 3 + i),"account":id});
        if *kind == "rejected" {
            d["reason"] = json!("bad fit");
        }
        es.push(ev(d));
    }
    (Policy::from_toml(&text).unwrap(), es)
}

fn metric_alerts(alerts: &[Alert]) -> Vec<(String, DateTime<Utc>, String)> {
    let mut v: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Metric)
        .map(|a| (a.id.clone(), a.at, a.message.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_late_decision_that_leaves_the_raised_alert_as_it_was_applies_in_place() {
    // In order: A R R A (2/4 = 50% < 75%: raised on 6 March), R, R. The
    // decision of c6, an acceptance dated 7 March 12:00Z, arrives after the
    // rejections of 7 and 8 March: in its place the tallies run 3/5, 3/6,
    // 3/7, all under 75% and never back at 80%: the one alert stands.
    let (p, mut es) = decisions(&[
        "accepted", "rejected", "rejected", "accepted", "rejected", "rejected",
    ]);
    es.push(ev(
        json!({"id":"h6","type":"handoff","at":"2026-03-02T15:00:00Z","account":"c6","rep":"r1"}),
    ));
    let mut engine = engine_after(&p, es.clone());
    let late = ev(json!({"id":"d6","type":"accepted","at":"2026-03-07T12:00:00Z","account":"c6"}));
    assert!(engine.can_apply_late(&late));
    let mut out = Vec::new();
    engine.apply(&late, &mut out);
    assert!(!engine.needs_replay());
    assert!(
        !out.iter().any(|e| matches!(e, Effect::Alert(_))),
        "{out:?}"
    );
    let live = engine.finish(at("2026-04-01T00:00:00Z"));
    es.push(late);
    let replay = run(&p, es, "2026-04-01T00:00:00Z");
    assert_eq!(metric_alerts(&live.alerts), metric_alerts(&replay.alerts));
    assert_eq!(
        metric_alerts(&replay.alerts),
        [(
            "acceptance-below-75:2026Q1".to_string(),
            at("2026-03-06T15:00:00Z"),
            "acceptance rate 50.0% for hand-offs of 2026Q1 (2 accepted of 4 decided) is under 75%"
                .to_string()
        )]
    );
}

#[test]
fn a_late_decision_that_moves_a_raised_alert_needs_a_replay() {
    // Without c0's acceptance of 3 March the tallies run R R A R: 1/4 = 25%,
    // raised on 7 March by d4. In its place the acceptance makes the 4th
    // decision d3 of 6 March the crossing (2/4 = 50%): the raised alert
    // would change, so the engine asks for a replay.
    let (p, es) = decisions(&["accepted", "rejected", "rejected", "accepted", "rejected"]);
    let (late, early): (Vec<Event>, Vec<Event>) = es.into_iter().partition(|e| e.id == "d0");
    let mut engine = engine_after(&p, early);
    assert!(!engine.needs_replay());
    assert!(engine.can_apply_late(&late[0]));
    let mut out = Vec::new();
    engine.apply(&late[0], &mut out);
    assert!(engine.needs_replay());
}

#[test]
fn a_late_event_from_before_the_version_in_force_is_refused() {
    // v2 takes effect Tuesday 09:00Z; globex's engagement at 10:00Z moves
    // the engine onto it. A call on acme dated Monday 21:00Z would be
    // applied in place on one policy (see above), but it belongs to v1.
    let (v1, v2) = (policy(), policy());
    let mut events = acme_then_globex();
    sort_events(&mut events);
    let mut engine = Engine::with_versions(v1_then_v2(&v1, &v2, "2026-03-03T09:00:00Z"));
    let mut out = Vec::new();
    for e in &events {
        engine.apply(e, &mut out);
    }
    assert_eq!(engine.version_in_force(), 2);
    assert!(!engine.can_apply_late(&call("a1", "acme", "2026-03-02T21:00:00Z")));
    // After v2 took effect, the same late call on acme is fine.
    assert!(engine.can_apply_late(&call("a2", "acme", "2026-03-03T09:30:00Z")));
}
