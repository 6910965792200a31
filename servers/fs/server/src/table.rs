//! The allocation table read and written through the sector cache, entry by entry, for the
//! parts of the server that do not go through lamfat: the data path's chain walks and
//! cluster allocations ([`crate::data`]) and the `..` fix ([`crate::raw`]).
//!
//! Invariants: an entry is read from the table the layout names for reading and written
//! to every table a change goes to (all when mirrored, else the active one), keeping
//! FAT32's four reserved high bits and FAT12's neighbouring half-byte; the cache classes
//! each write as table or table copy from the layout, so `sync` orders them as lamfat's.

use crate::cache::SectorCache;
use crate::device::{BlockDevice, DeviceError, SECTOR_BYTES};
use crate::layout::Layout;
use fs_api::FatKind;

/// What a table entry says about the cluster after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The cluster is free.
    Free,
    /// The chain goes on at this cluster.
    Next(u32),
    /// The chain ends here.
    End,
    /// Bad, reserved or outside the volume: no chain goes on from here.
    Invalid,
}

/// The value that ends a chain.
pub fn end_of_chain(layout: &Layout) -> u32 {
    match layout.fat {
        FatKind::Fat12 => 0xFFF,
        FatKind::Fat16 => 0xFFFF,
        FatKind::Fat32 => 0x0FFF_FFFF,
    }
}

/// Where the entry of `cluster` starts in a table, in bytes from the table's start.
pub fn entry_offset(fat: FatKind, cluster: u32) -> u64 {
    let cluster = u64::from(cluster);
    match fat {
        FatKind::Fat12 => cluster + cluster / 2,
        FatKind::Fat16 => cluster * 2,
        FatKind::Fat32 => cluster * 4,
    }
}

/// How many bytes hold (part of) one entry: FAT12's 12 bits lie across two.
pub fn entry_bytes(fat: FatKind) -> usize {
    match fat {
        FatKind::Fat12 | FatKind::Fat16 => 2,
        FatKind::Fat32 => 4,
    }
}

/// The entry of `cluster` from the [`entry_bytes`] bytes at its [`entry_offset`] (the rest
/// of `bytes` ignored; FAT32's reserved high bits cleared).
pub fn decode(fat: FatKind, cluster: u32, bytes: [u8; 4]) -> u32 {
    match fat {
        FatKind::Fat12 => {
            let pair = u32::from(u16::from_le_bytes([bytes[0], bytes[1]]));
            if cluster % 2 == 1 { pair >> 4 } else { pair & 0xFFF }
        }
        FatKind::Fat16 => u32::from(u16::from_le_bytes([bytes[0], bytes[1]])),
        FatKind::Fat32 => u32::from_le_bytes(bytes) & 0x0FFF_FFFF,
    }
}

fn byte_offset(layout: &Layout, cluster: u32) -> u64 {
    entry_offset(layout.fat, cluster)
}

/// The raw entry of `cluster` (FAT32's reserved high bits cleared).
pub fn entry<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    cluster: u32,
) -> Result<u32, DeviceError> {
    let at = layout.fat_sector(layout.read_fat()) * SECTOR_BYTES + byte_offset(layout, cluster);
    let mut word = [0_u8; 4];
    cache.read_at(at, &mut word[..entry_bytes(layout.fat)])?;
    Ok(decode(layout.fat, cluster, word))
}

/// What the entry of `cluster` says.
pub fn link<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    cluster: u32,
) -> Result<Link, DeviceError> {
    let value = entry(cache, layout, cluster)?;
    let end = end_of_chain(layout);
    // 0x?FF8 and above end a chain; 0x?FF7 is bad.
    Ok(match value {
        0 => Link::Free,
        value if value >= end - 7 => Link::End,
        value if layout.is_cluster(value) => Link::Next(value),
        _ => Link::Invalid,
    })
}

/// Sets the entry of `cluster` to `value` in every table a change goes to.
pub fn set_entry<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    cluster: u32,
    value: u32,
) -> Result<(), DeviceError> {
    let offset = byte_offset(layout, cluster);
    for copy in layout.fat_copies() {
        let at = layout.fat_sector(copy) * SECTOR_BYTES + offset;
        match layout.fat {
            FatKind::Fat12 => {
                let mut old = [0_u8; 2];
                cache.read_at(at, &mut old)?;
                let old = u16::from_le_bytes(old);
                let value = (value & 0xFFF) as u16;
                let new =
                    if cluster % 2 == 1 { (old & 0x000F) | (value << 4) } else { (old & 0xF000) | value };
                cache.write_at(at, &new.to_le_bytes())?;
            }
            FatKind::Fat16 => {
                cache.write_at(at, &((value & 0xFFFF) as u16).to_le_bytes())?;
            }
            FatKind::Fat32 => {
                let mut old = [0_u8; 4];
                cache.read_at(at, &mut old)?;
                let new = (u32::from_le_bytes(old) & 0xF000_0000) | (value & 0x0FFF_FFFF);
                cache.write_at(at, &new.to_le_bytes())?;
            }
        }
    }
    Ok(())
}
