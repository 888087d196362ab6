//! Engagement: what buyers do that Marketing sees, and when that makes an
//! account qualify.
//!
//! Engagements come in *bursts*: a few touches by the account's contacts
//! over a few days, each with a kind, an asset, a channel and a campaign.
//! *Background* bursts are low intent (newsletters, blog posts, webinars)
//! and never qualify on their own. An *intent* burst ends in a qualifying
//! engagement: a high-intent one (demo request, pricing page, executive
//! event) or the mid-tier mix (three case studies plus at least ten minutes
//! of key whitepaper reading within 30 days, often across contacts). A
//! *near miss* is a mid-tier mix that falls short.
//!
//! [`first_qualification`] replays the default policy's tier rules over the
//! account's engagements ([`Signal`]s), so the generator hands off exactly
//! the accounts the engine will see as qualified.

use chrono::{DateTime, Datelike, Days, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use handoff_core::event::{Engagement, EventBody};
use rand_chacha::ChaCha8Rng;

use super::account::AccountSim;
use super::names::{
    BLOG_POSTS, CASE_STUDIES, DOWNLOADS, KEY_WHITEPAPERS, NEWSLETTER_ITEMS, PRODUCT_PAGES,
};
use super::random::{chance, one_of, pick, secs_between};
use super::timing::{buyer_time, local_date, plus, DAY, HOUR};

/// Engagement kinds that reach the high tier on their own.
pub const HIGH_INTENT_KINDS: [&str; 3] = ["demo_request", "pricing_page_view", "executive_event"];
/// Case studies the mid tier needs inside its window.
pub const MID_CASE_STUDIES: usize = 3;
/// Key whitepaper reading (seconds) the mid tier needs inside its window.
pub const MID_KEY_READING_S: u64 = 10 * 60;
/// The mid tier's window, in wall-clock days of the organisation's zone.
pub const MID_WINDOW_DAYS: u64 = 30;
/// The asset tag that marks a key whitepaper.
pub const KEY_TAG: &str = "key-whitepaper";

/// The tier an account reached, as the default policy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tier {
    High,
    Mid,
}

/// What one engagement contributes to the tier rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Signal {
    High,
    CaseStudy,
    /// Seconds spent reading a key whitepaper.
    KeyReading(u64),
    Other,
}

/// A low-intent engagement kind with its channels, assets and durations.
struct KindSpec {
    kind: &'static str,
    weight: f64,
    channels: &'static [(&'static str, f64)],
    assets: &'static [&'static str],
    /// Seconds spent, uniform in this range; (0, 0) records no duration.
    secs: (i64, i64),
}

const WEB: &[(&str, f64)] = &[
    ("organic_search", 0.35),
    ("paid_search", 0.25),
    ("direct", 0.2),
    ("social", 0.1),
    ("referral", 0.1),
];

/// The background mix. Case studies appear rarely and no key whitepaper
/// does, so background alone never reaches the mid tier.
const LOW_INTENT: &[KindSpec] = &[
    KindSpec {
        kind: "email_click",
        weight: 0.30,
        channels: &[("email", 1.0)],
        assets: NEWSLETTER_ITEMS,
        secs: (10, 180),
    },
    KindSpec {
        kind: "blog_view",
        weight: 0.22,
        channels: WEB,
        assets: BLOG_POSTS,
        secs: (30, 420),
    },
    KindSpec {
        kind: "webinar_attended",
        weight: 0.10,
        channels: &[("webinar", 1.0)],
        assets: &["webinar-sla-clinic", "webinar-revops-roundtable"],
        secs: (15 * 60, 60 * 60),
    },
    KindSpec {
        kind: "content_download",
        weight: 0.12,
        channels: &[("paid_search", 0.4), ("social", 0.3), ("email", 0.3)],
        assets: DOWNLOADS,
        secs: (0, 0),
    },
    KindSpec {
        kind: "social_engagement",
        weight: 0.10,
        channels: &[("social", 1.0)],
        assets: &["post-customer-story", "post-product-update"],
        secs: (0, 0),
    },
    KindSpec {
        kind: "event_visit",
        weight: 0.04,
        channels: &[("events", 1.0)],
        assets: &["booth-visit"],
        secs: (5 * 60, 30 * 60),
    },
    KindSpec {
        kind: "product_page_view",
        weight: 0.09,
        channels: WEB,
        assets: PRODUCT_PAGES,
        secs: (20, 300),
    },
    KindSpec {
        kind: "case_study_view",
        weight: 0.03,
        channels: WEB,
        assets: CASE_STUDIES,
        secs: (60, 480),
    },
];

/// The campaign a channel credits at `at`, named after the organisation's
/// calendar quarter or month; organic and direct traffic has none.
fn campaign(rng: &mut ChaCha8Rng, channel: &str, at: DateTime<Utc>, org_tz: Tz) -> Option<String> {
    let d = local_date(at, org_tz);
    let (y, q, m) = (d.year(), d.month0() / 3 + 1, d.month());
    match channel {
        "email" if chance(rng, 0.7) => Some(format!("newsletter-{y}-{m:02}")),
        "email" => Some("nurture-stream".into()),
        "webinar" => Some(format!("webinar-series-{y}-q{q}")),
        "events" if (9..=10).contains(&m) => Some(format!("summit-{y}")),
        "events" => Some(format!("roadshow-{y}-q{q}")),
        "social" => Some(format!("linkedin-abm-{y}-q{q}")),
        "paid_search" if chance(rng, 0.4) => Some("search-brand".into()),
        "paid_search" => Some("search-nonbrand".into()),
        "referral" => Some("partner-referral".into()),
        _ => None,
    }
}

/// One touch to record: kind, asset, tags, seconds and channel.
struct Touch<'a> {
    kind: &'a str,
    asset: &'a str,
    tags: &'a [&'a str],
    secs: u64,
    channel: &'a str,
}

impl AccountSim<'_> {
    /// Records one engagement at `at` by a random contact (sometimes an
    /// anonymous visitor known only by the account).
    fn engage(&mut self, at: DateTime<Utc>, touch: Touch<'_>, signal: Signal) {
        let contact = if chance(&mut self.rng, 0.1) {
            None
        } else {
            Some(one_of(&mut self.rng, &self.contacts).clone())
        };
        let campaign = campaign(&mut self.rng, touch.channel, at, self.world.org_tz);
        let body = EventBody::Engagement(Engagement {
            account: Some(self.id.clone()),
            contact,
            kind: touch.kind.to_string(),
            asset: Some(touch.asset.to_string()),
            asset_tags: touch.tags.iter().map(|t| t.to_string()).collect(),
            duration_s: (touch.secs > 0).then_some(touch.secs),
            channel: Some(touch.channel.to_string()),
            campaign,
        });
        self.push(at, self.tz, body);
        self.signals.push((at, signal));
    }

    /// A buyer's instant on the local date `offset_s` after `from`.
    fn buyer_instant(&mut self, from: DateTime<Utc>, offset_s: i64) -> DateTime<Utc> {
        let date = local_date(plus(from, offset_s), self.tz);
        let at = buyer_time(&mut self.rng, self.tz, date);
        // Never before the account is known.
        at.max(plus(self.first_seen, 60))
    }

    /// A background burst of 1 to 5 low-intent touches over up to a week.
    pub(super) fn background_burst(&mut self, begin: DateTime<Utc>) {
        let n = secs_between(&mut self.rng, 1, 5);
        for _ in 0..n {
            let offset = secs_between(&mut self.rng, 0, 7 * DAY);
            let at = self.buyer_instant(begin, offset);
            let weighted: Vec<(&KindSpec, f64)> =
                LOW_INTENT.iter().map(|k| (k, k.weight)).collect();
            let spec = *pick(&mut self.rng, &weighted);
            let channel = *pick(&mut self.rng, spec.channels);
            let asset = *one_of(&mut self.rng, spec.assets);
            let secs = secs_between(&mut self.rng, spec.secs.0, spec.secs.1) as u64;
            let signal = if spec.kind == "case_study_view" {
                Signal::CaseStudy
            } else {
                Signal::Other
            };
            let touch = Touch {
                kind: spec.kind,
                asset,
                tags: &[],
                secs,
                channel,
            };
            self.engage(at, touch, signal);
        }
    }

    /// A high-intent burst: some warm-up reading, then a demo request,
    /// pricing page view or executive event at `at`.
    pub(super) fn high_intent_burst(&mut self, at: DateTime<Utc>) {
        for _ in 0..secs_between(&mut self.rng, 0, 3) {
            let before = secs_between(&mut self.rng, DAY, 10 * DAY);
            let warm = self.buyer_instant(at, -before);
            let asset = *one_of(&mut self.rng, PRODUCT_PAGES);
            let channel = *pick(&mut self.rng, WEB);
            let secs = secs_between(&mut self.rng, 60, 400) as u64;
            let touch = Touch {
                kind: "product_page_view",
                asset,
                tags: &[],
                secs,
                channel,
            };
            self.engage(warm.min(at), touch, Signal::Other);
        }
        let kinds = [(0usize, 0.5), (1, 0.35), (2, 0.15)];
        let (kind, asset, channel, secs) = match *pick(&mut self.rng, &kinds) {
            0 => {
                let channels = [
                    ("paid_search", 0.3),
                    ("organic_search", 0.25),
                    ("direct", 0.2),
                    ("email", 0.15),
                    ("referral", 0.1),
                ];
                (
                    HIGH_INTENT_KINDS[0],
                    "demo-form",
                    *pick(&mut self.rng, &channels),
                    0,
                )
            }
            1 => {
                let secs = secs_between(&mut self.rng, 40, 400);
                (
                    HIGH_INTENT_KINDS[1],
                    "pricing",
                    *pick(&mut self.rng, WEB),
                    secs,
                )
            }
            _ => {
                let secs = secs_between(&mut self.rng, 90 * 60, 180 * 60);
                (HIGH_INTENT_KINDS[2], "executive-dinner", "events", secs)
            }
        };
        let touch = Touch {
            kind,
            asset,
            tags: &[],
            secs: secs as u64,
            channel,
        };
        self.engage(at, touch, Signal::High);
    }

    /// A mid-tier burst ending at `end`: three (sometimes four) case
    /// studies and key whitepaper reading over 5 to 25 days. With `short`
    /// it is a near miss: too little reading to qualify.
    pub(super) fn mid_intent_burst(&mut self, end: DateTime<Utc>, short: bool) {
        let span = secs_between(&mut self.rng, 5 * DAY, 25 * DAY);
        let studies = if chance(&mut self.rng, 0.2) {
            4
        } else {
            MID_CASE_STUDIES
        };
        let mut times: Vec<i64> = (0..studies + 2)
            .map(|_| secs_between(&mut self.rng, 0, span))
            .collect();
        times.sort_unstable();
        let start = plus(end, -span);
        for &t in &times[..studies] {
            let at = self.mid_instant(start, t, end);
            let asset = *one_of(&mut self.rng, CASE_STUDIES);
            let channel = *pick(&mut self.rng, WEB);
            let secs = secs_between(&mut self.rng, 60, 480) as u64;
            let touch = Touch {
                kind: "case_study_view",
                asset,
                tags: &[],
                secs,
                channel,
            };
            self.engage(at, touch, Signal::CaseStudy);
        }
        for (k, secs) in self.reading_minutes(short).into_iter().enumerate() {
            let at = self.mid_instant(start, times[studies + k.min(1)], end);
            let asset = *one_of(&mut self.rng, KEY_WHITEPAPERS);
            let channels = [
                ("email", 0.4),
                ("paid_search", 0.3),
                ("social", 0.15),
                ("organic_search", 0.15),
            ];
            let channel = *pick(&mut self.rng, &channels);
            let touch = Touch {
                kind: "whitepaper_read",
                asset,
                tags: &[KEY_TAG],
                secs,
                channel,
            };
            self.engage(at, touch, Signal::KeyReading(secs));
        }
    }

    /// A buyer instant `offset` into a mid burst, kept inside `[start, end]`.
    fn mid_instant(
        &mut self,
        start: DateTime<Utc>,
        offset: i64,
        end: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let at = self.buyer_instant(start, offset);
        at.clamp(start, end)
    }

    /// Key whitepaper reading sessions, in seconds: one long read (60%) or
    /// two shorter ones that add up (40%); a near miss stays under ten
    /// minutes in total.
    fn reading_minutes(&mut self, short: bool) -> Vec<u64> {
        let rng = &mut self.rng;
        if short {
            return vec![secs_between(rng, 2 * 60, 8 * 60) as u64];
        }
        if chance(rng, 0.6) {
            vec![secs_between(rng, 11 * 60, 25 * 60) as u64]
        } else {
            let first = secs_between(rng, 4 * 60, 8 * 60) as u64;
            let second = MID_KEY_READING_S - first + secs_between(rng, 30, 6 * 60) as u64;
            vec![first, second]
        }
    }
}

/// The first instant after `floor` at which the engagements in `signals`
/// (sorted by instant) reach a tier, with the tier; `None` if they never do.
///
/// High wins over mid at the same instant. The mid window reaches back
/// [`MID_WINDOW_DAYS`] wall-clock days in `org_tz`, inclusive of its far
/// end, and only engagements strictly after `floor` count.
pub(super) fn first_qualification(
    signals: &[(DateTime<Utc>, Signal)],
    floor: Option<DateTime<Utc>>,
    org_tz: Tz,
) -> Option<(DateTime<Utc>, Tier)> {
    let after_floor = |t: DateTime<Utc>| floor.is_none_or(|f| t > f);
    for &(at, signal) in signals.iter().filter(|(t, _)| after_floor(*t)) {
        match signal {
            Signal::High => return Some((at, Tier::High)),
            Signal::Other => continue,
            Signal::CaseStudy | Signal::KeyReading(_) => {}
        }
        let from = window_start(at, org_tz);
        let (mut studies, mut reading) = (0, 0);
        for &(t, s) in signals {
            if t < from || t > at || !after_floor(t) {
                continue;
            }
            match s {
                Signal::CaseStudy => studies += 1,
                Signal::KeyReading(secs) => reading += secs,
                _ => {}
            }
        }
        if studies >= MID_CASE_STUDIES && reading >= MID_KEY_READING_S {
            return Some((at, Tier::Mid));
        }
    }
    None
}

/// The same wall-clock time [`MID_WINDOW_DAYS`] dates before `at` in `tz`.
fn window_start(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).naive_local() - Days::new(MID_WINDOW_DAYS);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // Inside a DST gap: the first instant after it.
        LocalResult::None => plus(at, -(MID_WINDOW_DAYS as i64) * DAY + HOUR),
    }
}
