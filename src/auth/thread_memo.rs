//! Per-thread memo maps for values that are pure functions of their key.
//!
//! Each actix worker is one thread and serves whole requests, so a memo it keeps to itself needs
//! no lock. A shared one put a lock word and reference counts that both cores wrote on every
//! request in the hot path's profile. A thread's map belongs to one owner (one service
//! instance) at a time, so two instances in one process never see each other's entries.
//!
//! The maps hash with foldhash rather than SipHash: SipHash's flood resistance buys nothing
//! here, since every key is a server-made value (a verified token, a server-generated session
//! id) that no client can choose, and its cost showed in the hot path's profile.

use foldhash::fast::RandomState;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

/// One thread's memo, tagged with the owner it was filled for.
pub(crate) struct ThreadMemo<K, V> {
    owner: u64,
    map: HashMap<K, V, RandomState>,
}

impl<K: Hash + Eq, V> ThreadMemo<K, V> {
    /// An empty memo owned by nobody.
    pub(crate) fn new() -> Self {
        Self {
            owner: 0,
            map: HashMap::default(),
        }
    }

    /// The value stored for `key` by `owner`.
    pub(crate) fn get<Q>(&self, owner: u64, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.owner != owner {
            return None;
        }
        self.map.get(key)
    }

    /// The value stored for `key` by `owner`, to update in place.
    pub(crate) fn get_mut<Q>(&mut self, owner: u64, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.owner != owner {
            return None;
        }
        self.map.get_mut(key)
    }

    /// Stores a value for `owner`. A full memo, or one filled for another owner, starts over:
    /// the cost is one recomputation per live key.
    pub(crate) fn insert(&mut self, owner: u64, capacity: usize, key: K, value: V) {
        if self.owner != owner || self.map.len() >= capacity {
            self.map.clear();
            self.owner = owner;
        }
        self.map.insert(key, value);
    }
}

/// A fresh owner tag (never 0, which marks an unowned memo).
pub(crate) fn new_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_do_not_see_each_other_and_a_full_memo_starts_over() {
        let (a, b) = (new_owner(), new_owner());
        let mut m = ThreadMemo::<String, u32>::new();
        m.insert(a, 2, "x".into(), 1);
        assert_eq!(m.get(a, "x"), Some(&1));
        assert_eq!(m.get(b, "x"), None);
        m.insert(b, 2, "y".into(), 2);
        assert_eq!(m.get(a, "x"), None, "another owner's insert starts over");
        m.insert(b, 2, "z".into(), 3);
        m.insert(b, 2, "w".into(), 4);
        assert_eq!(m.get(b, "y"), None, "a full memo starts over");
        assert_eq!(m.get(b, "w"), Some(&4));
    }
}
