//! GET /v1/scorecard: the SLA scorecard as `handoff report --format json`
//! prints it.
//!
//! The *period* is one of `month`, `week`, `quarter` or `from` with `to`,
//! read by the same core parsers as the report's options; with none, the
//! whole stored history (from the first event's month to the last one's).
//! `by` breaks every figure down; `as_of` (RFC 3339, default now) is the
//! instant the scorecard is judged at: the log is replayed in memory up to
//! it, as the report does, on a connection of its own.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::ValueEnum;
use handoff_core::period::Period;
use handoff_core::policy::PeriodKind;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cli::{By, Format};
use crate::replay::replay_log;
use crate::report::{dimension, render};
use crate::serve::auth::{Action, Caller};
use crate::serve::error::ApiError;
use crate::serve::openapi::schemas::{BadRequest, ScorecardAnswer, TokenErrors};
use crate::serve::{blocking, AppState};
use crate::store::Store;

/// The query parameters; any other is refused, so a typo is not ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScorecardQuery {
    /// A calendar month, e.g. 2026-03.
    #[param(example = "2026-03")]
    pub month: Option<String>,
    /// An ISO week, e.g. 2026-W10.
    #[param(example = "2026-W10")]
    pub week: Option<String>,
    /// A quarter, e.g. 2026Q1.
    #[param(example = "2026Q1")]
    pub quarter: Option<String>,
    /// First day (inclusive), with `to`.
    #[param(value_type = Option<chrono::NaiveDate>)]
    pub from: Option<String>,
    /// The day after the last one (exclusive), with `from`.
    #[param(value_type = Option<chrono::NaiveDate>)]
    pub to: Option<String>,
    /// team, rep, manager, tier or channel.
    #[param(value_type = Option<handoff_core::metrics::Dimension>)]
    pub by: Option<String>,
    /// The instant to judge at (RFC 3339); default now.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub as_of: Option<String>,
}

/// GET /v1/scorecard (every role).
#[utoipa::path(
    get,
    path = "/v1/scorecard",
    tag = "scorecard",
    summary = "The SLA scorecard",
    description = "The JSON of `handoff report --format json` (docs/metrics.md): every \
                   commitment with target, actual, n and status, the funnel, first touch, \
                   velocity and influenced ARR, for at most one period (month, week, \
                   quarter, or from with to; with none, the whole stored history), in the \
                   organisation's time zone, judged as of `as_of`. An unknown parameter is \
                   a 400.",
    params(ScorecardQuery),
    responses(
        (status = 200, description = "The scorecard", body = ScorecardAnswer),
        (status = 400, response = BadRequest),
        TokenErrors,
    ),
    extensions(("x-handoff-roles" = json!(Action::Read.roles()))),
)]
pub async fn get_scorecard(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ScorecardQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let Query(q) = query.map_err(|r| {
        ApiError::bad_request(
            format!(
                "{}; the parameters are month, week, quarter, from and to, by, as_of",
                r.body_text()
            ),
            Value::Null,
        )
    })?;
    let tz = state.policy().org_calendar().tz();
    let period = choose_period(&q, tz)?;
    let by = q.by.as_deref().map(parse_by).transpose()?;
    let as_of = parse_as_of(q.as_of.as_deref())?;

    let shared = state.clone();
    let scope = caller.scope.clone();
    let text = blocking(move || {
        let store = Store::open_at(shared.db())?;
        let period = match period {
            Some(p) => p,
            None => match whole_history(&store, tz)? {
                Some(p) => p,
                None => return Ok(Err(no_history())),
            },
        };
        let replay = replay_log(&store, shared.policies(), as_of)?;
        if replay.left_out > 0 {
            tracing::debug!(left_out = replay.left_out, %as_of, "events after as-of left out");
        }
        let mut snapshot = replay.snapshot;
        // Only the accounts the caller sees count.
        scope.narrow(&mut snapshot);
        let json = render(
            shared.policies(),
            &snapshot,
            &period,
            as_of,
            by.map(dimension),
            Format::Json,
        )?;
        Ok(Ok(json))
    })
    .await??;
    Ok(([(CONTENT_TYPE, "application/json")], text).into_response())
}

fn no_history() -> ApiError {
    ApiError::bad_request(
        "the store holds no events, so there is no history to report; post events to \
         /v1/events or name a period (month=2026-03)",
        Value::Null,
    )
}

/// The period asked for, `None` for the whole history.
fn choose_period(q: &ScorecardQuery, tz: Tz) -> Result<Option<Period>, ApiError> {
    let range = q.from.is_some() || q.to.is_some();
    let given = [
        q.month.is_some(),
        q.week.is_some(),
        q.quarter.is_some(),
        range,
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request(
            "give one period: month, week, quarter, or from with to",
            Value::Null,
        ));
    }
    let bad = |parameter: &str| {
        let parameter = parameter.to_string();
        move |why: String| {
            ApiError::bad_request(
                format!("{parameter}: {why}"),
                json!({ "parameter": parameter }),
            )
        }
    };
    let period = if let Some(m) = &q.month {
        Period::parse_month(m, tz).map_err(bad("month"))?
    } else if let Some(w) = &q.week {
        Period::parse_week(w, tz).map_err(bad("week"))?
    } else if let Some(x) = &q.quarter {
        Period::parse_quarter(x, tz).map_err(bad("quarter"))?
    } else if let (Some(f), Some(t)) = (&q.from, &q.to) {
        Period::parse_range(f, t, tz).map_err(bad("from"))?
    } else if range {
        let missing = if q.from.is_none() { "from" } else { "to" };
        return Err(bad(missing)(
            "is missing; a range needs both from and to".into(),
        ));
    } else {
        return Ok(None);
    };
    Ok(Some(period))
}

/// From the first day of the first event's month to the end of the last
/// event's month, labelled as `handoff report` labels it.
fn whole_history(store: &Store, tz: Tz) -> anyhow::Result<Option<Period>> {
    let Some((first, last)) = store.event_span()? else {
        return Ok(None);
    };
    let a = Period::containing(PeriodKind::Month, first, tz);
    let b = Period::containing(PeriodKind::Month, last, tz);
    let label = format!(
        "{}..{}",
        a.from.with_timezone(&tz).date_naive(),
        b.to.with_timezone(&tz).date_naive()
    );
    Ok(Some(Period {
        label,
        from: a.from,
        to: b.to,
        time_zone: tz.name().to_string(),
    }))
}

fn parse_by(text: &str) -> Result<By, ApiError> {
    By::from_str(text, true).map_err(|_| {
        ApiError::bad_request(
            format!("by: {text:?} is not one of team, rep, manager, tier, channel"),
            json!({ "parameter": "by" }),
        )
    })
}

/// An `as_of` parameter (RFC 3339), default now; a 400 naming it when bad.
pub(crate) fn parse_as_of(text: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    let Some(text) = text else {
        return Ok(Utc::now());
    };
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                format!(
                    "as_of: {text:?} is not an RFC 3339 instant ({e}); write e.g. \
                     2026-05-01T00:00:00Z (a `+` offset must be sent as %2B)"
                ),
                json!({ "parameter": "as_of" }),
            )
        })
}
