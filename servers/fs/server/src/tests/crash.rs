//! Crash replays: a workload runs with a `sync` in the middle; the device's write log
//! after that sync is cut at many points, and each cut image is mounted (the check
//! repairs it), must hold everything the sync acknowledged, and must pass `fsck.fat`
//! after a clean unmount; and the clusters a truncate or an unlink frees, which another
//! file then grows into, replayed after every single write: the synced file is never left
//! holding another file's bytes.

use std::collections::BTreeMap;

use fs_api::OpenFlags;

use super::*;
use crate::device::{Logged, replay};

/// What the first part of the workload writes and syncs: path → contents.
fn acknowledged() -> BTreeMap<&'static str, Vec<u8>> {
    BTreeMap::from([
        ("/keep/a file with a long name.txt", pattern(30, 7000)),
        ("/keep/small", pattern(31, 10)),
        ("/keep/deep/nested/file.bin", pattern(32, 40_000)),
        ("/root file.md", pattern(33, 600)),
        ("/renamed later.txt", pattern(34, 3000)),
        ("/deleted later.txt", pattern(35, 2000)),
    ])
}

/// Runs the workload on `image` with a cache of `cache` sectors; returns the image as the
/// sync left it and the log of every write after it.
fn workload(image: Vec<u8>, cache: usize) -> (Vec<u8>, Vec<Logged>) {
    let mut volume = with_session(mount(image, cache));
    for directory in ["/keep", "/keep/deep", "/keep/deep/nested", "/later"] {
        volume.make_directory(SESSION, directory).unwrap();
    }
    for (path, bytes) in acknowledged() {
        let (handle, _) = volume.open(SESSION, path, OpenFlags::WRITE.union(OpenFlags::CREATE)).unwrap();
        volume.write(SESSION, handle, &bytes).unwrap();
        // Left open: only the sync below puts them on the disk.
        let _ = handle;
    }
    volume.sync().unwrap();
    volume.close_session(SESSION).unwrap();
    volume.open_session(SESSION, everything(), DONATION).unwrap();
    let synced = volume.with_device(|device| {
        let image = device.image().to_vec();
        device.clear_log();
        image
    });
    // After the sync: a large write, new files and directories, a rename, a delete, an
    // append to a new file, and a second file growing in another directory.
    let (big, _) = volume
        .open(SESSION, "/later/a large file being written.bin", OpenFlags::WRITE.union(OpenFlags::CREATE))
        .unwrap();
    for round in 0..12 {
        volume.write(SESSION, big, &pattern(100 + round, 9000)).unwrap();
        if round == 5 {
            volume.rename(SESSION, "/renamed later.txt", "/later/renamed.txt").unwrap();
            volume.unlink(SESSION, "/deleted later.txt").unwrap();
        }
        if round % 4 == 0 {
            volume.make_directory(SESSION, &format!("/later/directory {round}")).unwrap();
            put(&mut volume, &format!("/later/directory {round}/note"), &pattern(200 + round, 700)).unwrap();
        }
    }
    volume.close(SESSION, big).unwrap();
    let log = volume.with_device(|device| device.log().to_vec());
    (synced, log)
}

fn crash_replays(name: &str, image: Vec<u8>, cache: usize, cuts: usize) {
    let (synced, log) = workload(image, cache);
    let writes = log.iter().filter(|entry| matches!(entry, Logged::Write { .. })).count();
    assert!(writes > 100, "{name}: the workload wrote {writes} sectors");
    let mut points: Vec<usize> = (0..=cuts).map(|step| step * writes / cuts).collect();
    // Every flush too: the edges between the sync order's groups.
    let mut count = 0;
    for entry in &log {
        match entry {
            Logged::Write { .. } => count += 1,
            Logged::Flush => points.push(count),
        }
    }
    points.sort_unstable();
    points.dedup();
    let untouched: Vec<(&str, Vec<u8>)> =
        acknowledged().into_iter().filter(|(path, _)| !path.contains("later")).collect();
    let mut repaired = 0;
    for cut in points {
        let image = replay(&synced, &log, cut);
        let mut volume = with_session(mount(image, ROOMY));
        if volume.mounted().repair.found_damage() {
            repaired += 1;
        }
        for (path, bytes) in &untouched {
            assert_eq!(&get(&mut volume, path).unwrap(), bytes, "{name}, cut after {cut} writes: {path}");
        }
        // The renamed file is in one place or the other, whole.
        let renamed =
            get(&mut volume, "/renamed later.txt").or_else(|_| get(&mut volume, "/later/renamed.txt"));
        assert_eq!(renamed.unwrap(), pattern(34, 3000), "{name}, cut after {cut}: the renamed file");
        let image = image_of(volume);
        fsck(&image, &format!("{name}-cut-{cut}"))
            .unwrap_or_else(|problems| panic!("{name}, cut after {cut}: {problems}"));
    }
    // The whole log replayed is the finished workload.
    let mut volume = with_session(mount(replay(&synced, &log, writes), ROOMY));
    assert_eq!(get(&mut volume, "/later/renamed.txt").unwrap(), pattern(34, 3000));
    let big: Vec<u8> = (0..12).flat_map(|round| pattern(100 + round, 9000)).collect();
    assert_eq!(get(&mut volume, "/later/a large file being written.bin").unwrap(), big);
    let _ = repaired;
}

#[test]
fn a_crash_after_a_sync_loses_nothing_it_acknowledged_fat16() {
    crash_replays("fat16", formatted(8 << 20, false), ROOMY, 40);
}

#[test]
fn a_crash_after_a_sync_loses_nothing_it_acknowledged_fat32_small_cache() {
    crash_replays("fat32", formatted(40 << 20, true), 64, 40);
}

#[test]
fn a_crash_with_a_cache_that_writes_back_early_fat12() {
    crash_replays("fat12", formatted(2 << 20, true), 24, 30);
}

/// How the first file gives its clusters back in [`reuse_replays`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freeing {
    /// Opened with `TRUNCATE` (and held open, so nothing syncs it).
    Truncate,
    /// Unlinked (which syncs its own removal).
    Unlink,
}

/// What the workload of [`reuse_replays`] wrote, and where its log's milestones are.
struct Reused {
    /// The image as the last sync before the freeing left it.
    synced: Vec<u8>,
    log: Vec<Logged>,
    /// Sector writes in the log before the freeing began and once it returned.
    freeing: (usize, usize),
    /// The filler's bytes (empty: no filler).
    filler: Vec<u8>,
}

const FREED: &str = "/reused/the first file.bin";
const UNTOUCHED: &str = "/reused/untouched";
const FILLER: &str = "/filler.bin";
const GROWN: &str = "/grown later/the second file.bin";
const MADE: &str = "/made later/a third file";

fn freed_contents(cluster: usize) -> Vec<u8> {
    pattern(300, 6 * cluster - 100)
}

fn grown_contents(cluster: usize) -> Vec<u8> {
    pattern(301, 5 * cluster)
}

/// A file is written and synced (and a second one, empty); the first is truncated or
/// unlinked, and before anything syncs the freeing, the second grows where the first one's
/// clusters are free, then a directory is made (lamfat allocates) with a file in it.
/// Unless `full`, the volume is mounted again after the sync, so both allocators start
/// looking at the volume's first cluster, where the freed chain lies; `full` fills the
/// volume first so that only the freed clusters and two more are left (the second file
/// must grow into the freed ones).
fn reuse_workload(image: Vec<u8>, cache: usize, freeing: Freeing, full: bool) -> Reused {
    let mut volume = with_session(mount(image, cache));
    let cluster = volume.stat_fs().unwrap().cluster_bytes as usize;
    volume.make_directory(SESSION, "/reused").unwrap();
    put(&mut volume, FREED, &freed_contents(cluster)).unwrap();
    put(&mut volume, UNTOUCHED, &pattern(302, 700)).unwrap();
    volume.make_directory(SESSION, "/grown later").unwrap();
    put(&mut volume, GROWN, &[]).unwrap();
    let mut filler = Vec::new();
    if full {
        let free = volume.stat_fs().unwrap().free_clusters as usize;
        filler = pattern(303, (free - 2) * cluster);
        put(&mut volume, FILLER, &filler).unwrap();
        assert!(volume.stat_fs().unwrap().free_clusters <= 2);
    }
    volume.sync().unwrap();
    let mut volume = if full { volume } else { with_session(mount(image_of(volume), cache)) };
    let synced = volume.with_device(|device| {
        let image = device.image().to_vec();
        device.clear_log();
        image
    });
    let writes = |volume: &Volume<MemoryDevice>| {
        volume.with_device(|device| {
            device.log().iter().filter(|entry| matches!(entry, Logged::Write { .. })).count()
        })
    };
    let before = writes(&volume);
    let held = match freeing {
        Freeing::Truncate => {
            let flags = OpenFlags::WRITE.union(OpenFlags::TRUNCATE);
            Some(volume.open(SESSION, FREED, flags).unwrap().0)
        }
        Freeing::Unlink => {
            volume.unlink(SESSION, FREED).unwrap();
            None
        }
    };
    let after = writes(&volume);
    let (grown, _) = volume.open(SESSION, GROWN, OpenFlags::WRITE).unwrap();
    let contents = grown_contents(cluster);
    for piece in contents.chunks(cluster / 2 + 3) {
        volume.write(SESSION, grown, piece).unwrap();
    }
    volume.make_directory(SESSION, "/made later").unwrap();
    put(&mut volume, MADE, &pattern(304, 100)).unwrap();
    volume.close(SESSION, grown).unwrap();
    if let Some(held) = held {
        volume.close(SESSION, held).unwrap();
    }
    let log = volume.with_device(|device| device.log().to_vec());
    Reused { synced, log, freeing: (before, after), filler }
}

/// [`reuse_workload`]'s log cut after every sector write: each image mounts, the synced
/// file is whole (or empty once truncated, gone once unlinked: never another file's bytes),
/// the untouched files are whole, and `fsck.fat` finds nothing after the repair.
fn reuse_replays(name: &str, image: Vec<u8>, cache: usize, freeing: Freeing, full: bool) {
    let cluster = {
        let volume = with_session(mount(image.clone(), ROOMY));
        volume.stat_fs().unwrap().cluster_bytes as usize
    };
    let Reused { synced, log, freeing: (before, after), filler } =
        reuse_workload(image, cache, freeing, full);
    let writes = log.iter().filter(|entry| matches!(entry, Logged::Write { .. })).count();
    let name = format!("{name} ({freeing:?}{}, cache {cache})", if full { ", full" } else { "" });
    for cut in 0..=writes {
        let image = replay(&synced, &log, cut);
        let mut volume = with_session(mount(image, ROOMY));
        let at = format!("{name}, cut after {cut} of {writes} writes");
        match (freeing, get(&mut volume, FREED)) {
            (_, Ok(bytes)) if bytes == freed_contents(cluster) => {
                assert!(freeing == Freeing::Truncate || cut < after, "{at}: the unlinked file is back");
            }
            (Freeing::Truncate, Ok(bytes)) => assert!(bytes.is_empty(), "{at}: the first file changed"),
            (Freeing::Unlink, Err(FsError::NotFound)) => {
                assert!(cut > before, "{at}: the first file is gone before its unlink wrote anything");
            }
            (_, other) => panic!("{at}: the first file: {:?}", other.map(|bytes| bytes.len())),
        }
        assert_eq!(get(&mut volume, UNTOUCHED).unwrap(), pattern(302, 700), "{at}: the untouched file");
        if !filler.is_empty() {
            assert!(get(&mut volume, FILLER).unwrap() == filler, "{at}: the filler");
        }
        fsck(&image_of(volume), &format!("reuse-{cut}"))
            .unwrap_or_else(|problems| panic!("{at}: {problems}"));
    }
    let mut volume = with_session(mount(replay(&synced, &log, writes), ROOMY));
    assert!(get(&mut volume, GROWN).unwrap() == grown_contents(cluster), "{name}: the second file");
    assert_eq!(get(&mut volume, MADE).unwrap(), pattern(304, 100), "{name}: the third file");
    match freeing {
        Freeing::Truncate => assert_eq!(get(&mut volume, FREED).unwrap(), Vec::<u8>::new(), "{name}"),
        Freeing::Unlink => assert_eq!(get(&mut volume, FREED), Err(FsError::NotFound), "{name}"),
    }
}

#[test]
fn clusters_a_truncate_freed_hold_no_new_data_before_the_truncate_is_on_the_disk() {
    for (name, image, cache) in [
        ("fat12", formatted(2 << 20, true), 24),
        ("fat16", formatted(8 << 20, false), ROOMY),
        ("fat32", formatted(40 << 20, true), 64),
    ] {
        reuse_replays(name, image.clone(), cache, Freeing::Truncate, false);
        reuse_replays(name, image, cache, Freeing::Truncate, true);
    }
}

#[test]
fn clusters_an_unlink_freed_are_reused_only_after_the_unlink_is_on_the_disk() {
    for (name, image, cache) in [
        ("fat12", formatted(2 << 20, true), 24),
        ("fat16", formatted(8 << 20, false), ROOMY),
        ("fat32", formatted(40 << 20, true), 64),
    ] {
        reuse_replays(name, image.clone(), cache, Freeing::Unlink, false);
        reuse_replays(name, image, cache, Freeing::Unlink, true);
    }
}
