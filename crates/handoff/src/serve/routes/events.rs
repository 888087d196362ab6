//! POST /v1/events: ingest a batch of events.
//!
//! A *batch* is the request body: a JSON array of events, or NDJSON (one
//! event per line) when the Content-Type says `application/x-ndjson` or the
//! body does not start with `[`. An *item* is one element of the array or
//! one non-blank line, numbered from 0 (its *index*). Each item is read
//! with the import's field-naming parser and checked with
//! [`Event::validate`]; an item that fails is *rejected* with its reason and
//! nothing of it is stored. The valid items are appended in one store
//! transaction, so each is *accepted* (new), a *duplicate* (same id, same
//! payload) or *conflicting* (same id, other payload: the first stays). The
//! answer comes only after that transaction is on disk. The new events
//! are applied to the live engine, and the alerts they raise are written to
//! the outbox in that same transaction ([`crate::serve::live`]). A body that is not
//! JSON at all (a syntax error in the array or in a line) is refused whole
//! with 400 and its position: it cannot be split into items safely.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use handoff_core::event::Event;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::import::event_json::{json_syntax_reason, parse_event_line};
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::metrics::Outcome;
use crate::serve::openapi::schemas::{BadRequest, PayloadTooLarge, TokenErrors};
use crate::serve::AppState;

/// The NDJSON media type.
const NDJSON: &str = "application/x-ndjson";

/// The answer to a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestReport {
    /// Items stored for the first time.
    pub accepted: usize,
    /// Items whose id was stored already with the same payload.
    pub duplicate: usize,
    /// Items whose id was stored already with another payload; not stored.
    pub conflicting: usize,
    /// Items that are not valid events; not stored.
    pub rejected: usize,
    /// Each rejected item with its reason.
    pub rejections: Vec<ItemRejection>,
    /// Each conflicting item with its id.
    pub conflicts: Vec<ItemConflict>,
}

/// A rejected item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemRejection {
    /// Position of the item in the batch, from 0.
    pub index: usize,
    /// What is wrong, naming the field, e.g. `field "at": ...`.
    pub reason: String,
}

/// A conflicting item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemConflict {
    /// Position of the item in the batch, from 0.
    pub index: usize,
    /// The event id stored already with another payload.
    pub id: String,
}

/// A body read into events and rejections.
#[derive(Debug, Default)]
pub struct Batch {
    /// The valid events, in item order.
    pub events: Vec<Event>,
    /// The item index of each event, parallel to `events`.
    pub indexes: Vec<usize>,
    /// The items that are not valid events.
    pub rejections: Vec<ItemRejection>,
}

impl Batch {
    fn push(&mut self, index: usize, item: Result<Event, String>) {
        match item.and_then(|e| e.validate().map(|()| e)) {
            Ok(event) => {
                self.events.push(event);
                self.indexes.push(index);
            }
            Err(reason) => self.rejections.push(ItemRejection { index, reason }),
        }
    }
}

/// POST /v1/events (roles ingest and admin).
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    summary = "Ingest a batch of events",
    description = "The body is a batch of events in the event model (docs/events.md): a JSON \
                   array of events, or NDJSON, one event per line, when the Content-Type is \
                   `application/x-ndjson` or the body does not start with `[`. Each item is \
                   accepted (a new id), a duplicate (same id and payload: nothing changes), \
                   conflicting (same id, another payload: the first stays) or rejected with \
                   a reason naming the field. The valid items are stored in one \
                   transaction, committed to disk before the answer; retrying a batch is \
                   safe. A JSON syntax error anywhere refuses the whole body with 400.",
    request_body(
        description = "A JSON array of events, or NDJSON: one event object per line (blank \
                       lines skipped).",
        content(
            (Vec<Event> = "application/json"),
            (Event = "application/x-ndjson"),
        ),
    ),
    responses(
        (status = 200, description = "The body was read; the counts say what was stored, \
                                      even when every item was rejected", body = IngestReport),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Ingest.roles()))),
)]
pub async fn post_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestReport>, ApiError> {
    caller.require(Action::Ingest)?;
    let body = body.map_err(|r| body_error(r, state.max_body_bytes()))?;
    let ndjson = says_ndjson(&headers);
    // Parsing megabytes of JSON would hold up a request thread: off it.
    let batch = tokio::task::spawn_blocking(move || parse_body(&body, ndjson))
        .await
        .map_err(|e| {
            ApiError::internal(anyhow::anyhow!("parsing a batch did not finish: {e}"))
        })??;

    // One transaction for the whole batch; each item's provenance names
    // the caller and its index, for the store's conflict record.
    let Batch {
        events,
        indexes,
        rejections,
    } = batch;
    let sources: Vec<String> = indexes
        .iter()
        .map(|i| format!("POST /v1/events by {} item {i}", caller.name))
        .collect();
    let received_at = state.now().to_rfc3339();
    let (outcome, sources) = if events.is_empty() {
        (Default::default(), sources)
    } else {
        // Stored and applied to the live engine, with the alerts the new
        // events raise, in one transaction.
        state.ingest(events, sources, received_at).await?
    };

    let conflicts: Vec<ItemConflict> = outcome
        .conflicts
        .iter()
        .map(|c| ItemConflict {
            index: sources
                .iter()
                .position(|s| *s == c.source)
                .map_or(usize::MAX, |p| indexes[p]),
            id: c.id.clone(),
        })
        .collect();
    let report = IngestReport {
        accepted: outcome.inserted,
        duplicate: outcome.duplicates,
        conflicting: conflicts.len(),
        rejected: rejections.len(),
        rejections,
        conflicts,
    };
    let metrics = state.metrics();
    metrics.ingested(Outcome::Accepted, report.accepted);
    metrics.ingested(Outcome::Duplicate, report.duplicate);
    metrics.ingested(Outcome::Conflicting, report.conflicting);
    metrics.ingested(Outcome::Rejected, report.rejected);
    tracing::info!(
        caller = caller.name,
        accepted = report.accepted,
        duplicate = report.duplicate,
        conflicting = report.conflicting,
        rejected = report.rejected,
        "events ingested"
    );
    Ok(Json(report))
}

/// Whether the Content-Type names NDJSON.
fn says_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(NDJSON))
}

/// A body that could not be read: too large (413) or broken off (400).
fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::bad_request(
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ),
            Value::Null,
        )
    }
}

/// Reads a body as a JSON array (`ndjson` false and a leading `[`) or as
/// NDJSON. A JSON syntax error refuses the whole body with its position.
pub fn parse_body(body: &[u8], ndjson: bool) -> Result<Batch, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(ApiError::bad_request(
            "the body is empty; send a JSON array of events, or NDJSON with one event per line",
            Value::Null,
        ));
    };
    if !ndjson && *first == b'[' {
        parse_array(body)
    } else {
        parse_ndjson(body)
    }
}

fn parse_array(body: &[u8]) -> Result<Batch, ApiError> {
    let items: Vec<Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            format!(
                "the body is not a JSON array of events: {e}; nothing was stored (send \
                 Content-Type: {NDJSON} for one event per line)"
            ),
            json!({ "line": e.line(), "column": e.column() }),
        )
    })?;
    let mut batch = Batch::default();
    for (index, value) in items.iter().enumerate() {
        // The quick path reads the value as it is; only a failure pays
        // for the text the field-naming parser needs.
        let item = match Event::deserialize(value) {
            Ok(event) => Ok(event),
            Err(_) => parse_event_line(&value.to_string()),
        };
        batch.push(index, item);
    }
    Ok(batch)
}

fn parse_ndjson(body: &[u8]) -> Result<Batch, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(
            format!(
                "the body is not UTF-8 text: invalid bytes after byte {}; nothing was stored",
                e.valid_up_to()
            ),
            json!({ "byte": e.valid_up_to() }),
        )
    })?;
    let mut batch = Batch::default();
    let mut index = 0;
    for (n, line) in text.split('\n').enumerate() {
        let line = line.trim_end();
        if line.trim_start().is_empty() {
            continue;
        }
        let item = match Event::from_json(line) {
            Ok(event) => Ok(event),
            // The event's error does not tell syntax from content (its
            // payload is buffered first): read the line as any JSON.
            Err(_) => match serde_json::from_str::<IgnoredAny>(line) {
                Ok(_) => parse_event_line(line),
                Err(e) => {
                    return Err(ApiError::bad_request(
                        format!(
                            "line {} of the NDJSON body is {}; nothing was stored",
                            n + 1,
                            json_syntax_reason(&e)
                        ),
                        json!({ "line": n + 1, "column": e.column() }),
                    ))
                }
            },
        };
        batch.push(index, item);
        index += 1;
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"n1","type":"nurture","at":"2026-03-02T09:00:00Z","account":"a"}"#;

    fn bad_request(result: Result<Batch, ApiError>) -> (String, Value) {
        match result {
            Err(ApiError::BadRequest { message, detail }) => (message, detail),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn an_array_and_ndjson_give_the_same_events() {
        let array = format!("[{GOOD},\n {{\"id\":\"x\"}}]");
        let lines = format!("{GOOD}\n\r\n{{\"id\":\"x\"}}\n");
        for (body, ndjson) in [(array.as_str(), false), (lines.as_str(), true)] {
            let b = parse_body(body.as_bytes(), ndjson).unwrap();
            assert_eq!(b.indexes, [0]);
            assert_eq!(b.events[0].id, "n1");
            assert_eq!(b.rejections.len(), 1);
            assert_eq!(b.rejections[0].index, 1);
            assert_eq!(
                b.rejections[0].reason,
                "fields \"type\" and \"at\" are missing; expected one of account, contact, \
                 rep, engagement, stage, handoff, accepted, rejected, nurture, activity, \
                 disposition, opportunity, reassign"
            );
        }
    }

    #[test]
    fn a_syntax_error_names_its_position() {
        // An array never closed: the input ends on line 3, before column 1.
        let (msg, detail) = bad_request(parse_body(b"[\n {}\n", false));
        assert!(
            msg.starts_with("the body is not a JSON array of events"),
            "{msg}"
        );
        assert_eq!(detail, json!({ "line": 3, "column": 0 }));
        // The second line lacks its closing brace: it ends after column 7.
        let body = format!("{GOOD}\n{{\"id\":1\n");
        let (msg, detail) = bad_request(parse_body(body.as_bytes(), true));
        assert!(
            msg.starts_with("line 2 of the NDJSON body is not valid JSON"),
            "{msg}"
        );
        assert_eq!(detail, json!({ "line": 2, "column": 7 }));
    }

    #[test]
    fn an_empty_body_is_refused() {
        let (msg, _) = bad_request(parse_body(b" \n ", false));
        assert!(msg.starts_with("the body is empty"), "{msg}");
    }
}
