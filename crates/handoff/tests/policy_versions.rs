//! Policy versions through the command line, on a real SQLite file and on
//! PostgreSQL when `HANDOFF_TEST_PG_URL` is set: `handoff policy apply`
//! and `list`, and a policy change in the middle of a history.
//!
//! The history (tests/fixtures/whatif/policy-change.jsonl): three
//! high-intent accounts (demo requests) handed to r1. The default policy's
//! headquarters calendar is New York, Mon-Fri 09:00-17:00; early March 2026
//! is EST (UTC-5), so 09:00 local is 14:00Z and 17:00 local is 22:00Z.
//! Version 1 is the default policy (first touch within 4 business hours of
//! a high-intent hand-off); version 2, effective Wed 4 March 00:00Z, asks
//! for 2 business hours.
//!
//! - early: handed off Mon 2 Mar 15:00 EST (20:00Z), never touched. Under
//!   v1: 15:00-17:00 Mon (2 h) + 09:00-11:00 Tue (2 h) = Tue 3 Mar 11:00
//!   EST = 16:00Z. Breached then, under v1.
//! - straddle: handed off Tue 3 Mar 16:00 EST (21:00Z), before the change;
//!   touched Wed 4 Mar 11:00 EST (16:00Z), after it. Under v1, which started
//!   the clock: 16:00-17:00 Tue (1 h) + 09:00-12:00 Wed (3 h) = Wed 12:00
//!   EST = 17:00Z, so the touch at 16:00Z meets it. (Had v2 set the
//!   deadline it would be Wed 10:00 EST = 15:00Z and the touch too late.)
//! - late: handed off Wed 4 Mar 14:00 EST (19:00Z), after the change;
//!   touched 16:30 EST (21:30Z). Under v2: 14:00-16:00 Wed = Wed 16:00 EST
//!   = 21:00Z, so it breached at 21:00Z. (Under v1 the deadline would be
//!   14:00-17:00 Wed + 09:00-10:00 Thu = Thu 5 Mar 10:00 EST = 15:00Z, met.)
//!
//! So under the versions first touch is met 1 of 3 times (straddle); under
//! v1 alone 2 of 3 (straddle, late); under v2 alone 0 of 3.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{handoff, on_both_backends, TestDb};
use handoff::replay::DEFAULT_POLICY;
use serde_json::Value;

const AS_OF: &str = "2026-03-10T00:00:00Z";

fn ok(args: &[&str]) -> (String, String) {
    let out = handoff(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "handoff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatif/policy-change.jsonl")
}

/// Writes the two policies: v1 the default, v2 the default with the
/// first-touch target at 2 business hours.
fn policies(dir: &Path) -> (PathBuf, PathBuf) {
    let v2 = DEFAULT_POLICY.replace("within = \"4h\"", "within = \"2h\"");
    assert_eq!(
        v2.matches("\"2h\"").count(),
        1,
        "the default policy changed"
    );
    let (p1, p2) = (dir.join("v1.toml"), dir.join("v2.toml"));
    std::fs::write(&p1, DEFAULT_POLICY).unwrap();
    std::fs::write(&p2, v2).unwrap();
    (p1, p2)
}

/// The SHA-256 of a file, from coreutils (not the code under test).
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn first_touch(db: &str, account: &str) -> Value {
    let (out, _) = ok(&["explain", "--db", db, "--as-of", AS_OF, "--json", account]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["account"]["cycles"][0]["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["commitment"] == "first-touch")
        .unwrap()
        .clone()
}

/// `handoff policy apply --db DB [extra...] FILE`.
fn apply(db: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["policy", "apply", "--db", db];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    handoff(&args)
}

/// The stderr of a command that succeeded.
fn said(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The JSON report of March 2026, with `extra` options.
fn report(db: &str, extra: &[&str]) -> Value {
    report_month(db, "2026-03", extra)
}

fn report_month(db: &str, month: &str, extra: &[&str]) -> Value {
    let mut args = vec!["report", "--db", db, "--as-of", AS_OF, "--month", month];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "json"]);
    serde_json::from_str(&ok(&args).0).unwrap()
}

fn first_touch_met(report: &Value) -> (f64, u64) {
    let c = report["commitments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "first-touch")
        .unwrap();
    (c["actual"].as_f64().unwrap(), c["n"].as_u64().unwrap())
}

fn a_policy_change_in_the_middle_of_a_history(db: TestDb) {
    let (v1, v2) = policies(db.dir.path());
    let dbarg = db.arg();
    let rejects = db.dir.path().join("rejects.jsonl");
    ok(&[
        "import",
        "--db",
        dbarg,
        "--no-progress",
        "--policy",
        v1.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
        fixture().to_str().unwrap(),
    ]);

    // No versions yet: replays use the policy named, as before versions.
    let (list, _) = ok(&["policy", "list", "--db", dbarg]);
    assert!(list.contains("No policy versions"), "{list}");
    let before = report(dbarg, &[]);
    assert_eq!(before["policy"]["versioned"], false);
    // v1 alone: straddle and late met, early breached.
    assert_eq!(first_touch_met(&before), (2.0 / 3.0, 3));

    // The change, effective Wed 4 March 00:00Z. The store's first version
    // with an instant: the policy used so far (v1.toml, recorded by the
    // import) becomes version 1 from the beginning.
    let text = said(apply(
        dbarg,
        &v2,
        &["--effective", "2026-03-04T00:00:00Z", "--by", "ops-lead"],
    ));
    assert!(text.contains("as policy v2"), "{text}");

    // The same text again is recognised: nothing recorded.
    let text = said(apply(dbarg, &v2, &["--effective", "2026-03-05T00:00:00Z"]));
    assert!(text.contains("already policy v2"), "{text}");

    // A version before the latest's instant is refused: history is not
    // rewritten.
    let refused = apply(dbarg, &v1, &["--effective", "2026-03-01T00:00:00Z"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("would begin before version 2") && err.contains("2026-03-04T00:00:00Z"),
        "{err}"
    );

    // A policy with a problem is refused with the diagnostics, and not
    // stored.
    let bad = db.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        DEFAULT_POLICY.replace("within = \"4h\"", "within = \"4 hours\""),
    )
    .unwrap();
    let refused = apply(dbarg, &bad, &[]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("problem(s)") && err.contains("handoff check"),
        "{err}"
    );

    let (list, _) = ok(&["policy", "list", "--db", dbarg, "--format", "json"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["number"], 1);
    assert_eq!(list[0]["effective_at"], Value::Null);
    assert_eq!(list[0]["sha256"], sha256sum(&v1).as_str());
    assert_eq!(list[1]["number"], 2);
    assert_eq!(list[1]["effective_at"], "2026-03-04T00:00:00Z");
    assert_eq!(list[1]["sha256"], sha256sum(&v2).as_str());
    assert_eq!(list[1]["applied_by"], "ops-lead");
    assert_eq!(list[1]["name"], v2.to_str().unwrap());

    // Clocks started before the change keep v1's targets; after, v2's.
    let early = first_touch(dbarg, "early");
    assert_eq!(early["deadline"], "2026-03-03T16:00:00Z");
    assert_eq!(early["state"], "breached");
    assert_eq!(early["policy_version"], 1);
    let straddle = first_touch(dbarg, "straddle");
    assert_eq!(straddle["deadline"], "2026-03-04T17:00:00Z");
    assert_eq!(straddle["state"], "met");
    assert_eq!(straddle["policy_version"], 1);
    let late = first_touch(dbarg, "late");
    assert_eq!(late["deadline"], "2026-03-04T21:00:00Z");
    assert_eq!(late["state"], "breached");
    assert_eq!(late["policy_version"], 2);

    // The report says which versions it shows, and counts 1 of 3 met.
    let after = report(dbarg, &[]);
    assert_eq!(after["policy"]["versioned"], true);
    assert_eq!(
        after["policy"]["shown"],
        "policy v2 (from 2026-03-04T00:00Z), v1 before"
    );
    assert_eq!(first_touch_met(&after), (1.0 / 3.0, 3));
    // Breach alerts carry their version: early's under v1, late's under v2.
    let alerts = after["alerts"].as_array().unwrap();
    let breach = |account: &str| {
        alerts
            .iter()
            .find(|a| a["account"] == account && a["kind"] == "breach" && a.get("step").is_none())
            .unwrap_or_else(|| panic!("no breach alert for {account}: {alerts:?}"))
    };
    assert_eq!(breach("early")["policy_version"], 1);
    assert_eq!(breach("early")["at"], "2026-03-03T16:00:00Z");
    assert_eq!(breach("late")["policy_version"], 2);
    assert_eq!(breach("late")["at"], "2026-03-04T21:00:00Z");
    assert!(
        alerts.iter().all(|a| a["account"] != "straddle"),
        "{alerts:?}"
    );
    let (text, _) = ok(&[
        "report", "--db", dbarg, "--as-of", AS_OF, "--month", "2026-03",
    ]);
    assert!(
        text.contains("Shown under policy v2 (from 2026-03-04T00:00Z), v1 before."),
        "{text}"
    );
    // A month wholly before the change shows v1 only.
    let feb = report_month(dbarg, "2026-02", &[]);
    assert_eq!(feb["policy"]["shown"], "policy v1");

    // Rebuild stores the same: the derived state follows the versions
    // even when --policy names another file (it is told on stderr).
    let (_, said) = ok(&[
        "rebuild",
        "--db",
        dbarg,
        "--as-of",
        AS_OF,
        "--policy",
        v1.to_str().unwrap(),
    ]);
    assert!(said.contains("the store has policy versions"), "{said}");

    // whatif's current side follows the versions: against v2 over the
    // whole history only straddle changes (v2 alone would have set its
    // deadline at 15:00Z, before the 16:00Z touch); early and late breach
    // either way.
    let (out, _) = ok(&[
        "whatif",
        "--db",
        dbarg,
        "--policy",
        v2.to_str().unwrap(),
        "--from",
        "2026-03-01",
        "--to",
        "2026-04-01",
        "--as-of",
        AS_OF,
        "--format",
        "json",
    ]);
    let w: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        w["policies"]["current"],
        "Example Co [policy v2 (from 2026-03-04T00:00Z), v1 before]"
    );
    let changed = w["accounts"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["account"], "straddle");
    assert_eq!(changed[0]["breached"], serde_json::json!([false, true]));

    // A named file is a look at the history under that one policy: v2
    // alone meets none of the three.
    let v2_only = report(dbarg, &["--policy", v2.to_str().unwrap()]);
    assert_eq!(first_touch_met(&v2_only), (0.0, 3));
    assert_eq!(v2_only["policy"]["versioned"], false);
}

on_both_backends!(fn a_policy_change_in_the_middle_of_a_history);
