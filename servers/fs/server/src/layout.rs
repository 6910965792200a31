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

/// A size in sectors as a person reads it: `64 MiB`, `4 KiB`, `512 bytes`, `39.9 MiB`.
struct Size(u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        let bytes = self.0.saturating_mul(SECTOR_BYTES);
        if bytes >= MIB && bytes.is_multiple_of(MIB) {
            write!(f, "{} MiB", bytes / MIB)
        } else if bytes >= MIB {
            let tenths = bytes / (MIB / 10);
            write!(f, "{}.{} MiB", tenths / 10, tenths % 10)
        } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
            write!(f, "{} KiB", bytes / KIB)
        } else {
            write!(f, "{bytes} bytes")
        }
    }
}

/// How many of a disk's first bytes [`foreign`] looks at (three sectors: an ext
/// superblock starts at byte 1024).
pub const FOREIGN_BYTES: usize = 3 * SECTOR_SIZE;

/// What a disk holds that is plainly not a FAT volume, from its first bytes (`head`, up to
/// [`FOREIGN_BYTES`]; fewer if the disk is smaller), as the reason a mount is refused:
/// another file system, a partition table, or nothing at all. `None` when it looks like
/// none of those, and [`Layout::parse`] says what is wrong.
pub fn foreign(head: &[u8]) -> Option<&'static str> {
    let boot = head.get(..SECTOR_SIZE)?;
    let signed = boot[510] == 0x55 && boot[511] == 0xAA;
    let jumps = matches!(boot[0], 0xEB | 0xE9);
    // ext2/3/4 keep their magic number at byte 56 of the superblock at byte 1024.
    if !jumps && head.get(1080..1082) == Some(&[0x53, 0xEF]) {
        return Some("the disk holds an ext2/3/4 file system, not FAT");
    }
    match boot.get(3..11) {
        Some(b"NTFS    ") => return Some("the disk holds an NTFS volume, not FAT"),
        Some(b"EXFAT   ") => return Some("the disk holds an exFAT volume, not FAT12, FAT16 or FAT32"),
        _ => {}
    }
    // A master boot record: signed, no jump to boot code, four entries whose status bytes
    // are valid (0x00 or 0x80), and one of them a partition (a type, and a start past the
    // first sector).
    let entries = || boot[446..510].chunks(16);
    let partition =
        |entry: &[u8]| entry[4] != 0 && u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]) != 0;
    if signed && !jumps && entries().all(|entry| matches!(entry[0], 0x00 | 0x80)) && entries().any(partition)
    {
        return Some(
            "the disk has a partition table: only a FAT volume that starts at the disk's first sector is read",
        );
    }
    if boot.iter().all(|&byte| byte == 0) {
        return Some("the disk is blank: its first sector is all zeros (no FAT boot sector)");
    }
    None
}

impl Layout {
    /// Reads the boot sector of a device of `device_sectors` sectors. The error says what
    /// makes it no FAT volume we can mount.
    pub fn parse(boot: &[u8; SECTOR_SIZE], device_sectors: u64) -> Result<Layout, String> {
        if boot[510] != 0x55 || boot[511] != 0xAA {
            return Err(String::from(
                "the disk is not FAT: its first sector has no boot signature (55 AA at byte 510)",
            ));
        }
        if !matches!(boot[0], 0xEB | 0xE9) {
            return Err(String::from(
                "the disk is not FAT: its boot sector does not start with a jump instruction",
            ));
        }
        // From here the sector looks like a boot sector: what is wrong is in its parameters.
        let unusable = |why: String| format!("the disk is not a usable FAT volume: its boot sector {why}");
        let bytes_per_sector = u16_at(boot, 11);
        if usize::from(bytes_per_sector) != SECTOR_SIZE {
            return Err(unusable(format!("gives {bytes_per_sector}-byte sectors (only 512 are supported)")));
        }
        let sectors_per_cluster = u32::from(boot[13]);
        if !sectors_per_cluster.is_power_of_two() || sectors_per_cluster > 128 {
            return Err(unusable(format!(
                "gives {sectors_per_cluster} sectors per cluster, not a power of two up to 128"
            )));
        }
        let reserved_sectors = u32::from(u16_at(boot, 14));
        let fats = boot[16];
        if reserved_sectors == 0 || !(1..=2).contains(&fats) {
            return Err(unusable(format!(
                "gives {reserved_sectors} reserved sectors and {fats} tables, not a FAT layout"
            )));
        }
        let root_entries = u32::from(u16_at(boot, 17));
        let total_sectors = match (u16_at(boot, 19), u32_at(boot, 32)) {
            (0, 0) => return Err(unusable(String::from("gives no size"))),
            (0, large) => large,
            (small, _) => u32::from(small),
        };
        let fat16_size = u32::from(u16_at(boot, 22));
        let is_fat32 = fat16_size == 0;
        let sectors_per_fat = if is_fat32 { u32_at(boot, 36) } else { fat16_size };
        if sectors_per_fat == 0 {
            return Err(unusable(String::from("gives the allocation table no sectors")));
        }
        let root_dir_sectors = (root_entries * 32).div_ceil(SECTOR_U32);
        let first_data_sector = u64::from(reserved_sectors)
            + u64::from(fats) * u64::from(sectors_per_fat)
            + u64::from(root_dir_sectors);
        if first_data_sector >= u64::from(total_sectors) {
            return Err(unusable(String::from("gives tables that leave no room for data")));
        }
        if u64::from(total_sectors) > device_sectors {
            return Err(format!(
                "the disk is truncated: its FAT volume's boot sector says {total_sectors} sectors ({}), \
                 the device has {device_sectors} ({})",
                Size(u64::from(total_sectors)),
                Size(device_sectors),
            ));
        }
        let first_data_sector = u32::try_from(first_data_sector)
            .map_err(|_| unusable(String::from("gives too large a layout")))?;
        let total_clusters = (total_sectors - first_data_sector) / sectors_per_cluster;
        let fat = if total_clusters < 4085 {
            FatKind::Fat12
        } else if total_clusters < 65525 {
            FatKind::Fat16
        } else {
            FatKind::Fat32
        };
        if is_fat32 != (fat == FatKind::Fat32) {
            return Err(unusable(format!(
                "gives {total_clusters} clusters, which do not match its FAT type"
            )));
        }
        let bits = match fat {
            FatKind::Fat12 => 12,
            FatKind::Fat16 => 16,
            FatKind::Fat32 => 32,
        };
        let entries_held = u64::from(sectors_per_fat) * SECTOR_BYTES * 8 / bits;
        if entries_held < u64::from(total_clusters) + u64::from(FIRST_CLUSTER) {
            return Err(unusable(format!(
                "gives an allocation table of {entries_held} entries for {total_clusters} clusters"
            )));
        }
        let (mirrored, active_fat, root_cluster, fs_info_sector) = if is_fat32 {
            let flags = u16_at(boot, 40);
            let root_cluster = u32_at(boot, 44);
            if root_cluster < FIRST_CLUSTER || root_cluster >= total_clusters + FIRST_CLUSTER {
                return Err(unusable(format!(
                    "puts the root directory at cluster {root_cluster}, outside the volume"
                )));
            }
            let fs_info = u32::from(u16_at(boot, 48));
            let fs_info =
                if fs_info == 0 || fs_info == 0xFFFF || fs_info >= reserved_sectors { 0 } else { fs_info };
            (flags & 0x80 == 0, (flags & 0x0F) as u8, root_cluster, fs_info)
        } else {
            (true, 0, 0, 0)
        };
        if active_fat >= fats {
            return Err(unusable(format!("names table {active_fat} active, which does not exist")));
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
