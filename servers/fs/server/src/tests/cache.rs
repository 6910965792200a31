//! The cache: bounded, correct under eviction, and its sync order as the device sees it.

use fs_api::OpenFlags;

use super::*;
use crate::device::{BlockDevice, Logged};
use crate::layout::Region;

#[test]
fn a_small_cache_evicts_and_still_holds_every_byte() {
    let mut volume = with_session(mount(formatted(8 << 20, false), 16));
    let data = pattern(7, 200 * 1024 + 17);
    volume.make_directory(SESSION, "/big").unwrap();
    put(&mut volume, "/big/file with a long name.bin", &data).unwrap();
    put(&mut volume, "/big/second.bin", &pattern(8, 3000)).unwrap();
    assert!(get(&mut volume, "/big/file with a long name.bin").unwrap() == data, "the file reads back");
    let stats = volume.cache_stats();
    assert!(stats.evictions > 100, "{stats:?}");
    assert!(stats.forced > 0, "a cache of 16 sectors must write back before a sync: {stats:?}");
    let image = image_of(volume);
    fsck(&image, "small-cache").unwrap();
    let mut again = with_session(mount(image, ROOMY));
    assert_eq!(get(&mut again, "/big/file with a long name.bin").unwrap(), data);
    assert_eq!(get(&mut again, "/big/second.bin").unwrap(), pattern(8, 3000));
}

#[test]
fn the_cache_never_holds_more_than_its_capacity() {
    let mut cache = crate::cache::SectorCache::new(MemoryDevice::zeroed(1000), 10);
    for sector in 0..500_u64 {
        cache.write_at(sector * 512 + 3, &[sector as u8; 100]).unwrap();
        assert!(cache.held() <= 10);
    }
    cache.sync().unwrap();
    assert_eq!(cache.dirty(), 0);
    let mut byte = [0_u8; 1];
    for sector in 0..500_u64 {
        cache.read_at(sector * 512 + 50, &mut byte).unwrap();
        assert_eq!(byte[0], sector as u8);
    }
    // Reads past the end stop there; a write there writes nothing.
    assert_eq!(cache.read_at(1000 * 512 - 2, &mut [0_u8; 8]).unwrap(), 2);
    assert_eq!(cache.write_at(1000 * 512, &[1]).unwrap(), 0);
}

/// What each logged write is, for the order check: its group's rank in the sync order.
fn group(volume: &Volume<MemoryDevice>, sector: u64, data: &[u8], file: &[u8]) -> (u8, &'static str) {
    let is_file_data = file.chunks(512).any(|chunk| data.starts_with(chunk) && chunk.len() == 512)
        || (data.len() == 512
            && !file.len().is_multiple_of(512)
            && data.starts_with(&file[file.len() - file.len() % 512..]));
    if is_file_data {
        return (1, "data");
    }
    match volume.layout().region(sector) {
        Region::Reserved if data[volume.layout().dirty_flag_offset()] & 1 != 0 => (0, "boot (dirty)"),
        Region::Reserved => (6, "boot (clean)"),
        Region::Fat { copy: 0 } => (2, "fat"),
        Region::Fat { .. } => (3, "fat copy"),
        Region::RootDirectory | Region::Cluster { .. } => (4, "directory"),
        Region::FsInfo => (5, "information"),
        Region::Beyond => (9, "beyond"),
    }
}

fn check_order(volume: &Volume<MemoryDevice>, log: &[Logged], file: &[u8]) -> Vec<&'static str> {
    let mut seen = Vec::new();
    let mut last_rank = 0;
    let mut flushed_since_group = true;
    let mut current: Option<u8> = None;
    for entry in log {
        match entry {
            Logged::Flush => flushed_since_group = true,
            Logged::Write { sector, data } => {
                let (rank, name) = group(volume, *sector, data, file);
                assert!(rank >= last_rank, "{name} (sector {sector}) written after a later group: {seen:?}");
                if current != Some(rank) {
                    assert!(flushed_since_group, "no flush before the {name} group");
                    seen.push(name);
                    current = Some(rank);
                }
                flushed_since_group = false;
                last_rank = rank;
            }
        }
    }
    assert_eq!(log.last(), Some(&Logged::Flush), "a sync ends with a flush");
    seen
}

#[test]
fn sync_writes_data_then_the_table_then_its_copy_then_directories() {
    for (name, image) in [("fat16", formatted(8 << 20, false)), ("fat32", formatted(40 << 20, true))] {
        let mut volume = with_session(mount(image, ROOMY));
        volume.make_directory(SESSION, "/notes").unwrap();
        volume.sync().unwrap();
        volume.with_device(|device| device.clear_log());
        let file = pattern(3, 5000);
        let (handle, _) = volume
            .open(
                SESSION,
                "/notes/a new note with a long name.txt",
                OpenFlags::WRITE.union(OpenFlags::CREATE),
            )
            .unwrap();
        volume.write(SESSION, handle, &file).unwrap();
        // Nothing reaches the device before the sync.
        assert!(volume.with_device(|device| device.log().is_empty()), "{name}: written before the sync");
        volume.sync().unwrap();
        let log = volume.with_device(|device| device.log().to_vec());
        let groups = check_order(&volume, &log, &file);
        // The dirty flag first, the clean flag last: a completed sync leaves a clean volume.
        let expected: &[&str] = if name == "fat32" {
            &["boot (dirty)", "data", "fat", "fat copy", "directory", "information", "boot (clean)"]
        } else {
            &["boot (dirty)", "data", "fat", "fat copy", "directory", "boot (clean)"]
        };
        assert_eq!(groups, expected, "{name}");
        // A sync with nothing to write writes nothing.
        volume.with_device(|device| device.clear_log());
        volume.sync().unwrap();
        assert!(volume.with_device(|device| device.log().is_empty()), "{name}");
        volume.close(SESSION, handle).unwrap();
        // Unmounting writes the information sector (FAT32) and the clean flag, last.
        volume.with_device(|device| device.clear_log());
        let device = volume.unmount().unwrap();
        let last_write = device.log().iter().rev().find_map(|entry| match entry {
            Logged::Write { sector, data } => Some((*sector, data.clone())),
            Logged::Flush => None,
        });
        let (sector, data) = last_write.expect("the unmount writes the clean flag");
        assert_eq!(sector, 0, "{name}: the boot sector comes last");
        let offset = if name == "fat32" { 0x41 } else { 0x25 };
        assert_eq!(data[offset] & 1, 0, "{name}: the volume is marked clean");
        assert_eq!(device.log().last(), Some(&Logged::Flush));
        fsck(device.image(), name).unwrap();
    }
}

#[test]
fn the_first_write_after_a_mount_marks_the_volume_dirty_on_the_device_first() {
    let mut volume = fat16();
    volume.open_session(SESSION, everything(), DONATION).unwrap();
    volume.with_device(|device| device.clear_log());
    let base = volume.with_device(|device| device.image().to_vec());
    put(&mut volume, "/x.txt", b"x").unwrap();
    let first = volume.with_device(|device| device.log().first().cloned());
    let Some(Logged::Write { sector, data }) = first else { panic!("nothing written") };
    assert_eq!(sector, 0);
    assert_eq!(data[0x25] & 1, 1, "the dirty flag is on the device before anything else");
    assert_eq!(volume.with_device(|device| device.log().get(1).cloned()), Some(Logged::Flush));
    // A crash right after the dirty flag leaves a volume the mount check sees as dirty.
    let log = volume.with_device(|device| device.log().to_vec());
    let cut = crate::device::replay(&base, &log, 1);
    assert!(with_session(mount(cut, ROOMY)).mounted().repair.was_dirty);
    // The device alone, after the completed sync, holds the file and a clean volume.
    let synced = volume.with_device(|device| device.image().to_vec());
    let mut after = with_session(mount(synced, ROOMY));
    assert!(!after.mounted().repair.was_dirty, "a completed sync marks the volume clean");
    assert_eq!(get(&mut after, "/x.txt").unwrap(), b"x");
    assert_eq!(volume.with_device(|device| device.sectors()), 8 << 11);
}

#[test]
fn long_cold_reads_stream_past_the_cache_and_dirty_sectors_still_win() {
    let mut device = MemoryDevice::zeroed(2000);
    let on_disk = pattern(3, 1000 * 512);
    device.write_sectors(0, &on_disk).unwrap();
    let mut cache = crate::cache::SectorCache::new(device, 64);
    // A dirty sector in the middle of what will be read: the read must see it.
    cache.write_at(300 * 512 + 10, b"changed").unwrap();
    let held = cache.held();
    let mut buffer = vec![0_u8; 400 * 512];
    assert_eq!(cache.read_at(100 * 512, &mut buffer).unwrap(), buffer.len());
    let mut expected = on_disk[100 * 512..500 * 512].to_vec();
    expected[200 * 512 + 10..200 * 512 + 17].copy_from_slice(b"changed");
    assert!(buffer == expected, "the dirty sector's bytes, the device's elsewhere");
    let stats = cache.stats();
    assert!(stats.streamed >= 390, "the long runs were not kept: {stats:?}");
    assert_eq!(cache.held(), held, "streaming kept nothing");
    assert!(stats.requests <= 8, "a few requests, not one per sector: {stats:?}");
    // Short and unaligned reads still go through the cache and stay there.
    let mut small = [0_u8; 700];
    cache.read_at(1500 * 512 + 100, &mut small).unwrap();
    assert!(small.iter().all(|&byte| byte == 0), "beyond what was written the device holds zeros");
    assert!(cache.held() > held, "a short read is kept");
}
