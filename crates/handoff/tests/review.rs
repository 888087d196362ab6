//! `handoff review` and `handoff plan` through the real binary and real
//! SQLite files: a small history worked out by hand, the review's numbers
//! against `handoff report`'s on a generated year, the HTML in headless
//! Chromium, and the plan written into a policy file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{artifacts, browser};
use handoff::replay::DEFAULT_POLICY;
use serde_json::Value;

fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: Output) -> Value {
    serde_json::from_slice(&ok(out).stdout).unwrap()
}

/// A generated year (400 accounts, the demo's default seed) in a database
/// made once for this test binary.
fn demo_db() -> &'static str {
    static DB: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("demo.db").display().to_string();
        ok(handoff(&["demo", "--db", &db, "--accounts", "400"]));
        (dir, db)
    })
    .1
}

/// The week and instant the generated year is reviewed at.
const WEEK: &str = "2026-W40";
const AS_OF: &str = "2026-10-05T12:00:00Z";

fn without_policy(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("policy");
    v
}

#[test]
fn the_reviews_numbers_are_the_scorecards_for_the_same_week_and_windows() {
    let db = demo_db();
    let review = json(handoff(&[
        "review", "--db", db, "--week", WEEK, "--as-of", AS_OF, "--format", "json",
    ]));
    let report = |period: &[&str]| {
        let mut args = vec!["report", "--db", db, "--as-of", AS_OF, "--format", "json"];
        args.extend_from_slice(period);
        without_policy(json(handoff(&args)))
    };
    let cards = &review["scorecards"];
    assert_eq!(cards["week"], report(&["--week", WEEK]));
    assert_eq!(cards["previous_week"], report(&["--week", "2026-W39"]));
    // ISO week 40 of 2026 is Monday 28 September to Monday 5 October; the
    // 4 weeks ending with it start on 7 September, the 13 on 6 July.
    assert_eq!(
        cards["trailing_4_weeks"],
        report(&["--from", "2026-09-07", "--to", "2026-10-05"])
    );
    assert_eq!(
        cards["trailing_13_weeks"],
        report(&["--from", "2026-07-06", "--to", "2026-10-05"])
    );

    // The commitment rows and the week's trend point are those scorecards.
    let week = &cards["week"];
    for (i, row) in review["commitments"].as_array().unwrap().iter().enumerate() {
        assert_eq!(row["week"], week["commitments"][i]);
        assert_eq!(
            row["trailing_13_weeks"],
            cards["trailing_13_weeks"]["commitments"][i]
        );
        assert_eq!(
            review["weeks"][12]["actuals"][i],
            week["commitments"][i]["actual"]
        );
    }

    // SAL to SQO by first touch splits the scorecard's SAL cohort.
    for (window, card) in [
        ("week", week),
        ("trailing_13_weeks", &cards["trailing_13_weeks"]),
    ] {
        let buckets = review["speed"][window].as_array().unwrap();
        let sals: u64 = buckets.iter().map(|b| b["sals"].as_u64().unwrap()).sum();
        let sqos: u64 = buckets.iter().map(|b| b["sqos"].as_u64().unwrap()).sum();
        let funnel = &card["funnel"];
        assert_eq!(sals, funnel["sal"].as_u64().unwrap(), "{window}");
        let rate = funnel["conversions"]["sal_to_sqo"].as_f64().unwrap();
        assert!((sqos as f64 / sals as f64 - rate).abs() < 1e-12, "{window}");
    }

    // Attribution of won ARR over the 13 weeks shares out the scorecard's
    // won deals and ARR: every model's credit plus what had no touch adds
    // up to them.
    let long = &cards["trailing_13_weeks"]["funnel"];
    let tables = review["arr"]["attribution"].as_array().unwrap();
    let won = tables
        .iter()
        .find(|t| {
            t["window"] == "trailing_13_weeks"
                && t["goal"] == "won_arr"
                && t["dimension"] == "channel"
        })
        .unwrap();
    assert_eq!(won["conversions"], long["won"]);
    let value = long["won_arr"].as_f64().unwrap();
    assert!(value > 0.0, "the generated quarter has won ARR");
    assert!((won["value"].as_f64().unwrap() - value).abs() < 1e-6);
    for m in 0..7 {
        let credited: f64 = won["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["credit"][m]["value"].as_f64().unwrap())
            .sum();
        let unattributed = won["unattributed_value"].as_f64().unwrap();
        assert!(
            (credited + unattributed - value).abs() < 1e-6,
            "model {}: {credited} + {unattributed} != {value}",
            won["models"][m]
        );
    }
}

/// The policy of the hand-worked test: the default with a follow-up
/// backlog threshold of 0, so one waiting hand-off triggers it.
fn strict_policy(dir: &Path) -> PathBuf {
    let from = "hold_spend_backlog = 20";
    assert!(DEFAULT_POLICY.contains(from), "the default policy changed");
    let path = dir.join("strict.toml");
    std::fs::write(
        &path,
        DEFAULT_POLICY.replace(from, "hold_spend_backlog = 0"),
    )
    .unwrap();
    path
}

/// The shared fixture plus `beta`: a demo request on Thursday 5 March
/// 2026 09:00 EST (14:00Z) and a hand-off to r1 at 10:00 EST (15:00Z),
/// never touched.
const BETA: &str = r#"
{"id":"acc-b","type":"account","at":"2026-02-01T00:00:00Z","account":"beta","industry":"Software","employees":80}
{"id":"d2","type":"engagement","at":"2026-03-05T14:00:00Z","account":"beta","kind":"demo_request","channel":"events"}
{"id":"h2","type":"handoff","at":"2026-03-05T15:00:00Z","account":"beta","rep":"r1"}
"#;

#[test]
fn a_small_week_worked_out_by_hand() {
    // Arrange: acme (tests/report.rs works it out): hand-off Monday 2 March
    // 15:00 EST, first call Tuesday 11:30 EST, accepted Tuesday 12:00 EST;
    // and beta, above.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    let history = format!(
        "{}{BETA}",
        include_str!("fixtures/events/acme-breach.jsonl")
    );
    std::fs::write(&file, history).unwrap();
    let db = dir.path().join("h.db").display().to_string();
    ok(handoff(&[
        "import",
        "--db",
        &db,
        &file.display().to_string(),
    ]));
    let policy = strict_policy(dir.path());

    // Act: week 10 is Monday 2 to Sunday 8 March; as of Tuesday 10 March.
    let r = json(handoff(&[
        "review",
        "--db",
        &db,
        "--policy",
        &policy.display().to_string(),
        "--week",
        "2026-W10",
        "--as-of",
        "2026-03-10T12:00:00Z",
        "--format",
        "json",
    ]));

    // Assert. acme's first touch took 4.5 business hours (15:00-17:00
    // Monday, 09:00-11:30 Tuesday): its SAL is in "4h to 24h", without an
    // SQO. 0 of 1: Wilson's interval is 0 to z²/(1 + z²) = 3.8415 / 4.8415
    // = 0.79345.
    let speed = r["speed"]["week"].as_array().unwrap();
    let counts: Vec<(&str, u64, u64)> = speed
        .iter()
        .map(|b| {
            let label = b["label"].as_str().unwrap();
            (
                label,
                b["sals"].as_u64().unwrap(),
                b["sqos"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("under 1h", 0, 0),
            ("1h to 4h", 0, 0),
            ("4h to 24h", 1, 0),
            ("24h or more", 0, 0),
            ("untouched", 0, 0)
        ]
    );
    let i = &speed[2]["interval"];
    assert_eq!(i["low"].as_f64(), Some(0.0));
    assert!((i["high"].as_f64().unwrap() - 0.79345).abs() < 1e-5, "{i}");

    // The week ends Monday 9 March 00:00 EDT (04:00Z; summer time began
    // on the 8th). beta waits for its first touch then, handed off 3 days
    // and 13 hours before: over 24 hours. 1 > 0: hold campaign spend.
    assert_eq!(r["backlog"]["waiting"], 1);
    assert_eq!(r["backlog"]["waiting_over_24h"], 1);
    assert_eq!(r["backlog"]["at"], "2026-03-09T04:00:00Z");
    let rec = |id: &str| {
        r["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    let hold = rec("hold_campaign_spend");
    assert_eq!(hold["triggered"], true);
    assert_eq!(
        hold["reason"],
        "1 hand-offs wait for a first touch (1 of them for over 24 hours); the threshold is 0"
    );
    // acme accepted, beta undecided: acceptance 1 of 1, no audit.
    assert_eq!(r["acceptance"]["accepted"], 1);
    assert_eq!(r["acceptance"]["pending"], 1);
    assert_eq!(rec("lead_quality_audit")["triggered"], false);

    // First touch: acme's deadline was Tuesday 11:00 EST, the call came at
    // 11:30; beta's was Thursday 14:00 EST, never touched: 0 of 2, both r1's.
    let miss = r["misses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "first-touch")
        .unwrap();
    assert_eq!(miss["owner"], "sales");
    assert_eq!(miss["by"], "rep");
    assert_eq!(miss["who"][0]["key"], "r1");
    assert_eq!(
        (
            miss["who"][0]["missed"].as_u64(),
            miss["who"][0]["n"].as_u64()
        ),
        (Some(2), Some(2))
    );
}

#[test]
fn the_html_review_is_self_contained_and_renders_in_headless_chromium() {
    let db = demo_db();
    let out = artifacts().join("review.html");
    let out_text = out.display().to_string();
    ok(handoff(&[
        "review", "--db", db, "--week", WEEK, "--as-of", AS_OF, "--format", "html", "--out",
        &out_text,
    ]));
    let html = std::fs::read_to_string(&out).unwrap();
    // One file: no script, nothing fetched from elsewhere.
    assert!(!html.contains("<script"), "the review runs no script");
    for attr in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(attr), "the review loads nothing ({attr})");
    }
    assert!(html.contains("<svg") && html.contains("Weekly revenue review · 2026-W40"));
    assert!(html.contains("@media print"));

    let Some(browser) = browser() else {
        return;
    };
    let png = artifacts().join("review.png");
    let pdf = artifacts().join("review.pdf");
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&pdf);
    let url = format!("file://{}", out.canonicalize().unwrap().display());
    let run = |extra: &[String]| {
        let status = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    run(&[
        "--window-size=1000,5200".into(),
        format!("--screenshot={}", png.display()),
    ]);
    run(&[format!("--print-to-pdf={}", pdf.display())]);
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
    // Width and height are the IHDR's first two big-endian words.
    let width = u32::from_be_bytes(image[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(image[20..24].try_into().unwrap());
    assert_eq!((width, height), (1000, 5200));
    // A blank page compresses to a few kilobytes; the review's text, tables
    // and charts do not.
    assert!(image.len() > 100_000, "{} bytes", image.len());
    let printed = std::fs::read(&pdf).unwrap();
    assert!(printed.starts_with(b"%PDF"), "the review prints to PDF");
    eprintln!("screenshot: {}", png.display());
}

#[test]
fn plan_writes_the_monthly_sal_target_into_the_policy_keeping_the_rest() {
    let db = demo_db();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, DEFAULT_POLICY).unwrap();
    let file_text = file.display().to_string();
    let plan = json(handoff(&[
        "plan",
        "--db",
        db,
        "--arr-target",
        "2400000",
        "--quarter",
        "2027Q1",
        "--as-of",
        "2027-01-01T05:00:00Z",
        "--format",
        "json",
        "--write-policy",
        &file_text,
    ]));

    // The plan's own arithmetic, from its measured inputs: SALs =
    // target / (average won ARR x win rate x SAL to SQO), a month a third.
    let p = &plan["plan"];
    let f = |v: &Value| v.as_f64().unwrap();
    let sals = 2_400_000.0
        / (f(&p["avg_won_arr"]) * f(&p["win_rate"]["rate"]) * f(&p["sal_to_sqo"]["rate"]));
    assert!((f(&p["sals"]["point"]) - sals).abs() < 1e-6);
    assert!(f(&p["sals_per_month"]["low"]) < sals / 3.0);
    assert!(f(&p["sals_per_month"]["high"]) > sals / 3.0);
    // The basis is calendar 2026, and its rates are the scorecard's.
    assert_eq!(plan["basis"]["label"], "2026-01-01..2027-01-01");
    let year = json(handoff(&[
        "report",
        "--db",
        db,
        "--from",
        "2026-01-01",
        "--to",
        "2027-01-01",
        "--as-of",
        "2027-01-01T05:00:00Z",
        "--format",
        "json",
    ]));
    let c = &year["funnel"]["conversions"];
    assert!((f(&p["sal_to_sqo"]["rate"]) - f(&c["sal_to_sqo"])).abs() < 1e-12);
    assert!((f(&p["win_rate"]["rate"]) - f(&year["velocity"]["win_rate"])).abs() < 1e-12);
    assert!((f(&p["avg_won_arr"]) - f(&year["velocity"]["avg_won_arr"])).abs() < 1e-6);

    // Only the target and the note above it changed.
    let per_month = plan["target_per_month"].as_u64().unwrap();
    assert_eq!(per_month, (sals / 3.0).ceil() as u64);
    let written = std::fs::read_to_string(&file).unwrap();
    let expected_target = format!("target = \">= {per_month}\"");
    let before: Vec<&str> = DEFAULT_POLICY.lines().collect();
    let after: Vec<&str> = written
        .lines()
        .filter(|l| {
            !l.starts_with("# Set by `handoff plan`")
                && !l.starts_with("# (range")
                && !l.starts_with("# and USD")
        })
        .collect();
    assert_eq!(before.len(), after.len());
    let changed: Vec<(&str, &str)> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert_eq!(changed, [("target = \">= 40\"", expected_target.as_str())]);
    let check = ok(handoff(&["check", &file_text]));
    assert!(String::from_utf8_lossy(&check.stdout).contains("ok, 6 commitments"));

    // The review shows the new target, scaled to a week: per month x 7 /
    // 30.436875 dates.
    let r = json(handoff(&[
        "review", "--db", db, "--policy", &file_text, "--week", WEEK, "--as-of", AS_OF, "--format",
        "json",
    ]));
    let weekly = (per_month as f64 * 7.0 / 30.436_875).round();
    assert_eq!(r["commitments"][0]["id"], "sal-volume");
    assert_eq!(
        r["commitments"][0]["week"]["target"],
        format!(">= {weekly}")
    );
}

#[test]
fn markdown_and_table_reviews_show_the_json_reviews_figures() {
    let db = demo_db();
    let review = |format: &str| {
        let out = ok(handoff(&[
            "review", "--db", db, "--week", WEEK, "--as-of", AS_OF, "--format", format,
        ]));
        String::from_utf8(out.stdout).unwrap()
    };
    let r: Value = serde_json::from_str(&review("json")).unwrap();
    let (md, table) = (review("markdown"), review("table"));
    for row in r["commitments"].as_array().unwrap() {
        let w = &row["week"];
        let actual = match (w["actual"].as_f64(), w["is_rate"].as_bool()) {
            (Some(v), Some(true)) => format!("{:.1}%", v * 100.0),
            (Some(v), _) => format!("{v:.0}"),
            (None, _) => "-".into(),
        };
        let id = row["id"].as_str().unwrap();
        let md_row = format!(
            "| {id} | {} | {} | {actual} |",
            row["owner"].as_str().unwrap(),
            w["target"].as_str().unwrap()
        );
        assert!(md.contains(&md_row), "{md_row} not in\n{md}");
        let line = table.lines().find(|l| l.starts_with(id)).unwrap();
        assert!(line.contains(&actual), "{line}");
    }
    assert!(md.starts_with("# Weekly revenue review · 2026-W40\n"));
    assert!(table.contains("SAL TO SQO BY TIME TO FIRST TOUCH"));
}
