//! Business-time calendars: when a team or rep is at work, and how much of
//! that working time lies between two instants.
//!
//! Terms used here:
//!
//! - An *interval* is one open stretch of a day, written as seconds since
//!   local midnight, `[start, end)` half-open: it counts its first second and
//!   stops counting at `end`. `end` may be 86 400 ("24:00", the following
//!   midnight). A night shift is written as two intervals, one under each
//!   date, so the after-midnight part belongs to the date it is written under.
//! - The *weekly hours* are seven lists of intervals, Monday first.
//! - A *holiday* is a whole local date on which every interval listed under
//!   that date is closed. The set is plain dates, so it may span any number
//!   of years; loading next year's dates is the policy's job.
//! - *Business time* is physical time that falls inside open intervals. An
//!   interval's bounds are local wall-clock times, resolved to UTC instants
//!   date by date with the zone's rules, so a DST change inside an open
//!   interval lengthens or shortens it (00:00-10:00 holds nine real hours on
//!   a spring-forward day).
//! - A *calendar day* is a local date: "N days" ends at the same wall-clock
//!   time N dates later, which is not always N x 24 hours.
//!
//! Wall-clock times that do not exist or exist twice are resolved this way:
//!
//! - in a DST gap (02:30 on a spring-forward night in New York) a bound moves
//!   forward to the first instant after the gap (03:00 EDT);
//! - in a repeated hour (01:30 on a fall-back night) a bound is the first
//!   occurrence (01:30 EDT).
//!
//! The module is pure: it never reads the wall clock, every instant is given.
//! Searches walk date by date over the precomputed weekly intervals, so their
//! cost grows with the number of dates spanned (a 14-day window costs a few
//! microseconds), never with the number of seconds.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// Seconds since local midnight, `[start, end)` half-open; `end` may be
/// 86 400 ("24:00").
pub type Interval = (u32, u32);

/// Seconds in a local day as written in weekly hours; "24:00" parses to it.
pub const SECONDS_PER_DAY: u32 = 86_400;

/// How far either side of a missing wall-clock time to look for the DST
/// transition that removed it. UTC offsets stay within -12 h and +14 h, so
/// 18 h from the naive reading always brackets the transition.
const GAP_SEARCH_MARGIN_SECS: i64 = 18 * 3_600;

/// The weekdays in the order `weekly` arrays use.
const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// Working hours in one time zone: weekly intervals minus holidays.
///
/// Build one with [`Calendar::new`] (validated) or [`Calendar::always_open`].
/// A calendar whose weekly hours are all empty is allowed and never opens:
/// [`Calendar::add_business`] then answers [`DateTime::<Utc>::MAX_UTC`] and
/// [`Calendar::business_seconds_between`] answers 0. Policies use such a
/// calendar for commitments measured in calendar time only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// The name the policy gives the calendar, for reports and errors.
    name: String,
    /// The IANA zone the weekly hours and holiday dates are written in.
    tz: Tz,
    /// Monday first. Each list is sorted, every interval has
    /// `start < end <= 86_400`, and no two overlap or touch (touching
    /// intervals are merged by `new`).
    weekly: [Vec<Interval>; 7],
    /// Local dates on which the whole day's intervals are closed.
    holidays: BTreeSet<NaiveDate>,
    /// Whether any weekday has an interval. When false the calendar never
    /// opens and searches return at once instead of walking dates.
    has_open_hours: bool,
}

/// A weekly-hours or time-of-day problem found while building a calendar.
///
/// The messages name the weekday and the ranges involved; the caller adds
/// which calendar (and which file) it was loading.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum CalendarError {
    /// Two intervals of one weekday share time.
    #[error(
        "{weekday}: intervals {} and {} overlap; \
         touching intervals such as 09:00-12:00 and 12:00-17:00 are fine",
        SpanText(*.first),
        SpanText(*.second)
    )]
    Overlap {
        /// The weekday whose list holds both intervals.
        weekday: Weekday,
        /// The interval that starts first.
        first: Interval,
        /// The interval that starts inside `first`.
        second: Interval,
    },
    /// An interval whose end is not after its start (empty or reversed).
    #[error(
        "{weekday}: interval {} ends at or before its start; \
         write a night shift as two intervals, e.g. 22:00-24:00 and 00:00-06:00 \
         on the next day",
        SpanText(*.interval)
    )]
    EndNotAfterStart {
        /// The weekday whose list holds the interval.
        weekday: Weekday,
        /// The offending interval.
        interval: Interval,
    },
    /// An interval that ends after 24:00.
    #[error(
        "{weekday}: interval {} ends after 24:00; \
         write a night shift as two intervals, e.g. 22:00-24:00 and 00:00-06:00 \
         on the next day",
        SpanText(*.interval)
    )]
    EndPastMidnight {
        /// The weekday whose list holds the interval.
        weekday: Weekday,
        /// The offending interval.
        interval: Interval,
    },
    /// Text that is not a time of day in `H:MM` or `HH:MM` form.
    #[error("bad time {text:?}: expected HH:MM from 00:00 to 24:00, e.g. \"09:30\"")]
    BadTime {
        /// The text as given.
        text: String,
    },
}

impl Calendar {
    /// Builds a calendar, sorting each weekday's intervals and merging
    /// touching ones (`[9:00, 12:00)` and `[12:00, 17:00)` become
    /// `[9:00, 17:00)`).
    ///
    /// `weekly` is Monday first. Fails on an interval that is empty or
    /// reversed, ends after 24:00, or overlaps another interval of the same
    /// weekday. All-empty weekly hours are accepted: the calendar never opens
    /// (see [`Calendar`]).
    pub fn new(
        name: impl Into<String>,
        tz: Tz,
        weekly: [Vec<Interval>; 7],
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Calendar, CalendarError> {
        let mut checked: [Vec<Interval>; 7] = Default::default();
        for ((day, intervals), weekday) in checked.iter_mut().zip(weekly).zip(WEEKDAYS) {
            *day = normalise_day(weekday, intervals)?;
        }
        let has_open_hours = checked.iter().any(|day| !day.is_empty());
        Ok(Calendar {
            name: name.into(),
            tz,
            weekly: checked,
            holidays: holidays.into_iter().collect(),
            has_open_hours,
        })
    }

    /// A calendar open round the clock every day, with no holidays: business
    /// time equals elapsed time.
    pub fn always_open(name: impl Into<String>, tz: Tz) -> Calendar {
        Calendar {
            name: name.into(),
            tz,
            weekly: std::array::from_fn(|_| vec![(0, SECONDS_PER_DAY)]),
            holidays: BTreeSet::new(),
            has_open_hours: true,
        }
    }

    /// The calendar's name as the policy gives it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone the weekly hours and holidays are written in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The normalised weekly hours, Monday first: sorted, merged, validated.
    pub fn weekly(&self) -> &[Vec<Interval>; 7] {
        &self.weekly
    }

    /// The holiday dates, in order.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// Whether `date` (a local date in this calendar's zone) is a holiday.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Whether any weekday has open hours. A calendar without them never
    /// opens, whatever its holidays.
    pub fn has_open_hours(&self) -> bool {
        self.has_open_hours
    }

    /// Parses a time of day, `"9:30"`, `"09:00"` or `"24:00"`, into seconds
    /// since midnight. Hours run 0 to 24 (24 only as `24:00`), minutes are
    /// always two digits.
    pub fn parse_hhmm(s: &str) -> Result<u32, CalendarError> {
        let bad = || CalendarError::BadTime { text: s.to_owned() };
        let (hours, minutes) = s.split_once(':').ok_or_else(bad)?;
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let shape_ok = (1..=2).contains(&hours.len())
            && minutes.len() == 2
            && all_digits(hours)
            && all_digits(minutes);
        if !shape_ok {
            return Err(bad());
        }
        // Both parts are one or two ASCII digits, so they parse.
        let hours: u32 = hours.parse().map_err(|_| bad())?;
        let minutes: u32 = minutes.parse().map_err(|_| bad())?;
        let secs = hours * 3_600 + minutes * 60;
        if minutes > 59 || secs > SECONDS_PER_DAY {
            return Err(bad());
        }
        Ok(secs)
    }

    /// Formats seconds since midnight as `HH:MM`, or `HH:MM:SS` when the
    /// seconds are not zero; 86 400 is `24:00`.
    pub fn format_hhmm(secs: u32) -> String {
        let (h, m, s) = (secs / 3_600, secs % 3_600 / 60, secs % 60);
        if s == 0 {
            format!("{h:02}:{m:02}")
        } else {
            format!("{h:02}:{m:02}:{s:02}")
        }
    }

    /// Whether the calendar is open at `t` (open intervals are half-open, so
    /// a calendar is open at 09:00:00 and closed at 17:00:00).
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let Some(first) = self.local_date(t).pred_opt() else {
            return false;
        };
        // An instant can belong to a neighbouring date's interval when a DST
        // change moves midnight, so look one date either side.
        dates_from(first)
            .take(3)
            .flat_map(|date| self.open_spans(date))
            .any(|(open, close)| open <= t && t < close)
    }

    /// The first instant at or after `t` when the calendar is open: `t`
    /// itself when open, else the next opening. `DateTime::<Utc>::MAX_UTC`
    /// when the calendar never opens again.
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.spans_after(t)
            .next()
            .map_or(DateTime::<Utc>::MAX_UTC, |(open, _)| open.max(t))
    }

    /// The instant at which `secs` business seconds have elapsed after
    /// `start`.
    ///
    /// A start while closed consumes nothing until the next opening. When the
    /// target runs out exactly at a close, the answer is that closing
    /// instant, not the next opening. `secs <= 0` answers `start`. A
    /// calendar that never opens (or a target beyond the representable
    /// range) answers `DateTime::<Utc>::MAX_UTC`, read as "never".
    pub fn add_business(&self, start: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        if secs <= 0 {
            return start;
        }
        let never = DateTime::<Utc>::MAX_UTC;
        // Business time never runs faster than elapsed time, so a target that
        // overflows as elapsed time overflows as business time too.
        let Some(mut remaining) = TimeDelta::try_seconds(secs) else {
            return never;
        };
        if start.checked_add_signed(remaining).is_none() {
            return never;
        }

        for (open, close) in self.spans_after(start) {
            let from = open.max(start);
            let available = close - from;
            if remaining <= available {
                return from + remaining;
            }
            remaining -= available;
        }
        never
    }

    /// Business seconds inside `[from, to)`, whole seconds (a fraction left
    /// over is dropped); 0 when `to <= from`.
    pub fn business_seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let total = self
            .spans_after(from)
            .take_while(|&(open, _)| open < to)
            .fold(TimeDelta::zero(), |sum, (open, close)| {
                sum + (close.min(to) - open.max(from))
            });
        total.num_seconds()
    }

    /// The same local wall-clock time `days` dates later, in this calendar's
    /// zone, across DST changes: two days after Saturday 12:00 EST is Monday
    /// 12:00 EDT, 47 real hours later.
    ///
    /// A time that falls in a DST gap moves to the first instant after it; a
    /// time in a repeated hour takes the first occurrence. `days == 0`
    /// answers `start` unchanged. Past the representable range the answer is
    /// `DateTime::<Utc>::MAX_UTC`. Holidays and weekly hours play no part.
    pub fn add_calendar_days(&self, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        if days == 0 {
            return start;
        }
        let local = start.with_timezone(&self.tz).naive_local();
        local
            .checked_add_days(Days::new(u64::from(days)))
            .and_then(|target| resolve_local(self.tz, target))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The local date of `t` in this calendar's zone.
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The open spans of one local date as UTC instants, in order; none on a
    /// holiday. Spans emptied by a DST gap are left out.
    fn open_spans(&self, date: NaiveDate) -> impl Iterator<Item = OpenSpan> + '_ {
        let intervals: &[Interval] = if self.is_holiday(date) {
            &[]
        } else {
            &self.weekly[date.weekday().num_days_from_monday() as usize]
        };
        intervals.iter().filter_map(move |&(start, end)| {
            let open = self.resolve(date, start)?;
            let close = self.resolve(date, end)?;
            (open < close).then_some((open, close))
        })
    }

    /// Every open span that ends after `t`, in order, date by date until the
    /// end of the representable range. Empty when the calendar never opens.
    ///
    /// The spans of successive dates never overlap: resolving local times
    /// (gap forward, repeated hour first) never moves a later wall-clock
    /// time to an earlier instant.
    fn spans_after(&self, t: DateTime<Utc>) -> impl Iterator<Item = OpenSpan> + '_ {
        // Begin a date early: a DST change at midnight can put an instant of
        // the previous date's interval on this local date.
        let first = self
            .local_date(t)
            .pred_opt()
            .filter(|_| self.has_open_hours);
        first
            .into_iter()
            .flat_map(dates_from)
            .flat_map(|date| self.open_spans(date))
            .filter(move |&(_, close)| close > t)
    }

    /// The UTC instant of `secs` after local midnight of `date`; 86 400 is
    /// the next midnight. `None` only past the representable range.
    fn resolve(&self, date: NaiveDate, secs: u32) -> Option<DateTime<Utc>> {
        let local = if secs >= SECONDS_PER_DAY {
            date.succ_opt()?.and_time(NaiveTime::MIN)
        } else {
            date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?)
        };
        resolve_local(self.tz, local)
    }
}

/// One open stretch as UTC instants, `[open, close)`.
type OpenSpan = (DateTime<Utc>, DateTime<Utc>);

/// Shows an interval as `HH:MM-HH:MM` in error messages.
struct SpanText(Interval);

impl fmt::Display for SpanText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = self.0;
        write!(
            f,
            "{}-{}",
            Calendar::format_hhmm(start),
            Calendar::format_hhmm(end)
        )
    }
}

/// Checks one weekday's intervals, sorts them and merges touching ones.
fn normalise_day(
    weekday: Weekday,
    mut intervals: Vec<Interval>,
) -> Result<Vec<Interval>, CalendarError> {
    for &interval in &intervals {
        let (start, end) = interval;
        if end > SECONDS_PER_DAY {
            return Err(CalendarError::EndPastMidnight { weekday, interval });
        }
        if end <= start {
            return Err(CalendarError::EndNotAfterStart { weekday, interval });
        }
    }
    intervals.sort_unstable();

    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if interval.0 < last.1 => {
                return Err(CalendarError::Overlap {
                    weekday,
                    first: *last,
                    second: interval,
                });
            }
            Some(last) if interval.0 == last.1 => last.1 = interval.1,
            _ => merged.push(interval),
        }
    }
    Ok(merged)
}

/// `date`, the day after, and so on to the end of the representable range.
fn dates_from(date: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    std::iter::successors(Some(date), |d| d.succ_opt())
}

/// The UTC instant of a local wall-clock time: the first occurrence in a
/// repeated hour, the first instant after the gap for a missing time. `None`
/// only past the representable range.
fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => first_instant_after_gap(tz, local),
    }
}

/// The first instant whose local time is later than `local`, a wall-clock
/// time that a DST gap skipped: that is the transition instant, where the
/// gap ends.
///
/// Reading `local` as UTC and moving 18 hours either way brackets the
/// transition (local time is before `local` at the lower end and after it at
/// the upper end, since offsets stay within -12 h..=+14 h); a binary search
/// over whole seconds then finds it in about 17 steps. Gaps are rare (one
/// night a year), so this is not on the hot path.
fn first_instant_after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let guess = local.and_utc().timestamp();
    let mut before = guess.checked_sub(GAP_SEARCH_MARGIN_SECS)?;
    let mut after = guess.checked_add(GAP_SEARCH_MARGIN_SECS)?;
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        let mid_local = DateTime::from_timestamp(mid, 0)?
            .with_timezone(&tz)
            .naive_local();
        if mid_local > local {
            after = mid;
        } else {
            before = mid;
        }
    }
    DateTime::from_timestamp(after, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u32 = 3_600;
    const M: u32 = 60;

    fn utc(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(iso: &str) -> NaiveDate {
        iso.parse().unwrap()
    }

    /// The same intervals Monday to Friday, weekends closed.
    fn weekdays(day: &[Interval]) -> [Vec<Interval>; 7] {
        std::array::from_fn(|i| if i < 5 { day.to_vec() } else { Vec::new() })
    }

    /// The same intervals every day of the week.
    fn every_day(day: &[Interval]) -> [Vec<Interval>; 7] {
        std::array::from_fn(|_| day.to_vec())
    }

    fn office(tz: Tz, holidays: &[&str]) -> Calendar {
        let holidays = holidays.iter().map(|d| date(d));
        Calendar::new("office", tz, weekdays(&[(9 * H, 17 * H)]), holidays).unwrap()
    }

    #[test]
    fn friday_afternoon_target_rolls_over_the_weekend() {
        // New York 09:00-17:00, Monday to Friday. Friday 30 January 2026
        // 15:00 EST (20:00Z) plus 4 h: 2 h to Friday's close, Saturday and
        // Sunday closed, 2 h from Monday 09:00, so Monday 11:00 EST = 16:00Z.
        let cal = office(Tz::America__New_York, &[]);
        let start = utc("2026-01-30T20:00:00Z");
        assert_eq!(
            cal.add_business(start, 4 * 3_600),
            utc("2026-02-02T16:00:00Z")
        );
        assert_eq!(
            cal.business_seconds_between(start, utc("2026-02-02T16:00:00Z")),
            14_400
        );
        assert!(
            !cal.is_open(utc("2026-01-31T15:00:00Z")),
            "Saturday 10:00 EST"
        );
    }

    #[test]
    fn holiday_closes_the_whole_date() {
        // As above but Monday 2 February is a holiday: 2 h on Friday, then
        // Tuesday 09:00 + 2 h = 11:00 EST = 16:00Z.
        let cal = office(Tz::America__New_York, &["2026-02-02"]);
        let start = utc("2026-01-30T20:00:00Z");
        assert_eq!(
            cal.add_business(start, 4 * 3_600),
            utc("2026-02-03T16:00:00Z")
        );
        assert!(
            !cal.is_open(utc("2026-02-02T15:00:00Z")),
            "Monday 10:00 EST, a holiday"
        );
        assert!(cal.is_holiday(date("2026-02-02")));
    }

    #[test]
    fn holidays_span_years() {
        // Thursday 31 December 2026 15:00 EST (20:00Z), 6 h target, with
        // 2026-12-25 and 2027-01-01 closed: 2 h on Thursday, Friday 1
        // January closed, weekend closed, Monday 4 January 09:00 + 4 h =
        // 13:00 EST = 18:00Z.
        let cal = office(Tz::America__New_York, &["2026-12-25", "2027-01-01"]);
        let start = utc("2026-12-31T20:00:00Z");
        assert_eq!(
            cal.add_business(start, 6 * 3_600),
            utc("2027-01-04T18:00:00Z")
        );
    }

    #[test]
    fn start_while_closed_consumes_nothing_until_the_opening() {
        let cal = office(Tz::America__New_York, &[]);

        // Wednesday 28 January 02:00 EST (07:00Z) + 1 h: the clock waits
        // for 09:00 and ends 10:00 EST = 15:00Z.
        let night = utc("2026-01-28T07:00:00Z");
        assert_eq!(cal.add_business(night, 3_600), utc("2026-01-28T15:00:00Z"));

        // Saturday 31 January 12:00 EST + 30 min: Monday 09:30 EST = 14:30Z.
        let weekend = utc("2026-01-31T17:00:00Z");
        assert_eq!(
            cal.add_business(weekend, 1_800),
            utc("2026-02-02T14:30:00Z")
        );
        assert_eq!(cal.next_open(weekend), utc("2026-02-02T14:00:00Z"));
    }

    #[test]
    fn start_during_lunch_waits_for_the_afternoon() {
        // Kolkata (+05:30, no DST) 09:00-13:00 and 14:00-18:00. Monday 2
        // February 13:20 IST (07:50Z) + 90 min: nothing until 14:00, then
        // 15:30 IST = 10:00Z.
        let cal = Calendar::new(
            "india",
            Tz::Asia__Kolkata,
            weekdays(&[(9 * H, 13 * H), (14 * H, 18 * H)]),
            [],
        )
        .unwrap();
        let start = utc("2026-02-02T07:50:00Z");
        assert_eq!(cal.add_business(start, 5_400), utc("2026-02-02T10:00:00Z"));

        // 12:00-15:00 IST (06:30Z-09:30Z) holds 12-13 and 14-15: 7 200 s.
        let between =
            cal.business_seconds_between(utc("2026-02-02T06:30:00Z"), utc("2026-02-02T09:30:00Z"));
        assert_eq!(between, 7_200);
    }

    #[test]
    fn several_ranges_per_day_are_used_in_order() {
        // Berlin (CET, +01:00 in February) 08-10, 13-15 and 19-20: 5 h a day.
        let cal = Calendar::new(
            "split",
            Tz::Europe__Berlin,
            weekdays(&[(8 * H, 10 * H), (13 * H, 15 * H), (19 * H, 20 * H)]),
            [],
        )
        .unwrap();
        let start = utc("2026-02-02T08:00:00Z"); // Monday 09:00 CET

        // 4 h: 09-10 (1 h), 13-15 (2 h), 19-20 (1 h); runs out at the 20:00
        // close = 19:00Z.
        assert_eq!(
            cal.add_business(start, 4 * 3_600),
            utc("2026-02-02T19:00:00Z")
        );

        // 4.5 h: the same 4 h, then Tuesday 08:00 + 30 min = 08:30 CET = 07:30Z.
        assert_eq!(cal.add_business(start, 16_200), utc("2026-02-03T07:30:00Z"));
    }

    #[test]
    fn target_exhausted_exactly_at_close_ends_at_the_close() {
        // Chicago (CST, -06:00) 09:00-17:00. Monday 2 March 09:00 (15:00Z) +
        // 8 h = 17:00 CST = 23:00Z, not Tuesday's 09:00 opening (15:00Z).
        let cal = office(Tz::America__Chicago, &[]);
        let start = utc("2026-03-02T15:00:00Z");
        let close = utc("2026-03-02T23:00:00Z");
        assert_eq!(cal.add_business(start, 8 * 3_600), close);
        assert_eq!(cal.business_seconds_between(start, close), 28_800);

        // Half-open: open on the last second, closed at the closing instant.
        assert!(cal.is_open(utc("2026-03-02T22:59:59Z")));
        assert!(!cal.is_open(close));
        assert!(cal.is_open(start));
        assert!(!cal.is_open(utc("2026-03-02T14:59:59Z")));
        assert_eq!(cal.next_open(close), utc("2026-03-03T15:00:00Z"));
    }

    #[test]
    fn spring_forward_shortens_an_open_interval() {
        // New York 00:00-10:00 every day. On Sunday 8 March 2026 02:00 EST
        // jumps to 03:00 EDT: the interval runs from 00:00 EST (05:00Z) to
        // 10:00 EDT (14:00Z), nine real hours.
        let cal = Calendar::new(
            "early",
            Tz::America__New_York,
            every_day(&[(0, 10 * H)]),
            [],
        )
        .unwrap();
        let midnight = utc("2026-03-08T05:00:00Z");
        let next_midnight = utc("2026-03-09T04:00:00Z"); // 00:00 EDT
        assert_eq!(
            cal.business_seconds_between(midnight, next_midnight),
            32_400
        );

        // 01:00 EST (06:00Z) + 2 h = 08:00Z = 04:00 EDT; wall-clock
        // arithmetic would say 03:00.
        let start = utc("2026-03-08T06:00:00Z");
        assert_eq!(cal.add_business(start, 7_200), utc("2026-03-08T08:00:00Z"));
    }

    #[test]
    fn autumn_back_lengthens_an_open_interval() {
        // New York 00:00-10:00 every day. On Sunday 1 November 2026 02:00
        // EDT falls back to 01:00 EST: the interval runs from 00:00 EDT
        // (04:00Z) to 10:00 EST (15:00Z), eleven real hours.
        let cal = Calendar::new(
            "early",
            Tz::America__New_York,
            every_day(&[(0, 10 * H)]),
            [],
        )
        .unwrap();
        let midnight = utc("2026-11-01T04:00:00Z");
        let next_midnight = utc("2026-11-02T05:00:00Z"); // 00:00 EST
        assert_eq!(
            cal.business_seconds_between(midnight, next_midnight),
            39_600
        );

        // 00:30 EDT (04:30Z) + 3 h = 07:30Z = 02:30 EST; wall-clock
        // arithmetic would say 03:30.
        let start = utc("2026-11-01T04:30:00Z");
        assert_eq!(
            cal.add_business(start, 3 * 3_600),
            utc("2026-11-01T07:30:00Z")
        );
    }

    #[test]
    fn opening_in_a_dst_gap_moves_to_the_end_of_the_gap() {
        // New York 02:30-04:00 every day. On 8 March 2026 02:30 does not
        // exist; the interval opens at 03:00 EDT (07:00Z) and closes 04:00
        // EDT (08:00Z): 3 600 s instead of 5 400 s.
        let cal = Calendar::new(
            "gap",
            Tz::America__New_York,
            every_day(&[(2 * H + 30 * M, 4 * H)]),
            [],
        )
        .unwrap();
        let day_start = utc("2026-03-08T05:00:00Z"); // 00:00 EST
        let day_end = utc("2026-03-09T04:00:00Z"); // 00:00 EDT
        assert_eq!(cal.business_seconds_between(day_start, day_end), 3_600);
        assert_eq!(cal.next_open(day_start), utc("2026-03-08T07:00:00Z"));
        assert_eq!(cal.add_business(day_start, 1), utc("2026-03-08T07:00:01Z"));

        // The day before is ordinary EST: 07:30Z-09:00Z, 5 400 s.
        let before =
            cal.business_seconds_between(utc("2026-03-07T05:00:00Z"), utc("2026-03-08T05:00:00Z"));
        assert_eq!(before, 5_400);
    }

    #[test]
    fn interval_wholly_inside_a_dst_gap_is_closed_that_day() {
        // 02:00-02:45 on 8 March 2026: both bounds move to 03:00 EDT, so the
        // interval is empty that day; the next day it is 45 min again.
        let cal = Calendar::new(
            "gap",
            Tz::America__New_York,
            every_day(&[(2 * H, 2 * H + 45 * M)]),
            [],
        )
        .unwrap();
        let sunday = (utc("2026-03-08T05:00:00Z"), utc("2026-03-09T04:00:00Z"));
        assert_eq!(cal.business_seconds_between(sunday.0, sunday.1), 0);
        // Monday 02:00 EDT = 06:00Z.
        assert_eq!(cal.next_open(sunday.0), utc("2026-03-09T06:00:00Z"));
    }

    #[test]
    fn bound_in_a_repeated_hour_takes_the_first_occurrence() {
        // New York 00:00-01:15 and 01:30-03:00 every day; 1 November 2026
        // repeats 01:00-02:00. First interval: 00:00 EDT (04:00Z) to the
        // first 01:15 (05:15Z), 4 500 s. Second: the first 01:30 (05:30Z) to
        // 03:00 EST (08:00Z), 9 000 s. Day total 13 500 s.
        let cal = Calendar::new(
            "fallback",
            Tz::America__New_York,
            every_day(&[(0, H + 15 * M), (H + 30 * M, 3 * H)]),
            [],
        )
        .unwrap();
        let day = (utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"));
        assert_eq!(cal.business_seconds_between(day.0, day.1), 13_500);

        // The second 01:15 (EST, 06:15Z) lies inside the second interval.
        assert!(cal.is_open(utc("2026-11-01T06:15:00Z")));
        assert!(
            !cal.is_open(utc("2026-11-01T05:20:00Z")),
            "first 01:20, between intervals"
        );
    }

    #[test]
    fn one_instant_reads_differently_in_a_rep_zone_and_the_org_zone() {
        // Tuesday 3 February 2026 14:00Z is 09:00 EST in New York and 19:30
        // IST in Kolkata.
        let t = utc("2026-02-03T14:00:00Z");
        let org = office(Tz::America__New_York, &[]);
        let rep =
            Calendar::new("rep", Tz::Asia__Kolkata, weekdays(&[(9 * H, 18 * H)]), []).unwrap();
        assert!(org.is_open(t));
        assert!(!rep.is_open(t));

        // 2 h on the org calendar: 11:00 EST = 16:00Z. On the rep calendar
        // nothing until Wednesday 09:00 IST (03:30Z), then 11:00 IST = 05:30Z.
        assert_eq!(org.add_business(t, 7_200), utc("2026-02-03T16:00:00Z"));
        assert_eq!(rep.add_business(t, 7_200), utc("2026-02-04T05:30:00Z"));
    }

    #[test]
    fn a_day_written_as_24_hours_is_elapsed_time() {
        // 00:00-24:00 every day in Berlin: 24 business hours from Tuesday 5
        // May 10:00Z end Wednesday 10:00Z, nothing lost at midnight.
        let day = Calendar::parse_hhmm("24:00").unwrap();
        let cal = Calendar::new("24/7", Tz::Europe__Berlin, every_day(&[(0, day)]), []).unwrap();
        let start = utc("2026-05-05T10:00:00Z");
        assert_eq!(cal.add_business(start, 86_400), utc("2026-05-06T10:00:00Z"));

        // Across the autumn change (25 October 2026, a 25-hour local day)
        // 48 business hours are still 48 real hours.
        let start = utc("2026-10-24T22:00:00Z");
        assert_eq!(
            cal.add_business(start, 172_800),
            utc("2026-10-26T22:00:00Z")
        );
        assert_eq!(
            cal,
            Calendar {
                name: "24/7".into(),
                ..Calendar::always_open("", cal.tz)
            }
        );
    }

    #[test]
    fn always_open_equals_elapsed_time_in_zones_with_midnight_and_half_hour_changes() {
        // Santiago changes its clocks at local midnight and Lord Howe by 30
        // minutes; whatever the start, N business seconds on an always-open
        // calendar are N real seconds. Starts every 7 h through 2026 cover
        // every transition of both zones.
        for tz in [Tz::America__Santiago, Tz::Australia__Lord_Howe] {
            let cal = Calendar::always_open("24/7", tz);
            let mut start = utc("2026-01-01T00:00:00Z");
            while start < utc("2027-01-01T00:00:00Z") {
                let end = start + TimeDelta::seconds(100_000);
                assert_eq!(cal.add_business(start, 100_000), end, "{tz} from {start}");
                assert_eq!(
                    cal.business_seconds_between(start, end),
                    100_000,
                    "{tz} {start}"
                );
                assert!(cal.is_open(start), "{tz} at {start}");
                start += TimeDelta::hours(7);
            }
        }
    }

    #[test]
    fn after_midnight_part_of_a_night_shift_belongs_to_its_written_date() {
        // Chicago night desk: Monday 22-24, Tuesday 00-06 and 22-24,
        // Wednesday 00-06. Tuesday 12 May 2026 is a holiday, which closes
        // both intervals written under Tuesday (00-06 and 22-24) but not
        // Monday's 22-24.
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        weekly[0] = vec![(22 * H, 24 * H)];
        weekly[1] = vec![(0, 6 * H), (22 * H, 24 * H)];
        weekly[2] = vec![(0, 6 * H)];
        let with_holiday = Calendar::new(
            "night",
            Tz::America__Chicago,
            weekly.clone(),
            [date("2026-05-12")],
        )
        .unwrap();
        let without = Calendar::new("night", Tz::America__Chicago, weekly, []).unwrap();

        // Monday 23:00 CDT (Tuesday 04:00Z) + 3 h.
        let start = utc("2026-05-12T04:00:00Z");
        // Open: 1 h on Monday, then Tuesday 00:00-02:00 CDT: 07:00Z.
        assert_eq!(
            without.add_business(start, 3 * 3_600),
            utc("2026-05-12T07:00:00Z")
        );
        // Holiday: 1 h on Monday, Tuesday closed, Wednesday 00:00 CDT
        // (05:00Z) + 2 h = 07:00Z on the 13th.
        assert_eq!(
            with_holiday.add_business(start, 3 * 3_600),
            utc("2026-05-13T07:00:00Z")
        );
    }

    #[test]
    fn calendar_without_open_hours_never_opens() {
        let cal = Calendar::new("none", Tz::UTC, Default::default(), []).unwrap();
        let t = utc("2026-06-01T12:00:00Z");
        assert!(!cal.has_open_hours());
        assert!(!cal.is_open(t));
        assert_eq!(cal.add_business(t, 1), DateTime::<Utc>::MAX_UTC);
        assert_eq!(cal.next_open(t), DateTime::<Utc>::MAX_UTC);
        assert_eq!(cal.business_seconds_between(t, t + TimeDelta::days(30)), 0);
    }

    #[test]
    fn zero_negative_and_huge_targets() {
        let cal = office(Tz::UTC, &[]);
        let t = utc("2026-01-31T12:00:00Z"); // Saturday, closed
        assert_eq!(cal.add_business(t, 0), t);
        assert_eq!(cal.add_business(t, -5), t);
        assert_eq!(cal.add_business(t, i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(cal.business_seconds_between(t, t), 0);
        assert_eq!(cal.business_seconds_between(t + TimeDelta::hours(1), t), 0);
    }

    #[test]
    fn calendar_days_keep_the_wall_clock_time_across_dst() {
        let cal = Calendar::new("ny", Tz::America__New_York, Default::default(), []).unwrap();

        // Saturday 7 March 2026 12:00 EST (17:00Z) + 2 days = Monday 12:00
        // EDT = 16:00Z, 47 real hours later.
        let start = utc("2026-03-07T17:00:00Z");
        assert_eq!(cal.add_calendar_days(start, 2), utc("2026-03-09T16:00:00Z"));
        assert_eq!(cal.add_calendar_days(start, 0), start);

        // 02:30 EST on 7 March + 1 day is 02:30 on 8 March, which does not
        // exist: 03:00 EDT = 07:00Z.
        let start = utc("2026-03-07T07:30:00Z");
        assert_eq!(cal.add_calendar_days(start, 1), utc("2026-03-08T07:00:00Z"));

        // 01:30 EDT on 31 October + 1 day is 01:30 on 1 November, which
        // happens twice: the first, 01:30 EDT = 05:30Z.
        let start = utc("2026-10-31T05:30:00Z");
        assert_eq!(cal.add_calendar_days(start, 1), utc("2026-11-01T05:30:00Z"));

        // Monday 1 June 09:00 EDT (13:00Z) + 14 days = 15 June 13:00Z.
        let start = utc("2026-06-01T13:00:00Z");
        assert_eq!(
            cal.add_calendar_days(start, 14),
            utc("2026-06-15T13:00:00Z")
        );
    }

    #[test]
    fn new_sorts_and_merges_touching_intervals() {
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        weekly[0] = vec![(12 * H, 17 * H), (18 * H, 19 * H), (9 * H, 12 * H)];
        let cal = Calendar::new("merge", Tz::UTC, weekly, []).unwrap();
        assert_eq!(cal.weekly()[0], vec![(9 * H, 17 * H), (18 * H, 19 * H)]);
        assert!(cal.weekly()[1..].iter().all(Vec::is_empty));
        assert_eq!(cal.name(), "merge");
        assert_eq!(cal.tz(), Tz::UTC);
    }

    #[test]
    fn overlap_is_rejected_naming_the_weekday_and_both_ranges() {
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        weekly[1] = vec![(12 * H, 17 * H), (9 * H, 13 * H)];
        let err = Calendar::new("bad", Tz::UTC, weekly, []).unwrap_err();
        assert_eq!(
            err,
            CalendarError::Overlap {
                weekday: Weekday::Tue,
                first: (9 * H, 13 * H),
                second: (12 * H, 17 * H),
            }
        );
        assert_eq!(
            err.to_string(),
            "Tue: intervals 09:00-13:00 and 12:00-17:00 overlap; \
             touching intervals such as 09:00-12:00 and 12:00-17:00 are fine"
        );
    }

    #[test]
    fn reversed_empty_and_past_midnight_intervals_are_rejected() {
        let on_friday = |interval: Interval| {
            let mut weekly: [Vec<Interval>; 7] = Default::default();
            weekly[4] = vec![interval];
            Calendar::new("bad", Tz::UTC, weekly, []).unwrap_err()
        };
        let night = (22 * H, 6 * H);
        assert_eq!(
            on_friday(night),
            CalendarError::EndNotAfterStart {
                weekday: Weekday::Fri,
                interval: night
            }
        );
        assert!(on_friday(night)
            .to_string()
            .starts_with("Fri: interval 22:00-06:00 ends at"));
        let empty = (9 * H, 9 * H);
        assert_eq!(
            on_friday(empty),
            CalendarError::EndNotAfterStart {
                weekday: Weekday::Fri,
                interval: empty
            }
        );
        let late = (22 * H, 30 * H);
        assert_eq!(
            on_friday(late),
            CalendarError::EndPastMidnight {
                weekday: Weekday::Fri,
                interval: late
            }
        );
        assert!(on_friday(late)
            .to_string()
            .starts_with("Fri: interval 22:00-30:00 ends after"));
    }

    #[test]
    fn hhmm_text_parses_and_formats() {
        assert_eq!(Calendar::parse_hhmm("09:00"), Ok(32_400));
        assert_eq!(Calendar::parse_hhmm("9:30"), Ok(34_200));
        assert_eq!(Calendar::parse_hhmm("00:00"), Ok(0));
        assert_eq!(Calendar::parse_hhmm("23:59"), Ok(86_340));
        assert_eq!(Calendar::parse_hhmm("24:00"), Ok(86_400));
        for bad in [
            "24:01", "25:00", "09:60", "9:5", "0900", "", " 9:00", "+9:00", "123:00",
        ] {
            assert_eq!(
                Calendar::parse_hhmm(bad),
                Err(CalendarError::BadTime {
                    text: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        assert_eq!(Calendar::format_hhmm(34_200), "09:30");
        assert_eq!(Calendar::format_hhmm(86_400), "24:00");
        assert_eq!(Calendar::format_hhmm(34_245), "09:30:45");
    }
}
