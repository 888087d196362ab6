//! Shared by the benchmarks: the generated input, timing statistics and
//! where results go; `serve` starts and watches the real `handoff serve`
//! for the live benchmarks.
//!
//! The *input* is a year of `handoff gen` events (seed 7, from 2026-01-01)
//! for `HANDOFF_BENCH_ACCOUNTS` accounts (default 100,000, about 1.35
//! million events), generated in memory as JSON Lines text. A *run* is one
//! timed repetition of the measured step; `HANDOFF_BENCH_RUNS` sets how
//! many (default 5, at least 3). Results are printed and written to
//! `bench/out/NAME.json` and `bench/out/NAME.md`, which `bench/run-core`
//! gathers into `bench/RESULTS-core.md`.

#![allow(dead_code)]

pub mod serve;

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use handoff::gen::{self, GenConfig, Generator};
use handoff_core::event::Event;
use handoff_core::Policy;

/// The generated input.
pub struct Input {
    pub accounts: u32,
    /// JSON Lines, one event per line.
    pub text: String,
    pub events: usize,
    pub policy: Policy,
    /// First instant after the generated period; the engine's `as_of`.
    pub end: DateTime<Utc>,
    /// Seconds the generator took (for the record, not a goal).
    pub gen_secs: f64,
}

/// Reads a positive whole number from the environment, else `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Timed repetitions to make, at least 3.
pub fn runs() -> usize {
    env_number("HANDOFF_BENCH_RUNS", 5).max(3)
}

/// Generates the input year.
pub fn generate() -> Input {
    let accounts = u32::try_from(env_number("HANDOFF_BENCH_ACCOUNTS", 100_000))
        .expect("HANDOFF_BENCH_ACCOUNTS fits in 32 bits");
    let config = GenConfig {
        accounts,
        days: 365,
        seed: 7,
        start: NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date"),
    };
    let policy = gen::default_policy().expect("built-in policy");
    let generator = Generator::new(config, &policy).expect("generator");
    let started = Instant::now();
    let mut bytes = Vec::new();
    let summary = gen::write_jsonl(&generator, &mut bytes, |_| {}).expect("generate");
    let gen_secs = started.elapsed().as_secs_f64();
    let text = String::from_utf8(bytes).expect("generator writes UTF-8");
    let end = generator.period().1;
    Input {
        accounts,
        text,
        events: summary.events as usize,
        policy,
        end,
        gen_secs,
    }
}

/// Parses every line of the input.
pub fn parse(text: &str) -> Vec<Event> {
    text.lines()
        .map(|l| Event::from_json(l).expect("generated line parses"))
        .collect()
}

/// Times `f` once, in seconds.
pub fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let started = Instant::now();
    let out = f();
    (started.elapsed().as_secs_f64(), out)
}

/// Rates (events/s) of several runs: median, lowest and highest.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Rates {
    /// From run times in seconds, for `events` events per run.
    pub fn from_secs(events: usize, secs: &[f64]) -> Rates {
        let mut rates: Vec<f64> = secs.iter().map(|s| events as f64 / s).collect();
        rates.sort_by(f64::total_cmp);
        let n = rates.len();
        let median = if n % 2 == 1 {
            rates[n / 2]
        } else {
            (rates[n / 2 - 1] + rates[n / 2]) / 2.0
        };
        Rates {
            median,
            min: rates[0],
            max: rates[n - 1],
        }
    }

    /// Spread as a share of the median: (max - min) / median.
    pub fn spread(&self) -> f64 {
        (self.max - self.min) / self.median
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "median_events_per_s": self.median.round(),
            "min_events_per_s": self.min.round(),
            "max_events_per_s": self.max.round(),
        })
    }

    /// A Markdown table row: label, median, range, spread, goal.
    pub fn row(&self, label: &str, goal: Option<f64>) -> String {
        let goal = match goal {
            Some(g) if self.median >= g => format!("≥ {} — met", thousands(g)),
            Some(g) => format!("≥ {} — **missed**", thousands(g)),
            None => "—".into(),
        };
        format!(
            "| {label} | {} | {} – {} | {:.1}% | {goal} |",
            thousands(self.median),
            thousands(self.min),
            thousands(self.max),
            self.spread() * 100.0
        )
    }
}

/// A whole number with thousands separators.
pub fn thousands(x: f64) -> String {
    let digits = (x.round() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The header of a results table.
pub const TABLE_HEAD: &str =
    "| measure | median events/s | range (min – max) | spread | goal |\n|---|---|---|---|---|";

/// Writes `bench/out/NAME.json` and `bench/out/NAME.md`.
pub fn write_results(name: &str, json: &serde_json::Value, markdown: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/out");
    std::fs::create_dir_all(&dir).expect("create bench/out");
    let text = serde_json::to_string_pretty(json).expect("results serialise");
    std::fs::write(dir.join(format!("{name}.json")), text + "\n").expect("write json");
    std::fs::write(dir.join(format!("{name}.md")), markdown).expect("write markdown");
    println!(
        "results written to {}",
        dir.join(format!("{name}.{{json,md}}")).display()
    );
}
