//! Clusters freed since the last complete sync: the set itself, the cache noting every
//! entry freed in the table it reads (and nothing else) and forgetting them only after a
//! write-back of everything, and the volume answering a write that fits only once they
//! are free for good.

use fs_api::OpenFlags;

use super::*;
use crate::cache::{Purpose, SectorCache};
use crate::device::BlockDevice;
use crate::device::SECTOR_SIZE;
use crate::freed::FreedClusters;
use crate::layout::Layout;
use crate::table;

#[test]
fn the_freed_set_keeps_runs_of_consecutive_clusters() {
    let mut set = FreedClusters::new();
    assert!(set.is_empty());
    for cluster in [10, 12, 11, 30, 9, 31, 12] {
        set.insert(cluster);
    }
    assert_eq!(set.len(), 6, "a cluster put in twice counts once");
    assert_eq!(set.runs().collect::<Vec<_>>(), vec![(9, 13), (30, 32)]);
    assert!(set.contains(9) && set.contains(12) && set.contains(31));
    assert!(!set.contains(8) && !set.contains(13) && !set.contains(29) && !set.contains(32));
    assert_eq!(set.skip(10), 13);
    assert_eq!(set.skip(13), 13);
    assert_eq!(set.skip(30), 32);
    // The largest cluster number cannot overflow the run's end.
    set.insert(u32::MAX);
    assert_eq!(set.len(), 6);
    set.clear();
    assert!(set.is_empty() && set.runs().next().is_none() && !set.contains(10));
}

/// A cache over a freshly formatted volume, its layout set as the mount sets it.
fn cache_over(image: Vec<u8>, capacity: usize) -> (SectorCache<MemoryDevice>, Layout) {
    let device = MemoryDevice::from_image(image);
    let sectors = device.sectors();
    let mut cache = SectorCache::new(device, capacity);
    let mut boot = [0_u8; SECTOR_SIZE];
    cache.read_at(0, &mut boot).unwrap();
    let layout = Layout::parse(&boot, sectors).unwrap();
    cache.set_layout(layout.clone());
    (cache, layout)
}

/// Links `chain` in every table (as the data path allocates: the end, then the links).
fn link(cache: &mut SectorCache<MemoryDevice>, layout: &Layout, chain: &[u32]) {
    for (index, &cluster) in chain.iter().enumerate() {
        let next = chain.get(index + 1).copied().unwrap_or(table::end_of_chain(layout));
        table::set_entry(cache, layout, cluster, next).unwrap();
    }
}

#[test]
fn the_cache_notes_each_entry_freed_in_the_table_it_reads_and_nothing_else() {
    for (name, image) in [
        ("fat12", formatted(2 << 20, true)),
        ("fat16", formatted(8 << 20, false)),
        ("fat32", formatted(40 << 20, true)),
    ] {
        let (mut cache, layout) = cache_over(image, ROOMY);
        let chain = [20, 21, 22, 23, 40];
        link(&mut cache, &layout, &chain);
        assert!(cache.freed().is_empty(), "{name}: allocating frees nothing");
        // Freed one by one, as lamfat and the mount check free.
        for &cluster in &chain[1..] {
            table::set_entry(&mut cache, &layout, cluster, 0).unwrap();
        }
        assert_eq!(cache.freed().runs().collect::<Vec<_>>(), vec![(21, 24), (40, 41)], "{name}");
        // FAT12's neighbouring half-bytes are not taken for frees, nor are free entries
        // written free again.
        table::set_entry(&mut cache, &layout, 24, 0).unwrap();
        assert_eq!(cache.freed().len(), 4, "{name}");
        // A write to another copy of the table is not one the cache reads from.
        if layout.fats > 1 && layout.mirrored {
            let copy = layout.fat_sector(1) * 512 + table::entry_offset(layout.fat, 20);
            cache.write_at(copy, &[0, 0]).unwrap();
            assert!(!cache.freed().contains(20), "{name}: the copy");
        }
        // Bytes written over part of an entry: freed only if the entry ends free.
        let at = layout.fat_sector(layout.read_fat()) * 512 + table::entry_offset(layout.fat, 20);
        table::set_entry(&mut cache, &layout, 20, 0x105).unwrap();
        cache.write_at(at, &[0]).unwrap();
        assert_eq!(table::entry(&mut cache, &layout, 20).unwrap(), 0x100, "{name}");
        assert!(!cache.freed().contains(20), "{name}: a partial write that leaves it allocated");
        table::set_entry(&mut cache, &layout, 20, 0x5).unwrap();
        cache.write_at(at, &[0]).unwrap();
        assert_eq!(table::entry(&mut cache, &layout, 20).unwrap(), 0, "{name}");
        assert!(cache.freed().contains(20), "{name}: a partial write that frees");
    }
    // A whole sector of zeros over the table frees every entry it held (clusters 0 and 1
    // are no clusters).
    let (mut cache, layout) = cache_over(formatted(8 << 20, false), ROOMY);
    link(&mut cache, &layout, &[100, 101, 200]);
    let table_start = layout.fat_sector(layout.read_fat()) * 512;
    cache.write_at(table_start + 512, &[0; 512]).unwrap();
    assert!(cache.freed().is_empty(), "the table's second sector held no allocated entry");
    cache.write_at(table_start, &[0; 512]).unwrap();
    assert_eq!(cache.freed().runs().collect::<Vec<_>>(), vec![(100, 102), (200, 201)]);
}

#[test]
fn freed_clusters_are_forgotten_only_once_everything_reached_the_device() {
    let (mut cache, layout) = cache_over(formatted(8 << 20, false), crate::cache::MIN_CAPACITY);
    link(&mut cache, &layout, &[50, 51, 52, 53]);
    cache.sync().unwrap();
    for cluster in [50, 51] {
        table::set_entry(&mut cache, &layout, cluster, 0).unwrap();
    }
    assert_eq!(cache.freed().len(), 2);
    // A full cache writes its dirty data early; the tables are still waiting.
    let before = cache.set_purpose(Purpose::FileData);
    let data = layout.cluster_sector(300) * 512;
    for sector in 0..20 {
        cache.write_at(data + sector * 512, &[7; 512]).unwrap();
    }
    cache.set_purpose(before);
    assert!(cache.stats().forced > 0, "{:?}", cache.stats());
    assert_eq!(cache.freed().len(), 2, "a write-back of the data alone");
    cache.sync().unwrap();
    assert!(cache.freed().is_empty(), "a sync");
    // The removal's and the rename's own orders write everything too.
    table::set_entry(&mut cache, &layout, 52, 0).unwrap();
    assert!(cache.freed().contains(52));
    cache.sync_removal().unwrap();
    assert!(cache.freed().is_empty(), "a removal's sync");
    table::set_entry(&mut cache, &layout, 53, 0).unwrap();
    cache.sync_rename(&[]).unwrap();
    assert!(cache.freed().is_empty(), "a rename's sync");
    // A sync that fails leaves them waiting.
    link(&mut cache, &layout, &[60]);
    cache.sync().unwrap();
    table::set_entry(&mut cache, &layout, 60, 0).unwrap();
    cache.device_mut().cut();
    assert!(cache.sync().is_err());
    assert!(cache.freed().contains(60), "a failed sync");
}

#[test]
fn a_volume_full_but_for_freed_clusters_syncs_and_takes_them() {
    // 1 MiB: FAT12 with 512-byte clusters.
    let mut volume = with_session(mount(formatted(1 << 20, true), ROOMY));
    let freed = pattern(400, 40 * 512);
    put(&mut volume, "/freed", &freed).unwrap();
    let free = volume.stat_fs().unwrap().free_clusters as usize;
    put(&mut volume, "/filler", &pattern(401, free * 512)).unwrap();
    assert_eq!(volume.stat_fs().unwrap().free_clusters, 0);
    let truncate = OpenFlags::WRITE.union(OpenFlags::TRUNCATE);
    let (handle, _) = volume.open(SESSION, "/freed", truncate).unwrap();
    // The freed clusters count as free: a sync away.
    assert_eq!(volume.stat_fs().unwrap().free_clusters, 40);
    // More than they are is refused, and changes nothing.
    let flushes = volume.cache_stats().flushes;
    assert_eq!(volume.write(SESSION, handle, &pattern(402, 40 * 512 + 1)), Err(FsError::NoSpace));
    assert_eq!(volume.cache_stats().flushes, flushes, "a refused write syncs nothing");
    assert_eq!(volume.stat(SESSION, "/freed").unwrap().size, 0);
    assert_eq!(volume.stat_fs().unwrap().free_clusters, 40);
    // All of them: the write syncs the truncate first, then takes them.
    let fresh = pattern(403, 40 * 512);
    assert_eq!(volume.write(SESSION, handle, &fresh), Ok(fresh.len()));
    assert!(volume.cache_stats().flushes > flushes, "the write synced first");
    assert_eq!(volume.stat_fs().unwrap().free_clusters, 0);
    volume.close(SESSION, handle).unwrap();
    let image = image_of(volume);
    fsck(&image, "full-but-freed").unwrap();
    let mut volume = with_session(mount(image, ROOMY));
    assert!(!volume.mounted().repair.changed(), "{}", volume.mounted().repair);
    assert!(get(&mut volume, "/freed").unwrap() == fresh);
}
