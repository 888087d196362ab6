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
