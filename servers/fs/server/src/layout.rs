//! The volume's layout, read from its boot sector (the BIOS parameter block): where the
//! allocation tables, the root directory and the clusters lie, so the sector cache can
//! tell what a sector is and the mount check can walk the structures itself.
//!
//! Invariants of a [`Layout`]: 512-byte sectors; every region lies inside the device; the
//! allocation table has an entry for every cluster; the cluster count decides the FAT type
//! exactly as the FAT specification (and lamfat) do.

use alloc::format;
use alloc::string::String;

use crate::device::{SECTOR_BYTES, SECTOR_SIZE};
use fs_api::FatKind;

/// The first cluster number that names data (0 and 1 are reserved entries).
pub const FIRST_CLUSTER: u32 = 2;

/// [`SECTOR_SIZE`] as a `u32`.
const SECTOR_U32: u32 = 512;

/// What a sector of the volume holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// The boot sector, its backup, or another reserved sector.
    Reserved,
    /// FAT32's file system information sector (free cluster count, next free hint).
    FsInfo,
    /// A sector of allocation table number `copy` (0 is the first).
    Fat {
        /// Which table.
        copy: u8,
    },
    /// FAT12/16's fixed root directory.
    RootDirectory,
    /// A sector of cluster `cluster`.
    Cluster {
        /// The cluster.
        cluster: u32,
    },
    /// Past the last cluster (the sectors that make no whole cluster).
    Beyond,
}

/// Where everything is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// FAT12, 16 or 32.
    pub fat: FatKind,
    /// Sectors per cluster (a power of two).
    pub sectors_per_cluster: u32,
    /// Reserved sectors before the first table.
    pub reserved_sectors: u32,
    /// How many tables.
    pub fats: u8,
    /// Sectors of one table.
    pub sectors_per_fat: u32,
    /// Whether writes go to every table (FAT32 may name one active table instead).
    pub mirrored: bool,
    /// The table in use when not mirrored.
    pub active_fat: u8,
    /// FAT12/16: the root directory's first sector and length.
    pub root_sectors: (u32, u32),
    /// FAT32: the root directory's first cluster.
    pub root_cluster: u32,
    /// FAT32: the information sector (0: none).
    pub fs_info_sector: u32,
    /// The first sector of cluster 2.
    pub first_data_sector: u32,
    /// Clusters for data.
    pub total_clusters: u32,
    /// Sectors the boot sector says the volume has.
    pub total_sectors: u32,
}

fn u16_at(sector: &[u8; SECTOR_SIZE], offset: usize) -> u16 {
    u16::from_le_bytes([sector[offset], sector[offset + 1]])
}

fn u32_at(sector: &[u8; SECTOR_SIZE], offset: usize) -> u32 {
    u32::from_le_bytes([sector[offset], sector[offset + 1], sector[offset + 2], sector[offset + 3]])
}

impl Layout {
    /// Reads the boot sector of a device of `device_sectors` sectors. The error says what
    /// makes it no FAT volume we can mount.
    pub fn parse(boot: &[u8; SECTOR_SIZE], device_sectors: u64) -> Result<Layout, String> {
        if boot[510] != 0x55 || boot[511] != 0xAA {
            return Err(String::from("no boot sector signature (not a FAT volume)"));
        }
        if !matches!(boot[0], 0xEB | 0xE9) {
            return Err(String::from("no jump instruction in the boot sector (not a FAT volume)"));
        }
        let bytes_per_sector = u16_at(boot, 11);
        if usize::from(bytes_per_sector) != SECTOR_SIZE {
            return Err(format!("{bytes_per_sector}-byte sectors (only 512 are supported)"));
        }
        let sectors_per_cluster = u32::from(boot[13]);
        if !sectors_per_cluster.is_power_of_two() || sectors_per_cluster > 128 {
            return Err(format!("{sectors_per_cluster} sectors per cluster is not a power of two up to 128"));
        }
        let reserved_sectors = u32::from(u16_at(boot, 14));
        let fats = boot[16];
        if reserved_sectors == 0 || !(1..=2).contains(&fats) {
            return Err(format!(
                "{reserved_sectors} reserved sectors and {fats} tables are not a FAT layout"
            ));
        }
        let root_entries = u32::from(u16_at(boot, 17));
        let total_sectors = match (u16_at(boot, 19), u32_at(boot, 32)) {
            (0, 0) => return Err(String::from("the boot sector gives no size")),
            (0, large) => large,
            (small, _) => u32::from(small),
        };
        let fat16_size = u32::from(u16_at(boot, 22));
        let is_fat32 = fat16_size == 0;
        let sectors_per_fat = if is_fat32 { u32_at(boot, 36) } else { fat16_size };
        if sectors_per_fat == 0 {
            return Err(String::from("the allocation table has no sectors"));
        }
        let root_dir_sectors = (root_entries * 32).div_ceil(SECTOR_U32);
        let first_data_sector = u64::from(reserved_sectors)
            + u64::from(fats) * u64::from(sectors_per_fat)
            + u64::from(root_dir_sectors);
        if first_data_sector >= u64::from(total_sectors) {
            return Err(String::from("the tables leave no room for data"));
        }
        if u64::from(total_sectors) > device_sectors {
            return Err(format!(
                "truncated: the boot sector says {total_sectors} sectors, the device has {device_sectors}"
            ));
        }
        let first_data_sector = u32::try_from(first_data_sector).map_err(|_| String::from("too large"))?;
        let total_clusters = (total_sectors - first_data_sector) / sectors_per_cluster;
        let fat = if total_clusters < 4085 {
            FatKind::Fat12
        } else if total_clusters < 65525 {
            FatKind::Fat16
        } else {
            FatKind::Fat32
        };
        if is_fat32 != (fat == FatKind::Fat32) {
            return Err(format!("{total_clusters} clusters do not match the boot sector's FAT type"));
        }
        let bits = match fat {
            FatKind::Fat12 => 12,
            FatKind::Fat16 => 16,
            FatKind::Fat32 => 32,
        };
        let entries_held = u64::from(sectors_per_fat) * SECTOR_BYTES * 8 / bits;
        if entries_held < u64::from(total_clusters) + u64::from(FIRST_CLUSTER) {
            return Err(format!(
                "the allocation table holds {entries_held} entries for {total_clusters} clusters"
            ));
        }
        let (mirrored, active_fat, root_cluster, fs_info_sector) = if is_fat32 {
            let flags = u16_at(boot, 40);
            let root_cluster = u32_at(boot, 44);
            if root_cluster < FIRST_CLUSTER || root_cluster >= total_clusters + FIRST_CLUSTER {
                return Err(format!("the root directory's cluster {root_cluster} is outside the volume"));
            }
            let fs_info = u32::from(u16_at(boot, 48));
            let fs_info =
                if fs_info == 0 || fs_info == 0xFFFF || fs_info >= reserved_sectors { 0 } else { fs_info };
            (flags & 0x80 == 0, (flags & 0x0F) as u8, root_cluster, fs_info)
        } else {
            (true, 0, 0, 0)
        };
        if active_fat >= fats {
            return Err(format!("the active table {active_fat} does not exist"));
        }
        let root_first = reserved_sectors + u32::from(fats) * sectors_per_fat;
        Ok(Layout {
            fat,
            sectors_per_cluster,
            reserved_sectors,
            fats,
            sectors_per_fat,
            mirrored,
            active_fat,
            root_sectors: (root_first, root_dir_sectors),
            root_cluster,
            fs_info_sector,
            first_data_sector,
            total_clusters,
            total_sectors,
        })
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u32 {
        self.sectors_per_cluster * SECTOR_U32
    }

    /// Whether `cluster` names a data cluster of this volume.
    pub fn is_cluster(&self, cluster: u32) -> bool {
        cluster >= FIRST_CLUSTER && cluster - FIRST_CLUSTER < self.total_clusters
    }

    /// The first sector of `cluster` (a data cluster).
    pub fn cluster_sector(&self, cluster: u32) -> u64 {
        u64::from(self.first_data_sector)
            + u64::from(cluster.saturating_sub(FIRST_CLUSTER)) * u64::from(self.sectors_per_cluster)
    }

    /// The first sector of table `copy`.
    pub fn fat_sector(&self, copy: u8) -> u64 {
        u64::from(self.reserved_sectors) + u64::from(copy) * u64::from(self.sectors_per_fat)
    }

    /// The tables a change of an entry goes to (every one when mirrored, else the active).
    pub fn fat_copies(&self) -> impl Iterator<Item = u8> + '_ {
        let (first, last) =
            if self.mirrored { (0, self.fats) } else { (self.active_fat, self.active_fat + 1) };
        first..last
    }

    /// The table entries are read from.
    pub fn read_fat(&self) -> u8 {
        if self.mirrored { 0 } else { self.active_fat }
    }

    /// Where the boot sector keeps the dirty flag (the byte Windows NT reserved).
    pub fn dirty_flag_offset(&self) -> usize {
        if self.fat == FatKind::Fat32 { 0x41 } else { 0x25 }
    }

    /// What sector `sector` holds.
    pub fn region(&self, sector: u64) -> Region {
        let reserved = u64::from(self.reserved_sectors);
        if sector < reserved {
            return if self.fs_info_sector != 0 && sector == u64::from(self.fs_info_sector) {
                Region::FsInfo
            } else {
                Region::Reserved
            };
        }
        let fat_end = reserved + u64::from(self.fats) * u64::from(self.sectors_per_fat);
        if sector < fat_end {
            let copy = (sector - reserved) / u64::from(self.sectors_per_fat);
            return Region::Fat { copy: u8::try_from(copy).unwrap_or(u8::MAX) };
        }
        if sector < u64::from(self.first_data_sector) {
            return Region::RootDirectory;
        }
        let index = (sector - u64::from(self.first_data_sector)) / u64::from(self.sectors_per_cluster);
        match u32::try_from(index) {
            Ok(index) if index < self.total_clusters => Region::Cluster { cluster: index + FIRST_CLUSTER },
            _ => Region::Beyond,
        }
    }
}
