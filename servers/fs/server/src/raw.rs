//! Reading the volume's directories without lamfat, for what lamfat does not do: after it
//! moves a directory to another parent, its `..` entry still names the old one (fsck.fat
//! reports it), so the volume points it at the new parent ([`fix_dot_dot`]).

use alloc::string::String;
use alloc::vec::Vec;

use crate::cache::{Purpose, SectorCache};
use crate::device::{BlockDevice, DeviceError, SECTOR_BYTES, SECTOR_SIZE};
use crate::layout::Layout;
use crate::names::same_name;
use fs_api::FatKind;

/// The allocation table's entry for `cluster` (the table entries are read from).
fn link<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    cluster: u32,
) -> Result<u32, DeviceError> {
    let base = layout.fat_sector(layout.read_fat()) * SECTOR_BYTES;
    let index = u64::from(cluster);
    let mut word = [0_u8; 4];
    let value = match layout.fat {
        FatKind::Fat12 => {
            cache.read_at(base + index + index / 2, &mut word[..2])?;
            let pair = u32::from(u16::from_le_bytes([word[0], word[1]]));
            if cluster % 2 == 1 { pair >> 4 } else { pair & 0xFFF }
        }
        FatKind::Fat16 => {
            cache.read_at(base + index * 2, &mut word[..2])?;
            u32::from(u16::from_le_bytes([word[0], word[1]]))
        }
        FatKind::Fat32 => {
            cache.read_at(base + index * 4, &mut word)?;
            u32::from_le_bytes(word) & 0x0FFF_FFFF
        }
    };
    Ok(value)
}

/// The sectors of the directory at `cluster` (0: FAT12/16's fixed root), following its
/// chain at most once round the volume.
fn directory_sectors<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    cluster: u32,
) -> Result<Vec<u64>, DeviceError> {
    if cluster == 0 {
        let (first, count) = layout.root_sectors;
        return Ok((u64::from(first)..u64::from(first) + u64::from(count)).collect());
    }
    let mut sectors = Vec::new();
    let mut current = cluster;
    for _ in 0..layout.total_clusters {
        if !layout.is_cluster(current) {
            break;
        }
        let first = layout.cluster_sector(current);
        sectors.extend(first..first + u64::from(layout.sectors_per_cluster));
        current = link(cache, layout, current)?;
    }
    Ok(sectors)
}

fn first_cluster(layout: &Layout, entry: &[u8]) -> u32 {
    let low = u32::from(u16::from_le_bytes([entry[26], entry[27]]));
    let high =
        if layout.fat == FatKind::Fat32 { u32::from(u16::from_le_bytes([entry[20], entry[21]])) } else { 0 };
    (high << 16) | low
}

fn short_name(entry: &[u8]) -> String {
    let part = |bytes: &[u8]| -> String {
        bytes.iter().map(|&byte| char::from(if byte == 0x05 { 0xE5 } else { byte })).collect::<String>()
    };
    let base = part(&entry[..8]);
    let extension = part(&entry[8..11]);
    let (base, extension) = (base.trim_end(), extension.trim_end());
    if extension.is_empty() { String::from(base) } else { alloc::format!("{base}.{extension}") }
}

/// The first cluster of the entry called `name` in the directory at `cluster`, if it is
/// a directory (0 for a directory entry that names the root).
fn find_directory<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    cluster: u32,
    name: &str,
) -> Result<Option<u32>, DeviceError> {
    let mut long: Vec<(u8, [u16; 13])> = Vec::new();
    for sector in directory_sectors(cache, layout, cluster)? {
        let mut bytes = [0_u8; SECTOR_SIZE];
        cache.read_at(sector * SECTOR_BYTES, &mut bytes)?;
        for entry in bytes.chunks(32) {
            match entry[0] {
                0 => return Ok(None),
                0xE5 => long.clear(),
                _ if entry[11] & 0x3F == 0x0F => {
                    let mut units = [0_u16; 13];
                    let offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
                    for (unit, offset) in units.iter_mut().zip(offsets) {
                        *unit = u16::from_le_bytes([entry[offset], entry[offset + 1]]);
                    }
                    long.push((entry[0] & 0x1F, units));
                }
                _ => {
                    let mut parts = core::mem::take(&mut long);
                    parts.sort_by_key(|(order, _)| *order);
                    let units: Vec<u16> = parts
                        .iter()
                        .flat_map(|(_, units)| units.iter().copied())
                        .take_while(|&unit| unit != 0 && unit != 0xFFFF)
                        .collect();
                    let long_name = if units.is_empty() { None } else { Some(units.as_slice()) };
                    if entry[11] & 0x10 != 0 && same_name(long_name, &short_name(entry), name) {
                        return Ok(Some(first_cluster(layout, entry)));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// The first cluster of the directory at the stored path `names` (the root's: 0 on
/// FAT12/16, its cluster on FAT32).
fn directory_cluster<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    names: &[String],
) -> Result<Option<u32>, DeviceError> {
    let mut cluster = if layout.fat == FatKind::Fat32 { layout.root_cluster } else { 0 };
    for name in names {
        match find_directory(cache, layout, cluster, name)? {
            Some(0) => cluster = if layout.fat == FatKind::Fat32 { layout.root_cluster } else { 0 },
            Some(next) => cluster = next,
            None => return Ok(None),
        }
    }
    Ok(Some(cluster))
}

/// Points the `..` entry of the directory at stored path `moved` at its parent (0 when
/// the parent is the root, as FAT has it). Returns whether it had to change.
pub fn fix_dot_dot<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    moved: &[String],
) -> Result<bool, DeviceError> {
    let Some((_, parent_names)) = moved.split_last() else { return Ok(false) };
    let Some(directory) = directory_cluster(cache, layout, moved)? else { return Ok(false) };
    let Some(parent) = directory_cluster(cache, layout, parent_names)? else { return Ok(false) };
    let parent = if parent_names.is_empty() { 0 } else { parent };
    if !layout.is_cluster(directory) {
        return Ok(false);
    }
    let at = layout.cluster_sector(directory) * SECTOR_BYTES + 32;
    let mut entry = [0_u8; 32];
    cache.read_at(at, &mut entry)?;
    if &entry[..11] != b"..         " || first_cluster(layout, &entry) == parent {
        return Ok(false);
    }
    entry[26..28].copy_from_slice(&((parent & 0xFFFF) as u16).to_le_bytes());
    if layout.fat == FatKind::Fat32 {
        entry[20..22].copy_from_slice(&((parent >> 16) as u16).to_le_bytes());
    }
    let before = cache.set_purpose(Purpose::Metadata);
    let written = cache.write_at(at, &entry);
    cache.set_purpose(before);
    written.map(|_| true)
}
