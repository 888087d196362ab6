//! Qualification: ICP fit and intent tiers over rolling windows.
//!
//! An account *fits* the ICP when its firmographics meet every condition of
//! the policy's `[icp]`. It *reaches* an intent tier when the engagements of
//! its people inside the tier's rolling window satisfy the tier's conditions.
//! A window is inclusive at its far end: with a 30-day window, a touch
//! exactly 30 wall-clock days before the qualifying one still counts, one
//! second earlier does not. Only engagements after the account last left the
//! funnel (its *floor*) count, so a rejected account must earn a new cycle.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::event::AccountFacts;
use crate::policy::{Condition, Icp, Policy, Tier, TierMode, WindowSpan};

/// One engagement as the engine keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngagementRecord {
    pub at: DateTime<Utc>,
    pub event_id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

/// Why an account qualified: the tier, its window and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Qualification {
    pub tier: String,
    /// `any` or `all`.
    pub rule: String,
    /// First instant the window admitted; absent for an unbounded tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_from: Option<DateTime<Utc>>,
    /// Engagement event ids that satisfied the conditions.
    pub evidence: Vec<String>,
}

/// Checks the ICP; `Err` names the first condition that failed.
pub fn fits_icp(icp: &Icp, facts: &AccountFacts) -> Result<(), String> {
    let missing = |field: &str| {
        if icp.missing_fits {
            Ok(())
        } else {
            Err(format!("no {field} known"))
        }
    };
    if let Some(list) = &icp.industry {
        match &facts.industry {
            Some(v) if list.iter().any(|x| x.eq_ignore_ascii_case(v.trim())) => {}
            Some(v) => return Err(format!("industry \"{v}\" not in the ICP")),
            None => missing("industry")?,
        }
    }
    if let Some(range) = icp.employees {
        match facts.employees {
            Some(n) if in_range(n as f64, range) => {}
            Some(n) => return Err(format!("{n} employees outside the ICP range")),
            None => missing("employee count")?,
        }
    }
    if let Some(list) = &icp.country {
        match &facts.country {
            Some(v) if list.iter().any(|x| x.eq_ignore_ascii_case(v.trim())) => {}
            Some(v) => return Err(format!("country \"{v}\" not in the ICP")),
            None => missing("country")?,
        }
    }
    if let Some(range) = icp.annual_revenue {
        match facts.annual_revenue {
            Some(r) if in_range(r, range) => {}
            Some(r) => return Err(format!("annual revenue {r} outside the ICP range")),
            None => missing("annual revenue")?,
        }
    }
    for (key, accepted) in &icp.attributes {
        match facts.attributes.get(key) {
            Some(v) if accepted.iter().any(|a| a == v) => {}
            Some(v) => return Err(format!("{key} \"{v}\" not in the ICP")),
            None => missing(key)?,
        }
    }
    Ok(())
}

fn in_range(v: f64, (min, max): (Option<f64>, Option<f64>)) -> bool {
    min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)
}

/// The strongest tier the engagements reach at `now`, if any.
///
/// `engagements` are sorted by instant; only those in `(floor, now]` and
/// inside each tier's window are considered.
pub fn evaluate(
    policy: &Policy,
    engagements: &[EngagementRecord],
    floor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Qualification> {
    let tz = policy.org_calendar().tz();
    let end = engagements.partition_point(|e| e.at <= now);
    let seen = &engagements[..end];
    policy
        .tiers
        .iter()
        .find_map(|tier| evaluate_tier(tier, seen, floor, now, tz))
}

fn evaluate_tier(
    tier: &Tier,
    seen: &[EngagementRecord],
    floor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<Qualification> {
    let window_from = tier.window.map(|w| window_start(w, now, tz));
    let start = seen.partition_point(|e| {
        floor.is_some_and(|f| e.at <= f) || window_from.is_some_and(|w| e.at < w)
    });
    let pool = &seen[start..];

    let mut evidence: Vec<&EngagementRecord> = Vec::new();
    let mut satisfied = 0;
    for cond in &tier.conditions {
        // Under `any`, every condition that holds adds its people, so that
        // `contacts = 2` can be met by two people doing different things.
        if let Some(matches) = satisfy(cond, pool) {
            satisfied += 1;
            evidence.extend(matches);
        } else if tier.mode == TierMode::All {
            return None;
        }
    }
    if satisfied == 0 || distinct_people(&evidence) < tier.contacts as usize {
        return None;
    }
    let mut ids: Vec<String> = evidence.iter().map(|e| e.event_id.clone()).collect();
    ids.sort();
    ids.dedup();
    Some(Qualification {
        tier: tier.name.clone(),
        rule: if tier.mode == TierMode::Any {
            "any"
        } else {
            "all"
        }
        .into(),
        window_from,
        evidence: ids,
    })
}

/// The engagements matching a condition, when they satisfy it.
fn satisfy<'a>(
    cond: &Condition,
    pool: &'a [EngagementRecord],
) -> Option<Vec<&'a EngagementRecord>> {
    let matches: Vec<&EngagementRecord> = pool.iter().filter(|e| matches(cond, e)).collect();
    if matches.len() < cond.count as usize {
        return None;
    }
    if let Some(need) = cond.seconds {
        let total: f64 = matches.iter().map(|e| e.seconds).sum();
        if total < need {
            return None;
        }
    }
    if distinct_people(&matches) < cond.contacts as usize {
        return None;
    }
    Some(matches)
}

fn matches(cond: &Condition, e: &EngagementRecord) -> bool {
    if e.kind != cond.kind {
        return false;
    }
    if let Some(assets) = &cond.assets {
        if !e.asset.as_ref().is_some_and(|a| assets.contains(a)) {
            return false;
        }
    }
    if let Some(tag) = &cond.asset_tag {
        if !e.tags.contains(tag) {
            return false;
        }
    }
    true
}

/// Distinct people behind engagements; engagements recorded against the
/// account with no contact count as one person together.
fn distinct_people(es: &[&EngagementRecord]) -> usize {
    let named: BTreeSet<&str> = es.iter().filter_map(|e| e.contact.as_deref()).collect();
    let anonymous = es.iter().any(|e| e.contact.is_none());
    named.len() + usize::from(anonymous)
}

/// First instant inside a window that ends at `now`.
fn window_start(w: WindowSpan, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    match w {
        WindowSpan::Exact(d) => now - d,
        WindowSpan::Days(days) => {
            // Same local wall-clock time `days` dates earlier.
            let local = now.with_timezone(&tz).naive_local();
            let earlier = local - Days::new(u64::from(days));
            match tz.from_local_datetime(&earlier) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
                // In a DST gap: the window opens at the end of the gap, the
                // first existing instant after that wall-clock time.
                LocalResult::None => {
                    now - chrono::Duration::days(i64::from(days)) + chrono::Duration::hours(1)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_toml(include_str!("../../../policies/default.toml")).unwrap()
    }

    fn eng(id: &str, at: &str, kind: &str, contact: Option<&str>) -> EngagementRecord {
        EngagementRecord {
            at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            event_id: id.into(),
            kind: kind.into(),
            asset: None,
            tags: Vec::new(),
            seconds: 0.0,
            contact: contact.map(String::from),
            channel: None,
            campaign: None,
        }
    }

    fn whitepaper(id: &str, at: &str, minutes: f64) -> EngagementRecord {
        let mut e = eng(id, at, "whitepaper_read", Some("c2"));
        e.tags = vec!["key-whitepaper".into()];
        e.seconds = minutes * 60.0;
        e
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn one_demo_request_reaches_high() {
        let es = vec![eng("d1", "2026-03-02T15:00:00Z", "demo_request", None)];
        let q = evaluate(&policy(), &es, None, at("2026-03-02T15:00:00Z")).unwrap();
        assert_eq!(q.tier, "high");
        assert_eq!(q.evidence, vec!["d1"]);
    }

    /// Mid needs 3 case studies and 10 whitepaper minutes within 30 days
    /// (New York wall clock). The first case study at 2026-02-01 10:00 EST
    /// is exactly 30 dates before 2026-03-03 10:00 EST, the last touch.
    fn mid_history(first_case_study: &str) -> Vec<EngagementRecord> {
        vec![
            eng("c1", first_case_study, "case_study_view", Some("c1")),
            eng("c2", "2026-02-10T15:00:00Z", "case_study_view", Some("c1")),
            whitepaper("w1", "2026-02-20T15:00:00Z", 6.0),
            eng("c3", "2026-03-01T15:00:00Z", "case_study_view", Some("c1")),
            whitepaper("w2", "2026-03-03T15:00:00Z", 4.0),
        ]
    }

    #[test]
    fn mid_tier_at_exactly_thirty_days_qualifies() {
        let es = mid_history("2026-02-01T15:00:00Z");
        let q = evaluate(&policy(), &es, None, at("2026-03-03T15:00:00Z")).unwrap();
        assert_eq!(q.tier, "mid");
        assert_eq!(q.window_from, Some(at("2026-02-01T15:00:00Z")));
        assert_eq!(q.evidence, vec!["c1", "c2", "c3", "w1", "w2"]);
    }

    #[test]
    fn mid_tier_one_second_too_late_does_not() {
        let es = mid_history("2026-02-01T14:59:59Z");
        assert_eq!(
            evaluate(&policy(), &es, None, at("2026-03-03T15:00:00Z")),
            None
        );
    }

    #[test]
    fn nine_whitepaper_minutes_are_not_enough() {
        let mut es = mid_history("2026-02-05T15:00:00Z");
        es[4].seconds = 3.0 * 60.0; // 6 + 3 = 9 minutes
        assert_eq!(
            evaluate(&policy(), &es, None, at("2026-03-03T15:00:00Z")),
            None
        );
    }

    #[test]
    fn engagements_before_the_floor_do_not_count() {
        let es = vec![eng("d1", "2026-03-02T15:00:00Z", "demo_request", None)];
        let floor = Some(at("2026-03-05T00:00:00Z"));
        assert_eq!(
            evaluate(&policy(), &es, floor, at("2026-03-06T00:00:00Z")),
            None
        );
    }

    #[test]
    fn any_tier_with_two_contacts_counts_people_across_conditions() {
        // One person requests a demo, another views pricing: two people.
        let text = include_str!("../../../policies/default.toml").replacen(
            "name = \"high\"\n",
            "name = \"high\"\ncontacts = 2\n",
            1,
        );
        let p = Policy::from_toml(&text).unwrap();
        let one = vec![eng(
            "d1",
            "2026-03-02T15:00:00Z",
            "demo_request",
            Some("ann"),
        )];
        assert_eq!(evaluate(&p, &one, None, at("2026-03-02T15:00:00Z")), None);
        let mut two = one.clone();
        two.push(eng(
            "p1",
            "2026-03-02T16:00:00Z",
            "pricing_page_view",
            Some("bob"),
        ));
        let q = evaluate(&p, &two, None, at("2026-03-02T16:00:00Z")).unwrap();
        assert_eq!((q.tier.as_str(), q.evidence.len()), ("high", 2));
    }

    #[test]
    fn icp_names_the_failed_condition() {
        let p = policy();
        let mut facts = AccountFacts {
            account: "a".into(),
            industry: Some("Software".into()),
            employees: Some(40),
            ..Default::default()
        };
        assert_eq!(
            fits_icp(&p.icp, &facts).unwrap_err(),
            "40 employees outside the ICP range"
        );
        facts.employees = Some(50);
        assert_eq!(fits_icp(&p.icp, &facts), Ok(()));
        facts.industry = None;
        assert_eq!(fits_icp(&p.icp, &facts).unwrap_err(), "no industry known");
    }
}
