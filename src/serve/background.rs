//! What `serve` does while nobody asks: fires due timers, delivers the outbox to
//! `--deliver-url`, prunes old entries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{now_ms, App, KEEP_MS};

/// The longest the timer loop sleeps without looking: a timer set by another process sharing
/// the store (or one whose wake-up was missed) fires at most this late.
const TIMER_POLL: Duration = Duration::from_millis(500);

/// Fires every due timer, user by user (each user's timers in order, as turns of that user),
/// then sleeps until the next is due, a turn sets one, or [`TIMER_POLL`] passes.
pub async fn timer_loop(app: Arc<App>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    loop {
        if *stop.borrow() {
            return;
        }
        let now = now_ms();
        let mut failed = false;
        match app.store.due(now, 256).await {
            Ok(users) if !users.is_empty() => {
                let mut tasks = tokio::task::JoinSet::new();
                for user in users {
                    let app = app.clone();
                    tasks.spawn(async move {
                        let fired = app.fire_due(&user, now).await;
                        if let Err(e) = &fired {
                            tracing::warn!(user = %user, error = ?e, "timers could not fire");
                        }
                        fired.is_ok()
                    });
                }
                let mut all_fired = true;
                while let Some(fired) = tasks.join_next().await {
                    all_fired &= fired.unwrap_or(false);
                }
                if all_fired {
                    continue;
                }
                // A timer that cannot fire (the store is down, a session cannot be read) is
                // tried again after a pause, not in a busy loop.
                failed = true;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the store cannot list due timers");
                failed = true;
            }
        }
        let wait = match app.store.next_due().await {
            Ok(Some(due)) if !failed => {
                Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64)
            }
            _ => TIMER_POLL,
        }
        .min(TIMER_POLL);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = app.timers_changed.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// `X-Scenarist-Signature: sha256=HEX`, the HMAC-SHA256 of the body keyed with the token.
pub fn signature(token: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + bytes.len() * 2);
    hex.push_str("sha256=");
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Delivers the outbox to `url`: each user's entries in order (the next only after the one
/// before was answered with a 2xx), retried with backoff, users in parallel.
pub async fn deliver_loop(app: Arc<App>, url: String, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    let mut changed = app.outbox.subscribe();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    // Users whose last attempt failed: attempts so far, and when to try again.
    let mut backoff: HashMap<String, (u32, tokio::time::Instant)> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let entries = match app.store.undelivered(256).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "the store cannot list the outbox");
                Vec::new()
            }
        };
        let now = tokio::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for entry in entries {
            if backoff.get(&entry.user_id).is_some_and(|(_, at)| *at > now) {
                continue;
            }
            let body = format!(
                "{{\"user_id\":{},\"events\":{},\"seq\":{}}}",
                serde_json::Value::String(entry.user_id.clone()),
                entry.events,
                entry.seq
            );
            let mut request = client.post(&url).header("content-type", "application/json");
            if let Some(token) = &app.token {
                request =
                    request.header("x-scenarist-signature", signature(token, body.as_bytes()));
            }
            let request = request.body(body);
            tasks.spawn(async move {
                let ok = match request.send().await {
                    Ok(r) => r.status().is_success(),
                    Err(_) => false,
                };
                (entry.user_id, entry.seq, ok)
            });
        }
        let mut progressed = false;
        while let Some(Ok((user, seq, ok))) = tasks.join_next().await {
            app.metrics.delivery(ok);
            if ok {
                backoff.remove(&user);
                if let Err(e) = app.store.delivered(&user, seq, now_ms()).await {
                    tracing::warn!(error = %e, "a delivery could not be recorded");
                } else {
                    progressed = true;
                }
            } else {
                let attempts = backoff.get(&user).map_or(0, |(n, _)| *n) + 1;
                // 0.5 s, 1 s, 2 s … up to a minute.
                let delay = Duration::from_millis(500u64 << attempts.min(8).saturating_sub(1))
                    .min(Duration::from_secs(60));
                tracing::warn!(user = %user, seq, attempts, "delivery failed; retrying");
                backoff.insert(user, (attempts, tokio::time::Instant::now() + delay));
            }
        }
        if progressed {
            continue;
        }
        let next_retry = backoff.values().map(|(_, at)| *at).min();
        let wait = next_retry
            .map_or(Duration::from_secs(1), |at| {
                at.saturating_duration_since(tokio::time::Instant::now())
            })
            .min(Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.recv() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Once an hour: drops delivered outbox entries and processed ids older than 7 days (every
/// entry that old when nothing delivers them).
pub async fn prune_loop(app: Arc<App>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    loop {
        let before = now_ms() - KEEP_MS;
        match app.store.prune(before, !app.delivering).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "pruned the outbox and processed ids"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}
