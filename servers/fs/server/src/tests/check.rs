//! The mount check finds and repairs what crashes and other systems leave behind; each
//! repaired volume passes `fsck.fat`, and the files around the damage are intact.

use super::*;
use crate::check::Repair;
use crate::layout::Layout;

/// A FAT16 volume with three files in the root and one directory, unmounted cleanly.
fn sample() -> (Vec<u8>, Layout) {
    let mut volume = with_session(fat16());
    put(&mut volume, "/first.bin", &pattern(20, 5000)).unwrap();
    put(&mut volume, "/second.bin", &pattern(21, 9000)).unwrap();
    put(&mut volume, "/third.bin", &pattern(22, 100)).unwrap();
    volume.make_directory(SESSION, "/dir").unwrap();
    volume.make_directory(SESSION, "/dir/sub").unwrap();
    let image = image_of(volume);
    let mut boot = [0_u8; 512];
    boot.copy_from_slice(&image[..512]);
    let layout = Layout::parse(&boot, image.len() as u64 / 512).unwrap();
    (image, layout)
}

/// The byte offset of the root directory entry with short name `short` (11 bytes).
fn root_entry(image: &[u8], layout: &Layout, short: &[u8; 11]) -> usize {
    let start = layout.root_sectors.0 as usize * 512;
    let end = start + layout.root_sectors.1 as usize * 512;
    (start..end).step_by(32).find(|&at| &image[at..at + 11] == short).expect("entry exists")
}

fn cluster_of(image: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([image[at + 26], image[at + 27]]))
}

fn fat_entry(layout: &Layout, cluster: usize) -> usize {
    layout.reserved_sectors as usize * 512 + cluster * 2
}

fn set_fat(image: &mut [u8], layout: &Layout, cluster: usize, value: u16) {
    for copy in 0..layout.fats as usize {
        let at = fat_entry(layout, cluster) + copy * layout.sectors_per_fat as usize * 512;
        image[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }
}

/// Mounts the damaged image, checks what was repaired, and that the volume is clean after.
fn repaired(image: Vec<u8>, name: &str, expect: impl Fn(&Repair) -> bool) -> Volume<MemoryDevice> {
    let volume = with_session(mount(image, ROOMY));
    let repair = volume.mounted().repair;
    assert!(expect(&repair), "{name}: {repair:?}");
    assert!(repair.to_string().starts_with("repaired"), "{name}: {repair}");
    let device = volume.unmount().unwrap();
    fsck(device.image(), name).unwrap_or_else(|problems| panic!("{name}: {problems}"));
    let again = with_session(mount(device.into_image(), ROOMY));
    assert!(!again.mounted().repair.changed(), "{name}: the repair holds");
    again
}

#[test]
fn a_clean_volume_needs_nothing_and_a_dirty_flag_alone_is_cleared() {
    let (mut image, _) = sample();
    assert!(!mount(image.clone(), ROOMY).mounted().repair.changed());
    assert_eq!(mount(image.clone(), ROOMY).mounted().repair.to_string(), "clean");
    image[0x25] |= 1;
    let mut volume = repaired(image, "dirty flag", |repair| repair.was_dirty && !repair.found_damage());
    assert_eq!(get(&mut volume, "/second.bin").unwrap(), pattern(21, 9000));
}

#[test]
fn lost_clusters_are_freed() {
    let (mut image, layout) = sample();
    // Delete second.bin's short entry by hand: its chain is lost, its long name orphaned.
    let at = root_entry(&image, &layout, b"SECOND  BIN");
    image[at] = 0xE5;
    let lost = 9000_u32.div_ceil(layout.cluster_bytes());
    let mut volume = repaired(image, "lost clusters", |repair| {
        repair.lost_clusters == lost && repair.orphan_long_names == 1
    });
    assert_eq!(volume.stat(SESSION, "/second.bin"), Err(FsError::NotFound));
    assert_eq!(get(&mut volume, "/third.bin").unwrap(), pattern(22, 100));
}

#[test]
fn a_chain_longer_than_its_file_is_cut() {
    let (mut image, layout) = sample();
    let at = root_entry(&image, &layout, b"SECOND  BIN");
    image[at + 28..at + 32].copy_from_slice(&1500_u32.to_le_bytes());
    let lost = 9000_u32.div_ceil(layout.cluster_bytes()) - 1500_u32.div_ceil(layout.cluster_bytes());
    let mut volume =
        repaired(image, "long chain", |repair| repair.chains_cut == 1 && repair.lost_clusters == lost);
    assert_eq!(get(&mut volume, "/second.bin").unwrap(), pattern(21, 9000)[..1500].to_vec());
}

#[test]
fn a_size_longer_than_its_chain_is_cut() {
    let (mut image, layout) = sample();
    let at = root_entry(&image, &layout, b"FIRST   BIN");
    let first = cluster_of(&image, at);
    // End first.bin's chain after its first cluster.
    set_fat(&mut image, &layout, first, 0xFFFF);
    let cluster = layout.cluster_bytes() as usize;
    let lost = 5000_u32.div_ceil(layout.cluster_bytes()) - 1;
    let mut volume =
        repaired(image, "short chain", |repair| repair.sizes_cut == 1 && repair.lost_clusters == lost);
    assert!(
        get(&mut volume, "/first.bin").unwrap() == pattern(20, 5000)[..cluster],
        "first.bin keeps its first cluster"
    );
}

#[test]
fn broken_and_cross_linked_chains_are_cut() {
    let (mut image, layout) = sample();
    let first = cluster_of(&image, root_entry(&image, &layout, b"FIRST   BIN"));
    let third_at = root_entry(&image, &layout, b"THIRD   BIN");
    // first.bin's chain now links to a free cluster; third.bin starts in first.bin.
    set_fat(&mut image, &layout, first, 4000);
    let third = cluster_of(&image, third_at);
    image[third_at + 26..third_at + 28].copy_from_slice(&(first as u16).to_le_bytes());
    let mut volume = repaired(image, "cross link", |repair| {
        repair.broken_chains >= 1 && repair.cross_links == 1 && repair.lost_clusters >= 1
    });
    let cluster = layout.cluster_bytes() as usize;
    assert!(
        get(&mut volume, "/first.bin").unwrap() == pattern(20, 5000)[..cluster],
        "first.bin keeps its first cluster"
    );
    assert_eq!(volume.stat(SESSION, "/third.bin").unwrap().size, 0);
    let _ = third;
}

#[test]
fn a_stale_dot_dot_is_pointed_at_the_parent() {
    let (mut image, layout) = sample();
    let dir = cluster_of(&image, root_entry(&image, &layout, b"DIR        "));
    // /dir/sub's `..` names the root (0); point it at first.bin's cluster instead.
    let dir_sector = layout.cluster_sector(dir as u32) as usize * 512;
    let sub_at = (dir_sector..dir_sector + 4096)
        .step_by(32)
        .find(|&at| &image[at..at + 11] == b"SUB        ")
        .unwrap();
    let sub = cluster_of(&image, sub_at);
    let dot_dot = layout.cluster_sector(sub as u32) as usize * 512 + 32;
    assert_eq!(cluster_of(&image, dot_dot), dir);
    image[dot_dot + 26..dot_dot + 28].copy_from_slice(&7_u16.to_le_bytes());
    let volume = repaired(image, "dot dot", |repair| repair.entries_fixed == 1);
    assert!(volume.stat(SESSION, "/dir/sub").is_ok());
}
