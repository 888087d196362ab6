//! Calendar periods in the organisation's time zone.
//!
//! A *period* is a half-open span of instants `[from, to)` whose bounds are
//! local midnights in the organisation's zone: an ISO week (Monday first), a
//! calendar month, a quarter, or any span of whole days.

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::policy::PeriodKind;

/// A reporting period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// E.g. `2018-03`, `2018-W10`, `2018Q1`, `2018-01-01..2018-02-01`.
    pub label: String,
    /// First instant (local midnight).
    pub from: DateTime<Utc>,
    /// First instant after the period.
    pub to: DateTime<Utc>,
    /// The zone the bounds are midnights of.
    pub time_zone: String,
}

impl Period {
    /// Whether `t` lies inside `[from, to)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// The period of `kind` containing `t`.
    pub fn containing(kind: PeriodKind, t: DateTime<Utc>, tz: Tz) -> Period {
        let d = t.with_timezone(&tz).date_naive();
        let (start, end, label) = match kind {
            PeriodKind::Week => {
                let start = d - Days::new(u64::from(d.weekday().num_days_from_monday()));
                let iso = d.iso_week();
                (
                    start,
                    start + Days::new(7),
                    format!("{}-W{:02}", iso.year(), iso.week()),
                )
            }
            PeriodKind::Month => {
                let start = first_of_month(d.year(), d.month());
                (
                    start,
                    start + Months::new(1),
                    format!("{}-{:02}", d.year(), d.month()),
                )
            }
            PeriodKind::Quarter => {
                let q = (d.month() - 1) / 3;
                let start = first_of_month(d.year(), q * 3 + 1);
                (
                    start,
                    start + Months::new(3),
                    format!("{}Q{}", d.year(), q + 1),
                )
            }
        };
        Period::from_dates(label, start, end, tz)
    }

    /// The period of `kind` just before this one.
    pub fn previous(&self, kind: PeriodKind, tz: Tz) -> Period {
        Period::containing(kind, self.from - chrono::Duration::seconds(1), tz)
    }

    /// `[start, end)` of whole local dates.
    pub fn from_dates(label: String, start: NaiveDate, end: NaiveDate, tz: Tz) -> Period {
        Period {
            label,
            from: local_midnight(start, tz),
            to: local_midnight(end, tz),
            time_zone: tz.name().to_string(),
        }
    }

    /// Parses `2018-03`.
    pub fn parse_month(text: &str, tz: Tz) -> Result<Period, String> {
        let d = NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
            .map_err(|_| format!("\"{text}\" is not a month; write e.g. 2018-03"))?;
        Ok(Period::containing(
            PeriodKind::Month,
            local_midnight(d, tz),
            tz,
        ))
    }

    /// Parses `2018-W10` (ISO week).
    pub fn parse_week(text: &str, tz: Tz) -> Result<Period, String> {
        let bad = || format!("\"{text}\" is not an ISO week; write e.g. 2018-W10");
        let (y, w) = text.trim().split_once("-W").ok_or_else(bad)?;
        let y: i32 = y.parse().map_err(|_| bad())?;
        let w: u32 = w.parse().map_err(|_| bad())?;
        let d = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon).ok_or_else(bad)?;
        Ok(Period::containing(
            PeriodKind::Week,
            local_midnight(d, tz),
            tz,
        ))
    }

    /// Parses `2018Q1`.
    pub fn parse_quarter(text: &str, tz: Tz) -> Result<Period, String> {
        let bad = || format!("\"{text}\" is not a quarter; write e.g. 2018Q1");
        let t = text.trim().to_uppercase();
        let (y, q) = t.split_once('Q').ok_or_else(bad)?;
        let y: i32 = y.trim_end_matches('-').parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        let d = first_of_month(y, (q - 1) * 3 + 1);
        Ok(Period::containing(
            PeriodKind::Quarter,
            local_midnight(d, tz),
            tz,
        ))
    }

    /// Parses `--from 2018-01-01 --to 2018-04-01` (end exclusive).
    pub fn parse_range(from: &str, to: &str, tz: Tz) -> Result<Period, String> {
        let p = |s: &str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| format!("\"{s}\" is not a date; write YYYY-MM-DD"))
        };
        let (a, b) = (p(from)?, p(to)?);
        if b <= a {
            return Err(format!("--to {to} is not after --from {from}"));
        }
        Ok(Period::from_dates(format!("{a}..{b}"), a, b, tz))
    }
}

fn first_of_month(y: i32, m: u32) -> NaiveDate {
    // Month numbers here are computed in 1..=12 and the day is 1, which
    // exists in every month of every year chrono supports.
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a valid month")
}

/// The first instant of a local date (a later instant when midnight falls
/// in a DST gap).
pub fn local_midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    local_instant(d, 0, tz)
}

/// The instant of local date `d` at `second_of_day` seconds after midnight
/// on the wall clock; the earlier one when the local time occurs twice,
/// and the first existing one after it when it falls in a DST gap.
pub fn local_instant(d: NaiveDate, second_of_day: u32, tz: Tz) -> DateTime<Utc> {
    let midnight = d
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists as a naive time");
    let mut naive = midnight + chrono::Duration::seconds(i64::from(second_of_day));
    // Walk forward in 15-minute steps out of a gap (zones with a midnight
    // transition, e.g. America/Sao_Paulo before 2019).
    for _ in 0..16 {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => naive += chrono::Duration::minutes(15),
        }
    }
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_are_local_midnights() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let p = Period::parse_month("2018-03", tz).unwrap();
        // Sao Paulo was UTC-3 on 1 March 2018 (summer time ended 18 Feb).
        assert_eq!(p.from.to_rfc3339(), "2018-03-01T03:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2018-04-01T03:00:00+00:00");
        assert_eq!(p.label, "2018-03");
    }

    #[test]
    fn sao_paulo_midnight_gap_moves_to_one_am() {
        // Brazil's summer time began at 00:00 on 15 Oct 2017: 00:00 local did
        // not exist; the first instant of the date is 01:00 -02:00 = 03:00Z.
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2017, 10, 15).unwrap();
        assert_eq!(
            local_midnight(d, tz).to_rfc3339(),
            "2017-10-15T03:00:00+00:00"
        );
    }

    #[test]
    fn iso_week_and_quarter() {
        let tz = chrono_tz::UTC;
        let w = Period::parse_week("2018-W10", tz).unwrap();
        // ISO week 10 of 2018 runs Monday 5 March to Monday 12 March.
        assert_eq!(w.from.date_naive().to_string(), "2018-03-05");
        assert_eq!(w.to.date_naive().to_string(), "2018-03-12");
        let q = Period::parse_quarter("2018Q1", tz).unwrap();
        assert_eq!(q.to.date_naive().to_string(), "2018-04-01");
        assert!(Period::parse_quarter("2018Q5", tz).is_err());
        let prev = q.previous(PeriodKind::Quarter, tz);
        assert_eq!(prev.label, "2017Q4");
    }
}
