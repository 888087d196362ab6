//! `handoff gen`: determinism, well-formed events, references that resolve,
//! and realistic rates.
//!
//! The rates are counted straight from the generated JSON Lines, not through
//! the engine: hand-offs, decisions, activities and their instants. Each
//! band is stated next to its check with the reason for its width: the
//! generator aims at the middle of the band, and the band allows for the
//! sampling noise of a 2,000-account year (about 600 hand-offs, so a rate
//! near 80% has a standard error of about 1.6 points).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use handoff::gen::{self, GenConfig, Generator};
use handoff_core::event::{Event, EventBody};
use handoff_core::Policy;

fn config(accounts: u32, seed: u64) -> GenConfig {
    GenConfig {
        accounts,
        days: 365,
        seed,
        start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
    }
}

/// The default policy as the file on disk says, not the built-in copy.
fn policy_on_disk() -> Policy {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/default.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    Policy::from_toml(&text).unwrap()
}

fn generate(accounts: u32, seed: u64) -> Vec<u8> {
    let generator = Generator::new(config(accounts, seed), &policy_on_disk()).unwrap();
    let mut out = Vec::new();
    gen::write_jsonl(&generator, &mut out, |_| {}).unwrap();
    out
}

fn parse(bytes: &[u8]) -> Vec<Event> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            Event::from_json(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1))
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_bytes() {
    let a = generate(300, 42);
    let b = generate(300, 42);
    assert!(a.len() > 10_000, "only {} bytes", a.len());
    assert!(a == b, "two runs with seed 42 differ");
}

#[test]
fn different_seed_gives_different_output() {
    assert_ne!(generate(300, 42), generate(300, 43));
}

#[test]
fn every_line_is_an_event_with_a_unique_id() {
    let events = parse(&generate(500, 7));
    let ids: BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "duplicate ids");
    // Rep events come first.
    let first_other = events.iter().position(|e| e.type_name() != "rep").unwrap();
    assert!(events[first_other..].iter().all(|e| e.type_name() != "rep"));
}

#[test]
fn events_stay_inside_the_period() {
    let events = parse(&generate(500, 7));
    // 2026-01-01 00:00 in New York is 05:00 UTC; 365 days later is
    // 2027-01-01 05:00 UTC (EST both ends).
    let start: DateTime<Utc> = "2026-01-01T05:00:00Z".parse().unwrap();
    let end: DateTime<Utc> = "2027-01-01T05:00:00Z".parse().unwrap();
    for e in &events {
        assert!(
            e.at_utc() >= start && e.at_utc() < end,
            "{} at {}",
            e.id,
            e.at
        );
    }
}

/// Every rep an event names, and every manager, has a `rep` event; every
/// calendar a rep names, and every account's region, is a calendar of
/// policies/default.toml.
#[test]
fn references_resolve() {
    let events = parse(&generate(2000, 7));
    let policy = policy_on_disk();
    let reps: BTreeMap<&str, _> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Rep(r) => Some((r.rep.as_str(), r)),
            _ => None,
        })
        .collect();
    // 2,000 accounts: 6 per 1,000 = 12 working reps, plus 3 managers, the
    // marketing VP and the sales VP.
    assert_eq!(reps.len(), 17);
    let roles: Vec<_> = reps.values().filter_map(|r| r.role.as_deref()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "sales_manager").count(), 3);
    assert_eq!(roles.iter().filter(|r| **r == "marketing_vp").count(), 1);
    assert_eq!(roles.iter().filter(|r| **r == "sales_vp").count(), 1);
    for r in reps.values() {
        let cal = r.calendar.as_deref().unwrap();
        assert!(
            policy.calendars.contains_key(cal),
            "rep {} calendar {cal}",
            r.rep
        );
        if let Some(m) = &r.manager {
            assert!(reps.contains_key(m.as_str()), "rep {} manager {m}", r.rep);
        }
    }
    let zones: BTreeSet<_> = reps
        .values()
        .map(|r| policy.calendars[r.calendar.as_deref().unwrap()].tz().name())
        .collect();
    assert!(zones.len() >= 3, "reps in {} zones", zones.len());

    for e in &events {
        if let Some(rep) = named_rep(e) {
            assert!(reps.contains_key(rep), "{} names unknown rep {rep}", e.id);
        }
        if let EventBody::Account(a) = &e.body {
            let region = a.region.as_deref().unwrap();
            assert!(
                policy.calendars.contains_key(region),
                "{} region {region}",
                e.id
            );
        }
    }
}

fn named_rep(e: &Event) -> Option<&str> {
    match &e.body {
        EventBody::Handoff(h) => Some(&h.rep),
        EventBody::Reassign(r) => Some(&r.rep),
        EventBody::Accepted(d) => d.rep.as_deref(),
        EventBody::Rejected(r) => r.rep.as_deref(),
        EventBody::Activity(a) => a.rep.as_deref(),
        EventBody::Disposition(d) => d.rep.as_deref(),
        EventBody::Opportunity(o) => o.rep.as_deref(),
        _ => None,
    }
}

/// Sales' events carry the offset of the rep's team calendar at that
/// instant, e.g. -07:00 for a west rep in July.
#[test]
fn sales_events_carry_the_reps_offset() {
    let events = parse(&generate(1000, 7));
    let policy = policy_on_disk();
    let calendar_of: BTreeMap<String, String> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Rep(r) => Some((r.rep.clone(), r.calendar.clone().unwrap())),
            _ => None,
        })
        .collect();
    let mut checked = 0;
    for e in events
        .iter()
        .filter(|e| matches!(e.body, EventBody::Activity(_)))
    {
        let tz = policy.calendars[&calendar_of[named_rep(e).unwrap()]].tz();
        let expected = e
            .at_utc()
            .with_timezone(&tz)
            .fixed_offset()
            .offset()
            .local_minus_utc();
        assert_eq!(
            e.at.offset().local_minus_utc(),
            expected,
            "{} at {}",
            e.id,
            e.at
        );
        checked += 1;
    }
    assert!(checked > 1000, "only {checked} activities");
}

/// The generator's copy of the ICP and tier rules matches the policy file.
#[test]
fn generator_rules_match_the_default_policy() {
    let policy = policy_on_disk();
    let industries: Vec<String> = gen::ICP_INDUSTRIES
        .iter()
        .map(|(i, _)| i.to_string())
        .collect();
    assert_eq!(policy.icp.industry.as_ref().unwrap(), &industries);
    assert_eq!(
        policy.icp.employees,
        Some((Some(gen::ICP_MIN_EMPLOYEES as f64), None))
    );
    let high = &policy.tiers[0];
    let kinds: Vec<&str> = high.conditions.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(
        (high.name.as_str(), kinds),
        ("high", gen::HIGH_INTENT_KINDS.to_vec())
    );
    let mid = &policy.tiers[1];
    assert_eq!(mid.name, "mid");
    assert_eq!(mid.conditions[0].kind, "case_study_view");
    assert_eq!(mid.conditions[0].count as usize, gen::MID_CASE_STUDIES);
    assert_eq!(
        mid.conditions[1].seconds,
        Some(gen::MID_KEY_READING_S as f64)
    );
    assert_eq!(mid.conditions[1].asset_tag.as_deref(), Some(gen::KEY_TAG));
}

/// One hand-off and what followed it until the account's next hand-off.
struct Cycle<'a> {
    handoff: &'a Event,
    /// Engagements of the 7 days before the hand-off.
    lead_up: Vec<&'a Event>,
    after: Vec<&'a Event>,
}

fn cycles(events: &[Event]) -> Vec<Cycle<'_>> {
    let mut by_account: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        if let Some(a) = e.account() {
            by_account.entry(a).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for list in by_account.values_mut() {
        list.sort_by_key(|e| e.at_utc());
        let handoffs: Vec<usize> = (0..list.len())
            .filter(|&i| list[i].type_name() == "handoff")
            .collect();
        for (k, &i) in handoffs.iter().enumerate() {
            let next = handoffs.get(k + 1).copied().unwrap_or(list.len());
            let at = list[i].at_utc();
            let lead_up = list[..i]
                .iter()
                .copied()
                .filter(|e| e.type_name() == "engagement" && at - e.at_utc() <= Duration::days(7))
                .collect();
            out.push(Cycle {
                handoff: list[i],
                lead_up,
                after: list[i + 1..next].to_vec(),
            });
        }
    }
    out
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole as f64
}

fn first_of<'a>(c: &Cycle<'a>, kind: &str) -> Option<&'a Event> {
    c.after.iter().copied().find(|e| e.type_name() == kind)
}

fn human_touches<'a>(c: &Cycle<'a>) -> Vec<&'a Event> {
    c.after
        .iter()
        .copied()
        .filter(|e| matches!(&e.body, EventBody::Activity(a) if !a.automated))
        .collect()
}

#[test]
fn a_2000_account_year_has_realistic_rates() {
    let events = parse(&generate(2000, 7));
    let policy = policy_on_disk();
    let cycles = cycles(&events);

    // Volume: about 0.3 hand-offs per account a year (35% of accounts show
    // intent, ~80% of those fit the ICP, plus returning accounts).
    assert!(
        (450..800).contains(&cycles.len()),
        "{} hand-offs",
        cycles.len()
    );

    // Every hand-off follows an engagement that can qualify.
    for c in &cycles {
        let qualifying = c.lead_up.iter().any(|e| match &e.body {
            EventBody::Engagement(g) => {
                gen::HIGH_INTENT_KINDS.contains(&g.kind.as_str())
                    || g.kind == "case_study_view"
                    || g.asset_tags.iter().any(|t| t == gen::KEY_TAG)
            }
            _ => false,
        });
        assert!(
            qualifying,
            "hand-off {} without a qualifying engagement",
            c.handoff.id
        );
    }

    // Acceptance: aimed at ~82% (0.84 high, 0.74 mid, less for small
    // companies); band 75-90%.
    let decided: Vec<_> = cycles
        .iter()
        .filter_map(|c| {
            c.after
                .iter()
                .find(|e| matches!(e.type_name(), "accepted" | "rejected"))
        })
        .collect();
    let accepted = decided
        .iter()
        .filter(|e| e.type_name() == "accepted")
        .count();
    let acceptance = share(accepted, decided.len());
    assert!(
        (0.75..=0.90).contains(&acceptance),
        "acceptance {acceptance:.3}"
    );

    // Recycling: 90% of rejections get a nurture within 24 hours; band
    // 80-97% (about 110 rejections, standard error ~3 points).
    let rejections: Vec<_> = cycles
        .iter()
        .filter(|c| first_of(c, "rejected").is_some())
        .collect();
    let recycled = rejections
        .iter()
        .filter(|c| {
            let r = first_of(c, "rejected").unwrap().at_utc();
            first_of(c, "nurture").is_some_and(|n| n.at_utc() - r <= Duration::hours(24))
        })
        .count();
    let recycle = share(recycled, rejections.len());
    assert!((0.80..=0.97).contains(&recycle), "recycle {recycle:.3}");

    let sals: Vec<_> = cycles
        .iter()
        .filter(|c| first_of(c, "accepted").is_some())
        .collect();

    // First touch of high-intent SALs within 4 business hours of the rep's
    // calendar: most reps' median is ~45 business minutes (sigma 1.1, so
    // ~6% past 4 hours), laggards' 170 (~38% past), some escalations;
    // aimed near 88%, band 78-95%.
    let calendar_of: BTreeMap<&str, &str> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Rep(r) => Some((r.rep.as_str(), r.calendar.as_deref().unwrap())),
            _ => None,
        })
        .collect();
    let high: Vec<_> = sals
        .iter()
        .filter(|c| {
            c.lead_up.iter().any(|e| {
                matches!(&e.body, EventBody::Engagement(g)
                    if gen::HIGH_INTENT_KINDS.contains(&g.kind.as_str()))
            })
        })
        .collect();
    let on_time = high
        .iter()
        .filter(|c| {
            let EventBody::Handoff(h) = &c.handoff.body else {
                unreachable!()
            };
            let cal = &policy.calendars[calendar_of[h.rep.as_str()]];
            human_touches(c).first().is_some_and(|t| {
                cal.business_seconds_between(c.handoff.at_utc(), t.at_utc()) <= 4 * 3600
            })
        })
        .count();
    let first_touch = share(on_time, high.len());
    assert!(high.len() > 200, "{} high-intent SALs", high.len());
    assert!(
        (0.78..=0.95).contains(&first_touch),
        "first touch {first_touch:.3}"
    );

    // Cadence: 7+ human attempts within 14 days of the hand-off for ~75%
    // (diligent reps 78% of the time; the rest of the cycles stop at an
    // early opportunity or fall short); band 60-85%.
    let full = sals
        .iter()
        .filter(|c| {
            let h = c.handoff.at_utc();
            human_touches(c)
                .iter()
                .filter(|t| t.at_utc() - h <= Duration::days(14))
                .count()
                >= 7
        })
        .count();
    let cadence = share(full, sals.len());
    assert!((0.60..=0.85).contains(&cadence), "cadence {cadence:.3}");

    // Disposition within 48 hours of acceptance: 85% draw a prompt one
    // (some pushed past 48 hours by weekends), 15% a late one; aimed near
    // 87%, band 78-95%.
    let prompt = sals
        .iter()
        .filter(|c| {
            let a = first_of(c, "accepted").unwrap().at_utc();
            first_of(c, "disposition").is_some_and(|d| d.at_utc() - a <= Duration::hours(48))
        })
        .count();
    let disposition = share(prompt, sals.len());
    assert!(
        (0.78..=0.95).contains(&disposition),
        "disposition {disposition:.3}"
    );

    // Opportunities: 35% of SALs reach SQO (band 28-42%); 30% of closed
    // ones are won (band 18-42%: ~120 closed, standard error ~4 points);
    // won ARR median ~30k USD (band 20k-40k).
    let stages = |stage: &str| -> Vec<&Event> {
        events
            .iter()
            .filter(|e| matches!(&e.body, EventBody::Opportunity(o) if o.stage == stage))
            .collect()
    };
    let sqo = share(stages("sqo").len(), sals.len());
    assert!((0.28..=0.42).contains(&sqo), "sqo {sqo:.3}");
    let (won, lost) = (stages("won"), stages("lost").len());
    let win = share(won.len(), won.len() + lost);
    assert!((0.18..=0.42).contains(&win), "win rate {win:.3}");
    let mut arr: Vec<f64> = won
        .iter()
        .map(|e| match &e.body {
            EventBody::Opportunity(o) => o.amount.unwrap(),
            _ => unreachable!(),
        })
        .collect();
    arr.sort_by(f64::total_cmp);
    let median = arr[arr.len() / 2];
    assert!(
        (20_000.0..=40_000.0).contains(&median),
        "median ARR {median}"
    );

    // Some rejected or nurtured accounts come back for a new cycle.
    let handed: BTreeMap<&str, usize> = cycles.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.handoff.account().unwrap()).or_default() += 1;
        m
    });
    let returning = handed.values().filter(|n| **n > 1).count();
    assert!(returning >= 15, "{returning} accounts with a second cycle");
}

#[test]
fn engagement_covers_every_channel_and_both_tiers() {
    let events = parse(&generate(2000, 7));
    let mut channels = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    let mut campaigns = BTreeSet::new();
    for e in &events {
        if let EventBody::Engagement(g) = &e.body {
            channels.insert(g.channel.clone().unwrap());
            kinds.insert(g.kind.clone());
            campaigns.extend(g.campaign.clone());
        }
    }
    let expected = [
        "direct",
        "email",
        "events",
        "organic_search",
        "paid_search",
        "referral",
        "social",
        "webinar",
    ];
    assert_eq!(
        channels.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    for k in gen::HIGH_INTENT_KINDS
        .iter()
        .chain(&["case_study_view", "whitepaper_read"])
    {
        assert!(kinds.contains(*k), "no {k}");
    }
    assert!(campaigns.len() > 20, "{} campaigns", campaigns.len());

    // Industries: ~15% outside the ICP (band 11-19% of 2,000; standard
    // error 0.8 points); some accounts under 50 employees (~8%).
    let accounts: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Account(a) => Some(a),
            _ => None,
        })
        .collect();
    let icp: Vec<&str> = gen::ICP_INDUSTRIES.iter().map(|(i, _)| *i).collect();
    let outside = accounts
        .iter()
        .filter(|a| !icp.contains(&a.industry.as_deref().unwrap()))
        .count();
    let outside = share(outside, accounts.len());
    assert!((0.11..=0.19).contains(&outside), "outside ICP {outside:.3}");
    let small = share(
        accounts
            .iter()
            .filter(|a| a.employees.unwrap() < 50)
            .count(),
        2000,
    );
    assert!(
        (0.04..=0.13).contains(&small),
        "under 50 employees {small:.3}"
    );
}

/// Runs the `handoff` binary; answers exit code, stdout and stderr.
fn handoff(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("HANDOFF_DB")
        .env_remove("HANDOFF_POLICY")
        .output()
        .expect("the handoff binary runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (
        out.status.code().expect("an exit code"),
        text(out.stdout),
        text(out.stderr),
    )
}

#[test]
fn demo_refuses_a_database_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mine.db");
    std::fs::write(&db, "precious data").unwrap();
    let (code, _, err) = handoff(&["demo", "--accounts", "50", "--db", db.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("was not made by `handoff demo`"), "{err}");
    assert_eq!(std::fs::read_to_string(&db).unwrap(), "precious data");
}

/// The demo stores what `gen` writes for the same options, prints the
/// scorecard, and replaces its own database when run again.
#[test]
fn demo_stores_the_generated_year_and_replaces_its_own_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let db = db.to_str().unwrap();
    let opts = ["--accounts", "200", "--seed", "3"];
    let (_, jsonl, _) = handoff(&[&["gen"][..], &opts].concat());
    let generated = jsonl.lines().count() as i64;

    for run in 0..2 {
        let (code, out, err) = handoff(&[&["demo", "--db", db][..], &opts].concat());
        assert_eq!(code, 0, "run {run}: {err}");
        assert!(
            out.contains("COMMITMENTS") && out.contains("first-touch"),
            "{out}"
        );
        assert!(
            err.contains(&format!("{generated} events for 200 accounts")),
            "{err}"
        );
        let conn = rusqlite::Connection::open(db).unwrap();
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, generated, "run {run}");
    }
}

/// `Event::from_json` reads an object in two direct passes rather than
/// through the derived `Deserialize`; on every generated event (all
/// thirteen types, with optional fields present and absent) and on each
/// event as the store keeps it (canonical JSON), both give the same event.
#[test]
fn the_direct_parse_gives_what_the_derived_deserialize_gives() {
    let text = generate(300, 11);
    let mut types = BTreeSet::new();
    for line in String::from_utf8(text).unwrap().lines() {
        let derived: Event = serde_json::from_str(line).unwrap();
        assert_eq!(Event::from_json(line).unwrap(), derived, "{line}");
        let canonical = serde_json::to_string(&derived).unwrap();
        assert_eq!(
            Event::from_json(&canonical).unwrap(),
            derived,
            "{canonical}"
        );
        types.insert(derived.type_name());
    }
    assert!(types.len() >= 10, "only {types:?}");
    // What the direct pass refuses is refused with the derived message.
    let bad = r#"{"id":"x","type":"handoff","at":"2026-03-02T09:00:00Z","account":7}"#;
    assert_eq!(
        Event::from_json(bad).unwrap_err().to_string(),
        serde_json::from_str::<Event>(bad).unwrap_err().to_string()
    );
}
