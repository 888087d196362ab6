//! `handoff check`: policy diagnostics with file, line and column.
//!
//! A *problem* is anything that stops the policy from loading: a TOML
//! syntax error, an unknown key, a value of the wrong type, or a check of
//! `compile` that failed (unknown metric, bad duration, overlapping hours,
//! a reference to a tier or calendar that does not exist). A *warning* is a
//! policy that loads but probably does not say what its author meant, such
//! as an alert that can never fire. Warnings are looked for only once the
//! policy loads, and never fail the check.
//!
//! Each finding is printed to standard output in the `file:line:column:`
//! form that editors and CI annotators jump to, then the source line with a
//! caret under the offending text, then a hint. The report ends with one
//! summary line. Exit codes: 0 the policy loads (warnings or not), 1
//! problems, 2 the file could not be read.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

use anyhow::{anyhow, Result};
use handoff_core::policy::raw::PolicyConfig;
use handoff_core::policy::{
    line_col, locate, parse_target, ClockKind, ClockSpec, Diagnostic, Measure, MetricName, PathSeg,
    Policy, Target, TimeBasis, Trigger,
};

use crate::cli::{CheckArgs, EXIT_OK, EXIT_PROBLEMS};

/// Runs `handoff check`.
pub fn run(args: &CheckArgs) -> Result<u8> {
    let text = read_policy(&args.file)?;
    let file = args.file.display().to_string();
    let outcome = check_text(&text);
    tracing::debug!(
        file = %file,
        problems = outcome.problems.len(),
        warnings = outcome.warnings.len(),
        "policy checked"
    );
    write_stdout(&render_outcome(&file, &text, &outcome))?;
    Ok(if outcome.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// Reads the policy, with an error that says what to do about it.
fn read_policy(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::NotFound => {
                "check the path; the default policy is policies/default.toml"
            }
            io::ErrorKind::InvalidData => "save the file as UTF-8 text",
            io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ => "give the path of a readable .toml file",
        };
        anyhow!("cannot read policy file {}: {e}; {hint}", path.display())
    })
}

/// Writes the report; a closed pipe (`handoff check x | head`) is not an
/// error.
fn write_stdout(report: &str) -> Result<()> {
    match io::stdout().lock().write_all(report.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// What checking one policy text found.
struct Outcome {
    /// Problems, in file order; empty when the policy loads.
    problems: Vec<Diagnostic>,
    /// Warnings, in file order; looked for only when there are no problems.
    warnings: Vec<Diagnostic>,
    /// The loaded policy, when there are no problems.
    policy: Option<Policy>,
}

/// Loads the policy text and locates every problem or warning in it.
fn check_text(text: &str) -> Outcome {
    let (mut problems, mut warnings, policy) = match Policy::from_toml(text) {
        Err(problems) => (problems, Vec::new(), None),
        Ok(policy) => {
            // from_toml read this text without error, so the raw form
            // reads too; were it not to, there would only be no warnings.
            let warnings = toml::from_str::<PolicyConfig>(text)
                .map(|cfg| lint(&cfg, &policy))
                .unwrap_or_default();
            (Vec::new(), warnings, Some(policy))
        }
    };
    for d in problems.iter_mut().chain(warnings.iter_mut()) {
        locate(text, d);
    }
    // compile() reports by topic; the file's order reads better.
    let file_order = |d: &Diagnostic| d.span.as_ref().map_or(0, |s| s.start);
    problems.sort_by_key(file_order);
    warnings.sort_by_key(file_order);
    Outcome {
        problems,
        warnings,
        policy,
    }
}

/// The full report: each finding, then the summary line.
fn render_outcome(file: &str, text: &str, outcome: &Outcome) -> String {
    let mut out = String::new();
    for d in &outcome.problems {
        out.push_str(&render(file, text, "error", d));
        out.push('\n');
    }
    for d in &outcome.warnings {
        out.push_str(&render(file, text, "warning", d));
        out.push('\n');
    }
    out.push_str(&summary(file, outcome));
    out.push('\n');
    out
}

/// One finding: `file:line:col: severity: path: message`, the source line
/// with carets under the span, and the hint.
fn render(file: &str, text: &str, severity: &str, d: &Diagnostic) -> String {
    // The TOML reader's syntax messages span lines ("invalid string\n
    // expected ..."); one line keeps the report grep-able.
    let message = d
        .message
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    let path = d.path_text();
    let what = if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    };

    let mut out = String::new();
    match &d.span {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{file}:{line}:{col}: {severity}: {what}");
            out.push_str(&snippet(text, span.clone(), line));
        }
        None => {
            let _ = writeln!(out, "{file}: {severity}: {what}");
        }
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "  help: {help}");
    }
    out
}

/// Tab stops in the shown source line; carets are aligned to match.
const TAB_WIDTH: usize = 4;

/// The source line holding the span's start, with `^` under the span (or
/// under its part on that line, for a span running over several lines).
fn snippet(text: &str, span: std::ops::Range<usize>, line: usize) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let source = text[line_start..line_end].trim_end_matches('\r');
    let before = text.get(line_start..start).unwrap_or("");
    let under = text.get(start..span.end.min(line_end)).unwrap_or("");

    let width = |s: &str| {
        s.chars()
            .map(|c| if c == '\t' { TAB_WIDTH } else { 1 })
            .sum::<usize>()
    };
    let gutter = " ".repeat(line.to_string().len());
    format!(
        "  {line} | {}\n  {gutter} | {}{}\n",
        source.replace('\t', &" ".repeat(TAB_WIDTH)),
        " ".repeat(width(before)),
        "^".repeat(width(under).max(1)),
    )
}

/// `3 problems in FILE`, or `FILE: ok, ...` with what the policy holds.
fn summary(file: &str, outcome: &Outcome) -> String {
    let Some(p) = &outcome.policy else {
        return format!("{} in {file}", count(outcome.problems.len(), "problem"));
    };
    let mut line = format!(
        "{file}: ok, {}, {}, {}, {}",
        count(p.commitments.len(), "commitment"),
        count(p.tiers.len(), "tier"),
        count(p.calendars.len(), "calendar"),
        count(p.alerts.len(), "alert rule"),
    );
    if !outcome.warnings.is_empty() {
        line.push_str(&format!("; {}", count(outcome.warnings.len(), "warning")));
    }
    line
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Looks for what loads but is probably not meant, in a policy that loaded.
///
/// `cfg` is the same file as written; paths use its indices, which match
/// the policy's because a policy that loads keeps every entry in order.
fn lint(cfg: &PolicyConfig, policy: &Policy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    lint_tiers(policy, &mut out);
    lint_calendars(policy, &mut out);
    lint_commitments(cfg, policy, &mut out);
    lint_alerts(cfg, policy, &mut out);
    out
}

/// A warning at a key path such as `["alerts", 1, "tiers", 0]`.
fn warn(path: Vec<PathSeg>, message: String, help: &str) -> Diagnostic {
    Diagnostic {
        path,
        span: None,
        message,
        help: Some(help.to_string()),
    }
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

/// The clocks of the policy's clock commitments.
fn clocks(policy: &Policy) -> impl Iterator<Item = &ClockSpec> {
    policy.commitments.iter().filter_map(|c| match &c.measure {
        Measure::Clock(spec) => Some(spec),
        Measure::Metric(_) => None,
    })
}

/// A tier whose hand-offs no clock times.
fn lint_tiers(policy: &Policy, out: &mut Vec<Diagnostic>) {
    if clocks(policy).next().is_none() {
        return;
    }
    for (i, tier) in policy.tiers.iter().enumerate() {
        if !clocks(policy).any(|c| c.applies_to(Some(&tier.name))) {
            out.push(warn(
                vec![key("tiers"), PathSeg::Index(i), key("name")],
                format!(
                    "no clock times hand-offs of tier \"{}\": every clock commitment lists \
                     other tiers",
                    tier.name
                ),
                "add the tier to a clock's `tiers`, or drop `tiers` from a clock so it times \
                 every hand-off",
            ));
        }
    }
}

/// A calendar that never opens while some clock counts business time.
fn lint_calendars(policy: &Policy, out: &mut Vec<Diagnostic>) {
    if !clocks(policy).any(|c| c.time == TimeBasis::Business) {
        return;
    }
    for (name, cal) in &policy.calendars {
        if !cal.has_open_hours() {
            out.push(warn(
                vec![key("calendars"), key(name), key("hours")],
                format!("calendar \"{name}\" is never open: every day's hours are empty"),
                "a business-time clock on it never reaches its deadline; add hours such as \
                 mon = [\"09:00-17:00\"], or remove `hours` to be open around the clock",
            ));
        }
    }
}

/// Clocks that time nothing, and targets in the wrong unit for their metric.
fn lint_commitments(cfg: &PolicyConfig, policy: &Policy, out: &mut Vec<Diagnostic>) {
    for (i, c) in cfg.commitments.iter().enumerate() {
        let at = |k: &str| vec![key("commitments"), PathSeg::Index(i), key(k)];
        let Some(compiled) = policy.commitment(&c.id) else {
            continue;
        };
        match &compiled.measure {
            Measure::Clock(spec) => lint_clock(i, spec, out),
            Measure::Metric(metric) => {
                if let Some((message, help)) =
                    unit_warning(*metric, &c.target, compiled.target, true)
                {
                    out.push(warn(at("target"), message, &help));
                }
            }
        }
    }
}

/// The triggers on which the engine starts clocks, and those it applies to
/// running clocks (`start_clocks` and `stop_clocks` calls in handoff-core's
/// engine). Every trigger name is valid in the file, but a clock that
/// starts or stops on one outside these lists never does.
const STARTS: [Trigger; 4] = [
    Trigger::Mqa,
    Trigger::Handoff,
    Trigger::Accepted,
    Trigger::Sqo,
];
const STOPS: [Trigger; 10] = [
    Trigger::Handoff,
    Trigger::Accepted,
    Trigger::Rejected,
    Trigger::Nurture,
    Trigger::Activity,
    Trigger::Disposition,
    Trigger::Sqo,
    Trigger::Won,
    Trigger::Lost,
    Trigger::Reassign,
];

/// A clock that times nothing, or waits for a trigger that never comes.
fn lint_clock(i: usize, spec: &ClockSpec, out: &mut Vec<Diagnostic>) {
    let at = |k: &str, j: Option<usize>| {
        let mut path = vec![key("commitments"), PathSeg::Index(i), key("clock"), key(k)];
        path.extend(j.map(PathSeg::Index));
        path
    };
    if spec.tiers.as_ref().is_some_and(Vec::is_empty) {
        out.push(warn(
            at("tiers", None),
            "`tiers = []` means this clock times no hand-off".into(),
            "list the tiers it applies to, or remove `tiers` to time every hand-off",
        ));
    }
    if !STARTS.contains(&spec.start) {
        out.push(warn(
            at("start", None),
            format!("a clock never starts on \"{}\"", spec.start.as_str()),
            &format!("clocks start on one of: {}", names(&STARTS)),
        ));
    }
    // Each trigger a running clock waits for, with its key and list index.
    let waits: Vec<(Trigger, &str, Option<usize>)> = match &spec.kind {
        ClockKind::Deadline { stop } => stop
            .iter()
            .enumerate()
            .map(|(j, t)| (*t, "stop", Some(j)))
            .collect(),
        ClockKind::Cadence { count, ends, .. } => std::iter::once((*count, "count", None))
            .chain(ends.iter().enumerate().map(|(j, t)| (*t, "ends", Some(j))))
            .collect(),
    };
    for (t, k, j) in waits {
        if !STOPS.contains(&t) {
            out.push(warn(
                at(k, j),
                format!("a running clock never sees \"{}\"", t.as_str()),
                &format!("clocks stop, count or end on one of: {}", names(&STOPS)),
            ));
        }
    }
}

fn names(triggers: &[Trigger]) -> String {
    triggers
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A target or threshold written in the wrong unit for its metric, as a
/// message and a hint.
///
/// Shares are written as percentages. A plain number for a share is wrong
/// above 1 (no rate passes 100%), and on a commitment always: reports read a
/// plain-number target as a count and scale it to the report period's
/// length. A percentage for a count or amount is always wrong.
fn unit_warning(
    metric: MetricName,
    text: &str,
    t: Target,
    commitment: bool,
) -> Option<(String, String)> {
    let name = metric.as_str();
    match (metric.is_rate(), t.percent) {
        (true, false) if commitment || t.value > 1.0 => {
            let share = if t.value > 1.0 {
                t.value / 100.0
            } else {
                t.value
            };
            let fixed = Target {
                value: share,
                percent: true,
                ..t
            };
            Some((
                format!("{name} is a share, but \"{text}\" is a plain number"),
                format!("write shares as percentages: \"{fixed}\""),
            ))
        }
        (false, true) => Some((
            format!("{name} is a count, but \"{text}\" is a percentage"),
            "write counts and amounts as plain numbers, e.g. \">= 150\"".into(),
        )),
        _ => None,
    }
}

/// The metrics the engine watches for metric alerts as decisions arrive
/// (`watch_acceptance` in handoff-core's engine); an alert on another
/// metric loads but never fires.
const LIVE_ALERT_METRICS: [MetricName; 1] = [MetricName::AcceptanceRate];

/// Alerts that can never fire, thresholds in the wrong unit, repeated ids.
fn lint_alerts(cfg: &PolicyConfig, policy: &Policy, out: &mut Vec<Diagnostic>) {
    for (i, a) in cfg.alerts.iter().enumerate() {
        let at = |k: &str| vec![key("alerts"), PathSeg::Index(i), key(k)];
        if cfg.alerts[..i].iter().any(|b| b.id == a.id) {
            out.push(warn(
                at("id"),
                format!("alert id \"{}\" is used twice", a.id),
                "give each alert rule its own id; reports and alerts name rules by id",
            ));
        }
        if let Some(b) = &a.breach {
            lint_breach_alert(policy, b, a.tiers.as_deref(), &at, out);
        }
        if let (Some(m), Some((k, text))) = (&a.metric, threshold(a)) {
            if let Some(metric) = MetricName::parse(m).filter(|x| !LIVE_ALERT_METRICS.contains(x)) {
                out.push(warn(
                    at("metric"),
                    format!(
                        "metric alerts are raised on acceptance_rate only; this alert on {} \
                         never fires",
                        metric.as_str()
                    ),
                    "follow the metric on the scorecard with a commitment, or alert on a \
                     clock's breach",
                ));
            }
            // compile() checked both; a bare threshold parses as `>= x`.
            if let (Some(metric), Ok(t)) = (MetricName::parse(m), parse_target(text)) {
                if let Some((message, help)) = unit_warning(metric, text, t, false) {
                    out.push(warn(at(k), message, &help));
                }
            }
        }
    }
}

fn threshold(a: &handoff_core::policy::raw::AlertRuleConfig) -> Option<(&'static str, &str)> {
    match (&a.below, &a.above) {
        (Some(t), _) => Some(("below", t)),
        (None, Some(t)) => Some(("above", t)),
        _ => None,
    }
}

/// A breach alert on a commitment that has no clock, or for tiers its
/// clock never times.
fn lint_breach_alert(
    policy: &Policy,
    commitment: &str,
    tiers: Option<&[String]>,
    at: &dyn Fn(&str) -> Vec<PathSeg>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(c) = policy.commitment(commitment) else {
        return;
    };
    let spec = match &c.measure {
        Measure::Clock(spec) => spec,
        Measure::Metric(m) => {
            out.push(warn(
                at("breach"),
                format!(
                    "commitment \"{commitment}\" has no clock, so it never breaches and this \
                     alert never fires"
                ),
                &format!(
                    "to watch its metric, write metric = \"{}\" with below = or above = instead",
                    m.as_str()
                ),
            ));
            return;
        }
    };
    for (j, t) in tiers.unwrap_or_default().iter().enumerate() {
        if !spec.applies_to(Some(t)) {
            let mut path = at("tiers");
            path.push(PathSeg::Index(j));
            out.push(warn(
                path,
                format!(
                    "the clock of \"{commitment}\" never runs for tier \"{t}\", so this alert \
                     never fires for it"
                ),
                "list only tiers the commitment's clock times (its `clock.tiers`)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_prints_position_source_line_caret_and_help() {
        let text = "[a]\nwithin = \"4hrs\"\n";
        let d = Diagnostic {
            path: vec![key("a"), key("within")],
            // `"4hrs"` is bytes 13..19: "[a]\n" is 4 bytes, `within = ` 9.
            span: Some(13..19),
            message: "bad".into(),
            help: Some("write \"4h\"".into()),
        };
        let got = render("p.toml", text, "error", &d);
        let want = "p.toml:2:10: error: a.within: bad\n\
                    \x20 2 | within = \"4hrs\"\n\
                    \x20   |          ^^^^^^\n\
                    \x20 help: write \"4h\"\n";
        assert_eq!(got, want, "\n{got}\n{want}");
    }

    #[test]
    fn a_multi_line_message_is_joined_and_tabs_keep_the_caret_aligned() {
        let text = "\tx = y\n";
        let d = Diagnostic {
            path: Vec::new(),
            span: Some(5..6),
            message: "invalid string\nexpected `\"`".into(),
            help: None,
        };
        let got = render("p.toml", text, "error", &d);
        // Column 6: tab, x, space, =, space are five characters before `y`;
        // on screen the tab is 4 columns, so 8 spaces precede the caret.
        let want = "p.toml:1:6: error: invalid string; expected `\"`\n\
                    \x20 1 |     x = y\n\
                    \x20   |         ^\n";
        assert_eq!(got, want, "\n{got}\n{want}");
    }

    /// The warnings' key paths for a policy that loads.
    fn lint_paths(text: &str) -> Vec<String> {
        let policy = Policy::from_toml(text).expect("the test policy loads");
        let cfg: PolicyConfig = toml::from_str(text).expect("the test policy reads");
        lint(&cfg, &policy)
            .iter()
            .map(|d| format!("{}: {}", d.path_text(), d.message))
            .collect()
    }

    #[test]
    fn policies_that_load_but_cannot_work_are_warned_about() {
        let text = r#"
[organisation]
calendar = "hq"
[calendars.hq]
time_zone = "UTC"
[calendars.closed]
time_zone = "UTC"
hours = {}
[[tiers]]
name = "high"
any = [{ kind = "demo_request" }]
[[tiers]]
name = "mid"
any = [{ kind = "webinar" }]
[[commitments]]
id = "first-touch"
owner = "sales"
target = ">= 100%"
[commitments.clock]
tiers = ["high"]
start = "handoff"
stop = ["activity"]
within = "4h"
time = "business"
[[commitments]]
id = "nothing"
owner = "sales"
target = ">= 100%"
[commitments.clock]
tiers = []
start = "activity"
stop = ["disposition", "mqa"]
within = "48h"
time = "calendar"
[[alerts]]
id = "a"
breach = "first-touch"
tiers = ["high", "mid"]
notify = ["sales_manager"]
[[alerts]]
id = "a"
metric = "win_rate"
below = "20%"
notify = ["sales_manager"]
"#;
        let want = vec![
            "tiers[1].name: no clock times hand-offs of tier \"mid\": every clock commitment \
             lists other tiers",
            "calendars.closed.hours: calendar \"closed\" is never open: every day's hours are \
             empty",
            "commitments[1].clock.tiers: `tiers = []` means this clock times no hand-off",
            "commitments[1].clock.start: a clock never starts on \"activity\"",
            "commitments[1].clock.stop[1]: a running clock never sees \"mqa\"",
            "alerts[0].tiers[1]: the clock of \"first-touch\" never runs for tier \"mid\", so \
             this alert never fires for it",
            "alerts[1].id: alert id \"a\" is used twice",
            "alerts[1].metric: metric alerts are raised on acceptance_rate only; this alert on \
             win_rate never fires",
        ];
        assert_eq!(lint_paths(text), want);
    }

    #[test]
    fn the_default_policy_has_no_warnings() {
        assert_eq!(
            lint_paths(include_str!("../../../policies/default.toml")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn counts_are_singular_or_plural() {
        assert_eq!(count(1, "calendar"), "1 calendar");
        assert_eq!(count(0, "alert rule"), "0 alert rules");
        assert_eq!(count(3, "problem"), "3 problems");
    }

    #[test]
    fn shares_must_be_percentages_and_counts_plain_numbers() {
        let t = |text: &str| parse_target(text).unwrap();
        let rate = MetricName::AcceptanceRate;
        let (msg, help) = unit_warning(rate, "> 80", t("> 80"), true).unwrap();
        assert_eq!(
            msg,
            "acceptance_rate is a share, but \"> 80\" is a plain number"
        );
        assert_eq!(help, "write shares as percentages: \"> 80%\"");
        // A fraction is a share to an alert, but a commitment scales it.
        let (_, help) = unit_warning(rate, "> 0.8", t("> 0.8"), true).unwrap();
        assert_eq!(help, "write shares as percentages: \"> 80%\"");
        assert_eq!(unit_warning(rate, "0.75", t("0.75"), false), None);
        assert!(unit_warning(rate, "75", t("75"), false).is_some());
        assert_eq!(unit_warning(rate, "> 80%", t("> 80%"), true), None);
        assert!(unit_warning(MetricName::SalCount, "75%", t("75%"), false).is_some());
        assert_eq!(
            unit_warning(MetricName::SalCount, ">= 150", t(">= 150"), true),
            None
        );
    }
}
