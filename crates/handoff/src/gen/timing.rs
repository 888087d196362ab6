//! Instants for simulated people: when buyers browse and when reps work.
//!
//! The generator works in UTC instants and stamps each event in the zone of
//! whoever acted (see [`stamp`]). Buyers keep loose office hours in their own
//! zone, with some evenings and weekends; reps act inside their team
//! calendar's working hours, so their delays stretch across nights,
//! weekends and holidays the way the business-time clocks measure them.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use handoff_core::calendar::Calendar;
use rand_chacha::ChaCha8Rng;

use super::random::{chance, secs_between};

/// Seconds in an hour and a day, for readability of the constants.
pub(super) const HOUR: i64 = 3_600;
pub(super) const DAY: i64 = 86_400;

/// The instant of local wall-clock `secs` after midnight of `date` in `tz`.
/// A time inside a DST gap moves one hour later; a repeated time takes its
/// first occurrence.
pub(super) fn local_instant(tz: Tz, date: NaiveDate, secs: u32) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::MIN) + Duration::seconds(i64::from(secs));
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => {
            let later = naive + Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map_or_else(|| later.and_utc(), |t| t.with_timezone(&Utc))
        }
    }
}

/// The RFC 3339 timestamp of `at` with `tz`'s offset at that instant.
pub(super) fn stamp(at: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
    at.with_timezone(&tz).fixed_offset()
}

/// The local date of `at` in `tz`.
pub(super) fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// When a buyer does something on `date`: mostly office hours on a
/// weekday, sometimes an evening; most weekend activity slides to Monday.
pub(super) fn buyer_time(rng: &mut ChaCha8Rng, tz: Tz, mut date: NaiveDate) -> DateTime<Utc> {
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    if weekend && chance(rng, 0.75) {
        while matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            date = date.succ_opt().unwrap_or(date);
        }
    }
    let secs = if chance(rng, 0.85) {
        secs_between(rng, 8 * HOUR, 18 * HOUR)
    } else {
        secs_between(rng, 18 * HOUR, 23 * HOUR)
    };
    // secs_between stays inside one day here, so the cast is exact.
    local_instant(tz, date, secs as u32)
}

/// When a rep acting "as soon as possible after `t`" acts: `t` itself in
/// working hours, else a few minutes after the next opening.
pub(super) fn rep_time(rng: &mut ChaCha8Rng, cal: &Calendar, t: DateTime<Utc>) -> DateTime<Utc> {
    if cal.is_open(t) {
        t
    } else {
        cal.next_open(t) + Duration::seconds(secs_between(rng, 120, 45 * 60))
    }
}

/// `secs` business seconds of the rep's calendar after `t`.
pub(super) fn after_business(cal: &Calendar, t: DateTime<Utc>, secs: f64) -> DateTime<Utc> {
    cal.add_business(t, secs.round() as i64)
}

/// `t` plus whole seconds of elapsed time.
pub(super) fn plus(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t + Duration::seconds(secs)
}
