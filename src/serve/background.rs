//! What `serve` does while nobody asks: fires due timers, delivers the outbox to
//! `--deliver-url` and Telegram, prunes old entries.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::store::OutboxEntry;
use super::telegram::{self, Sent};
use super::{now_ms, App, KEEP_MS};

/// The longest the timer loop sleeps without looking: a timer set by another process sharing
/// the store (or one whose wake-up was missed) fires at most this late.
const TIMER_POLL: Duration = Duration::from_millis(500);

/// How often the loop looks again while a due user's timers are still firing (its turn may
/// wait on a slow `http` call): other users' timers must not wait for it.
const BUSY_POLL: Duration = Duration::from_millis(50);

/// Fires every due timer: each user's timers in order, as turns of that user, on a task of
/// its own, so that a slow turn holds up no other user's timers; then sleeps until the next
/// is due, a turn sets one, or [`TIMER_POLL`] passes.
pub async fn timer_loop(app: Arc<App>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    // Users whose timers are firing now, and users whose timers failed (until when to leave
    // them alone: the store was down, a session could not be read).
    let firing: Arc<std::sync::Mutex<HashSet<String>>> = Arc::default();
    let mut failed: HashMap<String, tokio::time::Instant> = HashMap::new();
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel::<(String, bool)>();
    loop {
        if *stop.borrow() {
            return;
        }
        while let Ok((user, ok)) = done.try_recv() {
            if ok {
                failed.remove(&user);
            } else {
                failed.insert(user, tokio::time::Instant::now() + TIMER_POLL);
            }
        }
        let now = now_ms();
        let busy = firing.lock().map_or(0, |f| f.len());
        let mut skipped = false;
        let mut store_down = false;
        match app.store.due(now, 256 + busy + failed.len()).await {
            Ok(users) => {
                let at = tokio::time::Instant::now();
                failed.retain(|_, until| *until > at);
                for user in users {
                    let fresh = !failed.contains_key(&user)
                        && firing.lock().is_ok_and(|mut f| f.insert(user.clone()));
                    if !fresh {
                        skipped = true;
                        continue;
                    }
                    let (app, firing, done) = (app.clone(), firing.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let fired = app.fire_due(&user, now).await;
                        if let Err(e) = &fired {
                            tracing::warn!(user = %user, error = ?e, "timers could not fire");
                        }
                        if let Ok(mut f) = firing.lock() {
                            f.remove(&user);
                        }
                        let _ = done.send((user, fired.is_ok()));
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the store cannot list due timers");
                store_down = true;
            }
        }
        let wait = if store_down {
            TIMER_POLL
        } else if skipped {
            BUSY_POLL
        } else {
            match app.store.next_due().await {
                Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64),
                _ => TIMER_POLL,
            }
        }
        .clamp(Duration::from_millis(5), TIMER_POLL);
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
    format!("sha256={}", super::hex(&mac.finalize().into_bytes()))
}

/// Delivers the outbox: each user's entries in order (the next only after the one before was
/// delivered), retried with backoff, users in parallel. Entries of `tg:` users go to Telegram
/// when `--telegram` is on; the others are POSTed to `url` (`--deliver-url`); an entry that
/// neither takes is marked delivered at once (SSE subscribers read the outbox all the same).
pub async fn deliver_loop(
    app: Arc<App>,
    url: Option<String>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stop = stop;
    let mut changed = app.outbox.subscribe();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    // Users whose last attempt failed: attempts so far, and when to try again.
    let mut backoff: HashMap<String, (u32, tokio::time::Instant)> = HashMap::new();
    // Users with an entry on its way now: one at a time each, and nobody waits for them.
    let mut sending: HashSet<String> = HashSet::new();
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel::<Attempt>();
    let mut finished: Vec<Attempt> = Vec::new();
    loop {
        if *stop.borrow() {
            return;
        }
        while let Ok(attempt) = done.try_recv() {
            finished.push(attempt);
        }
        for (user, seq, outcome) in finished.drain(..) {
            sending.remove(&user);
            match outcome {
                // Another instance delivers it.
                None => {}
                Some(Sent::Done) => {
                    backoff.remove(&user);
                }
                // A 429: not a failure, the entry waits as long as it was asked to.
                Some(Sent::Later(wait)) => {
                    let attempts = backoff.get(&user).map_or(0, |(n, _)| *n);
                    backoff.insert(user, (attempts, tokio::time::Instant::now() + wait));
                }
                Some(Sent::Failed) => {
                    let attempts = backoff.get(&user).map_or(0, |(n, _)| *n) + 1;
                    // 0.5 s, 1 s, 2 s … up to a minute.
                    let delay = Duration::from_millis(500u64 << attempts.min(8).saturating_sub(1))
                        .min(Duration::from_secs(60));
                    tracing::warn!(user = %user, seq, attempts, "delivery failed; retrying");
                    backoff.insert(user, (attempts, tokio::time::Instant::now() + delay));
                }
            }
        }
        // Users already sending or waiting to retry take places in the list: room for 256 more.
        let limit = 256 + sending.len() + backoff.len();
        let entries = match app.store.undelivered(limit).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "the store cannot list the outbox");
                Vec::new()
            }
        };
        let now = tokio::time::Instant::now();
        for entry in entries {
            if sending.contains(&entry.user_id)
                || backoff.get(&entry.user_id).is_some_and(|(_, at)| *at > now)
            {
                continue;
            }
            sending.insert(entry.user_id.clone());
            let (app, client, url, done) =
                (app.clone(), client.clone(), url.clone(), done_tx.clone());
            tokio::spawn(async move {
                let user = entry.user_id.clone();
                let seq = entry.seq;
                let outcome = deliver_one(&app, &client, url.as_deref(), entry).await;
                let _ = done.send((user, seq, outcome));
            });
        }
        let next_retry = backoff.values().map(|(_, at)| *at).min();
        let wait = next_retry
            .map_or(Duration::from_secs(1), |at| {
                at.saturating_duration_since(tokio::time::Instant::now())
            })
            .clamp(Duration::from_millis(5), Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.recv() => {}
            Some(attempt) = done.recv() => finished.push(attempt),
            _ = stop.changed() => return,
        }
    }
}

/// What became of one delivery: the user, the entry's seq, and how it went (`None`: another
/// instance delivers it).
type Attempt = (String, i64, Option<Sent>);

/// Delivers a user's oldest entry: to Telegram for a Telegram user, else to `url`; marked
/// delivered when it went (or has nowhere to go).
async fn deliver_one(
    app: &App,
    client: &reqwest::Client,
    url: Option<&str>,
    entry: OutboxEntry,
) -> Option<Sent> {
    // With several instances on one store, one delivers a user's entry at a time: the one
    // that claims it, after looking that nobody delivered it meanwhile.
    let key = format!("\u{2}deliver:{}", entry.user_id);
    let claim = match app.claim_within(&key, Duration::ZERO).await {
        Ok(Some(claim)) => claim,
        _ => return None,
    };
    let entry = if app.store.shared() {
        match app.store.first_undelivered(&entry.user_id).await {
            Ok(Some(fresh)) => fresh,
            _ => return None,
        }
    } else {
        entry
    };
    let telegram = app
        .telegram
        .clone()
        .filter(|_| entry.user_id.starts_with(telegram::USER_PREFIX));
    let (sent, somewhere) = match (telegram, url) {
        (Some(tg), _) => (tg.deliver(&entry).await, true),
        (None, Some(url)) => (post_entry(app, client, url, &entry).await, true),
        (None, None) => (Sent::Done, false),
    };
    if somewhere && !matches!(sent, Sent::Later(_)) {
        app.metrics.delivery(sent == Sent::Done);
    }
    if sent == Sent::Done {
        if let Err(e) = app
            .store
            .delivered(&entry.user_id, entry.seq, now_ms())
            .await
        {
            tracing::warn!(error = %e, "a delivery could not be recorded");
        }
    }
    drop(claim);
    Some(sent)
}

/// POSTs one entry to `--deliver-url`, signed with the token: delivered on a 2xx.
async fn post_entry(app: &App, client: &reqwest::Client, url: &str, entry: &OutboxEntry) -> Sent {
    let body = format!(
        "{{\"user_id\":{},\"events\":{},\"seq\":{}}}",
        serde_json::Value::String(entry.user_id.clone()),
        entry.events,
        entry.seq
    );
    let mut request = client.post(url).header("content-type", "application/json");
    if let Some(token) = &app.token {
        request = request.header("x-scenarist-signature", signature(token, body.as_bytes()));
    }
    match request.body(body).send().await {
        Ok(r) if r.status().is_success() => Sent::Done,
        _ => Sent::Failed,
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
