//! `handoff check` end to end: the real binary on policy files.
//!
//! Each fixture under `tests/fixtures/policies/` holds one known problem (or
//! three, or only warnings). The expected `line:column` of every finding was
//! worked out by counting in the fixture, as each test's comment shows;
//! columns count characters from 1. The binary runs from this crate's
//! directory with a relative path, so the path it prints is predictable.

use std::path::Path;
use std::process::Command;

/// What one run of `handoff check` printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `handoff check PATH` from the crate directory.
fn check(path: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["check", path])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("the handoff binary runs");
    Run {
        code: out
            .status
            .code()
            .expect("handoff exits with a code, not a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/policies/{name}")
}

/// The lines of stdout that start a finding of this severity.
fn findings<'a>(run: &'a Run, severity: &str) -> Vec<&'a str> {
    let tag = format!(": {severity}: ");
    run.stdout.lines().filter(|l| l.contains(&tag)).collect()
}

/// Asserts a fixture with exactly one problem: exit 1, the finding's first
/// line, the caret line, the hint (if any) and the summary.
fn assert_one_problem(name: &str, first: &str, carets: &str, help: Option<&str>) {
    let path = fixture(name);
    let run = check(&path);
    assert_eq!(run.code, 1, "exit code\n{}{}", run.stdout, run.stderr);
    assert_eq!(
        findings(&run, "error"),
        vec![format!("{path}:{first}")],
        "\n{}",
        run.stdout
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[2], carets, "caret line\n{}", run.stdout);
    match help {
        Some(h) => assert_eq!(lines[3], format!("  help: {h}"), "\n{}", run.stdout),
        None => assert!(!run.stdout.contains("help:"), "\n{}", run.stdout),
    }
    assert_eq!(
        lines.last().copied(),
        Some(format!("1 problem in {path}").as_str())
    );
}

/// Counts the (trimmed) lines of a TOML file that are such a header.
fn count_headers(text: &str, is_header: impl Fn(&str) -> bool) -> usize {
    text.lines().map(str::trim).filter(|l| is_header(l)).count()
}

#[test]
fn default_policy_checks_clean() {
    let path = "../../policies/default.toml";
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect("policies/default.toml is in the repository");
    // Counted from the file's table headers, independently of handoff's
    // TOML reading: lines that are exactly `[[commitments]]`, `[[tiers]]`,
    // `[[alerts]]`, and `[calendars.NAME]` headers with one dot (not
    // `[calendars.NAME.hours]`).
    let commitments = count_headers(&text, |l| l == "[[commitments]]");
    let tiers = count_headers(&text, |l| l == "[[tiers]]");
    let alerts = count_headers(&text, |l| l == "[[alerts]]");
    let calendars = count_headers(&text, |l| {
        l.starts_with("[calendars.") && l.ends_with(']') && l.matches('.').count() == 1
    });
    let plural = |n: usize, noun: &str| {
        if n == 1 {
            format!("1 {noun}")
        } else {
            format!("{n} {noun}s")
        }
    };

    assert!(
        commitments > 0 && tiers > 0 && calendars > 0,
        "the header count found tables"
    );

    let run = check(path);

    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let want = format!(
        "{path}: ok, {}, {}, {}, {}\n",
        plural(commitments, "commitment"),
        plural(tiers, "tier"),
        plural(calendars, "calendar"),
        plural(alerts, "alert rule"),
    );
    assert_eq!(run.stdout, want);
    assert_eq!(run.stderr, "");
}

#[test]
fn duration_with_unknown_unit_prints_the_whole_report() {
    // Line 21 is `within = "4hrs"`; `within = ` is 9 characters, so the
    // value's opening quote is column 10 and `"4hrs"` takes 6 carets.
    let path = fixture("duration-hrs.toml");
    let run = check(&path);
    let want = format!(
        "{path}:21:10: error: commitments[0].clock.within: unknown unit \"hrs\" in \"4hrs\"; \
         write \"4h\" (units: d, h, m, s)\n\
         \x20 21 | within = \"4hrs\"\n\
         \x20    |          ^^^^^^\n\
         \n\
         1 problem in {path}\n"
    );
    assert_eq!(run.stdout, want, "\ngot:\n{}\nwant:\n{want}", run.stdout);
    assert_eq!(run.code, 1);
}

#[test]
fn unknown_metric_is_named_with_the_nearest_metric() {
    // Line 11 is `metric = "acceptance_rte"`: `metric = ` is 9 characters,
    // the value starts at column 10 and is 16 characters with its quotes.
    assert_one_problem(
        "unknown-metric.toml",
        "11:10: error: commitments[0].metric: unknown metric \"acceptance_rte\"",
        "     |          ^^^^^^^^^^^^^^^^",
        Some("did you mean \"acceptance_rate\"?"),
    );
}

#[test]
fn time_zone_typo_suggests_the_iana_name() {
    // Line 6 is `time_zone = "Europe/Berln"`: `time_zone = ` is 12
    // characters, so column 13; the value is 14 characters with quotes.
    assert_one_problem(
        "zone-typo.toml",
        "6:13: error: calendars.emea.time_zone: unknown time zone \"Europe/Berln\"",
        "    |             ^^^^^^^^^^^^^^",
        Some(
            "did you mean \"Europe/Berlin\"? time zones are IANA names such as \
             \"Europe/Berlin\"",
        ),
    );
}

#[test]
fn overlapping_working_hours_point_at_the_day() {
    // Line 9 is `mon = ["09:00-12:00", "11:30-17:00"]`: `mon = ` is 6
    // characters, so the list starts at column 7 and is 30 characters long
    // (two 13-character quoted ranges, ", " and the two brackets).
    assert_one_problem(
        "overlapping-hours.toml",
        "9:7: error: calendars.hq.hours.mon: working hours overlap on mon: 09:00-12:00 and \
         11:30-17:00",
        "    |       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        Some("merge them into one range or make them disjoint"),
    );
}

#[test]
fn clock_naming_a_missing_tier_points_at_the_name() {
    // Line 17 is `tiers = ["high", "hihg"]`: `tiers = ["high", ` is 17
    // characters, so `"hihg"` starts at column 18.
    assert_one_problem(
        "missing-tier.toml",
        "17:18: error: commitments[0].clock.tiers[1]: no tier named \"hihg\"",
        "     |                  ^^^^^^",
        Some("did you mean \"high\"?"),
    );
}

#[test]
fn misspelt_key_is_named_with_the_expected_keys() {
    // Line 11 is `descripton = "..."`; the key starts the line.
    assert_one_problem(
        "unknown-key.toml",
        "11:1: error: commitments[0].descripton: unknown field `descripton`, expected one of \
         `id`, `owner`, `description`, `metric`, `period`, `target`, `clock`",
        "     | ^^^^^^^^^^",
        Some("did you mean `description`?"),
    );
}

#[test]
fn toml_syntax_error_has_a_position() {
    // Line 6 is `time_zone = America/New_York`: the unquoted value starts
    // at column 13, where the reader expected a quote.
    assert_one_problem(
        "syntax-error.toml",
        "6:13: error: invalid string; expected `\"`, `'`",
        "    |             ^",
        Some("text values take quotes: time_zone = \"Europe/Berlin\""),
    );
}

#[test]
fn three_problems_are_all_reported_in_file_order() {
    let path = fixture("three-problems.toml");
    let run = check(&path);
    assert_eq!(run.code, 1);
    // Line 7 `time_zone = "Amerca/New_York"`: column 13 (after 12
    // characters). Line 12 `metric = "sal_cuont"`: column 10. Line 22
    // `within = "2days"`: column 10.
    let want = vec![
        format!(
            "{path}:7:13: error: calendars.hq.time_zone: unknown time zone \"Amerca/New_York\""
        ),
        format!("{path}:12:10: error: commitments[0].metric: unknown metric \"sal_cuont\""),
        format!(
            "{path}:22:10: error: commitments[1].clock.within: unknown unit \"days\" in \
             \"2days\"; write \"2d\" (units: d, h, m, s)"
        ),
    ];
    assert_eq!(findings(&run, "error"), want, "\n{}", run.stdout);
    assert!(run
        .stdout
        .contains("  help: did you mean \"America/New_York\"?"));
    assert!(run.stdout.contains("  help: did you mean \"sal_count\"?"));
    assert!(
        run.stdout.ends_with(&format!("\n3 problems in {path}\n")),
        "{}",
        run.stdout
    );
}

#[test]
fn warnings_are_printed_but_do_not_fail() {
    let path = fixture("warnings.toml");
    let run = check(&path);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // Line 17 `breach = "..."`: column 10.
    let want = vec![format!(
        "{path}:17:10: warning: alerts[0].breach: commitment \"acceptance-rate\" has no \
         clock, so it never breaches and this alert never fires"
    )];
    assert_eq!(findings(&run, "warning"), want, "\n{}", run.stdout);
    assert!(findings(&run, "error").is_empty());
    let summary = format!("{path}: ok, 1 commitment, 0 tiers, 1 calendar, 1 alert rule; 1 warning");
    assert_eq!(run.stdout.lines().last(), Some(summary.as_str()));
}

#[test]
fn unreadable_file_exits_2_and_says_what_to_do() {
    let run = check("tests/fixtures/policies/no-such-policy.toml");
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with(
            "handoff: cannot read policy file tests/fixtures/policies/no-such-policy.toml: "
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("check the path"), "{}", run.stderr);

    // A directory is not a policy either.
    let run = check("tests/fixtures/policies");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("handoff: cannot read policy file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_share_target_without_percent_is_an_error() {
    let path = fixture("rate-without-percent.toml");
    let run = check(&path);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // Line 12 `target = "> 80"`: the value starts at column 10.
    let want = vec![format!(
        "{path}:12:10: error: commitments[0].target: acceptance_rate is a share, but the \
         target \"> 80\" has no %"
    )];
    assert_eq!(findings(&run, "error"), want, "\n{}", run.stdout);
    assert!(run
        .stdout
        .contains("help: write it as a percentage, e.g. \"> 80%\""));
}
