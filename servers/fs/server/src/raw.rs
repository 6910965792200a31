//! Reading the volume's directories without lamfat, for what lamfat does not do: after it
//! moves a directory to another parent, its `..` entry still names the old one (fsck.fat
//! reports it), so the volume points it at the new parent ([`fix_dot_dot`]); and where an
//! open file's directory entry lies, which lamfat keeps to itself ([`locate_entry`]), so
//! the data path can keep its size and first cluster up to date.

use alloc::string::String;
use alloc::vec::Vec;

use crate::cache::{Purpose, SectorCache};
use crate::device::{BlockDevice, DeviceError, SECTOR_BYTES, SECTOR_SIZE};
use crate::layout::Layout;
use crate::names::same_name;
use fs_api::FatKind;

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
        current = crate::table::entry(cache, layout, current)?;
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

/// How lamfat shows the raw short name `raw` (`short_file_name_as_bytes`): the base and
/// the extension without their padding, joined by a dot when there is an extension, and
/// a leading 0x05 shown as 0xE5.
fn shown_short_name(raw: &[u8]) -> Vec<u8> {
    let trimmed = |part: &[u8]| part.iter().rposition(|&byte| byte != b' ').map_or(0, |last| last + 1);
    let base = &raw[..8];
    let extension = &raw[8..11];
    let mut shown = Vec::with_capacity(12);
    shown.extend_from_slice(&base[..trimmed(base)]);
    let extension_length = trimmed(extension);
    if extension_length > 0 {
        shown.push(b'.');
        shown.extend_from_slice(&extension[..extension_length]);
    }
    if shown.first() == Some(&0x05) {
        shown[0] = 0xE5;
    }
    shown
}

/// The byte offset on the device of the short directory entry at the path whose names are
/// `shorts`, each as lamfat shows its short name (short names are unique in a directory),
/// and the entry's 32 bytes; `None` if a name is missing or a directory on the way is not
/// one.
pub fn locate_entry<D: BlockDevice>(
    cache: &mut SectorCache<D>,
    layout: &Layout,
    shorts: &[Vec<u8>],
) -> Result<Option<(u64, [u8; 32])>, DeviceError> {
    let root = if layout.fat == FatKind::Fat32 { layout.root_cluster } else { 0 };
    let mut cluster = root;
    for (depth, short) in shorts.iter().enumerate() {
        let mut found = None;
        'sectors: for sector in directory_sectors(cache, layout, cluster)? {
            let mut bytes = [0_u8; SECTOR_SIZE];
            cache.read_at(sector * SECTOR_BYTES, &mut bytes)?;
            for (index, entry) in bytes.chunks(32).enumerate() {
                match entry[0] {
                    0 => break 'sectors,
                    0xE5 => continue,
                    // Long-name parts and the volume label.
                    _ if entry[11] & 0x0F == 0x0F || entry[11] & 0x08 != 0 => continue,
                    _ if shown_short_name(&entry[..11]) == short.as_slice() => {
                        let mut copy = [0_u8; 32];
                        copy.copy_from_slice(entry);
                        found = Some((sector * SECTOR_BYTES + index as u64 * 32, copy));
                        break 'sectors;
                    }
                    _ => {}
                }
            }
        }
        let Some((at, entry)) = found else { return Ok(None) };
        if depth + 1 == shorts.len() {
            return Ok(Some((at, entry)));
        }
        if entry[11] & 0x10 == 0 {
            return Ok(None);
        }
        cluster = match first_cluster(layout, &entry) {
            0 => root,
            next => next,
        };
    }
    Ok(None)
}

/// The first cluster a directory entry names (0: none).
pub fn entry_first_cluster(layout: &Layout, entry: &[u8; 32]) -> u32 {
    first_cluster(layout, entry)
}
