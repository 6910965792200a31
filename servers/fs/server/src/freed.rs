//! The clusters freed since the last complete sync ([`FreedClusters`]): none may be
//! allocated again until a sync has put the freeing on the disk.
//!
//! Why: the sync order writes data before the tables and the directories
//! ([`crate::cache`]). A cluster a truncate or an unlink frees is free in the cache at once,
//! but on the disk it still belongs to the old file until the sync that writes its table
//! entry and its directory entry. New data written into it would reach the disk first, and
//! a crash before the rest would leave the old file, as the last completed sync
//! acknowledged it, holding another file's bytes. So the cache notes every entry of the
//! table it sees go from allocated to free, whoever writes it (lamfat's truncate and
//! remove, the data path, the mount check), and forgets them when everything it holds is
//! on the device; the data path's allocator skips them, and the volume syncs before lamfat
//! may allocate while any are noted (lamfat's allocator cannot be told to skip them).
//!
//! Invariants: the runs are disjoint and never touch (consecutive clusters share one run,
//! so a freed chain costs a run per stretch of consecutive clusters, not a node per
//! cluster); `count` is the number of clusters in them.

use alloc::collections::BTreeMap;

/// A set of clusters as runs of consecutive ones (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreedClusters {
    /// First cluster of each run → one past its last.
    runs: BTreeMap<u32, u32>,
    count: u32,
}

impl FreedClusters {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `cluster` (nothing if it is in already).
    pub fn insert(&mut self, cluster: u32) {
        let Some(end) = cluster.checked_add(1) else { return };
        if self.contains(cluster) {
            return;
        }
        let start = match self.runs.range(..cluster).next_back() {
            Some((&start, &run_end)) if run_end == cluster => start,
            _ => cluster,
        };
        let end = self.runs.remove(&end).unwrap_or(end);
        self.runs.insert(start, end);
        self.count += 1;
    }

    /// Whether `cluster` is in the set.
    pub fn contains(&self, cluster: u32) -> bool {
        self.skip(cluster) != cluster
    }

    /// The first cluster from `cluster` on that is not in the set.
    pub fn skip(&self, cluster: u32) -> u32 {
        if self.count == 0 {
            return cluster;
        }
        match self.runs.range(..=cluster).next_back() {
            Some((_, &end)) if cluster < end => end,
            _ => cluster,
        }
    }

    /// How many clusters the set holds.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.count = 0;
    }

    /// The runs, each as its first cluster and one past its last (for tests).
    pub fn runs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.runs.iter().map(|(&start, &end)| (start, end))
    }
}
