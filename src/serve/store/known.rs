//! Which users a store may hold: a Bloom filter of user ids. It says "surely not" or "maybe";
//! a store in one process (SQLite) uses it to answer a new user's first turn without reading
//! the database, since such a user has no session and no processed message yet. A wrong
//! "maybe" only costs the read it would have made anyway; a "surely not" is never wrong,
//! because every id is added before its first write and nothing is ever taken out (a deleted
//! user stays "maybe").

use std::hash::Hasher;

/// Bits per id the filter is sized for when it is made; with 6 probes one id in about 600
/// that was never added reads as "maybe". Beyond that many ids the filter still works, with
/// more wrong "maybe"s, until the next start sizes it again.
const BITS_PER_ID: usize = 16;
/// The fewest bits: 2 MiB, room for a million ids.
const MIN_BITS: usize = 1 << 24;
const PROBES: u64 = 6;

pub struct Known {
    bits: Vec<u64>,
}

impl Known {
    /// A filter with room for `ids` ids (and at least a million).
    pub fn with_room_for(ids: usize) -> Known {
        let bits = ids
            .saturating_mul(2 * BITS_PER_ID)
            .max(MIN_BITS)
            .next_power_of_two();
        Known {
            bits: vec![0; bits / 64],
        }
    }

    /// The bit positions of `id`: double hashing from two SipHash values.
    fn probes(&self, id: &str) -> impl Iterator<Item = usize> {
        let hash = |seed: u8| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write_u8(seed);
            h.write(id.as_bytes());
            h.finish()
        };
        let (a, b) = (hash(0), hash(1) | 1);
        let mask = (self.bits.len() * 64 - 1) as u64;
        (0..PROBES).map(move |i| (a.wrapping_add(i.wrapping_mul(b)) & mask) as usize)
    }

    pub fn add(&mut self, id: &str) {
        let probes: Vec<usize> = self.probes(id).collect();
        for bit in probes {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only when `id` was never added.
    pub fn may_hold(&self, id: &str) -> bool {
        self.probes(id)
            .all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_added_id_is_always_held_and_few_others_seem_to_be() {
        let mut known = Known::with_room_for(0);
        for i in 0..200_000 {
            known.add(&format!("user-{i}"));
        }
        assert!((0..200_000).all(|i| known.may_hold(&format!("user-{i}"))));
        let wrong = (0..100_000)
            .filter(|i| known.may_hold(&format!("other-{i}")))
            .count();
        // 200,000 ids in 16 Mbit: about 1 in 100,000 should read as held.
        assert!(
            wrong < 100,
            "{wrong} of 100,000 ids never added read as held"
        );
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let known = Known::with_room_for(10);
        assert!(!known.may_hold(""));
        assert!(!known.may_hold("tg:42"));
    }
}
