//! The mount check: walks the volume's structures itself (boot sector, allocation table,
//! every directory), through the cache, and repairs what a crash or another system can
//! leave behind, before lamfat mounts the volume read-write. lamfat reads and writes
//! FAT; it does not check it, and a volume left dirty would keep its dirty flag for ever
//! (lamfat never clears a flag it found at mount).
//!
//! What it repairs (each counted in the [`Repair`] the server logs):
//! - **lost clusters**: allocated in the table, reachable from no directory entry: freed;
//! - **chains longer than their file** (more clusters than the size needs): cut after the
//!   last cluster the size needs (the rest is freed as lost);
//! - **sizes longer than their chain**: the size is cut to what the chain holds;
//! - **broken chains** (a link to a free, bad or out-of-range cluster): ended at the last
//!   good cluster; a first cluster that is not allocated empties the file;
//! - **cross links** (a cluster reached twice, from two entries or in a loop): the entry
//!   reached later is cut before the shared cluster;
//! - **half-written long names** (a long-name run not followed by its short entry, out of
//!   order or with the wrong checksum): its entries are deleted, as `fsck.fat` does;
//! - **bad entries**: a directory without a valid first cluster, `.` or `..` out of place:
//!   deleted; `.` and `..` pointing at the wrong cluster (a directory moved): fixed;
//!   a directory's non-zero size: zeroed;
//! - the **free cluster count** of FAT32's information sector, and the **dirty flags**
//!   (boot sector, and the table's second entry): rewritten when anything was repaired or
//!   the volume was dirty.
//!
//! Every write goes through the cache with `Purpose::Metadata` and reaches the device with
//! the next sync, the boot sector's clean flag last: a crash during a repair leaves the
//! volume dirty, and the next mount repairs it again.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::cache::{Purpose, SectorCache};
use crate::device::{BlockDevice, DeviceError, SECTOR_BYTES, SECTOR_SIZE};
use crate::layout::{FIRST_CLUSTER, Layout};
use fs_api::FatKind;

/// What the mount check found and repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repair {
    /// The volume was marked dirty (not cleanly unmounted).
    pub was_dirty: bool,
    /// Lost clusters freed.
    pub lost_clusters: u32,
    /// Chains cut to their file's size.
    pub chains_cut: u32,
    /// Sizes cut to their chain.
    pub sizes_cut: u32,
    /// Chains that linked to a free, bad or out-of-range cluster, ended.
    pub broken_chains: u32,
    /// Cross-linked chains cut.
    pub cross_links: u32,
    /// Long-name entries without their short entry, deleted.
    pub orphan_long_names: u32,
    /// Directory entries that could not stand, deleted.
    pub bad_entries: u32,
    /// Second entries of one file (a rename cut short), deleted.
    pub duplicate_entries: u32,
    /// `.` and `..` entries pointed at the right cluster, and directory sizes zeroed.
    pub entries_fixed: u32,
    /// FAT32's free cluster count was wrong and is rewritten.
    pub free_count_fixed: bool,
    /// Sectors of the table's copies that differed from the table (a crash between the
    /// two), rewritten from it.
    pub copies_fixed: u32,
}

impl Repair {
    /// Whether anything had to change (a dirty flag alone counts).
    pub fn changed(&self) -> bool {
        *self != Repair::default()
    }

    /// Whether anything but the dirty flag was wrong.
    pub fn found_damage(&self) -> bool {
        Repair { was_dirty: false, ..*self }.changed()
    }
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.changed() {
            return f.write_str("clean");
        }
        write!(
            f,
            "{}: {} lost clusters freed, {} chains cut, {} sizes cut, {} broken chains ended, {} cross links cut, \
             {} orphan long-name entries, {} bad and {} duplicate entries removed, {} entries fixed{}",
            if self.was_dirty { "repaired a dirty volume" } else { "repaired" },
            self.lost_clusters,
            self.chains_cut,
            self.sizes_cut,
            self.broken_chains,
            self.cross_links,
            self.orphan_long_names,
            self.bad_entries,
            self.duplicate_entries,
            self.entries_fixed,
            if self.free_count_fixed { ", free count rewritten" } else { "" },
        )?;
        if self.copies_fixed > 0 {
            write!(f, ", {} sectors of the table's copy rewritten", self.copies_fixed)?;
        }
        Ok(())
    }
}

/// What an allocation table entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Free,
    End,
    Bad,
    Next(u32),
    Invalid,
}

const ENTRY_SIZE: usize = 32;
const DELETED: u8 = 0xE5;
const LONG_NAME: u8 = 0x0F;
const DIRECTORY: u8 = 0x10;
const VOLUME_LABEL: u8 = 0x08;
const LAST_LONG_PART: u8 = 0x40;
const DOT: [u8; 11] = *b".          ";
const DOT_DOT: [u8; 11] = *b"..         ";

/// One 32-byte directory entry's place.
#[derive(Clone, Copy, Debug)]
struct Place {
    sector: u64,
    offset: usize,
}

impl Place {
    fn byte(&self) -> u64 {
        self.sector * SECTOR_BYTES + self.offset as u64
    }
}

/// A long-name entry seen, waiting for its short entry.
#[derive(Clone, Copy, Debug)]
struct LongPart {
    place: Place,
    order: u8,
    checksum: u8,
}

/// A directory to walk: its sectors, its own cluster (0: the root) and its parent's.
struct Pending {
    sectors: Vec<u64>,
    cluster: u32,
    parent: u32,
}

/// A count as the `u32` the summary keeps (saturating: a volume has fewer clusters).
fn small(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// A byte offset as an index into a buffer (saturating: such a buffer cannot exist).
fn index(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

fn checksum(short: &[u8]) -> u8 {
    short.iter().fold(0_u8, |sum, &byte| ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(byte))
}

struct Checker<'a, D> {
    cache: &'a mut SectorCache<D>,
    layout: &'a Layout,
    table: Vec<u32>,
    claimed: Vec<bool>,
    /// First cluster → size of every file entry claimed so far.
    firsts: BTreeMap<u32, u32>,
    repair: Repair,
}

impl<D: BlockDevice> Checker<'_, D> {
    fn end_of_chain(&self) -> u32 {
        match self.layout.fat {
            FatKind::Fat12 => 0xFFF,
            FatKind::Fat16 => 0xFFFF,
            FatKind::Fat32 => 0x0FFF_FFFF,
        }
    }

    fn link(&self, cluster: u32) -> Link {
        let Some(&value) = self.table.get(cluster as usize) else { return Link::Invalid };
        let (bad, end) = match self.layout.fat {
            FatKind::Fat12 => (0xFF7, 0xFF8),
            FatKind::Fat16 => (0xFFF7, 0xFFF8),
            FatKind::Fat32 => (0x0FFF_FFF7, 0x0FFF_FFF8),
        };
        match value {
            0 => Link::Free,
            value if value == bad => Link::Bad,
            value if value >= end => Link::End,
            value if self.layout.is_cluster(value) => Link::Next(value),
            _ => Link::Invalid,
        }
    }

    /// A cluster a chain may go on to: on the volume, allocated, not reached before.
    fn usable(&self, cluster: u32) -> bool {
        self.layout.is_cluster(cluster)
            && !matches!(self.link(cluster), Link::Free | Link::Bad)
            && !self.claimed.get(cluster as usize).copied().unwrap_or(true)
    }

    fn fat_offset(&self, cluster: u32) -> u64 {
        let cluster = u64::from(cluster);
        match self.layout.fat {
            FatKind::Fat12 => cluster + cluster / 2,
            FatKind::Fat16 => cluster * 2,
            FatKind::Fat32 => cluster * 4,
        }
    }

    fn load_table(&mut self) -> Result<(), DeviceError> {
        let count = self.layout.total_clusters as usize + FIRST_CLUSTER as usize;
        let base = self.layout.fat_sector(self.layout.read_fat()) * SECTOR_BYTES;
        let width = match self.layout.fat {
            FatKind::Fat12 | FatKind::Fat16 => 2,
            FatKind::Fat32 => 4,
        };
        let length = (index(self.fat_offset(small(count))) + width)
            .min(self.layout.sectors_per_fat as usize * SECTOR_SIZE);
        let mut bytes = vec![0_u8; length];
        self.cache.read_at(base, &mut bytes)?;
        let at = |offset: usize, width: usize| -> u32 {
            let mut word = [0_u8; 4];
            if let Some(source) = bytes.get(offset..offset + width) {
                word[..width].copy_from_slice(source);
            }
            u32::from_le_bytes(word)
        };
        self.table = (0..small(count))
            .map(|cluster| {
                let offset = index(self.fat_offset(cluster));
                match self.layout.fat {
                    FatKind::Fat12 if cluster % 2 == 1 => at(offset, 2) >> 4,
                    FatKind::Fat12 => at(offset, 2) & 0xFFF,
                    FatKind::Fat16 => at(offset, 2),
                    FatKind::Fat32 => at(offset, 4) & 0x0FFF_FFFF,
                }
            })
            .collect();
        self.claimed = vec![false; count];
        Ok(())
    }

    /// Sets entry `cluster` to `value` in the table kept here and in every table on disk.
    fn set_link(&mut self, cluster: u32, value: u32) -> Result<(), DeviceError> {
        if let Some(entry) = self.table.get_mut(cluster as usize) {
            *entry = value;
        }
        let offset = self.fat_offset(cluster);
        let copies: Vec<u8> = self.layout.fat_copies().collect();
        for copy in copies {
            let at = self.layout.fat_sector(copy) * SECTOR_BYTES + offset;
            match self.layout.fat {
                FatKind::Fat12 => {
                    let mut old = [0_u8; 2];
                    self.cache.read_at(at, &mut old)?;
                    let old = u16::from_le_bytes(old);
                    let value = (value & 0xFFF) as u16;
                    let new =
                        if cluster % 2 == 1 { (old & 0x000F) | (value << 4) } else { (old & 0xF000) | value };
                    self.cache.write_at(at, &new.to_le_bytes())?;
                }
                FatKind::Fat16 => {
                    self.cache.write_at(at, &((value & 0xFFFF) as u16).to_le_bytes())?;
                }
                FatKind::Fat32 => {
                    let mut old = [0_u8; 4];
                    self.cache.read_at(at, &mut old)?;
                    let new = (u32::from_le_bytes(old) & 0xF000_0000) | (value & 0x0FFF_FFFF);
                    self.cache.write_at(at, &new.to_le_bytes())?;
                }
            }
        }
        Ok(())
    }

    fn read_entry(&mut self, place: Place) -> Result<[u8; ENTRY_SIZE], DeviceError> {
        let mut entry = [0_u8; ENTRY_SIZE];
        self.cache.read_at(place.byte(), &mut entry)?;
        Ok(entry)
    }

    fn write_entry(&mut self, place: Place, entry: &[u8; ENTRY_SIZE]) -> Result<(), DeviceError> {
        self.cache.write_at(place.byte(), entry)?;
        Ok(())
    }

    fn delete_entry(&mut self, place: Place) -> Result<(), DeviceError> {
        self.cache.write_at(place.byte(), &[DELETED])?;
        Ok(())
    }

    fn first_cluster(&self, entry: &[u8; ENTRY_SIZE]) -> u32 {
        let low = u32::from(u16::from_le_bytes([entry[26], entry[27]]));
        let high = if self.layout.fat == FatKind::Fat32 {
            u32::from(u16::from_le_bytes([entry[20], entry[21]]))
        } else {
            0
        };
        (high << 16) | low
    }

    fn set_first_cluster(&self, entry: &mut [u8; ENTRY_SIZE], cluster: u32) {
        entry[26..28].copy_from_slice(&((cluster & 0xFFFF) as u16).to_le_bytes());
        if self.layout.fat == FatKind::Fat32 {
            entry[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
        }
    }

    /// Follows the chain from `first` (already claimed), claiming it; ends it at the
    /// first link that cannot stand and, with `keep`, after `keep` clusters. Returns the
    /// clusters kept.
    fn claim_chain(&mut self, first: u32, keep: Option<u32>) -> Result<Vec<u32>, DeviceError> {
        let mut chain = vec![first];
        while let Some(&current) = chain.last() {
            match self.link(current) {
                Link::End => break,
                Link::Next(next) if keep.is_some_and(|keep| small(chain.len()) >= keep) => {
                    let _ = next;
                    let end = self.end_of_chain();
                    self.set_link(current, end)?;
                    self.repair.chains_cut += 1;
                    break;
                }
                Link::Next(next) if self.usable(next) => {
                    if let Some(claim) = self.claimed.get_mut(next as usize) {
                        *claim = true;
                    }
                    chain.push(next);
                }
                other => {
                    let crossed = matches!(other, Link::Next(next) if self.layout.is_cluster(next)
                        && self.claimed.get(next as usize).copied().unwrap_or(false));
                    if crossed {
                        self.repair.cross_links += 1;
                    } else {
                        self.repair.broken_chains += 1;
                    }
                    let end = self.end_of_chain();
                    self.set_link(current, end)?;
                    break;
                }
            }
        }
        Ok(chain)
    }

    /// The sectors of a chain.
    fn sectors_of(&self, chain: &[u32]) -> Vec<u64> {
        let per = u64::from(self.layout.sectors_per_cluster);
        chain
            .iter()
            .flat_map(|&cluster| {
                let first = self.layout.cluster_sector(cluster);
                first..first + per
            })
            .collect()
    }

    fn delete_run(&mut self, run: &[LongPart]) -> Result<(), DeviceError> {
        for part in run {
            self.delete_entry(part.place)?;
        }
        Ok(())
    }

    /// Checks a file's or directory's entry at `place`; returns a directory to walk.
    fn check_entry(
        &mut self,
        place: Place,
        mut entry: [u8; ENTRY_SIZE],
        run: &[LongPart],
        parent: u32,
    ) -> Result<Option<Pending>, DeviceError> {
        let cluster_bytes = u64::from(self.layout.cluster_bytes());
        let first = self.first_cluster(&entry);
        let size = u32::from_le_bytes([entry[28], entry[29], entry[30], entry[31]]);
        if entry[11] & DIRECTORY != 0 {
            if !self.usable(first) {
                if self.layout.is_cluster(first) && self.claimed.get(first as usize).copied().unwrap_or(false)
                {
                    self.repair.cross_links += 1;
                }
                self.repair.bad_entries += 1;
                self.delete_run(run)?;
                return self.delete_entry(place).map(|()| None);
            }
            if let Some(claim) = self.claimed.get_mut(first as usize) {
                *claim = true;
            }
            let chain = self.claim_chain(first, None)?;
            if size != 0 {
                entry[28..32].copy_from_slice(&0_u32.to_le_bytes());
                self.write_entry(place, &entry)?;
                self.repair.entries_fixed += 1;
            }
            return Ok(Some(Pending { sectors: self.sectors_of(&chain), cluster: first, parent }));
        }
        let needed = u64::from(size).div_ceil(cluster_bytes);
        if first == 0 {
            if size != 0 {
                entry[28..32].copy_from_slice(&0_u32.to_le_bytes());
                self.write_entry(place, &entry)?;
                self.repair.sizes_cut += 1;
            }
            return Ok(None);
        }
        if needed > 0 && self.layout.is_cluster(first) && self.firsts.get(&first) == Some(&size) {
            // The same file under a second name: a rename that wrote its new entry and
            // crashed before it deleted the old.
            self.repair.duplicate_entries += 1;
            self.delete_run(run)?;
            return self.delete_entry(place).map(|()| None);
        }
        if needed == 0 || !self.usable(first) {
            // No cluster may stand: an empty file with a chain, or a first cluster that is
            // free, bad, outside the volume or someone else's. Its chain is lost.
            if needed == 0 {
                self.repair.chains_cut += 1;
            } else if self.layout.is_cluster(first)
                && self.claimed.get(first as usize).copied().unwrap_or(false)
            {
                self.repair.cross_links += 1;
            } else {
                self.repair.broken_chains += 1;
            }
            self.set_first_cluster(&mut entry, 0);
            entry[28..32].copy_from_slice(&0_u32.to_le_bytes());
            return self.write_entry(place, &entry).map(|()| None);
        }
        if let Some(claim) = self.claimed.get_mut(first as usize) {
            *claim = true;
        }
        self.firsts.insert(first, size);
        let keep = u32::try_from(needed).unwrap_or(u32::MAX);
        let chain = self.claim_chain(first, Some(keep))?;
        let held = chain.len() as u64 * cluster_bytes;
        if u64::from(size) > held {
            let cut = u32::try_from(held).unwrap_or(u32::MAX);
            entry[28..32].copy_from_slice(&cut.to_le_bytes());
            self.write_entry(place, &entry)?;
            self.repair.sizes_cut += 1;
        }
        Ok(None)
    }

    /// Walks one directory's entries; returns its subdirectories.
    fn walk(&mut self, directory: &Pending) -> Result<Vec<Pending>, DeviceError> {
        let mut subdirectories = Vec::new();
        let mut run: Vec<LongPart> = Vec::new();
        let mut index = 0_usize;
        let is_root = directory.cluster == 0 || directory.cluster == self.layout.root_cluster;
        'sectors: for &sector in &directory.sectors {
            for slot in 0..SECTOR_SIZE / ENTRY_SIZE {
                let place = Place { sector, offset: slot * ENTRY_SIZE };
                let mut entry = self.read_entry(place)?;
                let position = index;
                index += 1;
                if entry[0] == 0 {
                    break 'sectors;
                }
                if entry[0] == DELETED {
                    self.repair.orphan_long_names += small(run.len());
                    self.delete_run(&run)?;
                    run.clear();
                    continue;
                }
                if entry[11] & 0x3F == LONG_NAME {
                    let part = LongPart { place, order: entry[0], checksum: entry[13] };
                    if part.order & LAST_LONG_PART != 0 && !run.is_empty() {
                        // A new name starts: the run before it never got its short entry.
                        self.repair.orphan_long_names += small(run.len());
                        self.delete_run(&run)?;
                        run.clear();
                    }
                    run.push(part);
                    continue;
                }
                let short: [u8; 11] = entry[..11].try_into().unwrap_or([0; 11]);
                let sum = checksum(&short);
                let whole = run.first().is_some_and(|first| {
                    first.order & LAST_LONG_PART != 0
                        && usize::from(first.order & 0x1F) == run.len()
                        && run.iter().zip((1..=run.len()).rev()).all(|(part, order)| {
                            usize::from(part.order & 0x1F) == order && part.checksum == sum
                        })
                });
                if !run.is_empty() && !whole {
                    self.repair.orphan_long_names += small(run.len());
                    self.delete_run(&run)?;
                    run.clear();
                }
                let names = core::mem::take(&mut run);
                if entry[11] & VOLUME_LABEL != 0 && entry[11] & DIRECTORY == 0 {
                    continue;
                }
                if short == DOT || short == DOT_DOT {
                    let expected = if short == DOT { directory.cluster } else { directory.parent };
                    let in_place = !is_root && position == usize::from(short == DOT_DOT);
                    if !in_place {
                        self.repair.bad_entries += 1;
                        self.delete_entry(place)?;
                    } else if self.first_cluster(&entry) != expected {
                        self.set_first_cluster(&mut entry, expected);
                        self.write_entry(place, &entry)?;
                        self.repair.entries_fixed += 1;
                    }
                    continue;
                }
                let parent = if is_root { 0 } else { directory.cluster };
                if let Some(pending) = self.check_entry(place, entry, &names, parent)? {
                    subdirectories.push(pending);
                }
            }
        }
        if !run.is_empty() {
            self.repair.orphan_long_names += small(run.len());
            self.delete_run(&run)?;
        }
        Ok(subdirectories)
    }

    fn root(&mut self) -> Result<Pending, DeviceError> {
        if self.layout.fat == FatKind::Fat32 {
            let root = self.layout.root_cluster;
            if let Some(claim) = self.claimed.get_mut(root as usize) {
                *claim = true;
            }
            if matches!(self.link(root), Link::Free | Link::Bad) {
                // The root's own entry is free: mark it the end of a one-cluster chain.
                let end = self.end_of_chain();
                self.set_link(root, end)?;
                self.repair.broken_chains += 1;
            }
            let chain = self.claim_chain(root, None)?;
            return Ok(Pending { sectors: self.sectors_of(&chain), cluster: root, parent: 0 });
        }
        let (first, count) = self.layout.root_sectors;
        let sectors = (u64::from(first)..u64::from(first) + u64::from(count)).collect();
        Ok(Pending { sectors, cluster: 0, parent: 0 })
    }

    fn free_lost(&mut self) -> Result<(), DeviceError> {
        for cluster in FIRST_CLUSTER..self.layout.total_clusters + FIRST_CLUSTER {
            let claimed = self.claimed.get(cluster as usize).copied().unwrap_or(true);
            if !claimed && !matches!(self.link(cluster), Link::Free | Link::Bad) {
                self.set_link(cluster, 0)?;
                self.repair.lost_clusters += 1;
            }
        }
        Ok(())
    }

    /// Makes every copy of the table the same as the one entries are read from: the
    /// sync order writes the table before its copies, so after a crash between them the
    /// first is the one that agrees with the directories (or is ahead of them, which the
    /// lost-cluster pass has dealt with).
    fn align_copies(&mut self) -> Result<(), DeviceError> {
        let source = self.layout.read_fat();
        let copies: Vec<u8> = self.layout.fat_copies().filter(|&copy| copy != source).collect();
        for index in 0..u64::from(self.layout.sectors_per_fat) {
            let mut table = [0_u8; SECTOR_SIZE];
            self.cache.read_at((self.layout.fat_sector(source) + index) * SECTOR_BYTES, &mut table)?;
            for &copy in &copies {
                let at = (self.layout.fat_sector(copy) + index) * SECTOR_BYTES;
                let mut sector = [0_u8; SECTOR_SIZE];
                self.cache.read_at(at, &mut sector)?;
                if sector != table {
                    self.cache.write_at(at, &table)?;
                    self.repair.copies_fixed += 1;
                }
            }
        }
        Ok(())
    }

    /// Rewrites FAT32's information sector when its free count is wrong or anything changed.
    fn fix_information(&mut self, rewrite: bool) -> Result<(), DeviceError> {
        if self.layout.fat != FatKind::Fat32 || self.layout.fs_info_sector == 0 {
            return Ok(());
        }
        let at = u64::from(self.layout.fs_info_sector) * SECTOR_BYTES;
        let mut sector = [0_u8; SECTOR_SIZE];
        self.cache.read_at(at, &mut sector)?;
        let word = |offset: usize| {
            u32::from_le_bytes([sector[offset], sector[offset + 1], sector[offset + 2], sector[offset + 3]])
        };
        if word(0) != 0x4161_5252 || word(484) != 0x6141_7272 {
            // Not an information sector: lamfat refuses to mount it, and says so.
            return Ok(());
        }
        let range = FIRST_CLUSTER..self.layout.total_clusters + FIRST_CLUSTER;
        let free = range.clone().filter(|&cluster| self.link(cluster) == Link::Free).count();
        let free = small(free);
        let next = range.clone().find(|&cluster| self.link(cluster) == Link::Free).unwrap_or(0xFFFF_FFFF);
        let recorded = word(488);
        if recorded != 0xFFFF_FFFF && recorded != free {
            self.repair.free_count_fixed = true;
        }
        if rewrite || self.repair.free_count_fixed {
            sector[488..492].copy_from_slice(&free.to_le_bytes());
            sector[492..496].copy_from_slice(&next.to_le_bytes());
            self.cache.write_at(at, &sector)?;
        }
        Ok(())
    }

    /// Whether the volume is marked dirty (the boot sector's flag, or the table's
    /// clean-shutdown bit).
    fn dirty(&mut self) -> Result<bool, DeviceError> {
        let mut flag = [0_u8; 1];
        self.cache.read_at(self.layout.dirty_flag_offset() as u64, &mut flag)?;
        let table_clean = match self.layout.fat {
            FatKind::Fat12 => true,
            FatKind::Fat16 => self.table.get(1).is_some_and(|entry| entry & 0x8000 != 0),
            FatKind::Fat32 => self.table.get(1).is_some_and(|entry| entry & 0x0800_0000 != 0),
        };
        Ok(flag[0] & 1 != 0 || !table_clean)
    }

    fn mark_clean(&mut self) -> Result<(), DeviceError> {
        let offset = self.layout.dirty_flag_offset() as u64;
        let mut flag = [0_u8; 1];
        self.cache.read_at(offset, &mut flag)?;
        if flag[0] & 1 != 0 {
            self.cache.write_at(offset, &[flag[0] & !1])?;
        }
        let entry = self.table.get(1).copied().unwrap_or(0);
        let clean = match self.layout.fat {
            FatKind::Fat12 => entry,
            FatKind::Fat16 => entry | 0x8000,
            FatKind::Fat32 => entry | 0x0800_0000,
        };
        if clean != entry {
            self.set_link(1, clean)?;
        }
        Ok(())
    }
}

/// Checks the volume laid out as `layout` on `cache` and repairs it (see the module doc);
/// the repairs are in the cache, for the caller to sync.
pub fn check_and_repair<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
) -> Result<Repair, DeviceError> {
    let before = cache.set_purpose(Purpose::Metadata);
    let mut checker = Checker {
        cache,
        layout,
        table: Vec::new(),
        claimed: Vec::new(),
        firsts: BTreeMap::new(),
        repair: Repair::default(),
    };
    let result = (|| {
        checker.load_table()?;
        checker.repair.was_dirty = checker.dirty()?;
        let mut pending = vec![checker.root()?];
        while let Some(directory) = pending.pop() {
            let found = checker.walk(&directory)?;
            pending.extend(found);
        }
        checker.free_lost()?;
        checker.align_copies()?;
        let changed = checker.repair.changed();
        checker.fix_information(changed)?;
        if checker.repair.changed() {
            checker.mark_clean()?;
        }
        Ok(checker.repair)
    })();
    checker.cache.set_purpose(before);
    result
}
