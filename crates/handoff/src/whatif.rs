//! `handoff whatif`: the stored history replayed under the policy in force
//! and under a candidate, side by side, before anyone signs the candidate.
//!
//! Both replays run on the pure core over the same events (read once), in
//! parallel. The *comparison* holds, for one period: each commitment under
//! both policies, the funnel, breaches per team and per rep, alerts per
//! role, and the accounts whose outcome changed (qualified in the period or
//! not, breached in the period or not). A *sweep* replays one policy
//! parameter at a few values and tabulates MQA count, acceptance, SAL to
//! SQO conversion and won ARR for each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use handoff_core::engine::{Engine, Snapshot};
use handoff_core::metrics::{self, CommitmentResult, Scorecard, Status};
use handoff_core::period::Period;
use handoff_core::{Event, Policy};
use serde::Serialize;
use serde_json::json;

use crate::cli::{WhatifArgs, WhatifFormat};
use crate::replay::{load_policies, open_existing, parse_as_of, parse_policy, Policies};
use crate::report::{pct, whole_history};
use crate::store::Location;

/// Runs `handoff whatif`.
pub fn run(args: &WhatifArgs) -> Result<u8> {
    let store = open_existing(&Location::from_arg(&args.db)?)?;
    let current = load_policies(&store, args.current.as_deref())?;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let tz = current.latest().policy.org_calendar().tz();
    let period = match (&args.from, &args.to) {
        (Some(f), Some(t)) => Period::parse_range(f, t, tz).map_err(anyhow::Error::msg)?,
        _ => whole_history(&store, tz)?,
    };
    let started = std::time::Instant::now();
    let log = store.events_for_replay().context("reading the event log")?;
    let mut events = log.ordered();
    let known = events.partition_point(|e| e.at_utc() <= as_of);
    events.truncate(known);
    tracing::info!(
        events = events.len(),
        period = %period.label,
        read_ms = started.elapsed().as_millis() as u64,
        "log read; replaying for what-if"
    );

    let out = if let Some(sweep) = &args.sweep {
        let sweep = Sweep::parse(sweep)?;
        let rows = sweep.run(&current.latest().text, &events, &period, as_of)?;
        render_sweep(&sweep, &rows, &period, args.format)?
    } else {
        let Some(path) = &args.policy else {
            bail!("say what to compare: --policy CANDIDATE.toml, or --sweep 'KEY=V1,V2,...'");
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the candidate policy {}", path.display()))?;
        let candidate = parse_policy(&text, &path.display().to_string())?;
        let started = std::time::Instant::now();
        let cmp = compare(&current, &candidate, &events, &period, as_of);
        tracing::info!(
            compare_ms = started.elapsed().as_millis() as u64,
            differences = cmp.differences(),
            "replayed and compared"
        );
        let current_name = format!(
            "{} [{}]",
            current.latest().policy.name,
            current.describe(period.from, period.to)
        );
        render(&cmp, &current_name, &candidate.name, path, args.format)?
    };
    print!("{out}");
    // The process ends here: handing the parsed log (over a million events
    // for a year of 100,000 accounts) back to the allocator piece by piece
    // would only delay the exit.
    drop(events);
    std::mem::forget(log);
    Ok(crate::cli::EXIT_OK)
}

/// Replays `events` (in engine order, all at or before `as_of`) under
/// `policy` and judges the clocks as of `as_of`.
pub fn replay(policy: &Policy, events: &[&Event], as_of: DateTime<Utc>) -> Snapshot {
    replay_on(Engine::new(policy), events, as_of)
}

/// [`replay`] on a given engine (e.g. one following the store's versions).
pub fn replay_on(mut engine: Engine<'_>, events: &[&Event], as_of: DateTime<Utc>) -> Snapshot {
    let mut effects = Vec::new();
    for ev in events {
        engine.apply(ev, &mut effects);
        effects.clear();
    }
    engine.finish(as_of)
}

/// One commitment under both policies.
#[derive(Debug, Clone, Serialize)]
pub struct CommitmentDiff {
    pub id: String,
    pub current: CommitmentResult,
    pub candidate: Option<CommitmentResult>,
    pub changed: bool,
}

/// A count under both policies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pair {
    pub current: f64,
    pub candidate: f64,
}

impl Pair {
    /// Whether the two differ (two missing rates are equal).
    pub fn changed(&self) -> bool {
        match (self.current.is_nan(), self.candidate.is_nan()) {
            (true, true) => false,
            (false, false) => (self.current - self.candidate).abs() > 1e-9,
            _ => true,
        }
    }
}

/// An account whose outcome in the period differs between the policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountChange {
    pub account: String,
    /// Qualified (became an MQA) in the period: current, candidate.
    pub qualified: (bool, bool),
    /// Had a clock breached in the period: current, candidate.
    pub breached: (bool, bool),
}

/// The two replays compared over one period.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub period: Period,
    pub as_of: DateTime<Utc>,
    pub commitments: Vec<CommitmentDiff>,
    /// Funnel counts and conversions, in funnel order.
    pub funnel: Vec<(String, Pair)>,
    pub breaches_by_team: BTreeMap<String, Pair>,
    pub breaches_by_rep: BTreeMap<String, Pair>,
    pub alerts_by_role: BTreeMap<String, Pair>,
    pub accounts: Vec<AccountChange>,
}

impl Comparison {
    /// How many figures differ (commitments, funnel, breaches, alerts,
    /// accounts): 0 when the candidate changes nothing in the period.
    pub fn differences(&self) -> usize {
        let pairs = |m: &BTreeMap<String, Pair>| m.values().filter(|p| p.changed()).count();
        self.commitments.iter().filter(|c| c.changed).count()
            + self.funnel.iter().filter(|(_, p)| p.changed()).count()
            + pairs(&self.breaches_by_team)
            + pairs(&self.breaches_by_rep)
            + pairs(&self.alerts_by_role)
            + self.accounts.len()
    }
}

/// Replays the events under both policies (in parallel) and compares them.
pub fn compare(
    current_versions: &Policies,
    candidate: &Policy,
    events: &[&Event],
    period: &Period,
    as_of: DateTime<Utc>,
) -> Comparison {
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| replay(candidate, events, as_of));
        let mine = replay_on(current_versions.engine(), events, as_of);
        (mine, other.join().expect("the candidate replay panicked"))
    });
    let current = &current_versions.latest().policy;
    let card_a = metrics::scorecard(current, &a, period, as_of);
    let card_b = metrics::scorecard(candidate, &b, period, as_of);
    let commitments = card_a
        .commitments
        .iter()
        .map(|c| {
            let other = card_b.commitments.iter().find(|x| x.id == c.id).cloned();
            let changed = other
                .as_ref()
                .is_none_or(|o| o.actual != c.actual || o.n != c.n || o.status != c.status);
            CommitmentDiff {
                id: c.id.clone(),
                current: c.clone(),
                candidate: other,
                changed,
            }
        })
        .collect();
    Comparison {
        period: period.clone(),
        as_of,
        commitments,
        funnel: funnel(&card_a)
            .into_iter()
            .zip(funnel(&card_b))
            .map(|((k, current), (_, candidate))| (k, Pair { current, candidate }))
            .collect(),
        breaches_by_team: pair_maps(breaches(&a, period, true), breaches(&b, period, true)),
        breaches_by_rep: pair_maps(breaches(&a, period, false), breaches(&b, period, false)),
        alerts_by_role: pair_maps(alerts_by_role(&card_a), alerts_by_role(&card_b)),
        accounts: changed_accounts(&a, &b, period),
    }
}

fn pair_maps(a: BTreeMap<String, f64>, b: BTreeMap<String, f64>) -> BTreeMap<String, Pair> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let pair = Pair {
                current: a.get(k).copied().unwrap_or(0.0),
                candidate: b.get(k).copied().unwrap_or(0.0),
            };
            (k.clone(), pair)
        })
        .collect()
}

/// The funnel's figures in funnel order; a conversion with no cohort is
/// NaN, which compares as changed only against a number.
fn funnel(card: &Scorecard) -> Vec<(String, f64)> {
    let f = &card.funnel;
    let c = &f.conversions;
    let rate = |v: Option<f64>| v.unwrap_or(f64::NAN);
    [
        ("mqa", f64::from(f.mqa)),
        ("handoffs", f64::from(f.handoffs)),
        ("sal", f64::from(f.sal)),
        ("rejected", f64::from(f.rejected)),
        ("acceptance", rate(c.acceptance)),
        ("sqo", f64::from(f.sqo)),
        ("sal_to_sqo", rate(c.sal_to_sqo)),
        ("won", f64::from(f.won)),
        ("lost", f64::from(f.lost)),
        ("win_rate", rate(c.win_rate)),
        ("won_arr", f.won_arr),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Breaches in the period by the breach owner's team (or the owner).
fn breaches(s: &Snapshot, period: &Period, by_team: bool) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for acc in &s.accounts {
        for cycle in &acc.cycles {
            for clock in &cycle.clocks {
                let Some(at) = clock.breach_at else {
                    continue;
                };
                if !period.contains(at) {
                    continue;
                }
                let owner = clock.breach_owner.as_deref();
                let key = if by_team {
                    owner
                        .and_then(|o| s.reps.get(o))
                        .and_then(|r| r.team.clone())
                        .or_else(|| cycle.handoff_team.clone())
                        .unwrap_or_else(|| "(no team)".into())
                } else {
                    owner.unwrap_or("(nobody)").to_string()
                };
                *m.entry(key).or_insert(0.0) += 1.0;
            }
        }
    }
    m
}

/// Alerts of the period per recipient role.
fn alerts_by_role(card: &Scorecard) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for a in &card.alerts {
        for r in &a.recipients {
            *m.entry(r.role.clone()).or_insert(0.0) += 1.0;
        }
    }
    m
}

/// Accounts qualified or breached in the period under one policy but not
/// the other, by id.
fn changed_accounts(a: &Snapshot, b: &Snapshot, period: &Period) -> Vec<AccountChange> {
    let outcome = |s: &Snapshot| -> BTreeMap<String, (bool, bool)> {
        s.accounts
            .iter()
            .map(|acc| {
                let qualified = acc
                    .cycles
                    .iter()
                    .any(|c| c.mqa_at.is_some_and(|t| period.contains(t)));
                let breached = acc.cycles.iter().any(|c| {
                    c.clocks
                        .iter()
                        .any(|k| k.breach_at.is_some_and(|t| period.contains(t)))
                });
                (acc.id.clone(), (qualified, breached))
            })
            .collect()
    };
    let (oa, ob) = (outcome(a), outcome(b));
    let ids: BTreeSet<&String> = oa.keys().chain(ob.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let x = oa.get(id).copied().unwrap_or_default();
            let y = ob.get(id).copied().unwrap_or_default();
            (x != y).then(|| AccountChange {
                account: id.clone(),
                qualified: (x.0, y.0),
                breached: (x.1, y.1),
            })
        })
        .collect()
}

/// One policy parameter at a few values: `tiers.mid.window=14d,21d,30d`.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The key path, e.g. `tiers.mid.window` or `alerts[1].escalate[0].after`.
    pub key: String,
    pub values: Vec<String>,
}

/// The figures of one sweep value.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub value: String,
    pub mqa: u32,
    pub acceptance: Option<f64>,
    pub sal_to_sqo: Option<f64>,
    pub won_arr: f64,
    pub breaches: u32,
}

impl Sweep {
    /// Parses `KEY=V1,V2,...`.
    pub fn parse(text: &str) -> Result<Sweep> {
        let Some((key, values)) = text.split_once('=') else {
            bail!("--sweep {text:?}: write KEY=V1,V2,..., e.g. 'tiers.mid.window=14d,21d,30d,45d'");
        };
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if key.trim().is_empty() || values.is_empty() {
            bail!("--sweep {text:?}: write KEY=V1,V2,..., e.g. 'tiers.mid.window=14d,21d,30d,45d'");
        }
        Ok(Sweep {
            key: key.trim().to_string(),
            values,
        })
    }

    /// The policy text with the key set to `value`, typed like the value it
    /// replaces (string, integer, float or boolean).
    pub fn apply(&self, policy_text: &str, value: &str) -> Result<String> {
        let mut doc: toml_edit::DocumentMut = policy_text
            .parse()
            .context("reading the policy in force as TOML")?;
        let item = locate_mut(doc.as_item_mut(), &self.key)?;
        let old = item.as_value().with_context(|| {
            format!(
                "--sweep: {} is a table, not a value; name one of its keys",
                self.key
            )
        })?;
        let new: toml_edit::Value = match old {
            toml_edit::Value::Integer(_) => value
                .parse::<i64>()
                .with_context(|| format!("--sweep: {} holds an integer, not {value:?}", self.key))?
                .into(),
            toml_edit::Value::Float(_) => value
                .parse::<f64>()
                .with_context(|| format!("--sweep: {} holds a number, not {value:?}", self.key))?
                .into(),
            toml_edit::Value::Boolean(_) => value
                .parse::<bool>()
                .with_context(|| {
                    format!("--sweep: {} holds true or false, not {value:?}", self.key)
                })?
                .into(),
            _ => value.into(),
        };
        *item = toml_edit::Item::Value(new);
        Ok(doc.to_string())
    }

    /// Replays the events once per value, in parallel, and tabulates.
    pub fn run(
        &self,
        policy_text: &str,
        events: &[&Event],
        period: &Period,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<SweepRow>> {
        let policies: Vec<Policy> = self
            .values
            .iter()
            .map(|v| {
                let text = self.apply(policy_text, v)?;
                parse_policy(&text, &format!("the policy with {}={v}", self.key))
            })
            .collect::<Result<_>>()?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut rows: Vec<Option<SweepRow>> = vec![None; policies.len()];
        for chunk in rows
            .chunks_mut(threads)
            .zip(policies.chunks(threads))
            .zip(self.values.chunks(threads))
        {
            let ((slots, pols), vals) = chunk;
            std::thread::scope(|s| {
                for ((slot, p), v) in slots.iter_mut().zip(pols).zip(vals) {
                    s.spawn(move || {
                        let snap = replay(p, events, as_of);
                        let card = metrics::scorecard(p, &snap, period, as_of);
                        let breaches = breaches(&snap, period, false).values().sum::<f64>();
                        *slot = Some(SweepRow {
                            value: v.clone(),
                            mqa: card.funnel.mqa,
                            acceptance: card.funnel.conversions.acceptance,
                            sal_to_sqo: card.funnel.conversions.sal_to_sqo,
                            won_arr: card.funnel.won_arr,
                            breaches: breaches as u32,
                        });
                    });
                }
            });
        }
        Ok(rows.into_iter().flatten().collect())
    }
}

/// The item at a dotted key path: `[i]` indexes an array of tables, and a
/// segment naming no key picks the entry of an array of tables whose `id`
/// or `name` it is (`tiers.mid.window`, `commitments.first-touch.clock.within`).
fn locate_mut<'a>(root: &'a mut toml_edit::Item, path: &str) -> Result<&'a mut toml_edit::Item> {
    let mut item = root;
    for part in path.split('.') {
        let (name, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        item = if let toml_edit::Item::ArrayOfTables(list) = item {
            let ids: Vec<String> = list
                .iter()
                .filter_map(|t| {
                    let id = t.get("id").or_else(|| t.get("name"));
                    id.and_then(|v| v.as_str()).map(String::from)
                })
                .collect();
            let at = ids.iter().position(|id| id == name).with_context(|| {
                format!("--sweep: no entry with id {name:?} (in {path}); the ids are {ids:?}")
            })?;
            item.get_mut(at).context("an entry found by id exists")?
        } else {
            item.get_mut(name)
                .with_context(|| format!("--sweep: the policy has no key {name:?} (in {path})"))?
        };
        for index in indices.split(']').filter(|s| !s.is_empty()) {
            let i: usize = index
                .trim_start_matches('[')
                .parse()
                .with_context(|| format!("--sweep: {index}] is not an index (in {path})"))?;
            item = item
                .get_mut(i)
                .with_context(|| format!("--sweep: {name} has no entry {i} (in {path})"))?;
        }
    }
    Ok(item)
}

fn fmt_actual(c: &CommitmentResult) -> String {
    match c.actual {
        None => match c.status {
            Status::NoData => "no data".into(),
            _ => "-".into(),
        },
        Some(v) if c.is_rate => pct(Some(v)),
        Some(v) => format!("{v:.0}"),
    }
}

fn fmt_status(s: Status) -> &'static str {
    match s {
        Status::Met => "met",
        Status::Missed => "missed",
        Status::NoData => "no data",
        Status::InProgress => "in progress",
    }
}

fn fmt_pair(key: &str, p: &Pair) -> (String, String, String) {
    let rate = matches!(key, "acceptance" | "sal_to_sqo" | "win_rate");
    let f = |v: f64| {
        if v.is_nan() {
            "no data".to_string()
        } else if rate {
            format!("{:.1}%", v * 100.0)
        } else if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    let delta = p.candidate - p.current;
    let d = if !p.changed() {
        "=".to_string()
    } else if rate {
        format!("{:+.1} pts", delta * 100.0)
    } else if delta.fract() == 0.0 {
        format!("{delta:+.0}")
    } else {
        format!("{delta:+.2}")
    };
    (f(p.current), f(p.candidate), d)
}

/// Renders a comparison in the chosen format.
pub fn render(
    cmp: &Comparison,
    current_name: &str,
    candidate_name: &str,
    candidate_path: &Path,
    format: WhatifFormat,
) -> Result<String> {
    if format == WhatifFormat::Json {
        let mut v = serde_json::to_value(cmp)?;
        v["policies"] = json!({"current": current_name, "candidate": candidate_name});
        v["differences"] = json!(cmp.differences());
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    let md = format == WhatifFormat::Markdown;
    let html = format == WhatifFormat::Html;
    let mut sections: Vec<(String, Vec<String>, Vec<Vec<String>>)> = Vec::new();
    let cols = |a: &str| -> Vec<String> {
        [a, "current", "candidate", "change"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    sections.push((
        "Commitments".into(),
        [
            "commitment",
            "target",
            "current",
            "status",
            "candidate",
            "status",
            "changed",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        cmp.commitments
            .iter()
            .map(|c| {
                let (ca, cs, ct) = match &c.candidate {
                    Some(o) => (
                        fmt_actual(o),
                        fmt_status(o.status).to_string(),
                        o.target.clone(),
                    ),
                    None => ("absent".into(), "-".into(), "-".into()),
                };
                let target = if ct == c.current.target || ct == "-" {
                    c.current.target.clone()
                } else {
                    format!("{} -> {ct}", c.current.target)
                };
                vec![
                    c.id.clone(),
                    target,
                    fmt_actual(&c.current),
                    fmt_status(c.current.status).into(),
                    ca,
                    cs,
                    if c.changed { "yes".into() } else { "".into() },
                ]
            })
            .collect(),
    ));
    let funnel_rows = cmp
        .funnel
        .iter()
        .map(|(k, p)| {
            let (a, b, d) = fmt_pair(k, p);
            vec![k.clone(), a, b, d]
        })
        .collect();
    sections.push(("Funnel".into(), cols("figure"), funnel_rows));
    for (title, first, map) in [
        ("Breaches by team", "team", &cmp.breaches_by_team),
        ("Breaches by rep", "rep", &cmp.breaches_by_rep),
        ("Alerts by role", "role", &cmp.alerts_by_role),
    ] {
        let rows = map
            .iter()
            .map(|(k, p)| {
                let (a, b, d) = fmt_pair(k, p);
                vec![k.clone(), a, b, d]
            })
            .collect();
        sections.push((title.into(), cols(first), rows));
    }
    let yn = |(a, b): (bool, bool)| {
        if a == b {
            (if a { "yes" } else { "no" }).to_string()
        } else {
            format!(
                "{} -> {}",
                if a { "yes" } else { "no" },
                if b { "yes" } else { "no" }
            )
        }
    };
    sections.push((
        "Accounts whose outcome changed".into(),
        ["account", "qualified", "breached"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        cmp.accounts
            .iter()
            .map(|a| vec![a.account.clone(), yn(a.qualified), yn(a.breached)])
            .collect(),
    ));
    let head = format!(
        "What if: {} (current) against {} ({}), {} as of {}; {} differences",
        current_name,
        candidate_name,
        candidate_path.display(),
        cmp.period.label,
        cmp.as_of.format("%Y-%m-%d %H:%M UTC"),
        cmp.differences()
    );
    let explain = if cmp.accounts.is_empty() {
        String::new()
    } else {
        format!(
            "Explain one: handoff explain {} --policy {}",
            cmp.accounts[0].account,
            candidate_path.display()
        )
    };
    Ok(if html {
        html_page(&head, &sections, &explain, None)
    } else {
        text_page(&head, &sections, &explain, md)
    })
}

type Section = (String, Vec<String>, Vec<Vec<String>>);

fn text_page(head: &str, sections: &[Section], foot: &str, md: bool) -> String {
    let mut out = String::new();
    if md {
        let _ = writeln!(out, "# {head}\n");
    } else {
        let _ = writeln!(out, "{head}\n");
    }
    for (title, cols, rows) in sections {
        if md {
            let _ = writeln!(out, "## {title}\n");
            let _ = writeln!(out, "| {} |", cols.join(" | "));
            let _ = writeln!(out, "|{}|", vec!["---"; cols.len()].join("|"));
            for r in rows {
                let _ = writeln!(out, "| {} |", r.join(" | "));
            }
            if rows.is_empty() {
                let _ = writeln!(out, "| (none) |{}", " |".repeat(cols.len() - 1));
            }
            out.push('\n');
        } else {
            let _ = writeln!(out, "{title}");
            let widths: Vec<usize> = (0..cols.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([cols[i].chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            let _ = writeln!(out, "  {}", line(cols));
            for r in rows {
                let _ = writeln!(out, "  {}", line(r));
            }
            if rows.is_empty() {
                let _ = writeln!(out, "  (none)");
            }
            out.push('\n');
        }
    }
    if !foot.is_empty() {
        let _ = writeln!(out, "{foot}");
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html_page(head: &str, sections: &[Section], foot: &str, chart: Option<String>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;margin-bottom:1.5em}}\
         th,td{{border:1px solid #ccc;padding:4px 10px;text-align:left}}\
         th{{background:#f3f3f3}}td.ch{{color:#a40}}</style></head><body><h1>{}</h1>",
        esc(head),
        esc(head)
    );
    if let Some(svg) = chart {
        out.push_str(&svg);
    }
    for (title, cols, rows) in sections {
        let _ = write!(out, "<h2>{}</h2><table><tr>", esc(title));
        for c in cols {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
        out.push_str("</tr>");
        for r in rows {
            out.push_str("<tr>");
            for c in r {
                let class = if c.contains("->") || c.starts_with('+') || c.starts_with('-') {
                    " class=\"ch\""
                } else {
                    ""
                };
                let _ = write!(out, "<td{class}>{}</td>", esc(c));
            }
            out.push_str("</tr>");
        }
        if rows.is_empty() {
            let _ = write!(out, "<tr><td colspan=\"{}\">(none)</td></tr>", cols.len());
        }
        out.push_str("</table>");
    }
    if !foot.is_empty() {
        let _ = write!(out, "<p><code>{}</code></p>", esc(foot));
    }
    out.push_str("</body></html>\n");
    out
}

/// Renders a sweep: a table, and in HTML a chart of MQA count and
/// acceptance per value.
pub fn render_sweep(
    sweep: &Sweep,
    rows: &[SweepRow],
    period: &Period,
    format: WhatifFormat,
) -> Result<String> {
    if format == WhatifFormat::Json {
        let v = json!({"key": sweep.key, "period": period, "rows": rows});
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    let head = format!("Sweep of {} over {}", sweep.key, period.label);
    let cols: Vec<String> = [
        sweep.key.as_str(),
        "MQAs",
        "acceptance",
        "SAL to SQO",
        "won ARR",
        "breaches",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.value.clone(),
                r.mqa.to_string(),
                pct(r.acceptance),
                pct(r.sal_to_sqo),
                format!("{:.0}", r.won_arr),
                r.breaches.to_string(),
            ]
        })
        .collect();
    let sections = vec![("Results".to_string(), cols, table)];
    Ok(match format {
        WhatifFormat::Html => html_page(&head, &sections, "", Some(sweep_chart(sweep, rows))),
        WhatifFormat::Markdown => text_page(&head, &sections, "", true),
        _ => text_page(&head, &sections, "", false),
    })
}

/// Inline SVG small multiples: one bar chart per figure (MQAs, acceptance,
/// SAL to SQO, won ARR, breaches) across the swept values, each on its own
/// scale from zero, so whichever figure the parameter moves stands out.
fn sweep_chart(sweep: &Sweep, rows: &[SweepRow]) -> String {
    type Figure = (&'static str, fn(&SweepRow) -> Option<f64>, bool);
    let figures: [Figure; 5] = [
        ("MQAs", |r| Some(f64::from(r.mqa)), false),
        ("acceptance", |r| r.acceptance, true),
        ("SAL to SQO", |r| r.sal_to_sqo, true),
        ("won ARR", |r| Some(r.won_arr), false),
        ("breaches", |r| Some(f64::from(r.breaches)), false),
    ];
    let (cw, ch, pad) = (250.0_f64, 170.0_f64, 28.0_f64);
    let per_row = 3;
    let total_h = ch * figures.len().div_ceil(per_row) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{total_h}\" \
         role=\"img\" aria-label=\"figures per value of {}\" font-family=\"sans-serif\">",
        cw * per_row as f64,
        esc(&sweep.key)
    );
    let n = rows.len().max(1) as f64;
    for (k, (name, get, rate)) in figures.iter().enumerate() {
        let ox = cw * (k % per_row) as f64;
        let oy = ch * (k / per_row) as f64;
        let max = rows.iter().filter_map(get).fold(0.0_f64, f64::max);
        let scale = if max > 0.0 { max } else { 1.0 };
        let step = (cw - 2.0 * pad) / n;
        let base = oy + ch - pad;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"bold\">{name}</text>\
             <line x1=\"{:.1}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#888\"/>",
            ox + pad,
            oy + 16.0,
            ox + pad,
            ox + cw - pad
        );
        for (i, r) in rows.iter().enumerate() {
            let x = ox + pad + step * i as f64 + step * 0.15;
            let label = match get(r) {
                Some(v) if *rate => format!("{:.1}%", v * 100.0),
                Some(v) => format!("{v:.0}"),
                None => "n/a".into(),
            };
            let bh = get(r).map_or(0.0, |v| (ch - 2.0 * pad - 22.0) * v / scale);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" \
                 fill=\"#5b8fd0\"><title>{}: {label}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{label}</text>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                base - bh,
                step * 0.7,
                esc(&r.value),
                x + step * 0.35,
                base - bh - 3.0,
                x + step * 0.35,
                base + 14.0,
                esc(&r.value)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}
