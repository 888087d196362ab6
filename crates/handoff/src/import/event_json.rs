//! One JSON line of handoff's event model, with a reject reason a person
//! can act on.
//!
//! A line that parses as an [`Event`] is taken as it is. For one that does
//! not, serde's own message quotes "line 1 column N" of the line alone and
//! seldom names the field (the event's payload is flattened and tagged by
//! `type`, which hides the field's path). So the line is looked at again:
//! JSON syntax, then the common fields `id`, `type` and `at`, then the
//! payload as the struct of its `type`, through `serde_path_to_error`, which
//! gives the *path* of the field at fault (`duration_s`, `attributes.size`).
//! A *reason* reads `field "at": ...`, and the caller puts the file's line
//! in front.

use chrono::format::ParseErrorKind;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use handoff_core::event::{
    AccountFacts, Activity, ContactFacts, Decision, Disposition, Engagement, Event, Handoff,
    Nurture, Opportunity, Reassign, Rejection, RepFacts, StageAssertion,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use super::mapping::EVENT_TYPES;

/// The offset shown in the example of a well-written `at`.
const EXAMPLE_OFFSET: &str = "-05:00";

/// Parses one line of the event model, or says what is wrong with it.
pub fn parse_event_line(text: &str) -> Result<Event, String> {
    match Event::from_json(text) {
        Ok(event) => Ok(event),
        Err(e) => Err(diagnose(text).unwrap_or_else(|| {
            format!("not an event of handoff's model: {}", without_position(&e))
        })),
    }
}

/// A reason for a JSON syntax error: the column within the line, never the
/// "line 1" of the line alone.
pub fn json_syntax_reason(e: &serde_json::Error) -> String {
    format!(
        "not valid JSON at column {}: {}",
        e.column(),
        without_position(e)
    )
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_string(),
        None => text,
    }
}

/// What is wrong with a line that does not parse as an event, if found.
fn diagnose(text: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(json_syntax_reason(&e)),
    };
    let Value::Object(mut obj) = value else {
        return Some(format!(
            "not a JSON object but {}; each line must be one event object",
            kind_of(&value)
        ));
    };
    let type_name = match check_common(&obj) {
        Ok(t) => t,
        Err(reason) => return Some(reason),
    };
    for common in ["id", "type", "at"] {
        obj.remove(common);
    }
    check_payload(&type_name, &Value::Object(obj)).err()
}

/// The known event types, for messages.
fn type_list() -> String {
    let names: Vec<&str> = EVENT_TYPES.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

/// Checks `id`, `type` and `at`; returns the type.
fn check_common(obj: &Map<String, Value>) -> Result<String, String> {
    let absent = |k: &str| obj.get(k).is_none_or(Value::is_null);
    let missing: Vec<String> = ["id", "type", "at"]
        .into_iter()
        .filter(|k| absent(k))
        .map(|k| format!("{k:?}"))
        .collect();
    if let Some((last, init)) = missing.split_last() {
        let mut reason = if init.is_empty() {
            format!("field {last} is missing")
        } else {
            format!("fields {} and {last} are missing", init.join(", "))
        };
        if absent("type") {
            reason.push_str(&format!("; expected one of {}", type_list()));
        }
        return Err(reason);
    }
    let type_name = match &obj["type"] {
        Value::String(t) if EVENT_TYPES.iter().any(|(n, _)| n == t) => t.clone(),
        Value::String(t) => {
            return Err(format!(
                "field \"type\": unknown event type {t:?}; expected one of {}",
                type_list()
            ))
        }
        other => {
            return Err(format!(
                "field \"type\": {other} is not text; expected one of {}",
                type_list()
            ))
        }
    };
    if !obj["id"].is_string() {
        return Err(format!(
            "field \"id\": {} is not text; write it in quotes",
            obj["id"]
        ));
    }
    match &obj["at"] {
        Value::String(at) => check_at(at).map_err(|why| format!("field \"at\": {why}"))?,
        other => {
            return Err(format!(
                "field \"at\": {other} is not text; write RFC 3339 with an offset, e.g. \
                 2026-03-02T09:00:00{EXAMPLE_OFFSET}"
            ))
        }
    }
    Ok(type_name)
}

/// Checks an `at` text; a missing offset is said so, with an example
/// built from the text.
fn check_at(text: &str) -> Result<(), String> {
    let err = match DateTime::parse_from_rfc3339(text) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let naive_formats = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    if let Some(naive) = naive_formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    {
        let example = naive.format("%Y-%m-%dT%H:%M:%S%.f");
        return Err(format!(
            "{text:?} has no UTC offset; write RFC 3339 with an offset, e.g. \
             {example}{EXAMPLE_OFFSET}"
        ));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Err(format!(
            "{text:?} has no time or UTC offset; write RFC 3339 with an offset, e.g. \
             {date}T00:00:00{EXAMPLE_OFFSET}"
        ));
    }
    Err(match err.kind() {
        ParseErrorKind::OutOfRange | ParseErrorKind::Impossible => format!(
            "{text:?} is not a real date and time: the month, day, hour, minute or second \
             is out of range"
        ),
        _ => format!(
            "{text:?} is not an RFC 3339 date-time; write it like \
             2026-03-02T09:00:00{EXAMPLE_OFFSET}"
        ),
    })
}

/// Reads the payload as the struct of its type, naming the field at fault.
fn check_payload(type_name: &str, payload: &Value) -> Result<(), String> {
    let result = match type_name {
        "account" => fields::<AccountFacts>(payload),
        "contact" => fields::<ContactFacts>(payload),
        "rep" => fields::<RepFacts>(payload),
        "engagement" => fields::<Engagement>(payload),
        "stage" => fields::<StageAssertion>(payload),
        "handoff" => fields::<Handoff>(payload),
        "accepted" => fields::<Decision>(payload),
        "rejected" => fields::<Rejection>(payload),
        "nurture" => fields::<Nurture>(payload),
        "activity" => fields::<Activity>(payload),
        "disposition" => fields::<Disposition>(payload),
        "opportunity" => fields::<Opportunity>(payload),
        "reassign" => fields::<Reassign>(payload),
        _ => return Ok(()),
    };
    result.map_err(|e| field_reason(&e, payload, type_name))
}

fn fields<T: DeserializeOwned>(
    payload: &Value,
) -> Result<(), serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize::<_, T>(payload).map(drop)
}

/// `field "path": what`, from serde's message and the value at the path.
fn field_reason(
    e: &serde_path_to_error::Error<serde_json::Error>,
    payload: &Value,
    type_name: &str,
) -> String {
    let mut path = Vec::new();
    let mut value = Some(payload);
    for segment in e.path().iter() {
        let (name, next) = match segment {
            Segment::Map { key } => (key.clone(), value.and_then(|v| v.get(key))),
            Segment::Seq { index } => (format!("[{index}]"), value.and_then(|v| v.get(index))),
            Segment::Enum { variant } => (variant.clone(), value),
            Segment::Unknown => ("?".to_string(), None),
        };
        path.push(name);
        value = next;
    }
    let message = without_position(e.inner());
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        path.push(field.to_string());
        let path = join_path(&path);
        return format!("field \"{path}\" is missing; {type_name} events need it");
    }
    let path = join_path(&path);
    let Some(value) = value else {
        return format!("field \"{path}\": {message}");
    };
    let what = if value.is_null() {
        return format!("field \"{path}\" is null; {type_name} events need it");
    } else if message.ends_with("expected u64") {
        let unit = if path.ends_with("duration_s") {
            " of seconds"
        } else {
            ""
        };
        format!("{value} is not a whole number{unit} >= 0")
    } else if message.ends_with("expected f64") {
        format!("{value} is not a number")
    } else if message.ends_with("expected a string") {
        format!("{value} is not text; write it in quotes")
    } else if message.ends_with("expected a boolean") {
        format!("{value} is not true or false")
    } else if let Some((_, known)) = message.split_once("expected one of ") {
        format!("{value} is not one of {}", known.replace('`', ""))
    } else {
        message
    };
    format!("field \"{path}\": {what}")
}

/// `attributes.size`, `asset_tags[2]`.
fn join_path(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        if !out.is_empty() && !part.starts_with('[') {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}

/// How a JSON value's kind is named in messages ("a number", ...).
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &str) -> String {
        parse_event_line(line).unwrap_err()
    }

    #[test]
    fn a_valid_line_parses() {
        let e = parse_event_line(
            r#"{"id":"h1","type":"handoff","at":"2026-03-02T09:00:00-06:00","account":"a","rep":"r"}"#,
        )
        .unwrap();
        assert_eq!(e.id, "h1");
    }

    #[test]
    fn naive_times_say_the_offset_is_missing() {
        let line = |at: &str| format!(r#"{{"id":"x","type":"nurture","at":"{at}","account":"a"}}"#);
        assert_eq!(
            reason(&line("2026-03-02 09:30")),
            "field \"at\": \"2026-03-02 09:30\" has no UTC offset; write RFC 3339 with an \
             offset, e.g. 2026-03-02T09:30:00-05:00"
        );
        assert_eq!(
            reason(&line("02/03/2026")),
            "field \"at\": \"02/03/2026\" is not an RFC 3339 date-time; write it like \
             2026-03-02T09:00:00-05:00"
        );
    }

    #[test]
    fn several_missing_common_fields_are_all_named() {
        assert_eq!(
            reason(r#"{"type":"nurture","account":"a"}"#),
            "fields \"id\" and \"at\" are missing"
        );
    }

    #[test]
    fn nested_and_list_paths_are_named() {
        let r = reason(
            r#"{"id":"e","type":"engagement","at":"2026-03-02T09:00:00Z","kind":"k","asset_tags":["a",3]}"#,
        );
        assert_eq!(
            r,
            "field \"asset_tags[1]\": 3 is not text; write it in quotes"
        );
        let r = reason(
            r#"{"id":"a","type":"activity","at":"2026-03-02T09:00:00Z","account":"a","kind":"call","automated":"yes"}"#,
        );
        assert_eq!(r, "field \"automated\": \"yes\" is not true or false");
    }

    #[test]
    fn a_line_that_is_not_an_object_says_so() {
        assert_eq!(
            reason("[1,2]"),
            "not a JSON object but an array; each line must be one event object"
        );
    }
}
