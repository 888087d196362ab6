//! Checking a [`PolicyConfig`] and turning it into a [`Policy`].
//!
//! Every problem is collected, not just the first, as a [`Diagnostic`] that
//! names the key path (`commitments[3].clock.within`), what is wrong, and a
//! hint. The file position is filled in by whoever holds the text (see
//! `handoff check`), from the path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;

use super::raw::{
    AlertRuleConfig, CalendarConfig, ClockConfig, CommitmentConfig, PolicyConfig, TierConfig,
};
use super::values::{parse_amount, parse_duration, parse_target};
use super::*;
use crate::calendar::{Calendar, Interval};

/// One step of a key path in the policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// One problem found in a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where, as a key path; empty for a whole-file problem.
    pub path: Vec<PathSeg>,
    /// Byte range in the file, when known.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// The key path as written in TOML terms, e.g. `commitments[3].clock.within`.
    pub fn path_text(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                PathSeg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path_text();
        if !path.is_empty() {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// Collects diagnostics while walking the config.
struct Checker {
    out: Vec<Diagnostic>,
}

impl Checker {
    fn err(&mut self, path: &[&dyn ToSeg], message: impl Into<String>, help: Option<String>) {
        self.out.push(Diagnostic {
            path: path.iter().map(|s| s.to_seg()).collect(),
            span: None,
            message: message.into(),
            help,
        });
    }
}

/// Anything that can be one path segment.
trait ToSeg {
    fn to_seg(&self) -> PathSeg;
}
impl ToSeg for &str {
    fn to_seg(&self) -> PathSeg {
        PathSeg::Key((*self).to_string())
    }
}
impl ToSeg for String {
    fn to_seg(&self) -> PathSeg {
        PathSeg::Key(self.clone())
    }
}
impl ToSeg for usize {
    fn to_seg(&self) -> PathSeg {
        PathSeg::Index(*self)
    }
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const SIDES: [&str; 2] = ["marketing", "sales"];
const PERIODS: [&str; 3] = ["week", "month", "quarter"];

/// Checks a parsed policy file and compiles it, or returns every problem.
pub fn compile(cfg: &PolicyConfig) -> Result<Policy, Vec<Diagnostic>> {
    let mut ck = Checker { out: Vec::new() };

    let calendars = compile_calendars(&mut ck, &cfg.calendars);
    check_calendar_ref(
        &mut ck,
        &cfg.calendars,
        &cfg.organisation.calendar,
        &[&"organisation", &"calendar"],
    );
    let clock_calendar = match cfg.organisation.clock_calendar.as_deref() {
        None | Some("owner") => ClockCalendar::Owner,
        Some("region") => ClockCalendar::Region,
        Some(other) => {
            ck.err(
                &[&"organisation", &"clock_calendar"],
                format!("unknown value \"{other}\""),
                Some("use \"owner\" or \"region\"".into()),
            );
            ClockCalendar::Owner
        }
    };
    let mut team_calendars = BTreeMap::new();
    let mut team_managers = BTreeMap::new();
    for (team, t) in &cfg.teams {
        if let Some(c) = &t.calendar {
            check_calendar_ref(&mut ck, &cfg.calendars, c, &[&"teams", team, &"calendar"]);
            team_calendars.insert(team.clone(), c.clone());
        }
        if let Some(m) = &t.manager {
            team_managers.insert(team.clone(), m.clone());
        }
    }

    let mut rep_calendars = BTreeMap::new();
    for (rep, r) in &cfg.reps {
        if let Some(c) = &r.calendar {
            check_calendar_ref(&mut ck, &cfg.calendars, c, &[&"reps", rep, &"calendar"]);
            rep_calendars.insert(rep.clone(), c.clone());
        }
    }

    let icp = compile_icp(cfg);
    let tiers = compile_tiers(&mut ck, &cfg.tiers);
    // Declared names, valid or not: a reference to a tier with its own
    // problem is not a second problem.
    let tier_names: Vec<&str> = cfg.tiers.iter().map(|t| t.name.as_str()).collect();
    let commitments = compile_commitments(&mut ck, &cfg.commitments, &tier_names);
    let alerts = compile_alerts(&mut ck, cfg, &commitments, &tier_names);

    let recycle_window = metric_duration(
        &mut ck,
        cfg.metrics.recycle_window.as_deref(),
        "recycle_window",
        86_400,
    );
    let influence_lookback = metric_duration(
        &mut ck,
        cfg.metrics.influence_lookback.as_deref(),
        "influence_lookback",
        180 * 86_400,
    );

    let attribution = compile_attribution(&mut ck, &cfg.attribution);
    let review = compile_review(&mut ck, &cfg.review);

    if !ck.out.is_empty() {
        return Err(ck.out);
    }
    let mut intent_kinds: Vec<String> = tiers
        .iter()
        .flat_map(|t| t.conditions.iter().map(|c| c.kind.clone()))
        .collect();
    intent_kinds.sort();
    intent_kinds.dedup();
    Ok(Policy {
        name: cfg
            .organisation
            .name
            .clone()
            .unwrap_or_else(|| "handoff".into()),
        currency: cfg
            .organisation
            .currency
            .clone()
            .unwrap_or_else(|| "USD".into()),
        org_calendar: cfg.organisation.calendar.clone(),
        clock_calendar,
        calendars,
        team_calendars,
        rep_calendars,
        team_managers,
        icp,
        tiers,
        commitments,
        alerts,
        intent_kinds,
        recycle_window,
        influence_lookback,
        attribution,
        review,
    })
}

/// Checks a reference against the calendars the file declares: one that is
/// declared but invalid has its own diagnostic already, and a second "no
/// calendar named" would send the reader looking for the wrong mistake.
fn check_calendar_ref(
    ck: &mut Checker,
    calendars: &BTreeMap<String, CalendarConfig>,
    name: &str,
    path: &[&dyn ToSeg],
) {
    if !calendars.contains_key(name) {
        let known: Vec<&str> = calendars.keys().map(String::as_str).collect();
        ck.err(
            path,
            format!("no calendar named \"{name}\""),
            Some(suggest("define it under [calendars] or use", name, &known)),
        );
    }
}

/// "did you mean" text: the nearest known name, else the list.
fn suggest(lead: &str, bad: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&bad.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, k)) if score > 0.8 => format!("did you mean \"{k}\"?"),
        _ if known.is_empty() => format!("{lead} one of: (none defined)"),
        _ => format!("{lead} one of: {}", known.join(", ")),
    }
}

fn compile_calendars(
    ck: &mut Checker,
    cfgs: &BTreeMap<String, CalendarConfig>,
) -> BTreeMap<String, Calendar> {
    let mut out = BTreeMap::new();
    for (name, c) in cfgs {
        if let Some(cal) = compile_calendar(ck, name, c) {
            out.insert(name.clone(), cal);
        }
    }
    out
}

fn compile_calendar(ck: &mut Checker, name: &str, c: &CalendarConfig) -> Option<Calendar> {
    let tz: Option<Tz> = match c.time_zone.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).collect();
            ck.err(
                &[&"calendars", &name, &"time_zone"],
                format!("unknown time zone \"{}\"", c.time_zone),
                Some(nearest_zone(&c.time_zone, &names)),
            );
            None
        }
    };

    let mut holidays = Vec::new();
    for (i, h) in c.holidays.iter().enumerate() {
        match NaiveDate::parse_from_str(h, "%Y-%m-%d") {
            Ok(d) => holidays.push(d),
            Err(_) => ck.err(
                &[&"calendars", &name, &"holidays", &i],
                format!("\"{h}\" is not a date"),
                Some("write holidays as \"YYYY-MM-DD\"".into()),
            ),
        }
    }

    let weekly = match &c.hours {
        None => None,
        Some(hours) => Some(compile_hours(ck, name, hours)?),
    };
    let tz = tz?;
    let result = match weekly {
        // No `hours` table: open around the clock, holidays still closed.
        None => Calendar::new(
            name,
            tz,
            std::array::from_fn(|_| vec![(0, 86_400)]),
            holidays,
        ),
        Some(w) => Calendar::new(name, tz, w, holidays),
    };
    match result {
        Ok(cal) => Some(cal),
        Err(e) => {
            ck.err(&[&"calendars", &name, &"hours"], e.to_string(), None);
            None
        }
    }
}

/// The nearest IANA names to a typo.
fn nearest_zone(bad: &str, names: &[&str]) -> String {
    let lower = bad.to_lowercase().replace(' ', "_");
    let mut scored: Vec<(f64, &str)> = names
        .iter()
        .map(|n| (strsim::jaro_winkler(&lower, &n.to_lowercase()), *n))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    format!(
        "did you mean \"{}\"? time zones are IANA names such as \"Europe/Berlin\"",
        scored[0].1
    )
}

fn compile_hours(
    ck: &mut Checker,
    name: &str,
    hours: &BTreeMap<String, Vec<String>>,
) -> Option<[Vec<Interval>; 7]> {
    let mut weekly: [Vec<Interval>; 7] = Default::default();
    let mut ok = true;
    for (day, ranges) in hours {
        let Some(idx) = WEEKDAYS.iter().position(|d| d == &day.to_lowercase()) else {
            ck.err(
                &[&"calendars", &name, &"hours", day],
                format!("unknown weekday \"{day}\""),
                Some("use mon, tue, wed, thu, fri, sat, sun".into()),
            );
            ok = false;
            continue;
        };
        for (i, r) in ranges.iter().enumerate() {
            match parse_range(r) {
                Ok(iv) => weekly[idx].push(iv),
                Err(msg) => {
                    ck.err(
                        &[&"calendars", &name, &"hours", day, &i],
                        msg,
                        Some("write a range as \"09:00-17:00\"; \"24:00\" is midnight".into()),
                    );
                    ok = false;
                }
            }
        }
        let mut sorted = weekly[idx].clone();
        sorted.sort();
        for w in sorted.windows(2) {
            if w[1].0 < w[0].1 {
                ck.err(
                    &[&"calendars", &name, &"hours", day],
                    format!(
                        "working hours overlap on {day}: {} and {}",
                        fmt_range(w[0]),
                        fmt_range(w[1])
                    ),
                    Some("merge them into one range or make them disjoint".into()),
                );
                ok = false;
            }
        }
    }
    ok.then_some(weekly)
}

fn parse_range(r: &str) -> Result<Interval, String> {
    let (a, b) = r
        .split_once('-')
        .ok_or_else(|| format!("\"{r}\" is not a range of hours"))?;
    let start = Calendar::parse_hhmm(a.trim()).map_err(|e| format!("\"{r}\": {e}"))?;
    let end = Calendar::parse_hhmm(b.trim()).map_err(|e| format!("\"{r}\": {e}"))?;
    if end <= start {
        return Err(format!(
            "\"{r}\" ends before it starts; split a night shift into two ranges on two days"
        ));
    }
    Ok((start, end))
}

fn fmt_range((a, b): Interval) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        a / 3600,
        a % 3600 / 60,
        b / 3600,
        b % 3600 / 60
    )
}

fn compile_icp(cfg: &PolicyConfig) -> Icp {
    let i = &cfg.icp;
    let lower = |v: &Vec<String>| v.iter().map(|s| s.trim().to_lowercase()).collect();
    Icp {
        missing_fits: i.missing_fits,
        industry: i.industry.as_ref().map(lower),
        employees: i.employees.as_ref().map(|r| (r.min, r.max)),
        country: i
            .country
            .as_ref()
            .map(|v| v.iter().map(|s| s.trim().to_uppercase()).collect()),
        annual_revenue: i.annual_revenue.as_ref().map(|r| (r.min, r.max)),
        attributes: i
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect(),
    }
}

fn compile_tiers(ck: &mut Checker, cfgs: &[TierConfig]) -> Vec<Tier> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, t) in cfgs.iter().enumerate() {
        if !seen.insert(t.name.clone()) {
            ck.err(
                &[&"tiers", &i, &"name"],
                format!("tier \"{}\" is defined twice", t.name),
                None,
            );
        }
        let (mode, conds) = match (t.any.is_empty(), t.all.is_empty()) {
            (false, true) => (TierMode::Any, &t.any),
            (true, false) => (TierMode::All, &t.all),
            (true, true) => {
                ck.err(
                    &[&"tiers", &i],
                    format!("tier \"{}\" has no conditions", t.name),
                    Some("add `any = [...]` or `all = [...]`".into()),
                );
                continue;
            }
            (false, false) => {
                ck.err(
                    &[&"tiers", &i],
                    format!("tier \"{}\" has both `any` and `all`", t.name),
                    Some("split it into two tiers, or keep one list".into()),
                );
                continue;
            }
        };
        let list = if mode == TierMode::Any { "any" } else { "all" };
        let window = t.window.as_deref().and_then(|w| match parse_duration(w) {
            Ok(d) if d.seconds == 0 => Some(WindowSpan::Days(d.days)),
            Ok(d) => Some(WindowSpan::Exact(
                Duration::seconds(d.seconds) + Duration::days(i64::from(d.days)),
            )),
            Err(msg) => {
                ck.err(&[&"tiers", &i, &"window"], msg, None);
                None
            }
        });
        let conditions = conds
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if c.assets.is_some() && c.asset_tag.is_some() {
                    ck.err(
                        &[&"tiers", &i, &list, &j],
                        "a condition takes `assets` or `asset_tag`, not both",
                        None,
                    );
                }
                Condition {
                    kind: c.kind.clone(),
                    count: c.count.unwrap_or(1),
                    seconds: c.minutes.map(|m| m * 60.0),
                    assets: c.assets.clone(),
                    asset_tag: c.asset_tag.clone(),
                    contacts: c.contacts.unwrap_or(1),
                }
            })
            .collect();
        out.push(Tier {
            name: t.name.clone(),
            window,
            mode,
            conditions,
            contacts: t.contacts.unwrap_or(1),
        });
    }
    out
}

fn compile_commitments(
    ck: &mut Checker,
    cfgs: &[CommitmentConfig],
    tiers: &[&str],
) -> Vec<Commitment> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, c) in cfgs.iter().enumerate() {
        let path = |k: &'static str| -> Vec<PathSeg> {
            vec![
                PathSeg::Key("commitments".into()),
                PathSeg::Index(i),
                PathSeg::Key(k.into()),
            ]
        };
        let before = ck.out.len();
        if !seen.insert(c.id.clone()) {
            ck.err(
                &[&"commitments", &i, &"id"],
                format!("commitment \"{}\" defined twice", c.id),
                None,
            );
        }
        let owner = match c.owner.as_str() {
            "marketing" => Side::Marketing,
            "sales" => Side::Sales,
            other => {
                ck.err(
                    &[&"commitments", &i, &"owner"],
                    format!("unknown owner side \"{other}\""),
                    Some(format!("use one of: {}", SIDES.join(", "))),
                );
                Side::Sales
            }
        };
        let period = parse_period(ck, c.period.as_deref(), &path("period"));
        let target = parse_target(&c.target).unwrap_or_else(|msg| {
            ck.err(&[&"commitments", &i, &"target"], msg, None);
            Target {
                comparison: Comparison::AtLeast,
                value: 0.0,
                percent: false,
            }
        });
        let measure = match (&c.metric, &c.clock) {
            (Some(m), None) => match MetricName::parse(m) {
                Some(metric) => Some(Measure::Metric(metric)),
                None => {
                    let known: Vec<&str> = MetricName::ALL.iter().map(|(n, _)| *n).collect();
                    ck.err(
                        &[&"commitments", &i, &"metric"],
                        format!("unknown metric \"{m}\""),
                        Some(suggest("use", m, &known)),
                    );
                    None
                }
            },
            (None, Some(clock)) => compile_clock(ck, i, clock, tiers).map(Measure::Clock),
            (Some(_), Some(_)) => {
                ck.err(
                    &[&"commitments", &i],
                    format!("commitment \"{}\" has both `metric` and `clock`", c.id),
                    Some("a commitment measures one thing; split it in two".into()),
                );
                None
            }
            (None, None) => {
                ck.err(
                    &[&"commitments", &i],
                    format!("commitment \"{}\" has neither `metric` nor `clock`", c.id),
                    Some("add `metric = \"...\"` or a `[commitments.clock]` table".into()),
                );
                None
            }
        };
        if let (Some(Measure::Clock(_)), false) = (&measure, target.percent) {
            ck.err(
                &[&"commitments", &i, &"target"],
                "a clock commitment's target is the share of clocks met",
                Some("write it as a percentage, e.g. \">= 95%\"".into()),
            );
        }
        if let (Some(Measure::Metric(m)), false) = (&measure, target.percent) {
            if m.is_rate() {
                ck.err(
                    &[&"commitments", &i, &"target"],
                    format!(
                        "{} is a share, but the target \"{}\" has no %",
                        m.as_str(),
                        c.target
                    ),
                    Some(format!(
                        "write it as a percentage, e.g. \"{}\"",
                        c.target.trim().to_string() + "%"
                    )),
                );
            }
        }
        if target.percent && !(0.0..=1.0).contains(&target.value) {
            ck.err(
                &[&"commitments", &i, &"target"],
                format!("\"{}\" is outside 0% to 100%", c.target),
                Some("a share target lies between 0% and 100%".into()),
            );
        }
        if let (Some(measure), true) = (measure, ck.out.len() == before) {
            out.push(Commitment {
                id: c.id.clone(),
                owner,
                description: c.description.clone().unwrap_or_default(),
                period,
                target,
                measure,
            });
        }
    }
    out
}

fn parse_period(ck: &mut Checker, p: Option<&str>, path: &[PathSeg]) -> PeriodKind {
    match p {
        None | Some("month") => PeriodKind::Month,
        Some("week") => PeriodKind::Week,
        Some("quarter") => PeriodKind::Quarter,
        Some(other) => {
            ck.out.push(Diagnostic {
                path: path.to_vec(),
                span: None,
                message: format!("unknown period \"{other}\""),
                help: Some(format!("use one of: {}", PERIODS.join(", "))),
            });
            PeriodKind::Month
        }
    }
}

fn compile_clock(ck: &mut Checker, i: usize, c: &ClockConfig, tiers: &[&str]) -> Option<ClockSpec> {
    let before = ck.out.len();
    let known: Vec<&str> = Trigger::ALL.iter().map(|(n, _)| *n).collect();
    let mut trigger = |name: &str, key: &'static str, j: Option<usize>| -> Option<Trigger> {
        let t = Trigger::parse(name);
        if t.is_none() {
            let mut path: Vec<&dyn ToSeg> = vec![&"commitments", &i, &"clock", &key];
            let jj;
            if let Some(j) = j {
                jj = j;
                path.push(&jj);
            }
            ck.err(
                &path,
                format!("unknown event \"{name}\""),
                Some(suggest("use", name, &known)),
            );
        }
        t
    };
    let start = trigger(&c.start, "start", None);
    let stop: Vec<Trigger> = c
        .stop
        .iter()
        .enumerate()
        .filter_map(|(j, s)| trigger(s, "stop", Some(j)))
        .collect();
    let ends: Vec<Trigger> = c
        .ends
        .iter()
        .enumerate()
        .filter_map(|(j, s)| trigger(s, "ends", Some(j)))
        .collect();
    let count = c.count.as_deref().and_then(|s| trigger(s, "count", None));

    if let Some(list) = &c.tiers {
        for (j, t) in list.iter().enumerate() {
            if !tiers.contains(&t.as_str()) {
                ck.err(
                    &[&"commitments", &i, &"clock", &"tiers", &j],
                    format!("no tier named \"{t}\""),
                    Some(suggest("use", t, tiers)),
                );
            }
        }
    }
    let clock_path: [&dyn ToSeg; 3] = [&"commitments", &i, &"clock"];
    let (length, time) = length_on_basis(ck, &clock_path, "within", &c.within, &c.time);
    let kind = match (count, c.at_least, stop.is_empty()) {
        (Some(count), Some(at_least), true) => ClockKind::Cadence {
            count,
            at_least,
            ends,
        },
        (None, None, false) => ClockKind::Deadline { stop },
        _ => {
            ck.err(
                &[&"commitments", &i, &"clock"],
                "a clock needs either `stop = [...]` (a deadline) or `count` with `at_least` \
                 (a cadence)",
                Some("e.g. stop = [\"activity\"], or count = \"activity\" and at_least = 7".into()),
            );
            return None;
        }
    };
    if ck.out.len() != before {
        return None;
    }
    Some(ClockSpec {
        tiers: c.tiers.clone(),
        start: start?,
        kind,
        length,
        time,
        within_text: c.within.clone(),
    })
}

/// A duration under `key` and its time basis under `time` (`business` or
/// `calendar`) at `path`; whole calendar days stay days, so they keep the
/// local time across a DST change.
fn length_on_basis(
    ck: &mut Checker,
    path: &[&dyn ToSeg],
    key: &str,
    text: &str,
    time: &str,
) -> (ClockLength, TimeBasis) {
    let basis = match time {
        "business" => TimeBasis::Business,
        "calendar" => TimeBasis::Calendar,
        other => {
            ck.err(
                &[path, &[&"time"]].concat(),
                format!("unknown time basis \"{other}\""),
                Some("use \"business\" or \"calendar\"".into()),
            );
            TimeBasis::Calendar
        }
    };
    let length = match parse_duration(text) {
        Ok(d) if d.days > 0 && d.seconds == 0 && basis == TimeBasis::Calendar => {
            ClockLength::Days(d.days)
        }
        Ok(d) => ClockLength::Seconds(d.seconds + i64::from(d.days) * 86_400),
        Err(msg) => {
            ck.err(&[path, &[&key]].concat(), msg, None);
            ClockLength::Seconds(0)
        }
    };
    (length, basis)
}

fn compile_alerts(
    ck: &mut Checker,
    cfg: &PolicyConfig,
    commitments: &[Commitment],
    tiers: &[&str],
) -> Vec<AlertRule> {
    let mut out = Vec::new();
    for (i, a) in cfg.alerts.iter().enumerate() {
        let trigger = match (&a.metric, &a.breach) {
            (Some(m), None) => {
                let metric = MetricName::parse(m);
                if metric.is_none() {
                    let known: Vec<&str> = MetricName::ALL.iter().map(|(n, _)| *n).collect();
                    ck.err(
                        &[&"alerts", &i, &"metric"],
                        format!("unknown metric \"{m}\""),
                        Some(suggest("use", m, &known)),
                    );
                }
                let (text, below, key) = match (&a.below, &a.above) {
                    (Some(b), None) => (b, true, "below"),
                    (None, Some(b)) => (b, false, "above"),
                    _ => {
                        ck.err(
                            &[&"alerts", &i],
                            "a metric alert needs exactly one of `below` or `above`",
                            Some("e.g. below = \"75%\"".into()),
                        );
                        continue;
                    }
                };
                let parsed = parse_amount(text);
                let threshold = parsed.map(|(v, _)| v);
                if threshold.is_none() {
                    ck.err(
                        &[&"alerts", &i, &key],
                        format!("\"{text}\" is not a threshold"),
                        Some("write e.g. \"75%\" or \"20\"".into()),
                    );
                }
                if let (Some((v, true)), Some(true)) = (parsed, metric.map(MetricName::is_rate)) {
                    if !(0.0..=1.0).contains(&v) {
                        ck.err(
                            &[&"alerts", &i, &key],
                            format!("\"{text}\" is outside 0% to 100%"),
                            Some("a share threshold lies between 0% and 100%, e.g. \"75%\"".into()),
                        );
                    }
                }
                let path = vec![
                    PathSeg::Key("alerts".into()),
                    PathSeg::Index(i),
                    PathSeg::Key("period".into()),
                ];
                let period = parse_period(ck, a.period.as_deref(), &path);
                let rearm = match (&a.rearm_at, threshold) {
                    (None, t) => t,
                    (Some(text), Some(t)) => match parse_amount(text).map(|(v, _)| v) {
                        Some(r) if (below && r >= t) || (!below && r <= t) => Some(r),
                        Some(_) => {
                            ck.err(
                                &[&"alerts", &i, &"rearm_at"],
                                format!(
                                    "\"{text}\" is on the alerting side of the threshold \"{}\"",
                                    a.below.as_deref().or(a.above.as_deref()).unwrap_or_default()
                                ),
                                Some(format!(
                                    "the metric must recover past the threshold: write a value {} it",
                                    if below { "at or above" } else { "at or below" }
                                )),
                            );
                            None
                        }
                        None => {
                            ck.err(
                                &[&"alerts", &i, &"rearm_at"],
                                format!("\"{text}\" is not a threshold"),
                                Some("write e.g. \"80%\"".into()),
                            );
                            None
                        }
                    },
                    (Some(_), None) => None,
                };
                match (metric, threshold, rearm) {
                    (Some(metric), Some(threshold), Some(rearm)) => AlertTrigger::Metric {
                        metric,
                        threshold,
                        below,
                        period,
                        min_sample: a.min_sample.unwrap_or(1),
                        rearm,
                    },
                    _ => continue,
                }
            }
            (None, Some(b)) => {
                let is_clock = commitments
                    .iter()
                    .any(|c| c.id == *b && matches!(c.measure, Measure::Clock(_)));
                let declared = cfg.commitments.iter().any(|c| c.id == *b);
                if !is_clock && !declared {
                    let known: Vec<&str> = cfg.commitments.iter().map(|c| c.id.as_str()).collect();
                    ck.err(
                        &[&"alerts", &i, &"breach"],
                        format!("no commitment named \"{b}\""),
                        Some(suggest("use", b, &known)),
                    );
                }
                for (j, t) in a.tiers.iter().flatten().enumerate() {
                    if !tiers.contains(&t.as_str()) {
                        ck.err(
                            &[&"alerts", &i, &"tiers", &j],
                            format!("no tier named \"{t}\""),
                            Some(suggest("use", t, tiers)),
                        );
                    }
                }
                AlertTrigger::Breach {
                    commitment: b.clone(),
                    tiers: a.tiers.clone(),
                }
            }
            _ => {
                ck.err(
                    &[&"alerts", &i],
                    format!(
                        "alert \"{}\" needs exactly one of `metric` or `breach`",
                        a.id
                    ),
                    None,
                );
                continue;
            }
        };
        if a.notify.is_empty() {
            ck.err(
                &[&"alerts", &i, &"notify"],
                format!("alert \"{}\" notifies nobody", a.id),
                Some("add notify = [\"sales_manager\"] or another role".into()),
            );
        }
        for (j, act) in a.actions.iter().enumerate() {
            if act != "reassign" {
                ck.err(
                    &[&"alerts", &i, &"actions", &j],
                    format!("unknown action \"{act}\""),
                    Some("the only action is \"reassign\"".into()),
                );
            }
        }
        let escalate = compile_escalation(ck, i, a, &trigger);
        out.push(AlertRule {
            id: a.id.clone(),
            description: a.description.clone().unwrap_or_default(),
            trigger,
            notify: a.notify.clone(),
            reassign: a.actions.iter().any(|x| x == "reassign"),
            wake: a.wake.unwrap_or(false),
            escalate,
        });
    }
    out
}

/// The later steps of alert `i`'s chain: breach alerts only, each notifying
/// someone, each later than the one before.
fn compile_escalation(
    ck: &mut Checker,
    i: usize,
    a: &AlertRuleConfig,
    trigger: &AlertTrigger,
) -> Vec<EscalationStep> {
    if a.escalate.is_empty() {
        return Vec::new();
    }
    if matches!(trigger, AlertTrigger::Metric { .. }) {
        ck.err(
            &[&"alerts", &i, &"escalate"],
            format!(
                "alert \"{}\" watches a metric: escalation steps follow a breach on an account",
                a.id
            ),
            Some("move the steps to a breach alert, or raise a second metric alert".into()),
        );
        return Vec::new();
    }
    let mut steps: Vec<EscalationStep> = Vec::new();
    let mut previous = 0_i64;
    for (j, st) in a.escalate.iter().enumerate() {
        let path: [&dyn ToSeg; 3] = [&"alerts", &i, &"escalate"];
        let here = [&path[..], &[&j]].concat();
        let time = st.time.as_deref().unwrap_or("business");
        let (after, basis) = length_on_basis(ck, &here, "after", &st.after, time);
        let secs = match after {
            ClockLength::Seconds(s) => s,
            ClockLength::Days(d) => i64::from(d) * 86_400,
        };
        // An unreadable `after` was reported already.
        if secs <= previous && parse_duration(&st.after).is_ok() {
            ck.err(
                &[&here[..], &[&"after"]].concat(),
                format!(
                    "step {} comes at \"{}\", not after the step before it",
                    j + 1,
                    st.after
                ),
                Some(
                    "order the steps by `after`, each later than the last, e.g. \"4h\" then \"8h\""
                        .into(),
                ),
            );
        }
        previous = previous.max(secs);
        if st.notify.is_empty() {
            ck.err(
                &[&here[..], &[&"notify"]].concat(),
                format!("step {} of alert \"{}\" notifies nobody", j + 1, a.id),
                Some("add notify = [\"sales_vp\"] or another role".into()),
            );
        }
        steps.push(EscalationStep {
            after,
            time: basis,
            after_text: st.after.clone(),
            notify: st.notify.clone(),
            wake: st.wake.or(a.wake).unwrap_or(false),
        });
    }
    steps
}

fn metric_duration(ck: &mut Checker, text: Option<&str>, key: &str, default: i64) -> Duration {
    match text.map(parse_duration) {
        None => Duration::seconds(default),
        Some(Ok(d)) => Duration::seconds(d.seconds + i64::from(d.days) * 86_400),
        Some(Err(msg)) => {
            ck.err(&[&"metrics", &key.to_string()], msg, None);
            Duration::seconds(default)
        }
    }
}

/// The default U-shaped shares: first, middle, last.
pub const DEFAULT_U_SHAPED: [f64; 3] = [0.4, 0.2, 0.4];
/// The default W-shaped shares: first, lead creation, opportunity
/// creation, the rest.
pub const DEFAULT_W_SHAPED: [f64; 4] = [0.3, 0.3, 0.3, 0.1];
/// The default time-decay half-life: 7 days, in seconds.
pub const DEFAULT_HALF_LIFE_S: f64 = 7.0 * 86_400.0;

fn compile_attribution(
    ck: &mut Checker,
    cfg: &super::raw::AttributionConfig,
) -> crate::attribution::Params {
    let mut params = crate::attribution::Params {
        u_shaped: DEFAULT_U_SHAPED,
        w_shaped: DEFAULT_W_SHAPED,
        half_life_s: DEFAULT_HALF_LIFE_S,
    };
    if let Some(u) = &cfg.u_shaped {
        let named = [
            ("first", u.first.as_str()),
            ("middle", u.middle.as_str()),
            ("last", u.last.as_str()),
        ];
        if let Some(v) = shares(ck, "u_shaped", &named) {
            params.u_shaped = [v[0], v[1], v[2]];
        }
    }
    if let Some(w) = &cfg.w_shaped {
        let named = [
            ("first", w.first.as_str()),
            ("lead", w.lead.as_str()),
            ("opportunity", w.opportunity.as_str()),
            ("rest", w.rest.as_str()),
        ];
        if let Some(v) = shares(ck, "w_shaped", &named) {
            params.w_shaped = [v[0], v[1], v[2], v[3]];
        }
    }
    if let Some(text) = &cfg.half_life {
        match parse_duration(text) {
            Ok(d) => params.half_life_s = (d.seconds + i64::from(d.days) * 86_400) as f64,
            Err(msg) => ck.err(&[&"attribution", &"half_life"], msg, None),
        }
    }
    params
}

/// Parses a model's named shares (`"40%"` each), which must add up to 100%.
fn shares(ck: &mut Checker, model: &str, named: &[(&str, &str)]) -> Option<Vec<f64>> {
    let before = ck.out.len();
    let mut values = Vec::new();
    for (key, text) in named {
        match parse_amount(text) {
            Some((v, true)) if (0.0..=1.0).contains(&v) => values.push(v),
            Some((_, true)) => ck.err(
                &[&"attribution", &model.to_string(), &key.to_string()],
                format!("\"{text}\" is outside 0% to 100%"),
                Some("a share lies between 0% and 100%, e.g. \"40%\"".into()),
            ),
            _ => ck.err(
                &[&"attribution", &model.to_string(), &key.to_string()],
                format!("\"{text}\" is not a share"),
                Some("write a share as a percentage, e.g. \"40%\"".into()),
            ),
        }
    }
    if ck.out.len() != before {
        return None;
    }
    let sum: f64 = values.iter().sum();
    if (sum - 1.0).abs() > 1e-9 {
        let written: Vec<String> = named.iter().map(|(k, t)| format!("{k} {t}")).collect();
        ck.err(
            &[&"attribution", &model.to_string()],
            format!(
                "the shares add up to {}%, not 100% ({})",
                (sum * 1e6).round() / 1e4,
                written.join(", ")
            ),
            Some("change them so that they add up to 100%".into()),
        );
        return None;
    }
    Some(values)
}

fn compile_review(ck: &mut Checker, cfg: &super::raw::ReviewConfig) -> ReviewSettings {
    let mut out = ReviewSettings {
        notify: cfg.notify.clone(),
        ..ReviewSettings::default()
    };
    if let Some(text) = &cfg.schedule {
        match ReviewSchedule::parse(text) {
            Ok(s) => out.schedule = Some(s),
            Err(msg) => ck.err(&[&"review", &"schedule"], msg, None),
        }
        if cfg.notify.is_empty() {
            ck.err(
                &[&"review", &"notify"],
                "the review is scheduled but goes to nobody",
                Some("add notify = [\"cmo\", \"sales_vp\"] or other roles".into()),
            );
        }
    }
    if let Some(n) = cfg.hold_spend_backlog {
        out.hold_spend_backlog = n;
    }
    if let Some(text) = &cfg.audit_acceptance_below {
        match parse_amount(text) {
            Some((v, true)) if (0.0..=1.0).contains(&v) => out.audit_acceptance_below = v,
            _ => ck.err(
                &[&"review", &"audit_acceptance_below"],
                format!("\"{text}\" is not a share between 0% and 100%"),
                Some("write e.g. \"75%\"".into()),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::Policy;

    const DEFAULT: &str = include_str!("../../../../policies/default.toml");

    #[test]
    fn a_rearm_value_on_the_alerting_side_is_an_error() {
        let text = DEFAULT.replace("rearm_at = \"80%\"", "rearm_at = \"70%\"");
        assert_ne!(text, DEFAULT, "the default policy changed");
        let problems = Policy::from_toml(&text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let d = &problems[0];
        assert_eq!(d.path_text(), "alerts[0].rearm_at");
        assert_eq!(
            d.message,
            "\"70%\" is on the alerting side of the threshold \"75%\""
        );
    }

    #[test]
    fn without_rearm_at_the_band_is_the_threshold_itself() {
        let text = DEFAULT.replace("rearm_at = \"80%\"\n", "");
        let p = Policy::from_toml(&text).unwrap();
        let crate::policy::AlertTrigger::Metric {
            threshold, rearm, ..
        } = p.alerts[0].trigger
        else {
            panic!("the first default alert is a metric alert");
        };
        assert_eq!((threshold, rearm), (0.75, 0.75));
    }

    #[test]
    fn escalation_steps_need_a_breach_rule_and_rising_delays() {
        let on_metric = DEFAULT.replace(
            "notify = [\"marketing_vp\"]\n",
            "notify = [\"marketing_vp\"]\n[[alerts.escalate]]\nafter = \"1h\"\nnotify = [\"ceo\"]\n",
        );
        assert_ne!(on_metric, DEFAULT, "the default policy changed");
        let problems = Policy::from_toml(&on_metric).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path_text(), "alerts[0].escalate");

        let backwards = DEFAULT.replace(
            "notify = [\"sales_vp\"]\n",
            "notify = [\"sales_vp\"]\n[[alerts.escalate]]\nafter = \"2h\"\nnotify = [\"ceo\"]\n",
        );
        assert_ne!(backwards, DEFAULT, "the default policy changed");
        let problems = Policy::from_toml(&backwards).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path_text(), "alerts[1].escalate[1].after");
        assert_eq!(
            problems[0].message,
            "step 2 comes at \"2h\", not after the step before it"
        );
    }

    #[test]
    fn the_default_chain_is_one_step_four_business_hours_on() {
        let p = Policy::from_toml(DEFAULT).unwrap();
        let rule = &p.alerts[1];
        assert!(!rule.wake);
        assert_eq!(rule.escalate.len(), 1);
        let step = &rule.escalate[0];
        assert_eq!(step.after, crate::policy::ClockLength::Seconds(4 * 3600));
        assert_eq!(step.time, crate::policy::TimeBasis::Business);
        assert_eq!(step.notify, ["sales_vp"]);
    }

    #[test]
    fn attribution_defaults_are_40_20_40_and_30_30_30_10_with_a_7_day_half_life() {
        // An empty [attribution] table: every value is the built-in default.
        let bare = edited(&[
            (
                "u_shaped = { first = \"40%\", middle = \"20%\", last = \"40%\" }\n",
                "",
            ),
            (
                "w_shaped = { first = \"30%\", lead = \"30%\", opportunity = \"30%\", rest = \"10%\" }\n",
                "",
            ),
            ("half_life = \"7d\"\n", ""),
        ]);
        let p = Policy::from_toml(&bare).unwrap();
        assert_eq!(p.attribution.u_shaped, [0.4, 0.2, 0.4]);
        assert_eq!(p.attribution.w_shaped, [0.3, 0.3, 0.3, 0.1]);
        assert_eq!(p.attribution.half_life_s, 604_800.0);
    }

    /// The default policy with `from` replaced by `to`, which must be there.
    fn edited(pairs: &[(&str, &str)]) -> String {
        let mut text = DEFAULT.to_string();
        for (from, to) in pairs {
            assert!(text.contains(from), "the default policy changed: {from}");
            text = text.replace(from, to);
        }
        text
    }

    #[test]
    fn attribution_shares_must_be_percentages_adding_up_to_100() {
        let text = edited(&[
            (
                "u_shaped = { first = \"40%\", middle = \"20%\", last = \"40%\" }",
                "u_shaped = { first = \"50%\", middle = \"10%\", last = \"30%\" }",
            ),
            (
                "w_shaped = { first = \"30%\", lead = \"30%\", opportunity = \"30%\", rest = \"10%\" }",
                "w_shaped = { first = \"0.3\", lead = \"30%\", opportunity = \"130%\", rest = \"10%\" }",
            ),
        ]);
        let problems = Policy::from_toml(&text).unwrap_err();
        let got: Vec<(String, String)> = problems
            .iter()
            .map(|d| (d.path_text(), d.message.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "attribution.u_shaped".to_string(),
                    "the shares add up to 90%, not 100% (first 50%, middle 10%, last 30%)"
                        .to_string()
                ),
                (
                    "attribution.w_shaped.first".into(),
                    "\"0.3\" is not a share".into()
                ),
                (
                    "attribution.w_shaped.opportunity".into(),
                    "\"130%\" is outside 0% to 100%".into()
                ),
            ]
        );
        let ok = edited(&[("half_life = \"7d\"", "half_life = \"3d12h\"")]);
        // 3 days and 12 hours: 3 x 86,400 + 12 x 3,600 = 302,400 seconds.
        assert_eq!(
            Policy::from_toml(&ok).unwrap().attribution.half_life_s,
            302_400.0
        );
    }

    #[test]
    fn a_review_schedule_needs_a_slot_and_recipients() {
        let text = edited(&[(
            "# schedule = \"mon 08:00\"\nnotify = [\"cmo\", \"sales_vp\"]",
            "schedule = \"monday 8am\"",
        )]);
        let problems = Policy::from_toml(&text).unwrap_err();
        let paths: Vec<String> = problems.iter().map(|d| d.path_text()).collect();
        assert_eq!(paths, ["review.schedule", "review.notify"]);
        assert!(problems[0].message.contains("unknown weekday \"monday\""));
        let text = edited(&[
            (
                "# schedule = \"mon 08:00\"\nnotify = [\"cmo\", \"sales_vp\"]",
                "schedule = \"mon 08:00\"\nnotify = [\"cmo\"]",
            ),
            ("hold_spend_backlog = 20", "hold_spend_backlog = 5"),
            (
                "audit_acceptance_below = \"75%\"",
                "audit_acceptance_below = \"70%\"",
            ),
        ]);
        let r = Policy::from_toml(&text).unwrap().review;
        assert_eq!(r.notify, ["cmo"]);
        assert_eq!((r.hold_spend_backlog, r.audit_acceptance_below), (5, 0.7));
        let s = r.schedule.unwrap();
        assert_eq!(
            (s.weekday, s.second_of_day),
            (chrono::Weekday::Mon, 8 * 3600)
        );
    }
}
