//! Conformance test of the business-time calendar against the shared clock
//! cases, `../shared/clock-cases/cases.json`.
//!
//! The case file is written independently of handoff: each case gives a
//! calendar, a start instant, a target, events, and the values an engine
//! should produce under the file's `default_conventions`. A small driver in
//! this file plays the engine's part over the public [`Calendar`] API:
//!
//! - a *clock* (modes `first_touch`, `elapsed`, `calendar_deadline`) has a
//!   deadline, breach flags and business time elapsed to its stop event,
//!   with paused stretches removed;
//! - a *cadence* counts distinct rep attempts in a window of calendar days;
//! - a *median* summarises business seconds to first touch over leads.
//!
//! Each case's alternatives (the values other conventions give) are replayed
//! too where the driver can express the convention, which shows that the
//! default is a choice, not an accident. The driver is test code; the
//! engine's own clocks are tested where they live.
//!
//! The file is found at `$HANDOFF_SHARED_DIR/clock-cases/cases.json` when
//! that variable is set, else beside the workspace. When it is missing the
//! tests print a note and pass. Run with `-- --nocapture` to see one line per
//! case.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use handoff_core::calendar::{Calendar, Interval};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Cases where handoff deliberately follows one of the case's alternatives
/// instead of the default convention, as (case id, the alternative's
/// `convention` text). The driver then checks the alternative's expected
/// values instead; docs/clocks.md explains each entry. None so far: every
/// default convention of the file is handoff's.
const DELIBERATE_DEVIATIONS: &[(&str, &str)] = &[];

/// Conventions an alternative may switch off through `override.conventions`.
const SWITCHABLE_CONVENTIONS: [&str; 4] = [
    "deadline_inclusive",
    "cadence_window_closed",
    "dedupe_by_event_id",
    "automated_is_not_a_touch",
];

/// Conventions built into the calendar or the driver and not switchable.
const BUILT_IN_CONVENTIONS: [&str; 10] = [
    "open_intervals_half_open",
    "start_outside_hours",
    "exhausted_at_close",
    "durations_are_physical",
    "calendar_days_are_wall_clock",
    "order_by_occurrence",
    "reassignment_keeps_clock",
    "pause_removes_business_time_only",
    "policy_change_recomputes_from_start",
    "median_even_n",
];

/// Event types `how_to_read` lists; any other type fails the case.
const EVENT_TYPES: [&str; 9] = [
    "touched",
    "attempt",
    "paused",
    "resumed",
    "reassigned",
    "policy_changed",
    "disposition_updated",
    "resolved",
    "created",
];

/// Event types that are rep activity: they stop a first-touch clock when no
/// `stop_event` is named and they count towards a cadence.
const ACTIVITY_TYPES: [&str; 2] = ["touched", "attempt"];

/// `weekly_hours` keys, Monday first as `Calendar::new` wants them.
const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

// ---------------------------------------------------------------------------
// The case file

#[derive(Deserialize)]
struct CaseFile {
    how_to_read: BTreeMap<String, String>,
    default_conventions: BTreeMap<String, String>,
    semantics_questions: Vec<String>,
    /// Kept as JSON so alternatives can be applied as overrides.
    cases: Vec<Value>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    mode: Mode,
    /// The event type that stops the clock; rep activity when absent.
    stop_event: Option<String>,
    calendar: CalendarSpec,
    start: DateTime<Utc>,
    sla: Sla,
    #[serde(default)]
    events: Vec<Value>,
    expected: Map<String, Value>,
    /// Median mode only: the leads summarised.
    #[serde(default)]
    leads: Vec<Lead>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "snake_case")]
enum Mode {
    FirstTouch,
    Elapsed,
    CalendarDeadline,
    Cadence,
    Median,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarSpec {
    time_zone: Tz,
    weekly_hours: BTreeMap<String, Vec<[String; 2]>>,
    holidays: Vec<NaiveDate>,
    holiday_check: Option<HolidayCheck>,
}

/// Says that the listed holidays are (or are not) the country's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayCheck {
    country: String,
    years: Vec<i32>,
    expect_match: bool,
}

#[derive(Deserialize, Clone, Default, Debug)]
#[serde(deny_unknown_fields)]
struct Sla {
    business_seconds: Option<i64>,
    calendar_seconds: Option<i64>,
    calendar_days: Option<u32>,
    min_attempts: Option<usize>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    at: DateTime<Utc>,
    received_at: Option<DateTime<Utc>>,
    #[serde(default)]
    automated: bool,
    /// A `policy_changed` event may carry the new target.
    sla: Option<Sla>,
}

#[derive(Deserialize)]
struct Alternative {
    convention: String,
    #[serde(default)]
    claimed_by_source: bool,
    #[serde(rename = "override")]
    patch: Option<Value>,
    recipe: Option<String>,
    expected: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lead {
    #[serde(default)]
    id: Option<String>,
    /// The lead's own hand-off; the case's `start` when absent.
    start: Option<DateTime<Utc>>,
    #[serde(default)]
    events: Vec<Value>,
}

/// The target of a clock, from `sla`.
#[derive(Clone, Copy, Debug)]
enum Target {
    Business(i64),
    Calendar(i64),
    Days(u32),
}

impl Sla {
    fn target(&self) -> Result<Target, String> {
        match (
            self.business_seconds,
            self.calendar_seconds,
            self.calendar_days,
        ) {
            (Some(secs), None, None) => Ok(Target::Business(secs)),
            (None, Some(secs), None) => Ok(Target::Calendar(secs)),
            (None, None, Some(days)) => Ok(Target::Days(days)),
            _ => Err(format!("sla needs exactly one target, got {self:?}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Conventions and recipes

/// The switchable conventions, all on by default.
#[derive(Clone, Copy)]
struct Conventions {
    deadline_inclusive: bool,
    cadence_window_closed: bool,
    dedupe_by_event_id: bool,
    automated_is_not_a_touch: bool,
}

impl Conventions {
    const DEFAULT: Conventions = Conventions {
        deadline_inclusive: true,
        cadence_window_closed: true,
        dedupe_by_event_id: true,
        automated_is_not_a_touch: true,
    };

    fn with(mut self, switches: &Map<String, Value>) -> Result<Conventions, String> {
        for (name, value) in switches {
            let on = value
                .as_bool()
                .ok_or_else(|| format!("convention {name}: not a bool"))?;
            match name.as_str() {
                "deadline_inclusive" => self.deadline_inclusive = on,
                "cadence_window_closed" => self.cadence_window_closed = on,
                "dedupe_by_event_id" => self.dedupe_by_event_id = on,
                "automated_is_not_a_touch" => self.automated_is_not_a_touch = on,
                _ => return Err(format!("convention {name:?} is not switchable here")),
            }
        }
        Ok(self)
    }

    /// Whether `t` is past `deadline` for breach purposes.
    fn is_past(self, t: DateTime<Utc>, deadline: DateTime<Utc>) -> bool {
        if self.deadline_inclusive {
            t > deadline
        } else {
            t >= deadline
        }
    }
}

/// Named behaviours of other engines that an alternative asks for.
#[derive(Clone, Copy)]
enum Recipe {
    /// The wall-clock length of each hold is added to the start, then the
    /// full target is counted from there with pauses otherwise ignored.
    HoldAddedToStart,
    /// A target exhausted exactly at a close rolls to the next opening.
    BoundaryNextOpen,
}

impl Recipe {
    fn parse(name: &str) -> Option<Recipe> {
        match name {
            "hold_added_to_start" => Some(Recipe::HoldAddedToStart),
            "boundary_next_open" => Some(Recipe::BoundaryNextOpen),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// The driver

/// One stretch during which a clock was paused; `until` is `None` while the
/// pause is still open.
#[derive(Clone, Copy)]
struct Pause {
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

/// What a clock's events say as of some instant.
struct Timeline {
    /// The first stop event at or after the start (earliest `at`).
    stop: Option<DateTime<Utc>>,
    /// Distinct rep attempts at or after the start, in order.
    attempts: Vec<DateTime<Utc>>,
    pauses: Vec<Pause>,
    /// The target in force: the case's, or the last `policy_changed` one.
    sla: Sla,
}

/// One clock (or cadence) over one calendar: the case after de-duplication
/// and ordering of its events.
struct Clock<'a> {
    calendar: &'a Calendar,
    conventions: Conventions,
    recipe: Option<Recipe>,
    start: DateTime<Utc>,
    sla: &'a Sla,
    stop_types: Vec<&'a str>,
    /// De-duplicated and sorted by `at` (stable, so ties keep file order).
    events: Vec<Event>,
    /// Ids delivered twice with different payloads; the first was kept.
    conflicts: Vec<String>,
}

impl<'a> Clock<'a> {
    fn new(
        case: &'a Case,
        calendar: &'a Calendar,
        conventions: Conventions,
        recipe: Option<Recipe>,
        start: DateTime<Utc>,
        raw_events: &[Value],
    ) -> Result<Clock<'a>, String> {
        let (mut events, conflicts) = dedupe(raw_events, conventions)?;
        events.sort_by_key(|e| e.at);
        let stop_types = match &case.stop_event {
            Some(kind) => vec![kind.as_str()],
            None => ACTIVITY_TYPES.to_vec(),
        };
        Ok(Clock {
            calendar,
            conventions,
            recipe,
            start,
            sla: &case.sla,
            stop_types,
            events,
            conflicts,
        })
    }

    /// Reads the events that occurred at or before `until` (all when
    /// `None`): what the engine knows at that instant.
    fn timeline(&self, until: Option<DateTime<Utc>>) -> Timeline {
        let mut line = Timeline {
            stop: None,
            attempts: Vec::new(),
            pauses: Vec::new(),
            sla: self.sla.clone(),
        };
        let known = self
            .events
            .iter()
            .filter(|e| until.is_none_or(|u| e.at <= u));
        for event in known.filter(|e| e.at >= self.start) {
            let machine = event.automated && self.conventions.automated_is_not_a_touch;
            if !machine && self.stop_types.contains(&event.kind.as_str()) && line.stop.is_none() {
                line.stop = Some(event.at);
            }
            match event.kind.as_str() {
                kind if ACTIVITY_TYPES.contains(&kind) && !machine => line.attempts.push(event.at),
                "paused" if line.pauses.last().is_none_or(|p| p.until.is_some()) => {
                    line.pauses.push(Pause {
                        from: event.at,
                        until: None,
                    });
                }
                "resumed" => {
                    if let Some(open) = line.pauses.last_mut().filter(|p| p.until.is_none()) {
                        open.until = Some(event.at);
                    }
                }
                "policy_changed" => {
                    if let Some(sla) = &event.sla {
                        line.sla = sla.clone();
                    }
                }
                _ => {}
            }
        }
        line
    }

    /// The deadline the timeline implies, measured from the original start
    /// with paused time removed.
    fn deadline(&self, line: &Timeline) -> Result<DateTime<Utc>, String> {
        let always = Calendar::always_open("elapsed", self.calendar.tz());
        let deadline = match line.sla.target()? {
            Target::Business(secs) => self.paused_deadline(self.calendar, secs, &line.pauses),
            Target::Calendar(secs) => self.paused_deadline(&always, secs, &line.pauses),
            Target::Days(_) if !line.pauses.is_empty() => {
                return Err("pauses on a calendar-days target are not defined".into());
            }
            Target::Days(days) => self.calendar.add_calendar_days(self.start, days),
        };
        Ok(match self.recipe {
            Some(Recipe::BoundaryNextOpen) => self.calendar.next_open(deadline),
            _ => deadline,
        })
    }

    /// The instant `secs` seconds of `calendar` time have been used from the
    /// start, skipping paused stretches; never (`MAX_UTC`) while a pause is
    /// open before the target is used up.
    fn paused_deadline(&self, calendar: &Calendar, secs: i64, pauses: &[Pause]) -> DateTime<Utc> {
        if let Some(Recipe::HoldAddedToStart) = self.recipe {
            let held = pauses
                .iter()
                .try_fold(TimeDelta::zero(), |sum, p| Some(sum + (p.until? - p.from)));
            return held.map_or(DateTime::<Utc>::MAX_UTC, |held| {
                calendar.add_business(self.start + held, secs)
            });
        }
        let mut remaining = secs;
        let mut from = self.start;
        for pause in pauses {
            let available = calendar.business_seconds_between(from, pause.from);
            if remaining <= available {
                break;
            }
            remaining -= available;
            match pause.until {
                Some(until) => from = from.max(until),
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
        calendar.add_business(from, remaining)
    }

    /// The breach flag of a clock at `t`: past the deadline with no stop
    /// event at (or, exclusive, before) it.
    fn is_breached_at(&self, t: DateTime<Utc>) -> Result<bool, String> {
        let line = self.timeline(Some(t));
        let deadline = self.deadline(&line)?;
        let met = line
            .stop
            .is_some_and(|stop| !self.conventions.is_past(stop, deadline));
        Ok(self.conventions.is_past(t, deadline) && !met)
    }

    /// Business seconds from the start to the stop event, pauses removed.
    fn elapsed_to_stop(&self) -> Result<i64, String> {
        let line = self.timeline(None);
        let stop = line.stop.ok_or("no stop event, so no elapsed time")?;
        let paused: i64 = line
            .pauses
            .iter()
            .map(|p| {
                let until = p.until.map_or(stop, |u| u.min(stop));
                self.calendar.business_seconds_between(p.from, until)
            })
            .sum();
        Ok(self.calendar.business_seconds_between(self.start, stop) - paused)
    }

    fn window_end(&self) -> Result<DateTime<Utc>, String> {
        match self.sla.target()? {
            Target::Days(days) => Ok(self.calendar.add_calendar_days(self.start, days)),
            other => Err(format!("a cadence needs calendar_days, got {other:?}")),
        }
    }

    /// Distinct attempts inside the window, as known at `until`.
    fn attempts_in_window(&self, until: Option<DateTime<Utc>>) -> Result<usize, String> {
        let end = self.window_end()?;
        let closed = self.conventions.cadence_window_closed;
        let inside = |at: &&DateTime<Utc>| if closed { **at <= end } else { **at < end };
        Ok(self.timeline(until).attempts.iter().filter(inside).count())
    }

    /// A cadence is breached once its window has passed with too few
    /// attempts in it.
    fn is_cadence_breached_at(&self, t: DateTime<Utc>) -> Result<bool, String> {
        let needed = self
            .sla
            .min_attempts
            .ok_or("a cadence needs min_attempts")?;
        let past = self.conventions.is_past(t, self.window_end()?);
        Ok(past && self.attempts_in_window(Some(t))? < needed)
    }
}

/// Parses events and keeps one per id: the first received, where events
/// carry `received_at`, else the first in the file (ties keep file order).
/// A repeat with another payload (`received_at` aside) is a conflict: the
/// first is kept and the id reported.
fn dedupe(raw: &[Value], conventions: Conventions) -> Result<(Vec<Event>, Vec<String>), String> {
    let mut parsed = Vec::with_capacity(raw.len());
    for value in raw {
        let event: Event = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        if !EVENT_TYPES.contains(&event.kind.as_str()) {
            return Err(format!("unknown event type {:?}", event.kind));
        }
        parsed.push((event, without_arrival(value)));
    }
    // A stable sort, so events without `received_at` keep their file order.
    parsed.sort_by_key(|(event, _)| event.received_at);

    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut kept = Vec::new();
    let mut conflicts = Vec::new();
    for (event, payload) in parsed {
        let key = event.id.clone().filter(|_| conventions.dedupe_by_event_id);
        let Some(id) = key else {
            kept.push(event);
            continue;
        };
        match seen.get(&id) {
            Some(first) if *first != payload => conflicts.push(id),
            Some(_) => {}
            None => {
                seen.insert(id, payload);
                kept.push(event);
            }
        }
    }
    Ok((kept, conflicts))
}

/// An event's payload for comparison: everything but when it arrived.
fn without_arrival(event: &Value) -> Value {
    let mut payload = event.clone();
    if let Some(fields) = payload.as_object_mut() {
        fields.remove("received_at");
    }
    payload
}

/// Median of business seconds to first touch, leaving untouched leads out;
/// the mean of the two middle values for an even count.
fn median(values: &mut [i64]) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2] as f64),
        _ => Some((values[n / 2 - 1] + values[n / 2]) as f64 / 2.0),
    }
}

// ---------------------------------------------------------------------------
// Running one case

/// Builds the case's calendar from its `weekly_hours` text.
fn build_calendar(id: &str, spec: &CalendarSpec) -> Result<Calendar, String> {
    if let Some(key) = spec
        .weekly_hours
        .keys()
        .find(|k| !DAY_KEYS.contains(&k.as_str()))
    {
        return Err(format!("weekly_hours: unknown day {key:?}"));
    }
    let mut weekly: [Vec<Interval>; 7] = Default::default();
    for (day, key) in weekly.iter_mut().zip(DAY_KEYS) {
        let pairs = spec
            .weekly_hours
            .get(key)
            .ok_or(format!("weekly_hours: no {key}"))?;
        for [start, end] in pairs {
            let parse = |s: &str| Calendar::parse_hhmm(s).map_err(|e| format!("{key}: {e}"));
            day.push((parse(start)?, parse(end)?));
        }
    }
    Calendar::new(id, spec.time_zone, weekly, spec.holidays.iter().copied())
        .map_err(|e| format!("calendar: {e}"))
}

/// Checks every expected value of a (possibly overridden) case; returns the
/// mismatches, empty when the case passes, plus notes worth printing.
fn evaluate(
    raw: &Value,
    conventions: Conventions,
    recipe: Option<Recipe>,
) -> Result<(Vec<String>, Vec<String>), String> {
    let case: Case = serde_json::from_value(raw.clone()).map_err(|e| format!("case: {e}"))?;
    let calendar = build_calendar(&case.id, &case.calendar)?;
    let clock = Clock::new(
        &case,
        &calendar,
        conventions,
        recipe,
        case.start,
        &case.events,
    )?;
    let mut notes: Vec<String> = clock
        .conflicts
        .iter()
        .map(|id| format!("id {id}: conflicting repeat, first kept"))
        .collect();
    if let Some(check) = &case.calendar.holiday_check {
        notes.push(check_holidays(&case.calendar.holidays, check)?);
    }

    let mut mismatches = Vec::new();
    for (key, want) in &case.expected {
        let result = match key.as_str() {
            "deadline_utc" => clock.deadline(&clock.timeline(None)).map(json_instant),
            "first_touch_utc" => Ok(clock.timeline(None).stop.map_or(Value::Null, json_instant)),
            "elapsed_business_seconds" => clock.elapsed_to_stop().map(Value::from),
            "window_end_utc" => clock.window_end().map(json_instant),
            "attempts_in_window" => clock.attempts_in_window(None).map(Value::from),
            "checks" => check_breaches(&case, &clock, want).map(|()| want.clone()),
            "elapsed_checks" => check_elapsed(&calendar, want).map(|()| want.clone()),
            "median_business_seconds" | "untouched_leads" => {
                summarise_leads(&case, &calendar, conventions, key)
            }
            _ => Err(format!("expected key {key:?} is unknown to the driver")),
        };
        match result {
            Ok(got) if same_value(want, &got) => {}
            Ok(got) => mismatches.push(format!("{key}: expected {want}, got {got}")),
            Err(e) => mismatches.push(format!("{key}: {e}")),
        }
    }
    Ok((mismatches, notes))
}

/// Checks `checks[]`: the breach flag at each instant.
fn check_breaches(case: &Case, clock: &Clock, checks: &Value) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Check {
        at: DateTime<Utc>,
        breached: bool,
    }
    let checks: Vec<Check> = serde_json::from_value(checks.clone()).map_err(|e| e.to_string())?;
    for check in checks {
        let breached = match case.mode {
            Mode::Cadence => clock.is_cadence_breached_at(check.at)?,
            Mode::FirstTouch | Mode::Elapsed | Mode::CalendarDeadline => {
                clock.is_breached_at(check.at)?
            }
            Mode::Median => return Err("breach checks make no sense for a median".into()),
        };
        if breached != check.breached {
            return Err(format!(
                "at {}: breached is {breached}",
                json_instant(check.at)
            ));
        }
    }
    Ok(())
}

/// Checks `elapsed_checks[]`: business seconds between two instants.
fn check_elapsed(calendar: &Calendar, checks: &Value) -> Result<(), String> {
    #[derive(Deserialize)]
    struct ElapsedCheck {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        business_seconds: i64,
    }
    let checks: Vec<ElapsedCheck> =
        serde_json::from_value(checks.clone()).map_err(|e| e.to_string())?;
    for check in checks {
        let got = calendar.business_seconds_between(check.from, check.to);
        if got != check.business_seconds {
            let from = json_instant(check.from);
            return Err(format!(
                "from {from}: {got} s, not {}",
                check.business_seconds
            ));
        }
    }
    Ok(())
}

/// Median mode: business seconds to first touch per lead, untouched leads
/// left out of the median and counted apart.
fn summarise_leads(
    case: &Case,
    calendar: &Calendar,
    conventions: Conventions,
    key: &str,
) -> Result<Value, String> {
    let mut touched = Vec::new();
    let mut untouched = 0;
    for lead in &case.leads {
        let start = lead.start.unwrap_or(case.start);
        let name = lead.id.as_deref().unwrap_or("(no id)");
        let clock = Clock::new(case, calendar, conventions, None, start, &lead.events)
            .map_err(|e| format!("lead {name}: {e}"))?;
        match clock.timeline(None).stop {
            Some(_) => touched.push(
                clock
                    .elapsed_to_stop()
                    .map_err(|e| format!("lead {name}: {e}"))?,
            ),
            None => untouched += 1,
        }
    }
    Ok(match key {
        "untouched_leads" => Value::from(untouched),
        _ => median(&mut touched).map_or(Value::Null, Value::from),
    })
}

fn json_instant(t: DateTime<Utc>) -> Value {
    Value::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Equality that reads instants as instants and numbers as numbers, so
/// `"2026-01-28T11:00:00Z"` equals `"2026-01-28T11:00:00+00:00"`.
fn same_value(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(a), Value::String(b)) => {
            match (
                DateTime::parse_from_rfc3339(a),
                DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => a == b,
            }
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == got,
    }
}

// ---------------------------------------------------------------------------
// Alternatives

/// How an alternative was handled.
enum AltOutcome {
    Reproduced,
    Skipped(String),
    Failed(String),
}

/// The case as an alternative would have it: override merged in (a `null`
/// removes a key, objects merge, anything else replaces), its expected
/// values in place of the case's, its conventions and recipe.
fn alternative_variant(
    raw: &Value,
    alt: &Alternative,
) -> Result<(Value, Conventions, Option<Recipe>), String> {
    let mut variant = raw.clone();
    let mut conventions = Conventions::DEFAULT;
    if let Some(patch) = &alt.patch {
        let mut patch = patch.clone();
        if let Some(switches) = patch.as_object_mut().and_then(|p| p.remove("conventions")) {
            let switches = switches.as_object().ok_or("conventions: not an object")?;
            conventions = conventions.with(switches)?;
        }
        merge(&mut variant, &patch);
        // A holiday_check vouches for the case's own list; an override that
        // replaces the list (say, with a wrongly shifted observance) is not
        // covered by it.
        if patch.pointer("/calendar/holidays").is_some() {
            if let Some(calendar) = variant["calendar"].as_object_mut() {
                calendar.remove("holiday_check");
            }
        }
    }
    let recipe = match &alt.recipe {
        Some(name) => Some(Recipe::parse(name).ok_or(format!("recipe {name} not modelled"))?),
        None => None,
    };
    if alt.patch.is_none() && recipe.is_none() {
        let why = if alt.claimed_by_source {
            "a claim no convention reproduces"
        } else {
            "no override"
        };
        return Err(why.to_owned());
    }
    variant["expected"] = Value::Object(alt.expected.clone());
    variant["alternatives"] = Value::Array(Vec::new());
    Ok((variant, conventions, recipe))
}

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(key);
                } else {
                    merge(base.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn run_alternative(raw: &Value, alt: &Alternative) -> AltOutcome {
    let (variant, conventions, recipe) = match alternative_variant(raw, alt) {
        Ok(v) => v,
        Err(why) => return AltOutcome::Skipped(why),
    };
    match evaluate(&variant, conventions, recipe) {
        Ok((mismatches, _)) if mismatches.is_empty() => AltOutcome::Reproduced,
        Ok((mismatches, _)) => AltOutcome::Failed(mismatches.join("; ")),
        Err(e) => AltOutcome::Failed(e),
    }
}

// ---------------------------------------------------------------------------
// Holidays

/// Checks a `holiday_check`: every listed holiday in the given years is one
/// of the country's (the real date or its observed substitute), or, with
/// `expect_match: false`, at least one is not.
fn check_holidays(listed: &[NaiveDate], check: &HolidayCheck) -> Result<String, String> {
    if check.country != "US" {
        return Ok(format!(
            "holiday_check: no rules for {} here, not checked",
            check.country
        ));
    }
    let known: Vec<NaiveDate> = check
        .years
        .iter()
        .flat_map(|&y| (y - 1..=y + 1).flat_map(us_federal_holidays))
        .collect();
    let in_years = listed.iter().filter(|d| check.years.contains(&d.year()));
    let matches = in_years.clone().count() > 0 && in_years.clone().all(|d| known.contains(d));
    if matches != check.expect_match {
        return Err(format!(
            "holiday_check: match is {matches}, expected {}",
            check.expect_match
        ));
    }
    let verdict = if matches { "all" } else { "not all" };
    Ok(format!(
        "holiday_check: {verdict} listed dates are US federal holidays or observed days"
    ))
}

/// US federal holidays of `year`: the real dates plus, for fixed-date ones
/// on a weekend, the observed Friday or Monday (5 U.S.C. 6103).
fn us_federal_holidays(year: i32) -> Vec<NaiveDate> {
    use Weekday::{Mon, Thu};
    let nth = |month, weekday, n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n);
    let floating = [
        nth(1, Mon, 3),                    // Birthday of Martin Luther King, Jr.
        nth(2, Mon, 3),                    // Washington's Birthday
        nth(5, Mon, 5).or(nth(5, Mon, 4)), // Memorial Day, the last Monday
        nth(9, Mon, 1),                    // Labor Day
        nth(10, Mon, 2),                   // Columbus Day
        nth(11, Thu, 4),                   // Thanksgiving Day
    ];
    let juneteenth = (year >= 2021).then_some((6, 19));
    let fixed = [
        Some((1, 1)),
        juneteenth,
        Some((7, 4)),
        Some((11, 11)),
        Some((12, 25)),
    ];
    let mut days: Vec<NaiveDate> = floating.into_iter().flatten().collect();
    for date in fixed
        .into_iter()
        .flatten()
        .filter_map(|(m, d)| NaiveDate::from_ymd_opt(year, m, d))
    {
        days.push(date);
        match date.weekday() {
            Weekday::Sat => days.extend(date.pred_opt()),
            Weekday::Sun => days.extend(date.succ_opt()),
            _ => {}
        }
    }
    days
}

// ---------------------------------------------------------------------------
// The tests

fn cases_path() -> PathBuf {
    match std::env::var_os("HANDOFF_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir).join("clock-cases/cases.json"),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clock-cases/cases.json")
        }
    }
}

/// The case file, or `None` (with a note) when it is not there.
fn load_case_file() -> Option<CaseFile> {
    let path = cases_path();
    if !path.exists() {
        println!(
            "skipping: ../shared/clock-cases/cases.json not found (looked at {})",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let file =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    Some(file)
}

/// The header must describe what the driver implements: every convention
/// known, every mode and event type the driver handles listed.
fn check_header(file: &CaseFile) {
    for name in file.default_conventions.keys() {
        let known = SWITCHABLE_CONVENTIONS.contains(&name.as_str())
            || BUILT_IN_CONVENTIONS.contains(&name.as_str());
        assert!(
            known,
            "default convention {name:?} is not implemented by the driver"
        );
    }
    let modes = &file.how_to_read["mode"];
    for mode in [
        "first_touch:",
        "elapsed:",
        "calendar_deadline:",
        "cadence:",
        "median:",
    ] {
        assert!(
            modes.contains(mode),
            "how_to_read.mode no longer describes {mode}"
        );
    }
    let events = &file.how_to_read["events"];
    for kind in EVENT_TYPES {
        assert!(
            events.contains(kind),
            "how_to_read.events no longer lists {kind}"
        );
    }
}

#[test]
fn every_clock_case_passes() {
    let Some(file) = load_case_file() else { return };
    check_header(&file);

    let mut failures = Vec::new();
    for raw in &file.cases {
        let id = raw["id"].as_str().unwrap_or("(no id)");
        let mode = raw["mode"].as_str().unwrap_or("?");
        let alternatives: Vec<Alternative> =
            serde_json::from_value(raw["alternatives"].clone()).unwrap_or_default();

        // A deliberate deviation is checked against its alternative.
        let deviation = DELIBERATE_DEVIATIONS.iter().find(|(case, _)| *case == id);
        let outcome = match deviation {
            None => evaluate(raw, Conventions::DEFAULT, None),
            Some((_, convention)) => alternatives
                .iter()
                .find(|alt| alt.convention == *convention)
                .ok_or(format!(
                    "deviation names a missing alternative {convention:?}"
                ))
                .and_then(|alt| alternative_variant(raw, alt))
                .and_then(|(variant, conventions, recipe)| evaluate(&variant, conventions, recipe)),
        };
        let verdict = match &outcome {
            Ok((mismatches, _)) if mismatches.is_empty() => "pass",
            _ => "FAIL",
        };
        let marker = deviation.map_or(String::new(), |(_, c)| format!(" (deliberately: {c})"));
        println!("{id:<8} {mode:<17} {verdict}{marker}");
        match outcome {
            Ok((mismatches, notes)) => {
                notes
                    .iter()
                    .for_each(|note| println!("         note: {note}"));
                failures.extend(mismatches.into_iter().map(|m| format!("{id}: {m}")));
            }
            Err(e) => failures.push(format!("{id}: {e}")),
        }

        for alt in alternatives
            .iter()
            .filter(|alt| deviation.is_none_or(|d| d.1 != alt.convention))
        {
            let shown = match run_alternative(raw, alt) {
                AltOutcome::Reproduced => "reproduced".to_owned(),
                AltOutcome::Skipped(why) => format!("not run: {why}"),
                AltOutcome::Failed(why) => {
                    failures.push(format!("{id} alternative {:?}: {why}", alt.convention));
                    format!("NOT reproduced: {why}")
                }
            };
            println!("         alternative {:?}: {shown}", alt.convention);
        }
    }
    assert!(
        failures.is_empty(),
        "clock cases failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn docs_answer_every_semantics_question() {
    let Some(file) = load_case_file() else { return };
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/clocks.md");
    let text = std::fs::read_to_string(&docs)
        .unwrap_or_else(|e| panic!("reading {}: {e}", docs.display()));
    let answers = text
        .lines()
        .filter(|line| line.starts_with("### Q"))
        .count();
    assert_eq!(
        answers,
        file.semantics_questions.len(),
        "docs/clocks.md should answer each semantics question under a `### Q<n>` heading"
    );
}

#[test]
fn median_leaves_untouched_leads_out_and_averages_the_middle_pair() {
    // UTC 09:00-17:00 weekdays, hand-offs Monday 1 June 2026 09:00:
    //   l1 touched 09:10              ->     600 s
    //   l2 touched 10:00              ->   3 600 s
    //   l3 touched Tuesday 09:20      ->  28 800 (Monday 09-17) + 1 200 = 30 000 s
    //   l4 handed off 07:00, touched 08:30, before opening -> 0 s
    //   l5 never touched, l6 only an automated reply: left out
    // Sorted 0, 600, 3 600, 30 000: median (600 + 3 600) / 2 = 2 100 s.
    let hours = r#"[["09:00", "17:00"]]"#;
    let touch = r#"{"type": "touched", "id": "#;
    let case = format!(
        r#"{{
        "id": "MEDIAN-1", "mode": "median", "start": "2026-06-01T09:00:00Z",
        "calendar": {{"time_zone": "UTC", "holidays": [], "weekly_hours": {{
            "mon": {hours}, "tue": {hours}, "wed": {hours}, "thu": {hours},
            "fri": {hours}, "sat": [], "sun": []}}}},
        "sla": {{"business_seconds": 14400}},
        "leads": [
            {{"id": "l1", "events": [{touch}"t1", "at": "2026-06-01T09:10:00Z"}}]}},
            {{"id": "l2", "events": [{touch}"t2", "at": "2026-06-01T10:00:00Z"}}]}},
            {{"id": "l3", "events": [{touch}"t3", "at": "2026-06-02T09:20:00Z"}}]}},
            {{"id": "l4", "start": "2026-06-01T07:00:00Z",
             "events": [{touch}"t4", "at": "2026-06-01T08:30:00Z"}}]}},
            {{"id": "l5"}},
            {{"id": "l6", "events": [{touch}"t6", "at": "2026-06-01T09:01:00Z",
             "automated": true}}]}}
        ],
        "expected": {{"median_business_seconds": 2100, "untouched_leads": 2}}
    }}"#
    );
    let raw: Value = serde_json::from_str(&case).unwrap();
    let (mismatches, _) = evaluate(&raw, Conventions::DEFAULT, None).unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");

    // Odd count: 1, 3, 7 -> 3; none -> no median.
    assert_eq!(median(&mut [7, 1, 3]), Some(3.0));
    assert_eq!(median(&mut []), None);
}

#[test]
fn us_federal_holiday_rules_give_the_2026_observances() {
    // Independence Day 2026 is a Saturday, observed Friday 3 July; New
    // Year's Day 2027 is a Friday; Thanksgiving 2026 is 26 November (the
    // fourth Thursday: 5, 12, 19, 26); Memorial Day 2026 is 25 May.
    let days = us_federal_holidays(2026);
    for iso in [
        "2026-07-03",
        "2026-07-04",
        "2026-11-26",
        "2026-05-25",
        "2026-06-19",
    ] {
        assert!(days.contains(&iso.parse().unwrap()), "{iso}");
    }
    assert!(!days.contains(&"2026-07-06".parse().unwrap()));
    assert!(us_federal_holidays(2027).contains(&"2027-01-01".parse().unwrap()));
}
