//! The sales organisation the generator invents: teams, reps, managers and
//! the marketing VP.
//!
//! A *team* covers a territory (a set of countries) and works on one policy
//! calendar, so its reps keep office hours in their own time zone. A
//! *working rep* receives hand-offs; each has a *temperament* that makes
//! the scorecard interesting: how fast they usually touch a new hand-off,
//! how diligently they follow the cadence, and how picky they are.

use chrono_tz::Tz;
use handoff_core::calendar::Calendar;
use handoff_core::event::RepFacts;
use handoff_core::Policy;
use rand_chacha::ChaCha8Rng;

use super::names::{FIRST_NAMES, LAST_NAMES};
use super::random::{chance, lognormal, normal, one_of};

/// Working reps per 1,000 accounts (a rep handles roughly 50 to 100
/// hand-offs a year at the generated qualification rates).
const REPS_PER_THOUSAND_ACCOUNTS: f64 = 6.0;
/// Fewest working reps, so that every team has at least two.
const MIN_REPS: u32 = 6;

/// A territory: its team name, policy calendar, share of accounts and
/// countries (with weights and the time zone their people live in).
pub(super) struct TerritorySpec {
    pub team: &'static str,
    pub calendar: &'static str,
    pub share: f64,
    pub countries: &'static [(&'static str, Tz, f64)],
}

/// The three territories. A team's calendar must exist in the policy; the
/// default policy defines all three.
pub(super) const TERRITORIES: [TerritorySpec; 3] = [
    TerritorySpec {
        team: "east",
        calendar: "headquarters",
        share: 0.45,
        countries: &[
            ("US", Tz::America__New_York, 0.85),
            ("CA", Tz::America__Toronto, 0.15),
        ],
    },
    TerritorySpec {
        team: "west",
        calendar: "pacific",
        share: 0.30,
        countries: &[
            ("US", Tz::America__Los_Angeles, 0.9),
            ("CA", Tz::America__Vancouver, 0.1),
        ],
    },
    TerritorySpec {
        team: "emea",
        calendar: "london",
        share: 0.25,
        countries: &[
            ("GB", Tz::Europe__London, 0.35),
            ("DE", Tz::Europe__Berlin, 0.25),
            ("FR", Tz::Europe__Paris, 0.15),
            ("NL", Tz::Europe__Amsterdam, 0.10),
            ("IE", Tz::Europe__Dublin, 0.08),
            ("SE", Tz::Europe__Stockholm, 0.07),
        ],
    },
];

/// A person in the organisation, as the `rep` event describes them.
pub(super) struct Rep {
    pub facts: RepFacts,
    /// Median business seconds from hand-off to first touch (high tier).
    pub first_touch_median_s: f64,
    /// Probability of working the full cadence (7+ attempts in 14 days).
    pub diligence: f64,
    /// Added to the acceptance probability; negative for picky reps.
    pub accept_bias: f64,
}

/// A team with its calendar and members.
pub(super) struct Team {
    pub calendar: Calendar,
    /// Indexes into [`Org::reps`] of the working reps.
    pub members: Vec<usize>,
}

/// Everyone, in the order their `rep` events are written.
pub(super) struct Org {
    pub reps: Vec<Rep>,
    pub teams: Vec<Team>,
}

impl Org {
    /// Invents the organisation for `accounts` accounts; fails when the
    /// policy lacks a territory's calendar.
    pub fn build(accounts: u32, policy: &Policy, rng: &mut ChaCha8Rng) -> anyhow::Result<Org> {
        let working = working_rep_count(accounts);
        let mut reps = Vec::new();
        let mut teams = Vec::new();
        for (t, spec) in TERRITORIES.iter().enumerate() {
            let calendar = policy
                .calendars
                .get(spec.calendar)
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "policy has no calendar \"{}\" for generated team \"{}\"; add \
                     [calendars.{}] (policies/default.toml defines it)",
                        spec.calendar,
                        spec.team,
                        spec.calendar
                    )
                })?;
            let manager = reps.len();
            reps.push(manager_rep(spec, rng));
            let members = (0..team_size(working, t))
                .map(|k| {
                    reps.push(working_rep(spec, k, &reps[manager].facts.rep, rng));
                    reps.len() - 1
                })
                .collect();
            teams.push(Team { calendar, members });
        }
        reps.push(marketing_vp(policy, rng));
        reps.push(sales_vp(policy));
        Ok(Org { reps, teams })
    }
}

/// Working reps for an account count: 6 per 1,000, at least [`MIN_REPS`].
pub(super) fn working_rep_count(accounts: u32) -> u32 {
    let scaled = (f64::from(accounts) * REPS_PER_THOUSAND_ACCOUNTS / 1000.0).round() as u32;
    scaled.max(MIN_REPS)
}

/// Working reps in territory `t`: its share of `working`, at least two;
/// the last territory takes the remainder so the total is exact.
fn team_size(working: u32, t: usize) -> u32 {
    let share = |i: usize| ((f64::from(working) * TERRITORIES[i].share).round() as u32).max(2);
    if t + 1 < TERRITORIES.len() {
        share(t)
    } else {
        let before: u32 = (0..t).map(share).sum();
        working.saturating_sub(before).max(2)
    }
}

fn person_name(rng: &mut ChaCha8Rng) -> (String, String) {
    let first = one_of(rng, FIRST_NAMES);
    let last = one_of(rng, LAST_NAMES);
    let email = format!("{}.{}@handoff-demo.example", first, last).to_lowercase();
    (format!("{first} {last}"), email)
}

fn manager_rep(spec: &TerritorySpec, rng: &mut ChaCha8Rng) -> Rep {
    let (name, email) = person_name(rng);
    Rep {
        facts: RepFacts {
            rep: format!("{}-manager", spec.team),
            name: Some(name),
            team: Some(spec.team.to_string()),
            manager: None,
            role: Some("sales_manager".into()),
            calendar: Some(spec.calendar.to_string()),
            email: Some(email),
        },
        first_touch_median_s: 3_600.0,
        diligence: 0.8,
        accept_bias: 0.0,
    }
}

/// A working rep. About one in eight is a laggard: slow first touches and
/// a patchy cadence, the pattern a manager should spot in the scorecard.
fn working_rep(spec: &TerritorySpec, k: u32, manager: &str, rng: &mut ChaCha8Rng) -> Rep {
    let (name, email) = person_name(rng);
    let laggard = chance(rng, 0.125);
    let role = if chance(rng, 0.6) { "sdr" } else { "ae" };
    let ft_median_min = if laggard {
        170.0
    } else {
        lognormal(rng, 45.0, 0.35)
    };
    let diligence = if laggard {
        0.45
    } else {
        (0.78 + 0.05 * normal(rng)).clamp(0.6, 0.95)
    };
    Rep {
        facts: RepFacts {
            rep: format!("{}-{:03}", spec.team, k + 1),
            name: Some(name),
            team: Some(spec.team.to_string()),
            manager: Some(manager.to_string()),
            role: Some(role.into()),
            calendar: Some(spec.calendar.to_string()),
            email: Some(email),
        },
        first_touch_median_s: ft_median_min * 60.0,
        diligence,
        accept_bias: 0.04 * normal(rng),
    }
}

/// The sales VP, the last step of the default escalation chain; works on
/// the organisation's calendar. Drawn from no random stream, so adding them
/// left every other generated event as it was.
fn sales_vp(policy: &Policy) -> Rep {
    Rep {
        facts: RepFacts {
            rep: "sales-vp".into(),
            name: None,
            team: Some("sales".into()),
            manager: None,
            role: Some("sales_vp".into()),
            calendar: Some(policy.org_calendar.clone()),
            email: None,
        },
        first_touch_median_s: 0.0,
        diligence: 0.0,
        accept_bias: 0.0,
    }
}

/// The marketing VP, who receives acceptance-rate alerts; works on the
/// organisation's calendar.
fn marketing_vp(policy: &Policy, rng: &mut ChaCha8Rng) -> Rep {
    let (name, email) = person_name(rng);
    Rep {
        facts: RepFacts {
            rep: "marketing-vp".into(),
            name: Some(name),
            team: Some("marketing".into()),
            manager: None,
            role: Some("marketing_vp".into()),
            calendar: Some(policy.org_calendar.clone()),
            email: Some(email),
        },
        first_touch_median_s: 0.0,
        diligence: 0.0,
        accept_bias: 0.0,
    }
}
