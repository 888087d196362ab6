//! Round-robin reassignment: who takes a breached account next.
//!
//! When an alert rule asks for reassignment, the account goes to the next
//! *eligible* rep of the current owner's team. A rep is eligible when they
//! are in that team, are not the current owner, hold a selling role (no
//! role, `rep`, `sdr`, `bdr` or `ae`; managers, VPs and any other role are
//! skipped) and their *calendar* is open at the breach instant. A rep's
//! calendar follows the clock-calendar rule: `[reps.ID]` in the policy,
//! else the rep event's calendar, else the team's, else the organisation's.
//! The *rotation* is the rep chosen last for the team: the next pick is the
//! first eligible rep after it in rep-id order, wrapping around; with no
//! rotation yet it starts after the owner.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::event::RepFacts;
use crate::policy::Policy;

/// Roles that take accounts; a rep event without a role counts as a rep.
const SELLING_ROLES: [&str; 4] = ["rep", "sdr", "bdr", "ae"];

/// Whether the rep event describes someone who takes accounts (a selling
/// role, or no role).
pub fn takes_accounts(rep: &RepFacts) -> bool {
    rep.role
        .as_deref()
        .is_none_or(|x| SELLING_ROLES.contains(&x))
}

/// The rep to reassign `owner`'s breached account to at `at`, the first
/// eligible rep of the owner's team after `last` (the team's rotation) in
/// rep-id order; `None` when the owner has no known team or nobody
/// qualifies.
pub fn pick_reassignee<'r>(
    policy: &Policy,
    reps: &'r BTreeMap<String, RepFacts>,
    owner: &str,
    at: DateTime<Utc>,
    last: Option<&str>,
) -> Option<&'r str> {
    let team = reps.get(owner)?.team.as_deref()?;
    let eligible = |r: &&'r RepFacts| {
        r.rep != owner
            && r.team.as_deref() == Some(team)
            && takes_accounts(r)
            && rep_calendar_open(policy, r, at)
    };
    let start = last.unwrap_or(owner);
    let (after, before): (Vec<_>, Vec<_>) = reps.values().partition(|r| r.rep.as_str() > start);
    after
        .into_iter()
        .chain(before)
        .find(eligible)
        .map(|r| r.rep.as_str())
}

/// Whether the rep's calendar (the clock-calendar rule) is open at `at`.
fn rep_calendar_open(policy: &Policy, rep: &RepFacts, at: DateTime<Utc>) -> bool {
    let name = rep_calendar_name(policy, rep);
    policy.calendars.get(&name).is_some_and(|c| c.is_open(at))
}

/// A person's working calendar: their own (policy, else rep event), else
/// their team's, else the organisation's.
pub(super) fn rep_calendar_name(policy: &Policy, rep: &RepFacts) -> String {
    let known = |name: &String| policy.calendars.contains_key(name);
    policy
        .rep_calendars
        .get(&rep.rep)
        .cloned()
        .or_else(|| rep.calendar.clone())
        .filter(known)
        .or_else(|| {
            let team = rep.team.as_ref()?;
            policy.team_calendars.get(team).cloned()
        })
        .unwrap_or_else(|| policy.org_calendar.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default policy plus `[reps.d] calendar = "london"`.
    fn policy() -> Policy {
        let text = include_str!("../../../../policies/default.toml");
        Policy::from_toml(&format!("{text}\n[reps.d]\ncalendar = \"london\"\n")).unwrap()
    }

    fn rep(id: &str, team: &str, role: Option<&str>, calendar: Option<&str>) -> RepFacts {
        RepFacts {
            rep: id.into(),
            team: Some(team.into()),
            role: role.map(String::from),
            calendar: calendar.map(String::from),
            ..Default::default()
        }
    }

    /// Team east: a (owner, headquarters by team), b (london by rep event),
    /// c (sales_manager), d (london by the policy's `[reps.d]`), e (ae,
    /// headquarters); f is in team west.
    fn reps() -> BTreeMap<String, RepFacts> {
        [
            rep("a", "east", Some("ae"), None),
            rep("b", "east", None, Some("london")),
            rep("c", "east", Some("sales_manager"), None),
            rep("d", "east", Some("sdr"), None),
            rep("e", "east", Some("ae"), None),
            rep("f", "west", Some("ae"), None),
        ]
        .into_iter()
        .map(|r| (r.rep.clone(), r))
        .collect()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn both_cities_open_goes_round_robin_by_id() {
        // Tue 2026-03-03 16:00Z: New York is EST (UTC-5) so 11:00, London is
        // GMT so 16:00; both inside 09:00-17:00. Eligible: b, d, e (c is a
        // manager, f another team, a the owner).
        let (p, r, t) = (policy(), reps(), at("2026-03-03T16:00:00Z"));
        assert_eq!(pick_reassignee(&p, &r, "a", t, None), Some("b"));
        assert_eq!(pick_reassignee(&p, &r, "a", t, Some("b")), Some("d"));
        assert_eq!(pick_reassignee(&p, &r, "a", t, Some("d")), Some("e"));
        // After e the order wraps: a is the owner, so b again.
        assert_eq!(pick_reassignee(&p, &r, "a", t, Some("e")), Some("b"));
    }

    #[test]
    fn closed_calendars_are_skipped() {
        // Tue 2026-03-03 18:30Z: New York 13:30 (open), London 18:30
        // (closed after 17:00): b and d are skipped, e takes it.
        let (p, r, t) = (policy(), reps(), at("2026-03-03T18:30:00Z"));
        assert_eq!(pick_reassignee(&p, &r, "a", t, None), Some("e"));
        assert_eq!(pick_reassignee(&p, &r, "a", t, Some("e")), Some("e"));
        // Tue 2026-03-03 10:00Z: New York 05:00 (closed), London 10:00
        // (open): only b and d.
        let t = at("2026-03-03T10:00:00Z");
        assert_eq!(pick_reassignee(&p, &r, "a", t, Some("b")), Some("d"));
    }

    #[test]
    fn nobody_open_or_no_team_gives_none() {
        // Tue 2026-03-03 23:00Z: New York 18:00, London 23:00, both closed.
        let (p, r) = (policy(), reps());
        assert_eq!(
            pick_reassignee(&p, &r, "a", at("2026-03-03T23:00:00Z"), None),
            None
        );
        // f is alone in team west; an unknown owner has no team.
        let t = at("2026-03-03T16:00:00Z");
        assert_eq!(pick_reassignee(&p, &r, "f", t, None), None);
        assert_eq!(pick_reassignee(&p, &r, "zz", t, None), None);
    }
}
