//! Attribution: sharing the credit for a conversion among the marketing
//! touches that came before it.
//!
//! A *journey* is one account's marketing touches in time order and what
//! came of them: a conversion worth some value (won ARR, or pipeline) at an
//! instant, or nothing. A *model* turns each converting journey into a
//! weight per touch, summing to 1; a touch's key (its channel or its
//! campaign) is credited with that share of one conversion and of the
//! conversion's value. The Markov model instead credits keys in proportion
//! to their *removal effect* over all journeys, converting or not.
//!
//! Position-based models, for `n` touches:
//! - first touch and last touch: all credit to that touch;
//! - linear: `1/n` each;
//! - U-shaped: the first and last touch get the policy's `first` and `last`
//!   shares, the touches between split `middle`; with no touch between, the
//!   two ends share in proportion to their shares;
//! - W-shaped: the first touch, the lead-creation touch (the last touch at
//!   or before the account's MQA) and the opportunity-creation touch (the
//!   last at or before the opportunity opened) get the policy's three
//!   milestone shares (added up where two milestones fall on one touch);
//!   the other touches split the rest share. With no other touch, the
//!   milestone shares are scaled to sum to 1. A missing milestone's share is
//!   dropped the same way;
//! - time decay: weight `2^(-age / half_life)`, age from the touch to the
//!   conversion, scaled to sum to 1.
//!
//! Markov (first order, computed exactly, not simulated): from the journeys
//! count the transitions start -> first key -> ... -> last key ->
//! conversion or null. The conversion probability `P` is the chance of
//! absorbing in conversion from start. Removing key `k` (every transition
//! into `k` goes to null instead) gives `P_k`; its removal effect is
//! `1 - P_k / P`. Each key gets conversions and value in proportion to its
//! removal effect. A repeated key (k -> k) changes no absorption
//! probability, so paths need not be collapsed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One marketing touch of a journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub at: DateTime<Utc>,
    pub channel: String,
    pub campaign: Option<String>,
}

/// What came of a journey.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A conversion worth `value` at `at`, with the instants of the W-shaped
    /// milestones when known.
    Converted {
        at: DateTime<Utc>,
        value: f64,
        /// When the account became an MQA (lead creation).
        lead_at: Option<DateTime<Utc>>,
        /// When the opportunity opened.
        opportunity_at: Option<DateTime<Utc>>,
    },
    /// No conversion (yet).
    Lost,
}

/// One account's touches in time order and their outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    pub account: String,
    pub touches: Vec<Touch>,
    pub outcome: Outcome,
}

/// What a touch is credited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Channel,
    Campaign,
}

impl Dimension {
    fn key(self, t: &Touch) -> String {
        match self {
            Dimension::Channel => t.channel.clone(),
            Dimension::Campaign => t
                .campaign
                .clone()
                .unwrap_or_else(|| format!("({} without campaign)", t.channel)),
        }
    }
}

/// An attribution model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    FirstTouch,
    LastTouch,
    Linear,
    UShaped,
    WShaped,
    TimeDecay,
    Markov,
}

impl Model {
    /// Every model, in the order reports show them.
    pub const ALL: [Model; 7] = [
        Model::FirstTouch,
        Model::LastTouch,
        Model::Linear,
        Model::UShaped,
        Model::WShaped,
        Model::TimeDecay,
        Model::Markov,
    ];

    /// The model's name as written in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::FirstTouch => "first_touch",
            Model::LastTouch => "last_touch",
            Model::Linear => "linear",
            Model::UShaped => "u_shaped",
            Model::WShaped => "w_shaped",
            Model::TimeDecay => "time_decay",
            Model::Markov => "markov",
        }
    }
}

/// The shares and half-life the models use (from the policy).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// U-shaped: first, middle, last.
    pub u_shaped: [f64; 3],
    /// W-shaped: first touch, lead creation, opportunity creation, the rest.
    pub w_shaped: [f64; 4],
    /// Time decay half-life, in seconds.
    pub half_life_s: f64,
}

/// The credit a key earned under one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Credit {
    pub key: String,
    /// Conversions credited (fractions of journeys).
    pub conversions: f64,
    /// Value credited (e.g. won ARR).
    pub value: f64,
}

/// Credit per key under `model`, sorted by key. Journeys without touches
/// earn nobody credit (their conversions stay unattributed).
pub fn attribute(
    model: Model,
    journeys: &[Journey],
    dim: Dimension,
    params: &Params,
) -> Vec<Credit> {
    let mut credit: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    if model == Model::Markov {
        for (key, share) in markov_shares(journeys, dim) {
            credit.insert(key, share);
        }
    } else {
        for j in journeys {
            let Outcome::Converted { value, .. } = j.outcome else {
                continue;
            };
            let Some(weights) = weights(model, j, params) else {
                continue;
            };
            for (t, w) in j.touches.iter().zip(weights) {
                let c = credit.entry(dim.key(t)).or_default();
                c.0 += w;
                c.1 += w * value;
            }
        }
    }
    credit
        .into_iter()
        .map(|(key, (conversions, value))| Credit {
            key,
            conversions,
            value,
        })
        .collect()
}

/// The weight of each touch of a converting journey under a position or
/// time model; `None` without touches.
pub fn weights(model: Model, j: &Journey, params: &Params) -> Option<Vec<f64>> {
    let n = j.touches.len();
    if n == 0 {
        return None;
    }
    let Outcome::Converted {
        at,
        lead_at,
        opportunity_at,
        ..
    } = j.outcome
    else {
        return None;
    };
    let mut w = vec![0.0; n];
    match model {
        Model::FirstTouch => w[0] = 1.0,
        Model::LastTouch => w[n - 1] = 1.0,
        Model::Linear => w.fill(1.0 / n as f64),
        Model::UShaped => {
            let [first, middle, last] = params.u_shaped;
            if n == 1 {
                w[0] = 1.0;
            } else {
                w[0] = first;
                w[n - 1] += last;
                if n > 2 {
                    for x in &mut w[1..n - 1] {
                        *x = middle / (n - 2) as f64;
                    }
                }
            }
        }
        Model::WShaped => {
            let [first, lead, opp, rest] = params.w_shaped;
            let last_by = |t: Option<DateTime<Utc>>| {
                let t = t?;
                j.touches.iter().rposition(|x| x.at <= t)
            };
            let mut milestone = vec![false; n];
            for (index, share) in [
                (Some(0), first),
                (last_by(lead_at), lead),
                (last_by(opportunity_at), opp),
            ] {
                if let Some(i) = index {
                    w[i] += share;
                    milestone[i] = true;
                }
            }
            let others = milestone.iter().filter(|m| !**m).count();
            if others > 0 {
                for (x, m) in w.iter_mut().zip(&milestone) {
                    if !m {
                        *x = rest / others as f64;
                    }
                }
            }
        }
        Model::TimeDecay => {
            for (x, t) in w.iter_mut().zip(&j.touches) {
                let age = (at - t.at).num_milliseconds().max(0) as f64 / 1000.0;
                *x = (-age / params.half_life_s * std::f64::consts::LN_2).exp();
            }
        }
        Model::Markov => return None,
    }
    let total: f64 = w.iter().sum();
    (total > 0.0).then(|| w.iter().map(|x| x / total).collect())
}

/// The removal effect of each key over all journeys (first-order Markov
/// chain, exact), sorted by key. Empty when no journey converts.
pub fn removal_effects(journeys: &[Journey], dim: Dimension) -> Vec<(String, f64)> {
    let chain = Chain::from_journeys(journeys, dim);
    let p = chain.conversion_probability(None);
    if p <= 0.0 {
        return Vec::new();
    }
    (0..chain.keys.len())
        .map(|k| {
            let without = chain.conversion_probability(Some(k));
            (chain.keys[k].clone(), 1.0 - without / p)
        })
        .collect()
}

/// Conversions and value per key in proportion to removal effects.
fn markov_shares(journeys: &[Journey], dim: Dimension) -> Vec<(String, (f64, f64))> {
    let effects = removal_effects(journeys, dim);
    let sum: f64 = effects.iter().map(|(_, e)| e).sum();
    let (mut conversions, mut value) = (0.0, 0.0);
    for j in journeys {
        if let Outcome::Converted { value: v, .. } = j.outcome {
            if !j.touches.is_empty() {
                conversions += 1.0;
                value += v;
            }
        }
    }
    if sum <= 0.0 {
        return Vec::new();
    }
    effects
        .into_iter()
        .map(|(k, e)| (k, (conversions * e / sum, value * e / sum)))
        .collect()
}

/// Transition counts of the first-order chain: states are the keys, with
/// start, conversion and null around them.
struct Chain {
    keys: Vec<String>,
    /// From start to key i.
    start: Vec<f64>,
    /// From key i to key j.
    between: Vec<Vec<f64>>,
    /// From key i to conversion and to null.
    conversion: Vec<f64>,
    null: Vec<f64>,
}

impl Chain {
    fn from_journeys(journeys: &[Journey], dim: Dimension) -> Chain {
        let keys: Vec<String> = journeys
            .iter()
            .flat_map(|j| j.touches.iter().map(|t| dim.key(t)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: BTreeMap<&str, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let n = keys.len();
        let mut chain = Chain {
            start: vec![0.0; n],
            between: vec![vec![0.0; n]; n],
            conversion: vec![0.0; n],
            null: vec![0.0; n],
            keys: Vec::new(),
        };
        for j in journeys {
            let path: Vec<usize> = j
                .touches
                .iter()
                .map(|t| index[dim.key(t).as_str()])
                .collect();
            let (Some(&first), Some(&last)) = (path.first(), path.last()) else {
                continue;
            };
            chain.start[first] += 1.0;
            for pair in path.windows(2) {
                chain.between[pair[0]][pair[1]] += 1.0;
            }
            match j.outcome {
                Outcome::Converted { .. } => chain.conversion[last] += 1.0,
                Outcome::Lost => chain.null[last] += 1.0,
            }
        }
        chain.keys = keys;
        chain
    }

    /// The probability of reaching conversion from start, with key
    /// `removed` (if any) turned into null. Solves `a = Q a + r` for the
    /// absorption probabilities `a` by Gaussian elimination.
    fn conversion_probability(&self, removed: Option<usize>) -> f64 {
        let n = self.keys.len();
        // Rows: (I - Q) a = r.
        let mut m = vec![vec![0.0; n + 1]; n];
        for (i, row) in m.iter_mut().enumerate() {
            row[i] = 1.0;
            if Some(i) == removed {
                continue; // a_removed = 0
            }
            let out: f64 = self.between[i].iter().sum::<f64>() + self.conversion[i] + self.null[i];
            if out == 0.0 {
                continue;
            }
            for (j, count) in self.between[i].iter().enumerate() {
                if Some(j) != removed {
                    row[j] -= count / out;
                }
            }
            row[n] = self.conversion[i] / out;
        }
        let a = solve(m);
        let total: f64 = self.start.iter().sum();
        if total == 0.0 {
            return 0.0;
        }
        (0..n)
            .filter(|k| Some(*k) != removed)
            .map(|k| self.start[k] / total * a[k])
            .sum()
    }
}

/// Solves the augmented system `m` (n rows of n + 1) by Gaussian
/// elimination with partial pivoting; a singular column reads as 0.
fn solve(mut m: Vec<Vec<f64>>) -> Vec<f64> {
    let n = m.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))
            .unwrap_or(col);
        if m[pivot][col].abs() < 1e-12 {
            continue;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                if f != 0.0 {
                    for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                        *x -= f * p;
                    }
                }
            }
        }
    }
    (0..n)
        .map(|i| {
            if m[i][i].abs() < 1e-12 {
                0.0
            } else {
                m[i][n] / m[i][i]
            }
        })
        .collect()
}

/// What a journey converts into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Won ARR: one journey per opportunity won in the period, worth its
    /// amount.
    WonArr,
    /// Pipeline: one journey per opportunity opened in the period, worth
    /// its amount when known (0 otherwise).
    Pipeline,
}

/// Collects every account's marketing touches (engagement events; a touch
/// without a channel is credited to `(no channel)`), in any order.
#[derive(Debug, Default)]
pub struct TouchLog {
    touches: BTreeMap<String, Vec<Touch>>,
}

/// The key of touches whose engagement named no channel.
pub const NO_CHANNEL: &str = "(no channel)";

impl TouchLog {
    /// Records the event if it is an account's engagement.
    pub fn add(&mut self, ev: &crate::event::Event) {
        let crate::event::EventBody::Engagement(e) = &ev.body else {
            return;
        };
        let Some(account) = &e.account else {
            return;
        };
        self.touches
            .entry(account.clone())
            .or_default()
            .push(Touch {
                at: ev.at_utc(),
                channel: e.channel.clone().unwrap_or_else(|| NO_CHANNEL.to_string()),
                campaign: e.campaign.clone(),
            });
    }

    /// The journeys of `goal` for the period `[from, to)`: each conversion
    /// with the account's touches in the `lookback` before its opportunity
    /// opened (both ends included), and, as not converted, every other
    /// account touched in `[from - lookback, to)`, with those touches.
    pub fn journeys(
        &self,
        snapshot: &crate::engine::Snapshot,
        goal: Goal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        lookback: chrono::Duration,
    ) -> Vec<Journey> {
        let in_order = |mut list: Vec<Touch>| {
            list.sort_by(|a, b| (a.at, &a.channel).cmp(&(b.at, &b.channel)));
            list
        };
        let mut out = Vec::new();
        let mut converted = BTreeSet::new();
        for acc in &snapshot.accounts {
            let touches = self.touches.get(&acc.id).map(Vec::as_slice).unwrap_or(&[]);
            for o in &acc.opportunities {
                let at = match goal {
                    Goal::WonArr => match o.won_at {
                        Some(w) => w,
                        None => continue,
                    },
                    Goal::Pipeline => o.opened_at,
                };
                if at < from || at >= to {
                    continue;
                }
                let window = o.opened_at - lookback;
                let before = in_order(
                    touches
                        .iter()
                        .filter(|t| t.at >= window && t.at <= o.opened_at)
                        .cloned()
                        .collect(),
                );
                let lead_at = acc
                    .cycles
                    .iter()
                    .filter_map(|c| c.mqa_at)
                    .filter(|m| *m <= o.opened_at)
                    .max();
                converted.insert(acc.id.as_str());
                out.push(Journey {
                    account: acc.id.clone(),
                    touches: before,
                    outcome: Outcome::Converted {
                        at,
                        value: o.amount.unwrap_or(0.0),
                        lead_at,
                        opportunity_at: Some(o.opened_at),
                    },
                });
            }
        }
        for (account, touches) in &self.touches {
            if converted.contains(account.as_str()) {
                continue;
            }
            let seen = in_order(
                touches
                    .iter()
                    .filter(|t| t.at >= from - lookback && t.at < to)
                    .cloned()
                    .collect(),
            );
            if !seen.is_empty() {
                out.push(Journey {
                    account: account.clone(),
                    touches: seen,
                    outcome: Outcome::Lost,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn touch(day: u32, channel: &str) -> Touch {
        Touch {
            at: at(&format!("2026-03-{day:02}T12:00:00Z")),
            channel: channel.into(),
            campaign: None,
        }
    }

    fn params() -> Params {
        Params {
            u_shaped: [0.4, 0.2, 0.4],
            w_shaped: [0.3, 0.3, 0.3, 0.1],
            half_life_s: 7.0 * 86_400.0,
        }
    }

    /// Touches on 1, 3, 8 and 10 March by email, search, event, email;
    /// MQA on the 5th, opportunity on the 9th, won on the 15th for 1,000.
    fn four_touches() -> Journey {
        Journey {
            account: "a".into(),
            touches: vec![
                touch(1, "email"),
                touch(3, "search"),
                touch(8, "event"),
                touch(10, "email"),
            ],
            outcome: Outcome::Converted {
                at: at("2026-03-15T12:00:00Z"),
                value: 1000.0,
                lead_at: Some(at("2026-03-05T00:00:00Z")),
                opportunity_at: Some(at("2026-03-09T00:00:00Z")),
            },
        }
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn position_models_on_four_touches() {
        let j = four_touches();
        let w = |m| weights(m, &j, &params()).unwrap();
        assert!(close(&w(Model::FirstTouch), &[1.0, 0.0, 0.0, 0.0]));
        assert!(close(&w(Model::LastTouch), &[0.0, 0.0, 0.0, 1.0]));
        assert!(close(&w(Model::Linear), &[0.25; 4]));
        // U: 40% first, 40% last, 20% split over the two between.
        assert!(close(&w(Model::UShaped), &[0.4, 0.1, 0.1, 0.4]));
        // W: first (1st), lead creation = last touch by the 5th (search,
        // the 3rd), opportunity = last by the 9th (event, the 8th): 30%
        // each; the remaining touch (email on the 10th) gets the 10%.
        assert!(close(&w(Model::WShaped), &[0.3, 0.3, 0.3, 0.1]));
    }

    #[test]
    fn u_shaped_with_two_touches_splits_evenly_and_w_shaped_merges_milestones() {
        let mut j = four_touches();
        j.touches.truncate(2);
        assert!(close(
            &weights(Model::UShaped, &j, &params()).unwrap(),
            &[0.5, 0.5]
        ));
        // Two touches: first (1st) and search (3rd), which is also the last
        // touch by the MQA and by the opportunity: 0.3 and 0.6, no other
        // touch, so scaled by 1/0.9: 1/3 and 2/3.
        assert!(close(
            &weights(Model::WShaped, &j, &params()).unwrap(),
            &[1.0 / 3.0, 2.0 / 3.0]
        ));
    }

    #[test]
    fn time_decay_halves_the_weight_every_half_life() {
        // Won on the 15th; touches 14, 7 and 0 days before: raw weights
        // 1/4, 1/2, 1 over a total of 1.75: 1/7, 2/7, 4/7.
        let j = Journey {
            account: "a".into(),
            touches: vec![touch(1, "a"), touch(8, "b"), touch(15, "c")],
            outcome: Outcome::Converted {
                at: at("2026-03-15T12:00:00Z"),
                value: 700.0,
                lead_at: None,
                opportunity_at: None,
            },
        };
        let w = weights(Model::TimeDecay, &j, &params()).unwrap();
        assert!(close(&w, &[1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0]), "{w:?}");
        let credit = attribute(Model::TimeDecay, &[j], Dimension::Channel, &params());
        let c: Vec<(&str, f64)> = credit.iter().map(|c| (c.key.as_str(), c.value)).collect();
        assert!(
            (c[0].1 - 100.0).abs() < 1e-9 && (c[2].1 - 400.0).abs() < 1e-9,
            "{c:?}"
        );
    }

    #[test]
    fn one_touch_gets_all_the_credit_under_every_position_model() {
        let mut j = four_touches();
        j.touches.truncate(1);
        for m in [
            Model::FirstTouch,
            Model::LastTouch,
            Model::Linear,
            Model::UShaped,
            Model::WShaped,
            Model::TimeDecay,
        ] {
            assert!(close(&weights(m, &j, &params()).unwrap(), &[1.0]), "{m:?}");
        }
    }

    #[test]
    fn w_shaped_without_a_lead_milestone_scales_what_is_there() {
        // No MQA instant: first touch (1st) 30%, opportunity touch (event,
        // the 8th) 30%, the two others (search, the 3rd; email, the 10th)
        // share the 10%: 5% each. Sum 70%, scaled by 1/0.7: 3/7, 1/14,
        // 3/7, 1/14.
        let mut j = four_touches();
        if let Outcome::Converted { lead_at, .. } = &mut j.outcome {
            *lead_at = None;
        }
        let w = weights(Model::WShaped, &j, &params()).unwrap();
        assert!(
            close(&w, &[3.0 / 7.0, 1.0 / 14.0, 3.0 / 7.0, 1.0 / 14.0]),
            "{w:?}"
        );
    }

    #[test]
    fn campaigns_are_credited_by_name_and_a_touch_without_one_by_its_channel() {
        // Linear over two touches of a 1,000 deal: 500 to the campaign
        // "spring", 500 to "(search without campaign)".
        let mut j = four_touches();
        j.touches.truncate(2);
        j.touches[0].campaign = Some("spring".into());
        let credit = attribute(Model::Linear, &[j], Dimension::Campaign, &params());
        let got: Vec<(&str, f64, f64)> = credit
            .iter()
            .map(|c| (c.key.as_str(), c.conversions, c.value))
            .collect();
        assert_eq!(
            got,
            [
                ("(search without campaign)", 0.5, 500.0),
                ("spring", 0.5, 500.0)
            ]
        );
    }

    #[test]
    fn markov_shares_value_like_conversions() {
        // a>b won 300, b won 100, a lost. start: a 2/3, b 1/3; a: b 1/2,
        // null 1/2; b: conversion 1. P = 2/3 x 1/2 + 1/3 = 2/3. Without a:
        // 1/3, effect 1/2; without b: 0, effect 1. Shares 1/3 and 2/3 of 2
        // conversions and of 400.
        let mut first = won(&["a", "b"]);
        let mut second = won(&["b"]);
        for (j, v) in [(&mut first, 300.0), (&mut second, 100.0)] {
            if let Outcome::Converted { value, .. } = &mut j.outcome {
                *value = v;
            }
        }
        let js = [first, second, lost(&["a"])];
        let credit = attribute(Model::Markov, &js, Dimension::Channel, &params());
        let got: Vec<f64> = credit
            .iter()
            .flat_map(|c| [c.conversions, c.value])
            .collect();
        assert!(
            close(&got, &[2.0 / 3.0, 400.0 / 3.0, 4.0 / 3.0, 800.0 / 3.0]),
            "{got:?}"
        );
    }

    fn lost(path: &[&str]) -> Journey {
        Journey {
            account: "x".into(),
            touches: path
                .iter()
                .enumerate()
                .map(|(i, c)| touch(i as u32 + 1, c))
                .collect(),
            outcome: Outcome::Lost,
        }
    }

    fn won(path: &[&str]) -> Journey {
        let mut j = lost(path);
        j.outcome = Outcome::Converted {
            at: at("2026-03-20T00:00:00Z"),
            value: 1.0,
            lead_at: None,
            opportunity_at: None,
        };
        j
    }

    #[test]
    fn markov_removal_effects_worked_by_hand() {
        // Paths: a>b won, a lost, b>c won, b>c lost, c won.
        // start: a 2/5, b 2/5, c 1/5; a: b 1/2, null 1/2; b: conv 1/3,
        // c 2/3; c: conv 2/3, null 1/3.
        // Absorption: c = 2/3; b = 1/3 + 2/3 x 2/3 = 7/9; a = 7/18.
        // P = 0.4 x 7/18 + 0.4 x 7/9 + 0.2 x 2/3 = 0.6.
        // Without a: 0.4 x 7/9 + 0.2 x 2/3 = 4/9, effect 1 - (4/9)/0.6 = 7/27.
        // Without b: 0.2 x 2/3 = 2/15, effect 1 - (2/15)/0.6 = 7/9.
        // Without c: b = 1/3, a = 1/6: 0.4/6 + 0.4/3 = 0.2, effect 2/3.
        let js = [
            won(&["a", "b"]),
            lost(&["a"]),
            won(&["b", "c"]),
            lost(&["b", "c"]),
            won(&["c"]),
        ];
        let e = removal_effects(&js, Dimension::Channel);
        let got: Vec<f64> = e.iter().map(|(_, x)| *x).collect();
        assert!(close(&got, &[7.0 / 27.0, 7.0 / 9.0, 2.0 / 3.0]), "{e:?}");
        // 3 conversions shared 7/27 : 21/27 : 18/27 = 7 : 21 : 18 of 46.
        let credit = attribute(Model::Markov, &js, Dimension::Channel, &params());
        let conv: Vec<f64> = credit.iter().map(|c| c.conversions).collect();
        assert!(
            close(&conv, &[21.0 / 46.0, 63.0 / 46.0, 54.0 / 46.0]),
            "{conv:?}"
        );
    }

    #[test]
    fn a_repeated_channel_changes_no_removal_effect() {
        let plain = [won(&["a", "b"]), lost(&["a"]), won(&["b"])];
        let looped = [won(&["a", "a", "b", "b"]), lost(&["a", "a"]), won(&["b"])];
        let e1 = removal_effects(&plain, Dimension::Channel);
        let e2 = removal_effects(&looped, Dimension::Channel);
        let v = |e: &[(String, f64)]| e.iter().map(|x| x.1).collect::<Vec<_>>();
        assert!(close(&v(&e1), &v(&e2)), "{e1:?} {e2:?}");
    }

    #[test]
    fn journeys_without_touches_or_conversions_credit_nobody() {
        let mut j = four_touches();
        j.touches.clear();
        assert!(attribute(Model::Linear, &[j.clone()], Dimension::Channel, &params()).is_empty());
        assert!(attribute(
            Model::Markov,
            &[j, lost(&["a"])],
            Dimension::Channel,
            &params()
        )
        .is_empty());
    }

    #[test]
    fn journeys_from_events_take_touches_in_the_lookback_before_the_opportunity() {
        use crate::engine::{sort_events, Engine};
        use crate::event::Event;
        let policy =
            crate::Policy::from_toml(include_str!("../../../policies/default.toml")).unwrap();
        let lines = [
            r#"{"id":"e0","type":"engagement","at":"2025-06-01T12:00:00Z","account":"acme","kind":"webinar","channel":"events"}"#,
            r#"{"id":"e1","type":"engagement","at":"2026-03-01T12:00:00Z","account":"acme","kind":"email_click","channel":"email","campaign":"spring"}"#,
            r#"{"id":"e2","type":"engagement","at":"2026-03-03T12:00:00Z","account":"acme","kind":"ad_click","channel":"search"}"#,
            r#"{"id":"o1","type":"opportunity","at":"2026-03-09T12:00:00Z","opportunity":"o1","account":"acme","stage":"sqo"}"#,
            r#"{"id":"e3","type":"engagement","at":"2026-03-10T12:00:00Z","account":"acme","kind":"webinar","channel":"events"}"#,
            r#"{"id":"o2","type":"opportunity","at":"2026-03-15T12:00:00Z","opportunity":"o1","account":"acme","stage":"won","amount":1000}"#,
            r#"{"id":"b1","type":"engagement","at":"2026-03-02T12:00:00Z","account":"beta","kind":"email_click"}"#,
        ];
        let mut events: Vec<Event> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        sort_events(&mut events);
        let mut engine = Engine::new(&policy);
        let mut log = TouchLog::default();
        let mut sink = Vec::new();
        for e in &events {
            engine.apply(e, &mut sink);
            log.add(e);
        }
        let snap = engine.finish(at("2026-04-01T00:00:00Z"));
        let journeys = log.journeys(
            &snap,
            Goal::WonArr,
            at("2026-03-01T00:00:00Z"),
            at("2026-04-01T00:00:00Z"),
            chrono::Duration::days(180),
        );
        // acme: won on the 15th for 1,000; touches within 180 days before the
        // opportunity opened on the 9th: email (1st) and search (3rd). The
        // webinar of June 2025 is 281 days earlier, the one of the 10th after.
        // beta: touched, never converted, its touch has no channel.
        let got: Vec<(&str, Vec<&str>, bool)> = journeys
            .iter()
            .map(|j| {
                let path = j.touches.iter().map(|t| t.channel.as_str()).collect();
                (
                    j.account.as_str(),
                    path,
                    matches!(j.outcome, Outcome::Converted { .. }),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("acme", vec!["email", "search"], true),
                ("beta", vec![NO_CHANNEL], false)
            ]
        );
        let Outcome::Converted {
            value,
            opportunity_at,
            ..
        } = journeys[0].outcome
        else {
            unreachable!()
        };
        assert_eq!(
            (value, opportunity_at),
            (1000.0, Some(at("2026-03-09T12:00:00Z")))
        );
    }
}
