//! Applying a compiled [`Mapping`] to one row.
//!
//! A *row* here is the text of each column slot the mapping reads (empty
//! when the cell is empty or the key is absent); cells are trimmed before
//! use. A row becomes all of its events or none: the first problem rejects
//! the whole row with a reason naming the event, the field and the value.
//! Each event built is checked with [`Event::validate`] too (an `amount`
//! column holding -5000 rejects its row).

use chrono::{DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime};
use chrono::{NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use handoff_core::event::Event;
use serde_json::{Map, Value};

use super::mapping::{
    has_offset, AtSpec, ColumnRef, Condition, EventMapping, FieldKind, Mapping, Part, Template,
    TextSpec, Unmapped, ValueSpec,
};

/// How close a scaled number must be to a whole number to count as one
/// (absorbs float noise such as 1.1 × 10 = 11.000000000000002).
const WHOLE_NUMBER_TOLERANCE: f64 = 1e-9;

impl Mapping {
    /// The events one row produces, or the reason the row is rejected.
    pub fn apply(&self, row: &[String]) -> Result<Vec<Event>, String> {
        if let Some(rule) = self.rejects.iter().find(|r| r.when.holds(row)) {
            return Err(rule.reason.clone());
        }
        let mut events = Vec::with_capacity(self.events.len());
        for mapping in &self.events {
            if mapping.when.as_ref().is_some_and(|w| !w.holds(row)) {
                continue;
            }
            let event = mapping
                .build(row, &self.columns)
                .map_err(|why| format!("{}: {why}", mapping.label))?;
            events.push(event);
        }
        if events.is_empty() {
            return Err("no event applies to this row: no [[event]]'s `when` holds".to_string());
        }
        Ok(events)
    }
}

impl EventMapping {
    fn build(&self, row: &[String], columns: &[ColumnRef]) -> Result<Event, String> {
        let id = render(&self.id, row)
            .map_err(|slot| format!("id: column `{}` is empty", columns[slot].name))?;
        let at_text = self.at.text.eval(row)?.ok_or_else(|| {
            format!(
                "at: {} is empty: an event without a date cannot be placed in time",
                describe(&self.at.text, columns)
            )
        })?;
        let at = parse_at(&at_text, &self.at).map_err(|why| format!("at: {why}"))?;

        let mut obj = Map::new();
        obj.insert("id".into(), id.into());
        obj.insert("type".into(), self.type_name.into());
        obj.insert("at".into(), at.to_rfc3339().into());
        for field in &self.fields {
            let name = field.def.name;
            match field_value(&field.spec, field.def.kind, row)
                .map_err(|w| format!("{name}: {w}"))?
            {
                Some(value) => {
                    obj.insert(name.into(), value);
                }
                None if field.def.required => {
                    let what = match &field.spec {
                        ValueSpec::Text(t) => describe(t, columns),
                        ValueSpec::Const(_) => "the constant".to_string(),
                    };
                    return Err(format!("{name}: {what} is empty"));
                }
                None => {}
            }
        }
        let mut attributes = Map::new();
        for (name, spec) in &self.attributes {
            if let Some(v) =
                field_value(spec, FieldKind::Text, row).map_err(|w| format!("{name}: {w}"))?
            {
                attributes.insert(name.clone(), v);
            }
        }
        if !attributes.is_empty() {
            obj.insert("attributes".into(), Value::Object(attributes));
        }
        let event: Event = serde_json::from_value(Value::Object(obj)).map_err(|e| e.to_string())?;
        event.validate()?;
        Ok(event)
    }
}

/// A field's JSON value, or `None` when its cells are empty.
fn field_value(spec: &ValueSpec, kind: FieldKind, row: &[String]) -> Result<Option<Value>, String> {
    let text_spec = match spec {
        ValueSpec::Const(v) => return Ok(Some(v.clone())),
        ValueSpec::Text(t) => t,
    };
    let Some(text) = text_spec.eval(row)? else {
        return Ok(None);
    };
    let value = match kind {
        FieldKind::Text => Value::String(text),
        FieldKind::Number => Value::from(parse_number(&text, text_spec)?),
        FieldKind::Integer => {
            let n = parse_number(&text, text_spec)?;
            if n < 0.0 || (n - n.round()).abs() > WHOLE_NUMBER_TOLERANCE {
                return Err(format!("{text:?} is not a whole number >= 0"));
            }
            // In range and whole: checked just above.
            Value::from(n.round() as u64)
        }
        FieldKind::Bool => Value::from(parse_bool(&text)?),
        FieldKind::List => Value::from(
            text.split(text_spec.split.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
    };
    Ok(Some(value))
}

impl TextSpec {
    /// The transformed text, `None` when empty (after the fallback).
    pub fn eval(&self, row: &[String]) -> Result<Option<String>, String> {
        let Ok(mut text) = render(&self.source, row) else {
            return match &self.fallback {
                Some(fallback) => fallback.eval(row),
                None => Ok(None),
            };
        };
        if let Some(map) = &self.map {
            let found = map.get(&text).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&text))
                    .map(|(_, v)| v)
            });
            match (found, self.unmapped) {
                (Some(mapped), _) => text = mapped.clone(),
                (None, Unmapped::Keep) => {}
                (None, Unmapped::Empty) => return Ok(None),
                (None, Unmapped::Reject) => {
                    let mut known: Vec<_> = map.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    return Err(format!(
                        "{text:?} is not in the value map (it lists {})",
                        known.join(", ")
                    ));
                }
            }
        }
        if text.is_empty() {
            return Ok(None);
        }
        if self.lowercase {
            text = text.to_lowercase();
        }
        if !self.prefix.is_empty() {
            text.insert_str(0, &self.prefix);
        }
        Ok(Some(text))
    }
}

/// Fills a template; `Err(slot)` names the first empty column.
fn render(template: &Template, row: &[String]) -> Result<String, usize> {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Column(slot) => {
                let cell = row[*slot].trim();
                if cell.is_empty() {
                    return Err(*slot);
                }
                out.push_str(cell);
            }
        }
    }
    Ok(out)
}

/// Names the columns a value reads, for "... is empty" messages.
fn describe(spec: &TextSpec, columns: &[ColumnRef]) -> String {
    let mut names = Vec::new();
    let mut next = Some(spec);
    while let Some(s) = next {
        names.extend(
            s.source
                .slots()
                .map(|slot| format!("`{}`", columns[slot].name)),
        );
        next = s.fallback.as_deref();
    }
    match names.len() {
        0 => "the value".to_string(),
        1 => format!("column {}", names[0]),
        _ => format!("columns {}", names.join(", ")),
    }
}

fn parse_number(text: &str, spec: &TextSpec) -> Result<f64, String> {
    let mut cleaned = text.to_string();
    for s in &spec.strip {
        cleaned = cleaned.replace(s.as_str(), "");
    }
    let n: f64 = cleaned
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("{text:?} is not a number"))?;
    Ok(n * spec.scale.unwrap_or(1.0))
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("{text:?} is not true/false")),
    }
}

/// Parses RFC 3339 first, then each format in order; a date without an
/// offset is read in the spec's time zone, and a date without a time is
/// that zone's midnight.
pub fn parse_at(text: &str, spec: &AtSpec) -> Result<DateTime<FixedOffset>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at);
    }
    for format in &spec.formats {
        if has_offset(format) {
            if let Ok(at) = DateTime::parse_from_str(text, format) {
                return Ok(at);
            }
            continue;
        }
        let naive = NaiveDateTime::parse_from_str(text, format).or_else(|_| {
            NaiveDate::parse_from_str(text, format).map(|d| d.and_time(NaiveTime::MIN))
        });
        if let Ok(naive) = naive {
            let Some(tz) = spec.timezone else {
                return Err(format!(
                    "{text:?} has no UTC offset and the mapping names no timezone"
                ));
            };
            return Ok(localize(naive, tz));
        }
    }
    let mut tried = vec!["RFC 3339".to_string()];
    tried.extend(spec.formats.iter().cloned());
    Err(format!(
        "{text:?} matches none of the date formats: {}",
        tried.join(" | ")
    ))
}

/// A local wall-clock time in `tz` as an instant. A time repeated by a
/// clock change is read as the earlier instant; a time skipped by one (a
/// spring-forward gap, e.g. midnight of 2017-10-15 in São Paulo) is moved
/// forward by the length of the gap.
pub fn localize(naive: NaiveDateTime, tz: Tz) -> DateTime<FixedOffset> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(at) => at.fixed_offset(),
        LocalResult::Ambiguous(earlier, _) => earlier.fixed_offset(),
        LocalResult::None => {
            // The offset in force a day before is the one before the gap.
            let before = tz
                .offset_from_utc_datetime(&(naive - Duration::days(1)))
                .fix();
            let utc = naive - Duration::seconds(i64::from(before.local_minus_utc()));
            tz.from_utc_datetime(&utc).fixed_offset()
        }
    }
}

impl Condition {
    /// Whether the row meets the condition.
    pub fn holds(&self, row: &[String]) -> bool {
        let cell = |slot: &usize| row[*slot].trim();
        match self {
            Condition::Present(slots) => slots.iter().all(|s| !cell(s).is_empty()),
            Condition::Empty(slots) => slots.iter().all(|s| cell(s).is_empty()),
            // CRM labels drift in case across pipelines ("Closed Won",
            // "Closed won"): values compare without regard to ASCII case.
            Condition::Equals(slot, v) => v.eq_ignore_ascii_case(cell(slot)),
            Condition::In(slot, vs) => vs.iter().any(|v| v.eq_ignore_ascii_case(cell(slot))),
            Condition::NotIn(slot, vs) => !vs.iter().any(|v| v.eq_ignore_ascii_case(cell(slot))),
            Condition::All(cs) => cs.iter().all(|c| c.holds(row)),
            Condition::Any(cs) => cs.iter().any(|c| c.holds(row)),
            Condition::Not(c) => !c.holds(row),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use handoff_core::event::EventBody;

    use super::*;

    fn mapping(text: &str) -> Mapping {
        Mapping::parse(Path::new("t.toml"), text).unwrap()
    }

    /// The row for named cells, in the mapping's slot order.
    fn row_of(m: &Mapping, cells: &[(&str, &str)]) -> Vec<String> {
        let names: Vec<_> = m.columns.iter().map(|c| c.name.as_str()).collect();
        for (name, _) in cells {
            assert!(names.contains(name), "{name} not in {names:?}");
        }
        names
            .iter()
            .map(|n| {
                cells
                    .iter()
                    .find(|(c, _)| c == n)
                    .map_or("", |(_, v)| v)
                    .to_string()
            })
            .collect()
    }

    /// A deals row: mql_id, stage, won_date, account, revenue.
    fn deal(m: &Mapping, cells: [&str; 5]) -> Vec<String> {
        let names = ["mql_id", "stage", "won_date", "account", "revenue"];
        let pairs: Vec<_> = names.into_iter().zip(cells).collect();
        row_of(m, &pairs)
    }

    const DEALS: &str = r#"
[source]
timezone = "America/Sao_Paulo"
date_formats = ["%d-%m-%Y %H:%M", "%d-%m-%Y"]

[[reject]]
when = { empty = ["won_date", "stage"] }
reason = "nothing to place"

[[event]]
type = "opportunity"
id = "deal:{mql_id}:{stage}"
at = { column = "won_date" }
when = { column = "stage", in = ["Won", "Lost"] }
[event.fields]
opportunity = "{mql_id}"
account = { column = "account", fallback = "opp:{mql_id}" }
stage = { column = "stage", map = { Won = "won", Lost = "lost" }, unmapped = "reject" }
amount = { column = "revenue", scale = 12, strip = ["R$", ","] }
currency = "BRL"
"#;

    #[test]
    fn day_first_date_with_time_zone_value_map_scale_and_fallback() {
        let m = mapping(DEALS);
        let events = m
            .apply(&deal(
                &m,
                ["m1", "Won", "06-03-2018 19:38", "", "R$1,500.50"],
            ))
            .unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.id, "deal:m1:Won");
        // São Paulo's 2017/18 summer time (UTC-2) ended on 18 Feb 2018.
        assert_eq!(e.at.to_rfc3339(), "2018-03-06T19:38:00-03:00");
        let EventBody::Opportunity(o) = &e.body else {
            panic!("{e:?}")
        };
        assert_eq!(o.account, "opp:m1");
        assert_eq!(o.stage, "won");
        // 1500.50 a month × 12 = 18006.
        assert_eq!(o.amount, Some(18006.0));
        assert_eq!(o.currency.as_deref(), Some("BRL"));
    }

    #[test]
    fn date_only_is_local_midnight_and_a_skipped_midnight_moves_forward() {
        let m = mapping(DEALS);
        let e = &m
            .apply(&deal(&m, ["m2", "Lost", "01-06-2017", "acme", "0"]))
            .unwrap()[0];
        assert_eq!(e.at.to_rfc3339(), "2017-06-01T00:00:00-03:00");
        // 6 Jan 2018 is inside summer time (15 Oct 2017 - 18 Feb 2018).
        let e = &m
            .apply(&deal(&m, ["m2", "Lost", "06-01-2018", "acme", "0"]))
            .unwrap()[0];
        assert_eq!(e.at.to_rfc3339(), "2018-01-06T00:00:00-02:00");
        // Brazil's summer time began at 00:00 on 15 Oct 2017: the clock went
        // from 23:59:59 to 01:00, so midnight is 01:00 -02:00 (03:00 UTC).
        let e = &m
            .apply(&deal(&m, ["m3", "Lost", "15-10-2017", "acme", "0"]))
            .unwrap()[0];
        assert_eq!(e.at.to_rfc3339(), "2017-10-15T01:00:00-02:00");
    }

    #[test]
    fn month_first_text_is_not_silently_read_day_first() {
        let m = mapping(DEALS);
        // "03-13-2018" cannot be day-first (no month 13): rejected, not
        // swapped.
        let err = m
            .apply(&deal(&m, ["m4", "Won", "03-13-2018", "acme", "0"]))
            .unwrap_err();
        assert!(
            err.contains("event 1 (opportunity): at: \"03-13-2018\" matches none"),
            "{err}"
        );
    }

    #[test]
    fn unmapped_value_rejects_when_asked() {
        let m = mapping(DEALS);
        let r = deal(&m, ["m5", "Won", "01-06-2017", "acme", "0"]);
        assert!(m.apply(&r).is_ok());
        let r = deal(&m, ["m5", "Lost", "01-06-2017", "acme", "0"]);
        assert!(m.apply(&r).is_ok());
        // The `when` only admits Won/Lost, so test the map on a mapping
        // without it.
        let open = DEALS.replace(
            "when = { column = \"stage\", in = [\"Won\", \"Lost\"] }\n",
            "",
        );
        let m = mapping(&open);
        let r = deal(&m, ["m5", "Pending", "01-06-2017", "acme", "0"]);
        let err = m.apply(&r).unwrap_err();
        assert!(
            err.contains("stage: \"Pending\" is not in the value map (it lists Lost, Won)"),
            "{err}"
        );
    }

    #[test]
    fn unparseable_number_and_reject_rule_and_no_event() {
        let m = mapping(DEALS);
        let err = m
            .apply(&deal(&m, ["m6", "Won", "01-06-2017", "acme", "lots"]))
            .unwrap_err();
        assert!(err.contains("amount: \"lots\" is not a number"), "{err}");
        let err = m.apply(&deal(&m, ["m7", "", "", "acme", "1"])).unwrap_err();
        assert_eq!(err, "nothing to place");
        let err = m
            .apply(&deal(&m, ["m8", "Open", "", "acme", "1"]))
            .unwrap_err();
        assert!(err.starts_with("no event applies"), "{err}");
    }

    #[test]
    fn empty_required_id_column_is_named() {
        let m = mapping(DEALS);
        let err = m
            .apply(&deal(&m, ["  ", "Won", "01-06-2017", "acme", "1"]))
            .unwrap_err();
        assert_eq!(err, "event 1 (opportunity): id: column `mql_id` is empty");
    }

    #[test]
    fn explicit_offset_and_twelve_hour_clock() {
        let text = r#"
[source]
timezone = "America/New_York"
date_formats = ["%Y-%m-%d %H:%M:%S%z", "%m/%d/%Y, %I:%M %p", "%m/%d/%Y"]
[[event]]
type = "nurture"
id = "n:{id}"
at = { column = "d" }
[event.fields]
account = "{id}"
"#;
        let m = mapping(text);
        let at = |d: &str| {
            m.apply(&row_of(&m, &[("id", "a"), ("d", d)]))
                .map(|e| e[0].at.to_rfc3339())
        };
        assert_eq!(
            at("2024-03-14 09:05:00+0100").unwrap(),
            "2024-03-14T09:05:00+01:00"
        );
        // 14 March 2024 is after the US switch to summer time (10 March).
        assert_eq!(
            at("3/14/2024, 9:05 PM").unwrap(),
            "2024-03-14T21:05:00-04:00"
        );
        assert_eq!(at("3/1/2024").unwrap(), "2024-03-01T00:00:00-05:00");
        assert_eq!(
            at("2024-03-14T09:05:00Z").unwrap(),
            "2024-03-14T09:05:00+00:00"
        );
        assert!(at("14/3/2024").is_err());
    }

    #[test]
    fn repeated_local_time_reads_as_the_earlier_instant() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let naive = NaiveDate::from_ymd_opt(2024, 11, 3)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        // 01:30 happens twice on 3 Nov 2024: first at -04:00.
        assert_eq!(
            localize(naive, tz).to_rfc3339(),
            "2024-11-03T01:30:00-04:00"
        );
    }

    #[test]
    fn value_maps_and_conditions_ignore_ascii_case() {
        let m = mapping(
            "[source]\nformat = \"csv\"\ntimezone = \"UTC\"\ndate_formats = [\"%Y-%m-%d\"]\n\
             [[event]]\ntype = \"opportunity\"\nid = \"o:{id}\"\nat = { column = \"d\" }\n\
             when = { column = \"stage\", in = [\"Closed Won\"] }\n[event.fields]\n\
             opportunity = \"{id}\"\naccount = \"{id}\"\n\
             stage = { column = \"stage\", map = { \"Closed Won\" = \"won\" }, unmapped = \"reject\" }\n",
        );
        let row = row_of(
            &m,
            &[("id", "7"), ("d", "2026-03-02"), ("stage", "closed WON")],
        );
        let events = m.apply(&row).unwrap();
        let EventBody::Opportunity(o) = &events[0].body else {
            panic!("{events:?}")
        };
        assert_eq!(o.stage, "won");
    }
}
