//! Crash replays: a workload runs with a `sync` in the middle; the device's write log
//! after that sync is cut at many points, and each cut image is mounted (the check
//! repairs it), must hold everything the sync acknowledged, and must pass `fsck.fat`
//! after a clean unmount.

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
