//! `/metrics` in the Prometheus text format: counters and histograms kept with atomics, read
//! without stopping the turns.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::eval::Event;

/// Upper bounds of the histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    /// Turns by outcome: ok, error (a runtime error event), replayed (a repeated id),
    /// store_error.
    turns: Mutex<BTreeMap<&'static str, u64>>,
    turn_seconds: Histogram,
    /// The bot's HTTP calls by status (`failed` when there was none).
    http: Mutex<BTreeMap<String, u64>>,
    timers_fired: AtomicU64,
    store_seconds: Histogram,
    /// Requests refused before a turn: by reason.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    delivered: AtomicU64,
    delivery_failures: AtomicU64,
}

impl Metrics {
    pub fn turn(&self, outcome: &'static str, took: Duration) {
        if let Ok(mut t) = self.turns.lock() {
            *t.entry(outcome).or_default() += 1;
        }
        self.turn_seconds.observe(took);
    }

    pub fn events(&self, events: &[Event]) {
        let mut calls = events
            .iter()
            .filter_map(|e| match e {
                Event::Http { status, .. } => {
                    Some(status.map_or_else(|| "failed".to_string(), |s| s.to_string()))
                }
                _ => None,
            })
            .peekable();
        if calls.peek().is_none() {
            return;
        }
        if let Ok(mut http) = self.http.lock() {
            for status in calls {
                *http.entry(status).or_default() += 1;
            }
        }
    }

    pub fn timer_fired(&self) {
        self.timers_fired.fetch_add(1, Ordering::Relaxed);
    }

    pub fn store(&self, took: Duration) {
        self.store_seconds.observe(took);
    }

    pub fn rejected(&self, reason: &'static str) {
        if let Ok(mut r) = self.rejected.lock() {
            *r.entry(reason).or_default() += 1;
        }
    }

    pub fn delivery(&self, ok: bool) {
        if ok {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.delivery_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text of `/metrics`, with the store's counts read just now.
    pub fn render(&self, stats: Option<&super::store::Stats>) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(&mut out, "scenarist_turns_total", "Turns run, by outcome.");
        if let Ok(turns) = self.turns.lock() {
            for outcome in ["ok", "error", "replayed", "store_error"] {
                let n = turns.get(outcome).copied().unwrap_or(0);
                let _ = writeln!(out, "scenarist_turns_total{{outcome=\"{outcome}\"}} {n}");
            }
        }
        self.turn_seconds.write(
            &mut out,
            "scenarist_turn_duration_seconds",
            "Time from a turn's start to its commit.",
        );
        counter(
            &mut out,
            "scenarist_http_calls_total",
            "HTTP requests the bot made, by status.",
        );
        if let Ok(http) = self.http.lock() {
            for (status, n) in http.iter() {
                let _ = writeln!(out, "scenarist_http_calls_total{{status=\"{status}\"}} {n}");
            }
        }
        counter(
            &mut out,
            "scenarist_timers_fired_total",
            "Timers that came due and fired.",
        );
        let fired = self.timers_fired.load(Ordering::Relaxed);
        let _ = writeln!(out, "scenarist_timers_fired_total {fired}");
        counter(
            &mut out,
            "scenarist_requests_rejected_total",
            "Requests refused before a turn, by reason.",
        );
        if let Ok(rejected) = self.rejected.lock() {
            for (reason, n) in rejected.iter() {
                let _ = writeln!(
                    out,
                    "scenarist_requests_rejected_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        counter(
            &mut out,
            "scenarist_deliveries_total",
            "Outbox deliveries to --deliver-url, by result.",
        );
        let ok = self.delivered.load(Ordering::Relaxed);
        let failed = self.delivery_failures.load(Ordering::Relaxed);
        let _ = writeln!(out, "scenarist_deliveries_total{{result=\"ok\"}} {ok}");
        let _ = writeln!(
            out,
            "scenarist_deliveries_total{{result=\"failed\"}} {failed}"
        );
        self.store_seconds.write(
            &mut out,
            "scenarist_store_duration_seconds",
            "Time to commit a turn to the store.",
        );
        if let Some(stats) = stats {
            let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            };
            gauge(
                &mut out,
                "scenarist_sessions",
                "Sessions in the store.",
                stats.sessions,
            );
            gauge(
                &mut out,
                "scenarist_timers_pending",
                "Timers not yet due or not yet fired.",
                stats.timers,
            );
            gauge(
                &mut out,
                "scenarist_outbox_backlog",
                "Outbox entries not yet delivered.",
                stats.backlog,
            );
        }
        out
    }
}
