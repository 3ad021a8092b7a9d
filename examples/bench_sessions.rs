//! Memory of idle sessions and the size of a saved one (issue 7; run by `scripts/bench`).
//!
//! `cargo run --release --example bench_sessions -- N [BOT]` loads BOT (default
//! `scenarios/shop_orders`), drives N sessions to the point where each waits for the user
//! (`hi`, then `Track an order`: the bot asks for an order number), keeps them all in memory,
//! and prints one JSON line: the process's peak RSS, the sessions' serialized sizes, and the
//! serialized size of a typical session holding 20 variables. Run it with N = 0 as the
//! baseline: the difference of the peaks, divided by N, is the memory of one idle session.

use scenarist::eval::{Options, Runtime, Session};
use scenarist::http::Offline;
use scenarist::value::Value;
use scenarist::{compile, Sources};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Twenty variables such as a shop or CRM bot keeps about a user.
fn twenty_variables() -> Vec<(&'static str, Value)> {
    let json = |s: &str| Value::parse_json(s).unwrap_or(Value::Null);
    vec![
        ("name", Value::from("Anna Ivanova")),
        ("first_name", Value::from("Anna")),
        ("phone", Value::from("+79001234567")),
        ("email", Value::from("anna@example.com")),
        ("city", Value::from("Kazan")),
        ("language", Value::from("ru")),
        ("order_id", Value::from(104233)),
        ("orders_seen", Value::from(3)),
        ("last_order_state", Value::from("shipped")),
        ("cart", json(r#"{"sku-1": 2, "sku-7": 1}"#)),
        ("cart_total", json("1490.50")),
        ("currency", Value::from("RUB")),
        ("subscribed", Value::from(true)),
        ("utm_source", Value::from("instagram")),
        ("lead_id", Value::from("L-88213")),
        ("score", Value::from(7)),
        ("quiz_answers", json(r#"["a", "c", "b"]"#)),
        (
            "address",
            json(r#"{"street": "Baumana 12", "zip": "420111"}"#),
        ),
        ("last_seen", Value::from("2026-11-28")),
        ("manager", Value::from("Oleg")),
    ]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let bot = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/shop_orders").into());
    let sources = match Sources::load(&[std::path::PathBuf::from(&bot)]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot load {bot}: {e}");
            std::process::exit(2);
        }
    };
    let Ok(program) = compile(&sources) else {
        eprintln!("{bot} does not compile");
        std::process::exit(1);
    };
    let rt = Runtime::new(
        program,
        sources,
        Options {
            now_ms: Some(0),
            ..Options::default()
        },
    );
    let offline = Offline("no network in this benchmark".into());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut globals = rt.new_globals();
    let mut sessions: Vec<Session> = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = rt.new_session(&format!("user-{i}"), "Anna");
        for input in ["hi", "Track an order"] {
            tokio.block_on(rt.turn(&mut s, &mut globals, input, &offline));
        }
        assert!(
            s.is_waiting(),
            "the session should wait for an order number"
        );
        sessions.push(s);
    }
    let serialized: usize = sessions
        .iter()
        .map(|s| serde_json::to_vec(s).map_or(0, |v| v.len()))
        .sum();
    let mut typical = rt.new_session("user-typical", "Anna");
    for input in ["hi", "Track an order"] {
        tokio.block_on(rt.turn(&mut typical, &mut globals, input, &offline));
    }
    for (name, value) in twenty_variables() {
        typical.user.insert(name.to_string(), value);
    }
    let typical_json = serde_json::to_string(&typical).unwrap_or_default();
    println!(
        "{{\"sessions\":{n},\"peak_rss_kib\":{},\"serialized_bytes_avg\":{},\"typical_20_vars_bytes\":{}}}",
        peak_rss_kib(),
        serialized.checked_div(n).unwrap_or(0),
        typical_json.len()
    );
    if std::env::var_os("SHOW_SESSION").is_some() {
        eprintln!("{typical_json}");
    }
    std::hint::black_box(&sessions);
}
