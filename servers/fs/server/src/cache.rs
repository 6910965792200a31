//! The write-back sector cache between the FAT engine and the device: reads are served
//! from memory once a sector was read, writes stay in memory until [`SectorCache::sync`]
//! (or until room is needed), and the cache holds at most its capacity of sectors.
//!
//! **Sync order.** Each dirty sector has a [`Class`], from the volume's layout (boot
//! sector, allocation tables, FAT32's information sector, FAT12/16's root directory) and,
//! for a cluster, from what the volume layer is doing when it writes it ([`Purpose`]):
//! file data, or metadata (directory entries). A cluster filled with zeros while metadata
//! is written is a directory's new cluster: it counts as data, since nothing points at
//! it until the table and the entry do. `sync` writes, with a device flush after each
//! group that wrote something:
//!
//! 1. the boot sector, if it marks the volume dirty (so a crash from here on is noticed);
//! 2. data: file contents and new directory clusters, into clusters the disk's table
//!    still calls free or that belong to the file;
//! 3. the first allocation table, 4. its copies;
//! 5. directory sectors: sizes, first clusters, names;
//! 6. FAT32's information sector, 7. the boot sector when it marks the volume clean
//!    (unmount), last.
//!
//! A crash at any point leaves a volume whose directory entries point only at chains the
//! table already holds and at data already written: what can be wrong is what the mount
//! check repairs (lost clusters, a chain longer than its file, a size longer than its
//! chain, an entry set half written), never a file that a completed sync acknowledged.
//! `sync` answers only after the final flush.
//!
//! **Freed clusters.** Step 2 may write data into a cluster only if the disk's table
//! calls it free or it is the file's own. A cluster freed since the last complete sync (a
//! truncate, an unlink) is free in the cache but still the old file's on the disk, so the
//! cache watches the table it reads entries from: every entry a write turns from
//! allocated to free goes into [`SectorCache::freed`] ([`crate::freed`]), and the set is
//! emptied once a write-back of everything (any of the syncs, or a full cache's) has
//! reached the device. The allocators keep out of it (see [`crate::volume`]).
//!
//! **Room.** When the cache is full it drops the least recently used clean sector; if
//! every sector is dirty it first writes back the dirty data (allowed at any time by the
//! order above) or, if there is none, everything in sync order.
//!
//! **Reads.** A read of sectors the cache does not hold sends the device one request per
//! run of consecutive missing sectors within it (up to [`MAX_READ_RUN`] sectors), not
//! one per sector: each request is a round trip (submit, interrupt, wake) on the target.
//! A run of at least [`STREAM_RUN`] whole sectors that the read covers goes straight into
//! the caller's buffer and is not kept: bulk file contents are read once, and keeping them
//! would push out the tables and directories the engine uses again. That is coherent
//! because a sector the cache does not hold is not dirty: the device has its latest bytes.
//!
//! Invariants: at most `capacity` sectors are held; a dirty sector is never dropped; a
//! sector that failed to write stays dirty; every cluster whose table entry the cache
//! freed since its last complete write-back is in `freed` (some it cannot tell apart may
//! be too: a cluster allocated and freed again since, or whose write failed).

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use fs_api::FatKind;

use crate::device::{BlockDevice, DeviceError, SECTOR_BYTES, SECTOR_SIZE};
use crate::freed::FreedClusters;
use crate::layout::{FIRST_CLUSTER, Layout, Region};
use crate::table;

/// The fewest sectors a cache holds (a FAT12 entry may span two sectors, and lamfat keeps
/// a directory sector and a table sector in use at once).
pub const MIN_CAPACITY: usize = 8;

/// What a dirty sector is, which decides when `sync` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// The boot sector and the other reserved sectors.
    Boot,
    /// File contents, or a directory's new (zeroed) cluster.
    Data,
    /// The first (or active) allocation table.
    Fat,
    /// The allocation table's copies.
    FatCopy,
    /// Directory entries.
    Directory,
    /// FAT32's information sector.
    Information,
}

/// What the volume layer is writing, for clusters (whose layout does not say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A file's contents (lamfat's `File::write`).
    FileData,
    /// Anything else: directory entries, new directories, repairs.
    Metadata,
}

/// Counters of what the cache did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Sector lookups served from memory.
    pub hits: u64,
    /// Sectors read from the device.
    pub misses: u64,
    /// Read requests sent to the device (a run of missing sectors is one).
    pub requests: u64,
    /// Clean sectors dropped for room.
    pub evictions: u64,
    /// Sectors written to the device.
    pub written: u64,
    /// Device flushes.
    pub flushes: u64,
    /// Write-backs forced by a full cache.
    pub forced: u64,
    /// Sectors read straight into a caller's buffer and not kept (long runs, see
    /// [`STREAM_RUN`]).
    pub streamed: u64,
}

/// A slot index meaning "none" in the clean list and the lookup memo.
const NO_SLOT: u32 = u32::MAX;

/// The most sectors one device request reads (64 KiB): a run of missing sectors longer
/// than this is read in several requests.
pub const MAX_READ_RUN: u64 = 128;

/// The shortest run of missing whole sectors a read takes straight from the device into
/// its buffer without keeping them (8 KiB): bulk file contents, read once.
pub const STREAM_RUN: u64 = 16;

/// The table the cache watches for freed clusters (the one entries are read from): its
/// bytes on the device and the clusters it has entries for.
#[derive(Clone, Copy, Debug)]
struct WatchedTable {
    fat: FatKind,
    /// Its first byte and one past its last on the device.
    start: u64,
    end: u64,
    /// One past the last cluster.
    clusters_end: u32,
}

impl WatchedTable {
    fn of(layout: &Layout) -> Self {
        let start = layout.fat_sector(layout.read_fat()) * SECTOR_BYTES;
        WatchedTable {
            fat: layout.fat,
            start,
            end: start + u64::from(layout.sectors_per_fat) * SECTOR_BYTES,
            clusters_end: layout.total_clusters.saturating_add(FIRST_CLUSTER),
        }
    }

    /// Whether `data` at `offset` is one whole FAT16 or FAT32 entry, not free: how
    /// allocations and links are written, which free nothing (checked first, so they cost
    /// no more than this).
    fn allocates(&self, offset: u64, data: &[u8]) -> bool {
        let Some(within) = offset.checked_sub(self.start) else { return false };
        match (self.fat, data) {
            (FatKind::Fat16, &[low, high]) => within % 2 == 0 && (low | high) != 0,
            (FatKind::Fat32, &[a, b, c, d]) => within % 4 == 0 && (a | b | c | (d & 0x0F)) != 0,
            _ => false,
        }
    }
}

/// What the cache knows of one held sector; its bytes are `SectorCache::data`'s slice at
/// the slot's index.
#[derive(Clone, Copy, Debug)]
struct Slot {
    sector: u64,
    dirty: bool,
    class: Class,
    /// Whether the slot is in the clean list (held, clean).
    listed: bool,
    /// The clean list's neighbours: more and less recently used.
    newer: u32,
    older: u32,
}

/// The cache over device `D` (see the module doc).
///
/// Held sectors live in slots: `index` maps a sector to its slot, `data` holds every
/// slot's bytes in one allocation, and the clean slots form a list by last use (newest
/// first) through the slots themselves, so a hit, a touch and an eviction cost no
/// allocation and no tree operation beyond the one lookup. Dirty slots are in no list:
/// they are never dropped. The most recent lookup is remembered (`last`), so the many
/// small reads lamfat makes within one sector (table entries, directory entries) skip
/// the tree.
#[derive(Debug)]
pub struct SectorCache<D> {
    device: D,
    layout: Option<Layout>,
    capacity: usize,
    index: BTreeMap<u64, u32>,
    slots: Vec<Slot>,
    data: Vec<u8>,
    /// Slots not holding a sector.
    spare: Vec<u32>,
    newest: u32,
    oldest: u32,
    /// The last sector looked up and its slot (`NO_SLOT`: none).
    last: (u64, u32),
    purpose: Purpose,
    unflushed: bool,
    stats: CacheStats,
    /// Whether the device holds a clean volume (its dirty flag clear and nothing of ours
    /// waiting): the first change after that marks the cached boot sector dirty, so the
    /// flag reaches the device before the change does ([`SectorCache::sync_clean`] clears
    /// it again once everything is on the device).
    clean_on_device: bool,
    /// The table watched for freed clusters (once the layout is known).
    watched: Option<WatchedTable>,
    /// Clusters freed since the last complete write-back (see the module doc).
    freed: FreedClusters,
}

impl<D: BlockDevice> SectorCache<D> {
    /// A cache of at most `capacity` sectors (at least [`MIN_CAPACITY`]) over `device`.
    pub fn new(device: D, capacity: usize) -> Self {
        Self {
            device,
            layout: None,
            capacity: capacity.max(MIN_CAPACITY),
            index: BTreeMap::new(),
            slots: Vec::new(),
            data: Vec::new(),
            spare: Vec::new(),
            newest: NO_SLOT,
            oldest: NO_SLOT,
            last: (0, NO_SLOT),
            purpose: Purpose::Metadata,
            unflushed: false,
            stats: CacheStats::default(),
            clean_on_device: false,
            watched: None,
            freed: FreedClusters::new(),
        }
    }

    /// Says the device holds a clean volume now (after the mount check): from here the
    /// cache keeps the dirty flag itself (see `clean_on_device`).
    pub fn assume_clean_on_device(&mut self) {
        self.clean_on_device = self.layout.is_some();
    }

    /// Sets or clears the dirty bit of the cached boot sector (a change like any other,
    /// written in the sync order: first when it marks dirty, last when it marks clean).
    fn set_dirty_flag(&mut self, dirty: bool) -> Result<(), DeviceError> {
        let Some(offset) = self.layout.as_ref().map(|layout| layout.dirty_flag_offset() as u64) else {
            return Ok(());
        };
        let mut flag = [0u8];
        self.read_at(offset, &mut flag)?;
        let wanted = if dirty { flag[0] | 1 } else { flag[0] & !1 };
        if wanted == flag[0] {
            return Ok(());
        }
        self.write_sector_bytes(offset, &[wanted])
    }

    /// The volume's layout, once the boot sector was read: it classifies dirty sectors.
    /// Before it is set every sector counts as reserved.
    pub fn set_layout(&mut self, layout: Layout) {
        self.watched = Some(WatchedTable::of(&layout));
        self.layout = Some(layout);
    }

    /// The clusters freed in the table since the last complete write-back: none may be
    /// allocated before the next (see the module doc).
    pub fn freed(&self) -> &FreedClusters {
        &self.freed
    }

    /// Says what the following writes are; returns what it was.
    pub fn set_purpose(&mut self, purpose: Purpose) -> Purpose {
        core::mem::replace(&mut self.purpose, purpose)
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device, to change it (tests cut it).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// The device, dropping the cache (and whatever is dirty in it: `sync` first).
    pub fn into_device(self) -> D {
        self.device
    }

    /// Bytes the device holds.
    pub fn size(&self) -> u64 {
        self.device.sectors().saturating_mul(SECTOR_BYTES)
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Sectors held.
    pub fn held(&self) -> usize {
        self.index.len()
    }

    /// Sectors waiting to be written.
    pub fn dirty(&self) -> usize {
        self.index.values().filter(|&&slot| self.slots[slot as usize].dirty).count()
    }

    /// The most sectors held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn bytes(&self, slot: u32) -> &[u8] {
        let start = slot as usize * SECTOR_SIZE;
        &self.data[start..start + SECTOR_SIZE]
    }

    fn bytes_mut(&mut self, slot: u32) -> &mut [u8] {
        let start = slot as usize * SECTOR_SIZE;
        &mut self.data[start..start + SECTOR_SIZE]
    }

    /// Takes `slot` out of the clean list (if it is in it).
    fn unlist(&mut self, slot: u32) {
        let Slot { listed, newer, older, .. } = self.slots[slot as usize];
        if !listed {
            return;
        }
        match newer {
            NO_SLOT => self.newest = older,
            newer => self.slots[newer as usize].older = older,
        }
        match older {
            NO_SLOT => self.oldest = newer,
            older => self.slots[older as usize].newer = newer,
        }
        let entry = &mut self.slots[slot as usize];
        entry.listed = false;
        entry.newer = NO_SLOT;
        entry.older = NO_SLOT;
    }

    /// Puts the clean `slot` first in the clean list (the most recently used).
    fn list_newest(&mut self, slot: u32) {
        if self.newest == slot {
            return;
        }
        self.unlist(slot);
        let old_newest = self.newest;
        {
            let entry = &mut self.slots[slot as usize];
            entry.listed = true;
            entry.newer = NO_SLOT;
            entry.older = old_newest;
        }
        match old_newest {
            NO_SLOT => self.oldest = slot,
            newest => self.slots[newest as usize].newer = slot,
        }
        self.newest = slot;
    }

    /// The slot holding `sector`, if any, counted as a hit and marked as just used.
    fn lookup(&mut self, sector: u64) -> Option<u32> {
        let slot = if self.last.1 != NO_SLOT && self.last.0 == sector {
            self.last.1
        } else {
            let slot = *self.index.get(&sector)?;
            self.last = (sector, slot);
            slot
        };
        self.stats.hits += 1;
        if !self.slots[slot as usize].dirty {
            self.list_newest(slot);
        }
        Some(slot)
    }

    /// Makes room for one more sector.
    fn make_room(&mut self) -> Result<(), DeviceError> {
        while self.index.len() >= self.capacity {
            if self.oldest != NO_SLOT {
                let victim = self.oldest;
                self.unlist(victim);
                let sector = self.slots[victim as usize].sector;
                self.index.remove(&sector);
                self.spare.push(victim);
                if self.last.1 == victim {
                    self.last = (0, NO_SLOT);
                }
                self.stats.evictions += 1;
                continue;
            }
            self.stats.forced += 1;
            let data_waiting = self.index.values().any(|&slot| {
                self.slots[slot as usize].dirty && self.slots[slot as usize].class == Class::Data
            });
            if data_waiting {
                if self.boot_marks_dirty() {
                    self.write_class(Class::Boot)?;
                    self.flush()?;
                }
                self.write_class(Class::Data)?;
            } else {
                self.write_back()?;
            }
        }
        Ok(())
    }

    /// A new clean slot for `sector` holding `bytes` (a whole sector), after making room.
    fn insert(&mut self, sector: u64, bytes: &[u8]) -> Result<u32, DeviceError> {
        self.make_room()?;
        let slot = match self.spare.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).map_err(|_| DeviceError::Failed)?;
                self.slots.push(Slot {
                    sector,
                    dirty: false,
                    class: Class::Boot,
                    listed: false,
                    newer: NO_SLOT,
                    older: NO_SLOT,
                });
                self.data.resize(self.data.len() + SECTOR_SIZE, 0);
                slot
            }
        };
        self.slots[slot as usize] =
            Slot { sector, dirty: false, class: Class::Boot, listed: false, newer: NO_SLOT, older: NO_SLOT };
        self.bytes_mut(slot).copy_from_slice(bytes);
        self.index.insert(sector, slot);
        self.list_newest(slot);
        self.last = (sector, slot);
        Ok(slot)
    }

    /// The slot of sector `sector`, read from the device unless `whole` says the caller
    /// overwrites all of it.
    fn load(&mut self, sector: u64, whole: bool) -> Result<u32, DeviceError> {
        if let Some(slot) = self.lookup(sector) {
            return Ok(slot);
        }
        if sector >= self.device.sectors() {
            return Err(DeviceError::OutOfRange { sector, sectors: self.device.sectors() });
        }
        let mut bytes = [0_u8; SECTOR_SIZE];
        if !whole {
            self.device.read_sectors(sector, &mut bytes)?;
            self.stats.misses += 1;
            self.stats.requests += 1;
        }
        self.insert(sector, &bytes)
    }

    /// Reads `buffer.len()` bytes at byte `offset` (fewer at the end of the device). Sectors
    /// the cache does not hold are read in runs: the missing sectors that follow each other
    /// within the request go to the device as one request (up to [`MAX_READ_RUN`]).
    pub fn read_at(&mut self, offset: u64, buffer: &mut [u8]) -> Result<usize, DeviceError> {
        let size = self.size();
        let length =
            usize::try_from(size.saturating_sub(offset)).map_or(buffer.len(), |left| left.min(buffer.len()));
        let mut done = 0;
        while done < length {
            let position = offset + done as u64;
            let sector = position / SECTOR_BYTES;
            let within = (position % SECTOR_BYTES) as usize;
            if let Some(slot) = self.lookup(sector) {
                let count = (SECTOR_SIZE - within).min(length - done);
                let start = slot as usize * SECTOR_SIZE + within;
                buffer[done..done + count].copy_from_slice(&self.data[start..start + count]);
                done += count;
                continue;
            }
            let last_sector = (offset + length as u64 - 1) / SECTOR_BYTES;
            let mut run = 1;
            while run < MAX_READ_RUN
                && sector + run <= last_sector
                && !self.index.contains_key(&(sector + run))
            {
                run += 1;
            }
            let run_bytes = usize::try_from(run).unwrap_or(1) * SECTOR_SIZE;
            if within == 0 && run >= STREAM_RUN && run_bytes <= length - done {
                // A long run none of which is held (so none dirty): read straight into the
                // caller's buffer and keep none of it. File contents read in bulk would
                // only push out the tables and directories the engine keeps using.
                self.device.read_sectors(sector, &mut buffer[done..done + run_bytes])?;
                self.stats.misses += run;
                self.stats.requests += 1;
                self.stats.streamed += run;
                done += run_bytes;
                continue;
            }
            // At most MAX_READ_RUN sectors.
            let mut bytes = vec![0_u8; run_bytes];
            self.device.read_sectors(sector, &mut bytes)?;
            self.stats.misses += run;
            self.stats.requests += 1;
            let count = (bytes.len() - within).min(length - done);
            buffer[done..done + count].copy_from_slice(&bytes[within..within + count]);
            done += count;
            for (number, sector_bytes) in (sector..).zip(bytes.chunks_exact(SECTOR_SIZE)) {
                self.insert(number, sector_bytes)?;
            }
        }
        Ok(done)
    }

    /// Writes `data` at byte `offset` into the cache (fewer bytes at the end of the
    /// device); the sectors become dirty.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<usize, DeviceError> {
        if self.clean_on_device && offset >= SECTOR_BYTES && !data.is_empty() {
            // The first change to a clean volume: the dirty flag goes first.
            self.clean_on_device = false;
            self.set_dirty_flag(true)?;
        }
        let watched = self
            .watched
            .filter(|table| offset < table.end && offset.saturating_add(data.len() as u64) > table.start);
        let Some(table) = watched else { return self.write_bytes(offset, data) };
        if table.allocates(offset, data) {
            return self.write_bytes(offset, data);
        }
        let candidates = self.freeing(table, offset, data)?;
        let written = self.write_bytes(offset, data);
        // Noted after the write: a write-back of everything that the write's own reads
        // may start (room for a sector) must not forget what it did not yet write.
        for (cluster, frees) in candidates {
            if frees || self.table_entry(table, cluster).map_or(true, |entry| entry == 0) {
                self.freed.insert(cluster);
            }
        }
        written
    }

    /// The entry of `cluster` in the watched table, as the cache holds it.
    fn table_entry(&mut self, table: WatchedTable, cluster: u32) -> Result<u32, DeviceError> {
        let mut word = [0_u8; 4];
        let width = table::entry_bytes(table.fat);
        self.read_at(table.start + table::entry_offset(table.fat, cluster), &mut word[..width])?;
        Ok(table::decode(table.fat, cluster, word))
    }

    /// Before `data` is written at `offset`, which meets the watched table: the clusters
    /// allocated now whose entry the write may free, each with whether it does for certain
    /// (it covers the whole entry and writes it free) or must be looked at again after the
    /// write (it covers the entry in part: at most the first and the last it meets). An
    /// entry the write wholly turns to something other than free costs no read.
    fn freeing(
        &mut self,
        table: WatchedTable,
        offset: u64,
        data: &[u8],
    ) -> Result<Vec<(u32, bool)>, DeviceError> {
        let width = table::entry_bytes(table.fat) as u64;
        let write_end = offset.saturating_add(data.len() as u64);
        let from = offset.max(table.start) - table.start;
        let to = write_end.min(table.end) - table.start;
        let first = match table.fat {
            FatKind::Fat12 => (from * 2 / 3).saturating_sub(1),
            FatKind::Fat16 => from / 2,
            FatKind::Fat32 => from / 4,
        };
        let mut candidates = Vec::new();
        let mut cluster = u32::try_from(first).unwrap_or(u32::MAX).max(FIRST_CLUSTER);
        while cluster < table.clusters_end {
            let at = table.start + table::entry_offset(table.fat, cluster);
            if at >= table.start + to {
                break;
            }
            if at + width > table.start + from {
                let covered = at >= offset && at + width <= write_end;
                if covered {
                    let within = usize::try_from(at - offset).unwrap_or(usize::MAX);
                    let written = within..within.saturating_add(table::entry_bytes(table.fat));
                    let mut word = [0_u8; 4];
                    if let Some(bytes) = data.get(written) {
                        word[..bytes.len()].copy_from_slice(bytes);
                    }
                    let frees = table::decode(table.fat, cluster, word) == 0;
                    if frees && self.table_entry(table, cluster)? != 0 {
                        candidates.push((cluster, true));
                    }
                } else if self.table_entry(table, cluster)? != 0 {
                    candidates.push((cluster, false));
                }
            }
            cluster += 1;
        }
        Ok(candidates)
    }

    /// Writes bytes into the boot sector (below [`SECTOR_BYTES`]) without the dirty-flag
    /// bookkeeping of [`SectorCache::write_at`].
    fn write_sector_bytes(&mut self, offset: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.write_bytes(offset, data).map(|_| ())
    }

    fn write_bytes(&mut self, offset: u64, data: &[u8]) -> Result<usize, DeviceError> {
        let mut done = 0;
        let size = self.size();
        while done < data.len() {
            let position = offset + done as u64;
            if position >= size {
                break;
            }
            let sector = position / SECTOR_BYTES;
            let within = (position % SECTOR_BYTES) as usize;
            let count = (SECTOR_SIZE - within).min(data.len() - done);
            let bytes = &data[done..done + count];
            let whole = count == SECTOR_SIZE;
            let slot = self.load(sector, whole)?;
            let class = self.classify(sector, || whole && bytes.iter().all(|&byte| byte == 0));
            self.bytes_mut(slot)[within..within + count].copy_from_slice(bytes);
            self.unlist(slot);
            let entry = &mut self.slots[slot as usize];
            // A new directory cluster stays data until it is on the disk.
            entry.class = if entry.dirty && entry.class == Class::Data { Class::Data } else { class };
            entry.dirty = true;
            done += count;
        }
        Ok(done)
    }

    fn classify(&self, sector: u64, zeros: impl FnOnce() -> bool) -> Class {
        let Some(layout) = &self.layout else { return Class::Boot };
        match layout.region(sector) {
            Region::Reserved => Class::Boot,
            Region::FsInfo => Class::Information,
            Region::Fat { copy } if copy == layout.read_fat() => Class::Fat,
            Region::Fat { .. } => Class::FatCopy,
            Region::RootDirectory => Class::Directory,
            Region::Cluster { .. } | Region::Beyond => match self.purpose {
                Purpose::FileData => Class::Data,
                Purpose::Metadata if zeros() => Class::Data,
                Purpose::Metadata => Class::Directory,
            },
        }
    }

    /// Whether the cached boot sector marks the volume dirty (and is waiting to be written).
    fn boot_marks_dirty(&self) -> bool {
        let Some(layout) = &self.layout else { return false };
        self.index.get(&0).is_some_and(|&slot| {
            self.slots[slot as usize].dirty && self.bytes(slot)[layout.dirty_flag_offset()] & 1 != 0
        })
    }

    /// Writes every dirty sector of `class`, in runs of consecutive sectors.
    fn write_class(&mut self, class: Class) -> Result<u64, DeviceError> {
        self.write_selected(class, |_| true)
    }

    /// Writes the dirty sectors of `class` that `select` picks.
    fn write_selected(&mut self, class: Class, select: impl Fn(u64) -> bool) -> Result<u64, DeviceError> {
        let sectors: Vec<(u64, u32)> = self
            .index
            .iter()
            .filter(|(sector, slot)| {
                let entry = &self.slots[**slot as usize];
                entry.dirty && entry.class == class && select(**sector)
            })
            .map(|(&sector, &slot)| (sector, slot))
            .collect();
        let mut written = 0;
        let mut index = 0;
        while index < sectors.len() {
            let first = sectors[index].0;
            let mut run = 1;
            while index + run < sectors.len() && sectors[index + run].0 == first + run as u64 && run < 128 {
                run += 1;
            }
            let mut buffer = Vec::with_capacity(run * SECTOR_SIZE);
            for &(_, slot) in &sectors[index..index + run] {
                buffer.extend_from_slice(self.bytes(slot));
            }
            self.device.write_sectors(first, &buffer)?;
            self.unflushed = true;
            for &(_, slot) in &sectors[index..index + run] {
                self.slots[slot as usize].dirty = false;
                self.list_newest(slot);
            }
            written += run as u64;
            self.stats.written += run as u64;
            index += run;
        }
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        if self.unflushed {
            self.device.flush()?;
            self.unflushed = false;
            self.stats.flushes += 1;
        }
        Ok(())
    }

    /// Writes every dirty sector in sync order, flushing after each group.
    fn write_back(&mut self) -> Result<u64, DeviceError> {
        let boot_first = self.boot_marks_dirty();
        let mut order: Vec<Class> = Vec::with_capacity(7);
        if boot_first {
            order.push(Class::Boot);
        }
        order.extend([Class::Data, Class::Fat, Class::FatCopy, Class::Directory, Class::Information]);
        if !boot_first {
            order.push(Class::Boot);
        }
        let mut written = 0;
        for class in order {
            written += self.write_class(class)?;
            self.flush()?;
        }
        self.freed.clear();
        Ok(written)
    }

    /// Writes every dirty sector to the device in sync order (see the module doc) and
    /// returns, after the device's flush, how many sectors went out.
    pub fn sync(&mut self) -> Result<u64, DeviceError> {
        let written = self.write_back()?;
        self.flush()?;
        Ok(written)
    }

    /// [`SectorCache::sync`], then marks the volume clean on the device, as an unmount
    /// does: the boot sector's dirty bit cleared and written last, after everything else
    /// is on the device, so `fsck.fat` (or another system) finds a clean volume after any
    /// completed sync. The next change marks it dirty again first.
    pub fn sync_clean(&mut self) -> Result<u64, DeviceError> {
        let mut written = self.sync()?;
        if self.layout.is_some() {
            self.set_dirty_flag(false)?;
            written += self.write_class(Class::Boot)?;
            self.flush()?;
            self.clean_on_device = true;
        }
        Ok(written)
    }

    /// Syncs after directory entries were removed (unlink, remove a directory): the same
    /// order, but directory sectors before the tables, so a crash between leaves a chain
    /// no entry names (lost clusters, which the mount check frees), never an entry whose
    /// chain is already free.
    pub fn sync_removal(&mut self) -> Result<u64, DeviceError> {
        let mut written = 0;
        if self.boot_marks_dirty() {
            written += self.write_class(Class::Boot)?;
            self.flush()?;
        }
        for class in
            [Class::Data, Class::Directory, Class::Fat, Class::FatCopy, Class::Information, Class::Boot]
        {
            written += self.write_class(class)?;
            self.flush()?;
        }
        self.freed.clear();
        Ok(written)
    }

    /// Syncs after a rename: the same order, but the directory sectors in `first` (those
    /// that gain the new entry and lose nothing) before the others (those that lose the
    /// old entry), so a crash between leaves the file under both names (the mount check
    /// deletes the second entry), never under none.
    pub fn sync_rename(&mut self, first: &[u64]) -> Result<u64, DeviceError> {
        let mut written = 0;
        if self.boot_marks_dirty() {
            written += self.write_class(Class::Boot)?;
            self.flush()?;
        }
        for class in [Class::Data, Class::Fat, Class::FatCopy] {
            written += self.write_class(class)?;
            self.flush()?;
        }
        written += self.write_selected(Class::Directory, |sector| first.contains(&sector))?;
        self.flush()?;
        for class in [Class::Directory, Class::Information, Class::Boot] {
            written += self.write_class(class)?;
            self.flush()?;
        }
        self.freed.clear();
        Ok(written)
    }

    /// The dirty sectors of `class`.
    pub fn dirty_of(&self, class: Class) -> Vec<u64> {
        self.index
            .iter()
            .filter(|(_, slot)| {
                self.slots[**slot as usize].dirty && self.slots[**slot as usize].class == class
            })
            .map(|(&sector, _)| sector)
            .collect()
    }

    /// Sector `sector` as the cache holds it, if it does.
    pub fn cached(&self, sector: u64) -> Option<[u8; SECTOR_SIZE]> {
        let slot = *self.index.get(&sector)?;
        let mut bytes = [0_u8; SECTOR_SIZE];
        bytes.copy_from_slice(self.bytes(slot));
        Some(bytes)
    }

    /// Sector `sector` as the device holds it (not the cache).
    pub fn on_device(&mut self, sector: u64) -> Result<[u8; SECTOR_SIZE], DeviceError> {
        let mut data = [0_u8; SECTOR_SIZE];
        self.device.read_sectors(sector, &mut data)?;
        Ok(data)
    }

    /// Forgets every sector (dirty ones too): the next reads come from the device.
    pub fn discard(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.data.clear();
        self.spare.clear();
        self.newest = NO_SLOT;
        self.oldest = NO_SLOT;
        self.last = (0, NO_SLOT);
        // The cache is the device's again: nothing freed is waiting.
        self.freed.clear();
    }
}

/// Why lamfat's storage failed: the device's error, or what lamfat's IO traits need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// The device failed.
    Device(DeviceError),
    /// A read ended before the buffer was full.
    UnexpectedEnd,
    /// A write wrote nothing (the end of the device).
    WriteZero,
    /// A seek before the start or past the end.
    BadSeek,
    /// The cache was in use (a bug: requests are handled one at a time).
    Busy,
}

impl From<DeviceError> for StorageError {
    fn from(error: DeviceError) -> Self {
        Self::Device(error)
    }
}

impl lamfat::IoError for StorageError {
    fn is_interrupted(&self) -> bool {
        false
    }

    fn new_unexpected_eof_error() -> Self {
        Self::UnexpectedEnd
    }

    fn new_write_zero_error() -> Self {
        Self::WriteZero
    }
}

/// lamfat's storage: a position over the shared cache. `flush` does nothing: lamfat
/// flushes whenever a `File` is dropped, and when the cache writes is the volume's
/// decision (`sync`).
#[derive(Debug)]
pub struct CacheIo<D> {
    cache: Rc<RefCell<SectorCache<D>>>,
    position: u64,
}

impl<D> CacheIo<D> {
    /// Storage at position 0 of `cache`.
    pub fn new(cache: Rc<RefCell<SectorCache<D>>>) -> Self {
        Self { cache, position: 0 }
    }
}

impl<D: BlockDevice> lamfat::IoBase for CacheIo<D> {
    type Error = StorageError;
}

impl<D: BlockDevice> lamfat::Read for CacheIo<D> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StorageError> {
        let mut cache = self.cache.try_borrow_mut().map_err(|_| StorageError::Busy)?;
        let count = cache.read_at(self.position, buf)?;
        self.position += count as u64;
        Ok(count)
    }
}

impl<D: BlockDevice> lamfat::Write for CacheIo<D> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StorageError> {
        let mut cache = self.cache.try_borrow_mut().map_err(|_| StorageError::Busy)?;
        let count = cache.write_at(self.position, buf)?;
        self.position += count as u64;
        Ok(count)
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
}

impl<D: BlockDevice> lamfat::Seek for CacheIo<D> {
    fn seek(&mut self, pos: lamfat::SeekFrom) -> Result<u64, StorageError> {
        let size = self.cache.try_borrow().map_err(|_| StorageError::Busy)?.size();
        let target = match pos {
            lamfat::SeekFrom::Start(offset) => Some(offset),
            lamfat::SeekFrom::End(delta) => size.checked_add_signed(delta),
            lamfat::SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        match target {
            Some(position) if position <= size => {
                self.position = position;
                Ok(position)
            }
            _ => Err(StorageError::BadSeek),
        }
    }
}
