//! The cluster index and the cluster cap.
//!
//! **Index.** Every live cluster is listed under `(token count, position, token)` for each
//! of its positions (the token as a hash keyed by a per-miner random seed, so crafted
//! tokens cannot flood one list; the lists are only candidates, every candidate is
//! compared token by token, so the seed never changes a result). A message's candidates
//! are the clusters of its token count that share at least one token at the same position:
//! the search costs the length of those lists, not the number of clusters.
//!
//! **Cap.** At most `max_clusters` clusters are live. When a new cluster makes one too
//! many, the least recently used template (the one whose last message, or cached message
//! form, came longest ago; ties by age) is evicted with every cluster merged into it: it
//! leaves the index and the saved state, and messages like it later start a new template
//! (drain3's `max_clusters` LRU rule). Evicted clusters keep their text until the end of
//! the `parse` call that evicted them (rows of that call still name their template), then
//! their memory is reclaimed: memory is bounded by the cap plus one call's new clusters.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use super::TemplateMiner;

/// Map with a randomly keyed hasher, for maps whose iteration order is never used.
pub(crate) type RandMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Index key: (token count, position, keyed hash of the token).
pub(crate) type Key = (u32, u32, u64);

/// Length of the list under a key of the empty message.
const EMPTY_POS: u32 = u32::MAX;

/// The clusters under one key: most keys of free text hold one cluster, kept inline (no
/// allocation per key).
#[derive(Clone, Debug)]
struct List {
    first: u32,
    more: Vec<u32>,
}

impl List {
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    fn len(&self) -> usize {
        1 + self.more.len()
    }

    /// Removes `id`; false when the list is then empty.
    fn remove(&mut self, id: u32) -> bool {
        if self.first == id {
            match self.more.pop() {
                Some(x) => self.first = x,
                None => return false,
            }
        } else if let Some(at) = self.more.iter().position(|&c| c == id) {
            self.more.swap_remove(at);
        }
        true
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    seed: foldhash::fast::RandomState,
    lists: RandMap<Key, List>,
    /// Live clusters with a token of a script written without spaces, by (keyed hashes of)
    /// their first and last token (`stretch.rs`).
    ends: RandMap<(u64, u64), Vec<u32>>,
}

impl Index {
    fn key(&self, len: usize, pos: usize, tok: &str) -> Key {
        (len as u32, pos as u32, self.seed.hash_one(tok))
    }

    fn keys<'a>(&'a self, toks: &'a [impl AsRef<str>]) -> impl Iterator<Item = Key> + 'a {
        let empty = toks.is_empty().then_some((0, EMPTY_POS, 0));
        toks.iter()
            .enumerate()
            .map(|(i, t)| self.key(toks.len(), i, t.as_ref()))
            .chain(empty)
    }

    fn ends_key(&self, toks: &[impl AsRef<str>]) -> Option<(u64, u64)> {
        let unspaced = toks.iter().any(|t| super::tree::unspaced(t.as_ref()));
        let (f, l) = (toks.first()?, toks.last()?);
        unspaced.then(|| {
            (
                self.seed.hash_one(f.as_ref()),
                self.seed.hash_one(l.as_ref()),
            )
        })
    }

    /// Live clusters with a token of a script written without spaces and the first and
    /// last token of `toks`.
    pub(crate) fn by_ends(&self, toks: &[Box<str>]) -> Option<&[u32]> {
        self.ends.get(&self.ends_key(toks)?).map(|v| v.as_slice())
    }

    pub(crate) fn insert(&mut self, id: u32, toks: &[Box<str>]) {
        let keys: Vec<Key> = self.keys(toks).collect();
        for k in keys {
            match self.lists.entry(k) {
                Entry::Occupied(mut e) => e.get_mut().more.push(id),
                Entry::Vacant(e) => {
                    e.insert(List {
                        first: id,
                        more: Vec::new(),
                    });
                }
            }
        }
        if let Some(k) = self.ends_key(toks) {
            self.ends.entry(k).or_default().push(id);
        }
    }

    pub(crate) fn remove(&mut self, id: u32, toks: &[Box<str>]) {
        if let Some(k) = self.ends_key(toks)
            && let Some(v) = self.ends.get_mut(&k)
        {
            v.retain(|&c| c != id);
            if v.is_empty() {
                self.ends.remove(&k);
            }
        }
        let keys: Vec<Key> = self.keys(toks).collect();
        for k in keys {
            if let Some(v) = self.lists.get_mut(&k)
                && !v.remove(id)
            {
                self.lists.remove(&k);
            }
        }
    }

    /// Live clusters with `toks.len()` tokens sharing a token at the same position with
    /// `toks` (or every empty cluster for an empty message), ascending.
    pub(crate) fn candidates(&self, toks: &[&str]) -> Vec<u32> {
        let mut out = Vec::new();
        for k in self.keys(toks) {
            if let Some(v) = self.lists.get(&k) {
                out.extend(v.iter());
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// How many clusters are listed under `(len, pos, tok)`.
    pub(crate) fn list_len(&self, len: usize, pos: usize, tok: &str) -> usize {
        self.lists
            .get(&self.key(len, pos, tok))
            .map_or(0, List::len)
    }

    /// The clusters listed under `(len, pos, tok)`, in order of listing.
    pub(crate) fn list(&self, len: usize, pos: usize, tok: &str) -> Vec<u32> {
        self.lists
            .get(&self.key(len, pos, tok))
            .map_or_else(Vec::new, |v| v.iter().collect())
    }

    fn remap(&mut self, map: &[u32]) {
        for v in self.ends.values_mut() {
            for c in v.iter_mut() {
                *c = map[*c as usize];
            }
        }
        for v in self.lists.values_mut() {
            v.first = map[v.first as usize];
            for c in v.more.iter_mut() {
                *c = map[*c as usize];
            }
        }
    }
}

/// Least-recently-used order of templates: a queue of (tick, template) with stale entries
/// skipped (an entry is current when its tick is the template's `used`). Ticks count the
/// lines parsed, so the order does not depend on how a call cuts its input into chunks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lru {
    /// Lines parsed so far.
    pub(crate) tick: u64,
    /// Queue length that triggers the next sweep of stale entries.
    limit: usize,
    queue: VecDeque<(u64, u32)>,
}

impl TemplateMiner {
    /// Marks the template of cluster `c` as used now (at the current line count).
    pub(crate) fn touch(&mut self, c: u32) {
        self.touch_at(c, self.lru.tick);
    }

    /// Marks the template of cluster `c` as used at line `t`.
    pub(crate) fn touch_at(&mut self, c: u32, t: u64) {
        let r = self.resolve(c);
        match self.clusters.get_mut(r as usize) {
            Some(cl) if cl.used <= t => cl.used = t,
            _ => return,
        }
        self.lru.queue.push_back((t, r));
        if self.lru.queue.len() > self.lru.limit.max(2 * self.live + 1024) {
            // Drop stale entries; the next sweep waits until the queue has doubled, so
            // sweeps cost O(1) per touch.
            let clusters = &self.clusters;
            self.lru.queue.retain(|&(t, c)| {
                clusters
                    .get(c as usize)
                    .is_some_and(|cl| cl.used == t && !cl.evicted)
            });
            self.lru.limit = 2 * self.lru.queue.len() + 1024;
        }
    }

    /// Rebuilds the queue from the clusters' `used` ticks (after loading a state).
    pub(crate) fn rebuild_lru(&mut self) {
        let mut q: Vec<(u64, u32)> = (0..self.clusters.len() as u32)
            .filter(|&c| self.alias[c as usize] == c && self.clusters[c as usize].in_leaf)
            .map(|c| (self.clusters[c as usize].used, c))
            .collect();
        q.sort_unstable();
        self.lru.queue = q.into();
        self.lru.tick = self.lru.tick.max(self.lru.queue.back().map_or(0, |e| e.0));
    }

    /// Evicts least recently used templates until at most `max_clusters` clusters are live.
    pub(crate) fn enforce_cap(&mut self) {
        while self.live > self.config.max_clusters {
            let Some((t, c)) = self.lru.queue.pop_front() else {
                return;
            };
            let cl = &self.clusters[c as usize];
            if cl.used != t || cl.evicted || self.alias[c as usize] != c {
                continue;
            }
            self.evict(c);
        }
    }

    /// Evicts template `r` (a root) and every cluster merged into it.
    fn evict(&mut self, r: u32) {
        // The family stays listed under `r` until the compaction that drops it: rows of
        // this call may still name the evicted template.
        let mut family = self.members.get(&r).cloned().unwrap_or_default();
        family.push(r);
        for c in family {
            self.unlist(c);
            let cl = &mut self.clusters[c as usize];
            cl.evicted = true;
            let key = super::tree::skeleton(&cl.tokens);
            if self.skeletons.get(&key) == Some(&c) {
                self.skeletons.remove(&key);
            }
            self.evicted += 1;
        }
    }

    /// Takes cluster `c` out of the index (it no longer matches messages).
    pub(crate) fn unlist(&mut self, c: u32) {
        let cl = &mut self.clusters[c as usize];
        if cl.in_leaf {
            cl.in_leaf = false;
            self.live -= 1;
            self.index.remove(c, &cl.tokens);
        }
    }

    /// Drops evicted clusters and renumbers the rest in order (a pure renumbering: ties are
    /// broken by cluster order, which it keeps). Runs at the end of a call once evicted
    /// clusters outnumber a quarter of the live ones.
    pub(crate) fn compact(&mut self) {
        if self.evicted == 0 || self.evicted * 4 < self.live.max(4096) {
            return;
        }
        let mut map = vec![u32::MAX; self.clusters.len()];
        let mut next = 0u32;
        for (c, cl) in self.clusters.iter().enumerate() {
            if !cl.evicted {
                map[c] = next;
                next += 1;
            }
        }
        let old = std::mem::take(&mut self.clusters);
        let alias = std::mem::take(&mut self.alias);
        self.clusters.reserve_exact(next as usize);
        self.alias.reserve_exact(next as usize);
        for (c, cl) in old.into_iter().enumerate() {
            if !cl.evicted {
                self.clusters.push(cl);
                self.alias.push(map[alias[c] as usize]);
            }
        }
        self.index.remap(&map);
        self.members = std::mem::take(&mut self.members)
            .into_iter()
            .filter(|(r, _)| map[*r as usize] != u32::MAX)
            .map(|(r, v)| {
                (
                    map[r as usize],
                    v.into_iter()
                        .map(|c| map[c as usize])
                        .filter(|&c| c != u32::MAX)
                        .collect(),
                )
            })
            .collect();
        self.skeletons.retain(|_, v| map[*v as usize] != u32::MAX);
        for v in self.skeletons.values_mut() {
            *v = map[*v as usize];
        }
        self.cache.retain(|_, c| map[*c as usize] != u32::MAX);
        for c in self.cache.values_mut() {
            *c = map[*c as usize];
        }
        let clusters = &self.clusters;
        self.lru.queue = std::mem::take(&mut self.lru.queue)
            .into_iter()
            .filter_map(|(t, c)| {
                let c = map[c as usize];
                (c != u32::MAX && clusters[c as usize].used == t).then_some((t, c))
            })
            .collect();
        self.evicted = 0;
    }
}
