//! The service's own counters, and their Prometheus text.
//!
//! A *counter* only grows while the process runs and starts at zero with it
//! (Prometheus' `rate()` handles the restart). Events ingested are counted
//! by *outcome* (accepted, duplicate, conflicting, rejected), whether they
//! came through POST /v1/events or a person's action. Every HTTP answer is
//! counted by *route* (the route's pattern, e.g. `/v1/accounts/{id}`, or
//! `unmatched` for a 404 of no route, so that scanners cannot blow up the
//! label set) and status, and its latency goes into a *histogram* per route
//! with fixed bucket bounds. The *gauges* (clocks open, breaches) are not
//! kept here: the scrape computes them from a replay of the log.
//!
//! The text is written by hand: a handful of series does not need a metrics
//! registry, and counters on atomics add no lock to the ingest path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (`+Inf` is implied).
pub const BUCKETS_S: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How an ingested event ended; the label `outcome`. The variants index
/// `OUTCOMES` and the counters, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    Conflicting,
    Rejected,
}

const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Accepted, "accepted"),
    (Outcome::Duplicate, "duplicate"),
    (Outcome::Conflicting, "conflicting"),
    (Outcome::Rejected, "rejected"),
];

/// Latencies of one route.
#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Answers per bucket (not cumulative), then the `+Inf` one.
    buckets: [u64; BUCKETS_S.len() + 1],
    sum_s: f64,
    count: u64,
}

/// The counters of one running service.
#[derive(Debug, Default)]
pub struct Metrics {
    ingested: [AtomicU64; 4],
    /// Answers by (route, status).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Latency by route.
    latency: Mutex<BTreeMap<String, Histogram>>,
}

/// What a scrape computes from a replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Clocks still running as of now.
    pub clocks_open: usize,
    /// Clocks breached, over the whole log.
    pub breaches: usize,
    /// Outbox entries by delivery status: pending, sent, failed, historical,
    /// retracted.
    pub alerts: [usize; 5],
}

/// Delivery statuses in the order of [`Gauges::alerts`].
pub const ALERT_STATUSES: [&str; 5] = ["pending", "sent", "failed", "historical", "retracted"];

impl Metrics {
    /// Counts `n` events ingested with `outcome`.
    pub fn ingested(&self, outcome: Outcome, n: usize) {
        let i = OUTCOMES
            .iter()
            .position(|(o, _)| *o == outcome)
            .unwrap_or(0);
        self.ingested[i].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts one answer of `route` with `status` that took `took`.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        // A poisoned lock only means a panic elsewhere held it; the maps
        // stay usable, so the count goes on.
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((route.to_string(), status)).or_default() += 1;
        drop(requests);
        let s = took.as_secs_f64();
        let bucket = BUCKETS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS_S.len());
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = latency.entry(route.to_string()).or_default();
        h.buckets[bucket] += 1;
        h.sum_s += s;
        h.count += 1;
    }

    /// The Prometheus text exposition (format 0.0.4) of every series.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail: the results are ignored.
        let _ = writeln!(
            out,
            "# HELP handoff_events_ingested_total Events posted to the store, by outcome."
        );
        let _ = writeln!(out, "# TYPE handoff_events_ingested_total counter");
        for (i, (_, name)) in OUTCOMES.iter().enumerate() {
            let n = self.ingested[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "handoff_events_ingested_total{{outcome=\"{name}\"}} {n}"
            );
        }
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        let _ = writeln!(
            out,
            "# HELP handoff_clocks_open SLA clocks running now, from a replay of the log."
        );
        let _ = writeln!(out, "# TYPE handoff_clocks_open gauge");
        let _ = writeln!(out, "handoff_clocks_open {}", gauges.clocks_open);
        let _ = writeln!(
            out,
            "# HELP handoff_breaches_total SLA clocks breached in the whole log, from a replay."
        );
        let _ = writeln!(out, "# TYPE handoff_breaches_total gauge");
        let _ = writeln!(out, "handoff_breaches_total {}", gauges.breaches);
        let _ = writeln!(
            out,
            "# HELP handoff_alerts Alerts in the outbox, by delivery status (sent, failed, ...)."
        );
        let _ = writeln!(out, "# TYPE handoff_alerts gauge");
        for (status, n) in ALERT_STATUSES.iter().zip(gauges.alerts) {
            let _ = writeln!(out, "handoff_alerts{{status=\"{status}\"}} {n}");
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP handoff_http_requests_total HTTP answers, by route and status."
        );
        let _ = writeln!(out, "# TYPE handoff_http_requests_total counter");
        for ((route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "handoff_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
    }

    fn render_latency(&self, out: &mut String) {
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP handoff_http_request_duration_seconds Time to answer, by route."
        );
        let _ = writeln!(
            out,
            "# TYPE handoff_http_request_duration_seconds histogram"
        );
        for (route, h) in latency.iter() {
            let route = escape(route);
            let mut cumulative = 0;
            for (i, n) in h.buckets.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS_S
                    .get(i)
                    .map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "handoff_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} \
                     {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "handoff_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_s
            );
            let _ = writeln!(
                out,
                "handoff_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
    }
}

/// A label value with `\`, `"` and newlines escaped as the format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_buckets_are_written_cumulatively() {
        let m = Metrics::default();
        m.ingested(Outcome::Accepted, 3);
        m.ingested(Outcome::Duplicate, 1);
        m.ingested(Outcome::Accepted, 2);
        // 2 ms falls in the 0.005 bucket, 30 ms in the 0.05 one.
        m.request("/v1/events", 200, Duration::from_millis(2));
        m.request("/v1/events", 200, Duration::from_millis(30));
        m.request("/v1/events", 403, Duration::from_millis(2));
        let text = m.render(Gauges {
            clocks_open: 4,
            breaches: 1,
            alerts: [2, 5, 1, 0, 0],
        });
        for line in [
            "handoff_events_ingested_total{outcome=\"accepted\"} 5",
            "handoff_events_ingested_total{outcome=\"duplicate\"} 1",
            "handoff_events_ingested_total{outcome=\"rejected\"} 0",
            "handoff_http_requests_total{route=\"/v1/events\",status=\"200\"} 2",
            "handoff_http_requests_total{route=\"/v1/events\",status=\"403\"} 1",
            "handoff_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.001\"} 0",
            "handoff_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.005\"} 2",
            "handoff_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.025\"} 2",
            "handoff_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.05\"} 3",
            "handoff_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"+Inf\"} 3",
            "handoff_http_request_duration_seconds_count{route=\"/v1/events\"} 3",
            "handoff_clocks_open 4",
            "handoff_breaches_total 1",
            "handoff_alerts{status=\"pending\"} 2",
            "handoff_alerts{status=\"sent\"} 5",
            "handoff_alerts{status=\"failed\"} 1",
            "handoff_alerts{status=\"historical\"} 0",
            "handoff_alerts{status=\"retracted\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
