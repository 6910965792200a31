//! Paths resolved before ([`Lookups`]): where a path's directory entry lies, so an `Open`
//! or a `Stat` of a path used recently reads that one entry through the cache instead of
//! walking every directory from the root through lamfat's iterators.
//!
//! A remembered path gives the byte offset of its short directory entry on the device,
//! its raw short name (checked against the entry at each use), its path as stored in upper
//! case (the open files' key) and its last name as stored. Everything else (kind, size,
//! first cluster, time) is read from the entry itself at each use: the data path and
//! lamfat change those in place, through the same cache.
//!
//! Invariants:
//! - a remembered path names the entry it names on the volume: an entry never moves while
//!   it keeps its name (lamfat writes a new entry into free slots and marks a removed one
//!   deleted; it never moves the others), so only an operation that adds, removes or
//!   renames an entry can make a remembered path wrong, and each of those forgets every
//!   path before it changes anything (create, make directory, unlink, remove directory,
//!   rename); the mount check runs before the volume has any;
//! - only paths that exist are remembered (a path that is missing may be created);
//! - at most [`CAPACITY`] paths are held.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;

/// The most paths remembered.
pub const CAPACITY: usize = 64;

/// Where a remembered path's entry lies (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Byte offset on the device of its short directory entry.
    pub entry: u64,
    /// The entry's raw short name, as the entry holds it.
    pub short: [u8; 11],
    /// Its path as stored, in upper case (shared with the open files' records).
    pub key: Rc<str>,
    /// Its last name as stored (long, or the short name as lamfat shows it).
    pub name: String,
}

/// Paths resolved before, by the client's path in upper case (how FAT compares names:
/// two paths equal in upper case name the same entry).
#[derive(Clone, Debug, Default)]
pub struct Lookups {
    /// Shared with the request that uses one, so a hit copies nothing.
    paths: BTreeMap<String, Rc<Located>>,
}

impl Lookups {
    /// None remembered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the path `key` (upper case) lies, if remembered.
    pub fn get(&self, key: &str) -> Option<&Rc<Located>> {
        self.paths.get(key)
    }

    /// Remembers that the path `key` (upper case) lies at `located`; when full, forgets
    /// another path first.
    pub fn insert(&mut self, key: String, located: Located) {
        if self.paths.len() >= CAPACITY && !self.paths.contains_key(&key) {
            self.paths.pop_first();
        }
        self.paths.insert(key, Rc::new(located));
    }

    /// Forgets the path `key` (its entry was not what was remembered).
    pub fn remove(&mut self, key: &str) {
        self.paths.remove(key);
    }

    /// Forgets every path: an entry is about to be added, removed or renamed.
    pub fn clear(&mut self) {
        self.paths.clear();
    }

    /// How many paths are remembered.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}
