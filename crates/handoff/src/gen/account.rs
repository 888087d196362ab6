//! One account's year: firmographics, contacts, engagement and the sales
//! cycles it goes through.
//!
//! An account is simulated on its own random stream, so its events depend
//! only on the seed and its index. Its *interest* is fixed at creation:
//! *dormant* and *browsing* accounts engage a little and never qualify;
//! *mid* and *high* accounts have an intent burst at a random moment of the
//! period. Whenever the engagements reach a tier ([`first_qualification`])
//! and the account fits the ICP, Marketing hands it off and a sales cycle
//! runs ([`super::cycle`]). A cycle that ends back in nurture may, later,
//! be followed by a new intent burst and a new cycle.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handoff_core::event::{AccountFacts, ContactFacts, EventBody};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::cycle::CycleEnd;
use super::engagement::{first_qualification, Signal};
use super::names::{COMPANY_STEMS, COMPANY_SUFFIXES, FIRST_NAMES, LAST_NAMES, TITLES};
use super::org::TERRITORIES;
use super::random::{chance, lognormal, one_of, pick, poisson, secs_between};
use super::timing::{plus, DAY};
use super::{Draft, World};

/// Industries of the default policy's ICP, with how common each is among
/// generated accounts.
pub const ICP_INDUSTRIES: [(&str, f64); 5] = [
    ("software", 0.30),
    ("financial services", 0.20),
    ("healthcare", 0.18),
    ("manufacturing", 0.18),
    ("retail", 0.14),
];
/// Industries outside the ICP.
const OTHER_INDUSTRIES: [(&str, f64); 5] = [
    ("education", 0.3),
    ("government", 0.2),
    ("non-profit", 0.2),
    ("hospitality", 0.15),
    ("media", 0.15),
];
/// Share of accounts in an industry outside the ICP.
const NON_ICP_INDUSTRY_SHARE: f64 = 0.15;
/// The default policy's ICP size floor: at least this many employees.
pub const ICP_MIN_EMPLOYEES: u64 = 50;

/// How much an account's people care, fixed when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interest {
    Dormant,
    Browsing,
    Mid,
    High,
}

/// The state of one account's simulation.
pub(super) struct AccountSim<'w> {
    pub world: &'w World,
    pub rng: ChaCha8Rng,
    pub id: String,
    /// Index into the territories (and the organisation's teams).
    pub territory: usize,
    /// The zone the account's people live in.
    pub tz: Tz,
    pub contacts: Vec<String>,
    pub employees: u64,
    /// When the account first appears.
    pub first_seen: DateTime<Utc>,
    /// Sales cycles started so far; names opportunities.
    pub cycles: u32,
    /// Everything drafted, in no particular order.
    pub drafts: Vec<Draft>,
    /// What each engagement contributes to the tier rules.
    pub signals: Vec<(DateTime<Utc>, Signal)>,
}

impl<'w> AccountSim<'w> {
    /// Starts account `index` on its own random stream.
    pub fn new(world: &'w World, index: u32) -> AccountSim<'w> {
        let mut rng = ChaCha8Rng::seed_from_u64(world.seed);
        // Stream 0 belongs to the organisation.
        rng.set_stream(u64::from(index) + 1);
        let shares: Vec<(usize, f64)> = TERRITORIES
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.share))
            .collect();
        let territory = *pick(&mut rng, &shares);
        AccountSim {
            world,
            rng,
            id: format!("acct-{:06}", index + 1),
            territory,
            tz: world.org_tz,
            contacts: Vec::new(),
            employees: 0,
            first_seen: world.start,
            cycles: 0,
            drafts: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// Records an event, unless it falls after the end of the period.
    pub fn push(&mut self, at: DateTime<Utc>, tz: Tz, body: EventBody) {
        if at < self.world.end {
            self.drafts.push(Draft { at, tz, body });
        }
    }

    /// Simulates the whole period and returns the drafts.
    pub fn run(mut self) -> Vec<Draft> {
        let fits = self.create();
        let interest = self.interest();
        self.background(interest);
        let span = (self.world.end - self.first_seen).num_seconds();
        match interest {
            Interest::High => {
                let at = plus(self.first_seen, secs_between(&mut self.rng, DAY, span));
                self.high_intent_burst(at);
            }
            Interest::Mid => {
                let at = plus(self.first_seen, secs_between(&mut self.rng, 6 * DAY, span));
                self.mid_intent_burst(at, false);
            }
            Interest::Browsing if chance(&mut self.rng, 0.3) => {
                let at = plus(self.first_seen, secs_between(&mut self.rng, 6 * DAY, span));
                self.mid_intent_burst(at, true);
            }
            _ => {}
        }
        if fits {
            self.cycles_loop();
        }
        self.drafts
    }

    /// Qualify, hand off, run the cycle; repeat while the account comes
    /// back from nurture.
    fn cycles_loop(&mut self) {
        let mut floor = None;
        loop {
            self.signals.sort_by_key(|(t, _)| *t);
            let Some((at, tier)) = first_qualification(&self.signals, floor, self.world.org_tz)
            else {
                return;
            };
            let back_at = match self.run_cycle(at, tier) {
                CycleEnd::Nurtured { at, comeback } => (at, comeback),
                CycleEnd::Done => return,
            };
            floor = Some(back_at.0);
            if !chance(&mut self.rng, back_at.1) {
                // Not coming back: later background can't qualify, stop.
                return;
            }
            let gap = secs_between(&mut self.rng, 45 * DAY, 150 * DAY);
            let again = plus(back_at.0, gap);
            if again >= self.world.end {
                return;
            }
            if chance(&mut self.rng, 0.6) {
                self.high_intent_burst(again);
            } else {
                self.mid_intent_burst(again, false);
            }
        }
    }

    /// Writes the account and its contacts; answers whether it fits the
    /// ICP.
    fn create(&mut self) -> bool {
        let spec = &TERRITORIES[self.territory];
        let (country, tz) = {
            let weighted: Vec<((&str, Tz), f64)> = spec
                .countries
                .iter()
                .map(|(c, z, w)| ((*c, *z), *w))
                .collect();
            *pick(&mut self.rng, &weighted)
        };
        self.tz = tz;
        if !chance(&mut self.rng, 0.7) {
            let latest = (self.world.end - self.world.start).num_seconds() * 7 / 10;
            self.first_seen = plus(self.world.start, secs_between(&mut self.rng, 0, latest));
        }

        let in_icp = !chance(&mut self.rng, NON_ICP_INDUSTRY_SHARE);
        let industry = if in_icp {
            *pick(&mut self.rng, &ICP_INDUSTRIES)
        } else {
            *pick(&mut self.rng, &OTHER_INDUSTRIES)
        };
        // Median 300 employees; about 8% fall under 50.
        self.employees = lognormal(&mut self.rng, 300.0, 1.3).round().max(2.0) as u64;
        // Revenue per employee: median 180k.
        let revenue = self.employees as f64 * lognormal(&mut self.rng, 180_000.0, 0.4);
        let facts = AccountFacts {
            account: self.id.clone(),
            name: Some(self.company_name(industry)),
            industry: Some(industry.to_string()),
            employees: Some(self.employees),
            country: Some(country.to_string()),
            annual_revenue: Some((revenue / 10_000.0).round() * 10_000.0),
            region: Some(spec.calendar.to_string()),
            attributes: [("segment".to_string(), segment(self.employees).to_string())].into(),
        };
        self.push(self.first_seen, tz, EventBody::Account(facts));
        self.create_contacts();
        in_icp && self.employees >= ICP_MIN_EMPLOYEES
    }

    fn company_name(&mut self, industry: &str) -> String {
        let stem = one_of(&mut self.rng, COMPANY_STEMS);
        let suffixes = COMPANY_SUFFIXES
            .iter()
            .find(|(i, _)| *i == industry)
            .unwrap_or(&COMPANY_SUFFIXES[COMPANY_SUFFIXES.len() - 1])
            .1;
        format!("{stem} {}", one_of(&mut self.rng, suffixes))
    }

    /// One to four contacts, written a minute apart after the account.
    fn create_contacts(&mut self) {
        let weights = [(1u32, 0.4), (2, 0.3), (3, 0.2), (4, 0.1)];
        let n = *pick(&mut self.rng, &weights);
        let domain = format!("{}.example", self.id);
        for k in 1..=n {
            let first = one_of(&mut self.rng, FIRST_NAMES);
            let last = one_of(&mut self.rng, LAST_NAMES);
            let contact = format!("{}-c{k}", self.id);
            let facts = ContactFacts {
                contact: contact.clone(),
                account: Some(self.id.clone()),
                name: Some(format!("{first} {last}")),
                email: Some(format!("{first}.{last}@{domain}").to_lowercase()),
                title: Some(one_of(&mut self.rng, TITLES).to_string()),
            };
            self.push(
                plus(self.first_seen, i64::from(k) * 60),
                self.tz,
                EventBody::Contact(facts),
            );
            self.contacts.push(contact);
        }
    }

    fn interest(&mut self) -> Interest {
        let weights = [
            (Interest::Dormant, 0.30),
            (Interest::Browsing, 0.35),
            (Interest::Mid, 0.13),
            (Interest::High, 0.22),
        ];
        *pick(&mut self.rng, &weights)
    }

    /// Background bursts spread over the account's part of the period.
    fn background(&mut self, interest: Interest) {
        let mean = match interest {
            Interest::Dormant => 0.8,
            Interest::Browsing => 2.5,
            Interest::Mid | Interest::High => 2.0,
        };
        let span = (self.world.end - self.first_seen).num_seconds();
        for _ in 0..poisson(&mut self.rng, mean) {
            let begin = plus(self.first_seen, secs_between(&mut self.rng, 0, span));
            self.background_burst(begin);
        }
    }
}

/// The `segment` attribute by size, for custom ICP conditions.
fn segment(employees: u64) -> &'static str {
    match employees {
        0..=199 => "smb",
        200..=1_999 => "mid-market",
        _ => "enterprise",
    }
}
