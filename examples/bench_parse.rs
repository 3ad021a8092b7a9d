//! The parser alone, side by side with pest alone (issue 7; run by `scripts/bench_check.py`).
//!
//! `cargo run --release --example bench_parse -- FILE [RUNS]` parses FILE RUNS times (default
//! 7) with the parser `scenarist` uses (the hand-written fast path, pest for items it leaves)
//! and as many times with pest alone (`Engine::Reference`), alternating, in one process, and
//! prints the medians, both throughputs and their ratio, and how many items each parser built.

use std::time::Instant;

use scenarist::syntax::{parse_with, Engine};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: bench_parse FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(7).max(1);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let mb = text.len() as f64 / 1e6;
    let (mut fast, mut pest) = (Vec::new(), Vec::new());
    let mut stats = Vec::new();
    for run in 0..runs {
        for (engine, times) in [(Engine::Fast, &mut fast), (Engine::Reference, &mut pest)] {
            let start = Instant::now();
            let (file, diags, s) = parse_with(0, &text, engine);
            times.push(start.elapsed().as_secs_f64());
            if !diags.is_empty() {
                eprintln!("{path} has syntax errors: the benchmark wants a valid bot");
                std::process::exit(1);
            }
            drop(file);
            if run == 0 {
                stats.push((engine, s));
            }
        }
    }
    let (f, p) = (median(fast), median(pest));
    println!("parser alone, {mb:.1} MB, {runs} runs each, alternating:");
    println!("  fast path: median {f:.3} s = {:.1} MB/s", mb / f);
    println!("  pest only: median {p:.3} s = {:.1} MB/s", mb / p);
    println!("ratio fast / pest (time): {:.2}", f / p);
    for (engine, s) in &stats {
        println!(
            "  {engine:?}: {} items by the fast parser, {} by pest",
            s.fast_items, s.pest_items
        );
    }
}
