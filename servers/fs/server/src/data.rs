//! The direct data path: where an open file lies ([`FileMap`]: its directory entry, its
//! size and its clusters as runs of consecutive clusters), and its contents read and
//! written straight through the sector cache, without a lamfat `File`.
//!
//! Why: lamfat has no way to keep a `File` across requests (it borrows the filesystem)
//! nor to place a new one at a position without walking the chain from its first
//! cluster, so a file read or written in pieces through it costs O(n) per piece; and it
//! reads cluster by cluster. Here the chain is walked once, when the file is opened, and
//! kept up to date as the file grows; a read or write at any position finds its clusters
//! in the runs and hands the cache whole runs (one device request for many sectors).
//!
//! Invariants:
//! - a map is the file as the cache holds it: its runs are the chain in the table, its
//!   size and first cluster those of the directory entry (the data path writes both as
//!   it changes them, and nothing else changes an open file but a truncate at open, after
//!   which the volume makes the map again);
//! - a write allocates what it needs before it writes any data, each new cluster marked
//!   the end of the chain and then linked from the previous one, as lamfat does, so the
//!   sync order (data, tables, directories) is unchanged: a crash leaves at worst lost
//!   clusters or a chain longer than its size, which the mount check repairs;
//! - it allocates only clusters free on the disk too: never one freed since the last
//!   complete sync ([`crate::freed`]), whose old file the disk may still point at;
//! - file contents are written with [`Purpose::FileData`], the directory entry with
//!   [`Purpose::Metadata`], so the cache classes them for the sync order;
//! - nothing here panics on what the device holds: a chain that ends early, loops or
//!   leaves the volume ends the map there (`Corrupted` if a write or read needs more).

use alloc::vec::Vec;

use fs_api::{FatKind, FsError};

use crate::cache::{Purpose, SectorCache};
use crate::device::{BlockDevice, DeviceError, SECTOR_BYTES};
use crate::layout::{FIRST_CLUSTER, Layout};
use crate::table::{self, Link};

/// Consecutive clusters of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    /// Index in the file of the run's first cluster.
    start: u32,
    /// The run's first cluster on the volume.
    cluster: u32,
    /// How many clusters.
    count: u32,
}

/// Where an open file lies (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct FileMap {
    /// Byte offset on the device of the file's short directory entry (known for files open
    /// for writing: only writes change it).
    entry: Option<u64>,
    size: u32,
    runs: Vec<Run>,
    clusters: u32,
}

fn device_error(_: DeviceError) -> FsError {
    FsError::Io
}

impl FileMap {
    /// The map of a file of `size` bytes whose chain starts at `first` (0: none), walking
    /// the chain through the table once.
    pub fn build<D: BlockDevice>(
        cache: &mut SectorCache<D>,
        layout: &Layout,
        first: u32,
        size: u32,
    ) -> Result<FileMap, FsError> {
        let mut map = FileMap { entry: None, size, runs: Vec::new(), clusters: 0 };
        if !layout.is_cluster(first) {
            return Ok(map);
        }
        map.push(first);
        let mut current = first;
        // A chain visits each cluster at most once: a longer one loops.
        while map.clusters < layout.total_clusters {
            match table::link(cache, layout, current).map_err(device_error)? {
                Link::Next(next) => {
                    map.push(next);
                    current = next;
                }
                Link::End | Link::Free | Link::Invalid => break,
            }
        }
        Ok(map)
    }

    /// Says where the file's directory entry is (the file is open for writing).
    pub fn set_entry(&mut self, at: u64) {
        self.entry = Some(at);
    }

    /// Whether the map knows its directory entry.
    pub fn has_entry(&self) -> bool {
        self.entry.is_some()
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        u64::from(self.size)
    }

    /// Clusters the file holds.
    pub fn clusters(&self) -> u32 {
        self.clusters
    }

    fn push(&mut self, cluster: u32) {
        match self.runs.last_mut() {
            Some(run) if run.cluster + run.count == cluster => run.count += 1,
            _ => self.runs.push(Run { start: self.clusters, cluster, count: 1 }),
        }
        self.clusters += 1;
    }

    fn last_cluster(&self) -> Option<u32> {
        self.runs.last().map(|run| run.cluster + run.count - 1)
    }

    /// The pieces of the file's bytes `position..position + length` on the device, each a
    /// byte offset and a length, consecutive clusters merged (within the chain).
    fn pieces(&self, layout: &Layout, position: u64, length: u64) -> Vec<(u64, u64)> {
        let cluster_bytes = u64::from(layout.cluster_bytes());
        let end = (position + length).min(u64::from(self.clusters) * cluster_bytes);
        let mut pieces = Vec::new();
        let mut at = position;
        let first_index = u32::try_from(position / cluster_bytes).unwrap_or(u32::MAX);
        let mut run_index = self.runs.partition_point(|run| run.start + run.count <= first_index);
        while at < end {
            let Some(run) = self.runs.get(run_index) else { break };
            let run_start = u64::from(run.start) * cluster_bytes;
            let run_end = (run_start + u64::from(run.count) * cluster_bytes).min(end);
            let device = layout.cluster_sector(run.cluster) * SECTOR_BYTES + (at - run_start);
            pieces.push((device, run_end - at));
            at = run_end;
            run_index += 1;
        }
        pieces
    }

    /// Reads the file's bytes from `position` into `buffer`; returns how many (fewer at the
    /// end of the file, or of its chain if that is shorter).
    pub fn read<D: BlockDevice>(
        &self,
        cache: &mut SectorCache<D>,
        layout: &Layout,
        position: u64,
        buffer: &mut [u8],
    ) -> Result<usize, FsError> {
        let length = (buffer.len() as u64).min(self.size().saturating_sub(position));
        let mut done = 0;
        for (device, count) in self.pieces(layout, position, length) {
            let count = usize::try_from(count).map_err(|_| FsError::Io)?;
            let read = cache.read_at(device, &mut buffer[done..done + count]).map_err(device_error)?;
            done += read;
            if read < count {
                break;
            }
        }
        Ok(done)
    }

    /// Clusters a write ending at byte `end` must add.
    pub fn growth(&self, layout: &Layout, end: u64) -> u64 {
        end.div_ceil(u64::from(layout.cluster_bytes())).saturating_sub(u64::from(self.clusters))
    }

    /// Writes `data` at `position` (at most the size: files have no holes), allocating the
    /// clusters it needs from `hint` on; returns through `allocated` how many clusters it
    /// took (also when it fails part way: they are in the table). The directory entry gets
    /// the new size and first cluster.
    pub fn write<D: BlockDevice>(
        &mut self,
        cache: &mut SectorCache<D>,
        layout: &Layout,
        position: u64,
        data: &[u8],
        hint: &mut u32,
        allocated: &mut u32,
    ) -> Result<(), FsError> {
        let entry = self.entry.ok_or(FsError::BadHandle)?;
        let end = position + data.len() as u64;
        let size = u32::try_from(end.max(self.size())).map_err(|_| FsError::InvalidSeek)?;
        if position > self.size() {
            return Err(FsError::InvalidSeek);
        }
        let old_first = self.runs.first().map_or(0, |run| run.cluster);
        let before = cache.set_purpose(Purpose::Metadata);
        let grown = self.grow(cache, layout, end, hint, allocated);
        if let Err(error) = grown {
            cache.set_purpose(before);
            return Err(error);
        }
        cache.set_purpose(Purpose::FileData);
        let mut done = 0;
        let mut result = Ok(());
        for (device, count) in self.pieces(layout, position, data.len() as u64) {
            let count = usize::try_from(count).map_err(|_| FsError::Io)?;
            match cache.write_at(device, &data[done..done + count]) {
                Ok(written) if written == count => done += count,
                Ok(_) => {
                    result = Err(FsError::Io);
                    break;
                }
                Err(error) => {
                    result = Err(device_error(error));
                    break;
                }
            }
        }
        cache.set_purpose(Purpose::Metadata);
        if result.is_ok() && done < data.len() {
            // The chain ended before the data did: the table is damaged.
            result = Err(FsError::Corrupted);
        }
        let written_end = position + done as u64;
        if written_end > self.size() {
            self.size = u32::try_from(written_end).unwrap_or(size);
        }
        let first = self.runs.first().map_or(0, |run| run.cluster);
        let entry_result = if written_end > position || first != old_first {
            self.write_entry(cache, layout, entry)
        } else {
            Ok(())
        };
        cache.set_purpose(before);
        result.and(entry_result)
    }

    /// Allocates clusters until the file has enough for `end` bytes.
    fn grow<D: BlockDevice>(
        &mut self,
        cache: &mut SectorCache<D>,
        layout: &Layout,
        end: u64,
        hint: &mut u32,
        allocated: &mut u32,
    ) -> Result<(), FsError> {
        let needed = end.div_ceil(u64::from(layout.cluster_bytes()));
        while u64::from(self.clusters) < needed {
            let from = self.last_cluster().map_or(*hint, |last| last + 1);
            let cluster = find_free(cache, layout, from)?.ok_or(FsError::NoSpace)?;
            table::set_entry(cache, layout, cluster, table::end_of_chain(layout)).map_err(device_error)?;
            *allocated += 1;
            if let Some(last) = self.last_cluster() {
                table::set_entry(cache, layout, last, cluster).map_err(device_error)?;
            }
            self.push(cluster);
            *hint = cluster + 1;
        }
        Ok(())
    }

    /// Writes the size and first cluster into the directory entry (and the modification
    /// time lamfat's null time provider gives: zero), only if they changed.
    fn write_entry<D: BlockDevice>(
        &self,
        cache: &mut SectorCache<D>,
        layout: &Layout,
        at: u64,
    ) -> Result<(), FsError> {
        let mut entry = [0_u8; 32];
        if cache.read_at(at, &mut entry).map_err(device_error)? != entry.len() {
            return Err(FsError::Io);
        }
        let before = entry;
        let first = self.runs.first().map_or(0, |run| run.cluster);
        entry[26..28].copy_from_slice(&((first & 0xFFFF) as u16).to_le_bytes());
        if layout.fat == FatKind::Fat32 {
            entry[20..22].copy_from_slice(&((first >> 16) as u16).to_le_bytes());
        }
        entry[22..26].fill(0);
        entry[28..32].copy_from_slice(&self.size.to_le_bytes());
        if entry != before {
            cache.write_at(at, &entry).map_err(device_error)?;
        }
        Ok(())
    }
}

/// The first free cluster from `from` to the end of the volume, then from the start,
/// that was not freed since the last complete sync ([`SectorCache::freed`]: the disk may
/// still give it to the file that had it).
fn find_free<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    from: u32,
) -> Result<Option<u32>, FsError> {
    let end = layout.total_clusters + FIRST_CLUSTER;
    let from = if layout.is_cluster(from) { from } else { FIRST_CLUSTER };
    for (mut cluster, stop) in [(from, end), (FIRST_CLUSTER, from)] {
        while cluster < stop {
            if table::entry(cache, layout, cluster).map_err(device_error)? != 0 {
                cluster += 1;
                continue;
            }
            let past = cache.freed().skip(cluster);
            if past == cluster {
                return Ok(Some(cluster));
            }
            cluster = past;
        }
    }
    Ok(None)
}
