//! Per-user order and rate: one turn of a user at a time, in arrival order (tokio's mutex is
//! fair), and at most `--user-rate` messages a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Slot = Arc<tokio::sync::Mutex<()>>;

/// A lock per user that has a turn running or waiting; an entry goes when nobody holds or
/// waits for it.
#[derive(Default)]
pub struct Users {
    slots: Mutex<HashMap<String, Slot>>,
}

/// Held for the whole turn of a user.
pub struct Turn<'a> {
    users: &'a Users,
    user_id: String,
    slot: Slot,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Users {
    pub async fn lock(&self, user_id: &str) -> Turn<'_> {
        let slot = {
            let mut slots = match self.slots.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            slots.entry(user_id.to_string()).or_default().clone()
        };
        let guard = slot.clone().lock_owned().await;
        Turn {
            users: self,
            user_id: user_id.to_string(),
            slot,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().map_or(0, |s| s.len())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut slots = match self.users.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // The map's reference and ours: nobody else waits for this user.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.user_id);
        }
    }
}

/// A token bucket per user: `rate` messages a second, as many at once.
pub struct RateLimit {
    rate: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimit {
    pub fn new(rate: u32) -> RateLimit {
        RateLimit {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for the user; without one, the seconds until there is one.
    pub fn take(&self, user_id: &str) -> Result<(), u64> {
        if self.rate == 0 {
            return Ok(());
        }
        let rate = f64::from(self.rate);
        let now = Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() > 100_000 {
            // Full buckets are the same as none.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < rate
            });
        }
        let (tokens, at) = buckets.entry(user_id.to_string()).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_of_one_user_wait_and_the_entry_goes_after() {
        let users = Users::default();
        let first = users.lock("a").await;
        let other = users.lock("b").await;
        assert_eq!(users.len(), 2);
        drop(other);
        assert_eq!(users.len(), 1);
        let waiting = users.lock("a");
        tokio::pin!(waiting);
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        drop(first);
        let second = waiting.await;
        drop(second);
        assert_eq!(users.len(), 0);
    }

    #[test]
    fn the_rate_limit_lets_a_burst_through_then_refuses() {
        let limit = RateLimit::new(20);
        for _ in 0..20 {
            assert_eq!(limit.take("u"), Ok(()));
        }
        assert_eq!(limit.take("u"), Err(1));
        assert_eq!(limit.take("v"), Ok(()));
        assert_eq!(RateLimit::new(0).take("u"), Ok(()));
    }
}
