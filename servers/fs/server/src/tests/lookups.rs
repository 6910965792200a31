//! Paths remembered between requests: an `Open` or `Stat` of a path used before answers as
//! the walk from the root does, for less; and every operation that adds, removes or
//! renames an entry (create, make directory, unlink, remove directory, rename) leaves no
//! remembered path naming the wrong entry, as a truncate, a write and a repair leave none
//! with a stale size.

use fs_api::{FileKind, FsError, OpenFlags};

use super::*;

const NEW: OpenFlags = OpenFlags::WRITE.union(OpenFlags::CREATE);

/// The volumes the cases run on.
fn volumes() -> Vec<(&'static str, Volume<MemoryDevice>)> {
    vec![
        ("fat12", with_session(mount(formatted(2 << 20, true), ROOMY))),
        ("fat16", with_session(mount(formatted(8 << 20, false), ROOMY))),
        ("fat32", with_session(mount(formatted(40 << 20, true), 64))),
    ]
}

/// Cache lookups a `Stat` of `path` costs.
fn stat_cost(volume: &Volume<MemoryDevice>, path: &str) -> u64 {
    let before = volume.cache_stats().hits + volume.cache_stats().misses;
    let _ = volume.stat(SESSION, path);
    volume.cache_stats().hits + volume.cache_stats().misses - before
}

#[test]
fn a_path_used_before_is_found_again_for_less_and_the_same() {
    for (name, mut volume) in volumes() {
        for directory in ["/one", "/one/two", "/one/two/three"] {
            volume.make_directory(SESSION, directory).unwrap();
        }
        let deep = "/one/two/three/a file with a long name.txt";
        put(&mut volume, deep, &pattern(500, 3000)).unwrap();
        put(&mut volume, "/SHORT.TXT", &pattern(501, 10)).unwrap();
        // Mounted again: nothing remembered.
        let mut volume = with_session(mount(image_of(volume), ROOMY));
        for path in [deep, "/SHORT.TXT", "/one/two", "/one"] {
            let walked = stat_cost(&volume, path);
            let first = volume.stat(SESSION, path).unwrap();
            let remembered = stat_cost(&volume, path);
            assert!(remembered * 3 <= walked, "{name}: {path}: {remembered} lookups again, {walked} walking");
            assert_eq!(volume.stat(SESSION, path).unwrap(), first, "{name}: {path}");
        }
        // In any case, and by the short name too.
        let upper = volume.stat(SESSION, "/ONE/TWO/THREE/A FILE WITH A LONG NAME.TXT").unwrap();
        assert_eq!(upper.name, "a file with a long name.txt", "{name}");
        assert_eq!(volume.stat(SESSION, "/short.txt").unwrap().name, "SHORT.TXT", "{name}");
        assert_eq!(get(&mut volume, deep).unwrap(), pattern(500, 3000), "{name}");
        assert_eq!(
            get(&mut volume, "/one/two/three/A FILE WITH A LONG NAME.TXT").unwrap(),
            pattern(500, 3000)
        );
        // The same refusals as the walk's.
        assert_eq!(volume.open(SESSION, "/one/two", OpenFlags::READ).map(|_| ()), Err(FsError::IsADirectory));
        let exclusive = NEW.union(OpenFlags::EXCLUSIVE);
        assert_eq!(volume.open(SESSION, deep, exclusive).map(|_| ()), Err(FsError::Exists), "{name}");
        let (writer, _) = volume.open(SESSION, deep, OpenFlags::WRITE).unwrap();
        let other_case = "/ONE/two/Three/a file WITH a long name.txt";
        assert_eq!(volume.open(SESSION, other_case, OpenFlags::WRITE).map(|_| ()), Err(FsError::Busy));
        volume.close(SESSION, writer).unwrap();
        assert_eq!(volume.stat(SESSION, "/one/missing").map(|_| ()), Err(FsError::NotFound), "{name}");
        assert_eq!(
            volume.stat(SESSION, &format!("{deep}/below")).map(|_| ()),
            Err(FsError::NotADirectory),
            "{name}"
        );
        fsck(&image_of(volume), name).unwrap();
    }
}

#[test]
fn a_writer_opened_by_a_remembered_path_keeps_its_entry_up_to_date() {
    for (name, mut volume) in volumes() {
        let path = "/grows by a remembered path.bin";
        put(&mut volume, path, &pattern(510, 100)).unwrap();
        assert_eq!(volume.stat(SESSION, path).unwrap().size, 100);
        let (handle, size) = volume.open(SESSION, path, OpenFlags::WRITE.union(OpenFlags::APPEND)).unwrap();
        assert_eq!(size, 100, "{name}");
        let more = pattern(511, 5000);
        volume.write(SESSION, handle, &more).unwrap();
        assert_eq!(volume.stat(SESSION, path).unwrap().size, 5100, "{name}: the entry, read again");
        volume.close(SESSION, handle).unwrap();
        // A truncate changes the entry in place: the remembered path sees it.
        let (handle, _) = volume.open(SESSION, path, OpenFlags::WRITE.union(OpenFlags::TRUNCATE)).unwrap();
        assert_eq!(volume.stat(SESSION, path).unwrap().size, 0, "{name}: truncated");
        volume.write(SESSION, handle, b"after").unwrap();
        volume.close(SESSION, handle).unwrap();
        assert_eq!(get(&mut volume, path).unwrap(), b"after", "{name}");
        let image = image_of(volume);
        fsck(&image, name).unwrap();
        let mut again = with_session(mount(image, ROOMY));
        assert!(!again.mounted().repair.changed(), "{name}: {}", again.mounted().repair);
        assert_eq!(get(&mut again, path).unwrap(), b"after", "{name}");
    }
}

/// Remembers every path of `paths` (a `Stat` and an `Open` each).
fn remember(volume: &mut Volume<MemoryDevice>, paths: &[&str]) {
    for path in paths {
        volume.stat(SESSION, path).unwrap();
        if volume.stat(SESSION, path).unwrap().kind == FileKind::File {
            get(volume, path).unwrap();
        }
    }
    assert!(volume.remembered_paths() > 0);
}

// Two long names with the same short name (`ALONGN~1.TXT`): after the first is removed or
// renamed, the second takes its short name and, most often, its place in the directory,
// so only forgetting the path tells them apart.
const FIRST: &str = "/dir/a long name one.txt";
const SECOND: &str = "/dir/a long name two.txt";

#[test]
fn an_unlink_leaves_no_path_naming_the_entry_that_takes_its_place() {
    for (name, mut volume) in volumes() {
        volume.make_directory(SESSION, "/dir").unwrap();
        put(&mut volume, FIRST, &pattern(520, 700)).unwrap();
        remember(&mut volume, &[FIRST, "/dir"]);
        volume.unlink(SESSION, FIRST).unwrap();
        assert_eq!(volume.remembered_paths(), 0, "{name}");
        assert_eq!(volume.stat(SESSION, FIRST).map(|_| ()), Err(FsError::NotFound), "{name}");
        put(&mut volume, SECOND, &pattern(521, 900)).unwrap();
        remember(&mut volume, &[SECOND]);
        volume.unlink(SESSION, SECOND).unwrap();
        put(&mut volume, FIRST, &pattern(522, 50)).unwrap();
        assert_eq!(volume.stat(SESSION, SECOND).map(|_| ()), Err(FsError::NotFound), "{name}");
        assert_eq!(volume.open(SESSION, SECOND, OpenFlags::READ).map(|_| ()), Err(FsError::NotFound));
        assert_eq!(get(&mut volume, FIRST).unwrap(), pattern(522, 50), "{name}");
        fsck(&image_of(volume), name).unwrap();
    }
}

#[test]
fn a_rename_leaves_no_path_naming_the_old_place_or_name() {
    for (name, mut volume) in volumes() {
        volume.make_directory(SESSION, "/dir").unwrap();
        volume.make_directory(SESSION, "/dir/inner").unwrap();
        put(&mut volume, FIRST, &pattern(530, 700)).unwrap();
        put(&mut volume, "/dir/inner/file", &pattern(531, 70)).unwrap();
        remember(&mut volume, &[FIRST, "/dir/inner", "/dir/inner/file"]);
        // In the same directory: the new entry takes the old one's short name.
        volume.rename(SESSION, FIRST, SECOND).unwrap();
        assert_eq!(volume.remembered_paths(), 0, "{name}");
        assert_eq!(volume.stat(SESSION, FIRST).map(|_| ()), Err(FsError::NotFound), "{name}");
        assert_eq!(volume.stat(SESSION, SECOND).unwrap().name, "a long name two.txt", "{name}");
        assert_eq!(get(&mut volume, SECOND).unwrap(), pattern(530, 700), "{name}");
        // A directory moved: the paths below it move with it.
        remember(&mut volume, &["/dir/inner/file", SECOND]);
        volume.rename(SESSION, "/dir/inner", "/moved").unwrap();
        for gone in ["/dir/inner", "/dir/inner/file"] {
            assert_eq!(volume.stat(SESSION, gone).map(|_| ()), Err(FsError::NotFound), "{name}: {gone}");
        }
        assert_eq!(get(&mut volume, "/moved/file").unwrap(), pattern(531, 70), "{name}");
        // And back under the old name: found where it is now.
        remember(&mut volume, &["/moved/file"]);
        volume.rename(SESSION, "/moved", "/dir/inner").unwrap();
        assert_eq!(volume.stat(SESSION, "/moved/file").map(|_| ()), Err(FsError::NotFound), "{name}");
        assert_eq!(get(&mut volume, "/dir/inner/file").unwrap(), pattern(531, 70), "{name}");
        fsck(&image_of(volume), name).unwrap();
    }
}

#[test]
fn removing_and_making_directories_and_files_leave_every_path_right() {
    for (name, mut volume) in volumes() {
        volume.make_directory(SESSION, "/gone").unwrap();
        put(&mut volume, "/kept", &pattern(540, 300)).unwrap();
        remember(&mut volume, &["/gone", "/kept"]);
        volume.remove_directory(SESSION, "/gone").unwrap();
        assert_eq!(volume.remembered_paths(), 0, "{name}: a directory removed");
        assert_eq!(volume.stat(SESSION, "/gone").map(|_| ()), Err(FsError::NotFound), "{name}");
        assert_eq!(volume.open(SESSION, "/gone", OpenFlags::READ).map(|_| ()), Err(FsError::NotFound));
        // A file where the directory was, then a directory where the file was.
        remember(&mut volume, &["/kept"]);
        put(&mut volume, "/gone", &pattern(541, 20)).unwrap();
        assert_eq!(volume.stat(SESSION, "/gone").unwrap().kind, FileKind::File, "{name}");
        remember(&mut volume, &["/gone", "/kept"]);
        volume.unlink(SESSION, "/gone").unwrap();
        volume.make_directory(SESSION, "/gone").unwrap();
        assert_eq!(volume.stat(SESSION, "/gone").unwrap().kind, FileKind::Directory, "{name}");
        assert_eq!(volume.open(SESSION, "/gone", OpenFlags::READ).map(|_| ()), Err(FsError::IsADirectory));
        // Making a directory or a file forgets too, and every path is found again.
        remember(&mut volume, &["/gone", "/kept"]);
        volume.make_directory(SESSION, "/gone/new").unwrap();
        assert_eq!(volume.remembered_paths(), 0, "{name}: a directory made");
        remember(&mut volume, &["/gone", "/kept", "/gone/new"]);
        let (handle, _) = volume.open(SESSION, "/gone/new/file", NEW).unwrap();
        volume.close(SESSION, handle).unwrap();
        assert_eq!(volume.remembered_paths(), 1, "{name}: a file made (and remembered)");
        assert_eq!(get(&mut volume, "/kept").unwrap(), pattern(540, 300), "{name}");
        assert_eq!(volume.stat(SESSION, "/gone/new").unwrap().kind, FileKind::Directory, "{name}");
        assert_eq!(volume.stat(SESSION, "/gone/new/file").unwrap().size, 0, "{name}");
        fsck(&image_of(volume), name).unwrap();
    }
}

#[test]
fn more_paths_than_are_remembered_are_all_found() {
    let mut volume = with_session(mount(formatted(8 << 20, false), ROOMY));
    volume.make_directory(SESSION, "/many").unwrap();
    let count = crate::lookups::CAPACITY + 30;
    for index in 0..count {
        put(&mut volume, &format!("/many/file {index}"), &pattern(550 + index as u32, index)).unwrap();
    }
    for round in 0..2 {
        for index in 0..count {
            let path = format!("/many/file {index}");
            assert_eq!(volume.stat(SESSION, &path).unwrap().size, index as u64, "round {round}: {path}");
            assert_eq!(get(&mut volume, &path).unwrap(), pattern(550 + index as u32, index), "{path}");
        }
        assert!(volume.remembered_paths() <= crate::lookups::CAPACITY);
    }
}

/// The byte offset in `image` of the short directory entry named `short` (11 bytes).
fn entry_in(image: &[u8], short: &[u8; 11]) -> usize {
    (0..image.len() / 32).map(|slot| slot * 32).find(|&at| &image[at..at + 11] == short).expect("the entry")
}

#[test]
fn times_and_repaired_sizes_read_from_the_entry_are_the_walks() {
    let mut volume = with_session(mount(formatted(8 << 20, false), ROOMY));
    put(&mut volume, "/DATED.TXT", &pattern(560, 3000)).unwrap();
    put(&mut volume, "/LONGER.TXT", &pattern(561, 100)).unwrap();
    let mut image = image_of(volume);
    // 2024-02-29 13:37:58, and a size longer than the file's one cluster.
    let dated = entry_in(&image, b"DATED   TXT");
    let time: u16 = (13 << 11) | (37 << 5) | 29;
    let date: u16 = ((2024 - 1980) << 9) | (2 << 5) | 29;
    image[dated + 22..dated + 24].copy_from_slice(&time.to_le_bytes());
    image[dated + 24..dated + 26].copy_from_slice(&date.to_le_bytes());
    let longer = entry_in(&image, b"LONGER  TXT");
    image[longer + 28..longer + 32].copy_from_slice(&100_000_u32.to_le_bytes());
    let volume = with_session(mount(image, ROOMY));
    assert_eq!(volume.mounted().repair.sizes_cut, 1);
    let cluster = u64::from(volume.stat_fs().unwrap().cluster_bytes);
    for round in ["walked", "remembered"] {
        let status = volume.stat(SESSION, "/dated.txt").unwrap();
        assert_eq!(status.modified, "2024-02-29 13:37:58", "{round}");
        assert_eq!(status.size, 3000, "{round}");
        assert_eq!(volume.stat(SESSION, "/longer.txt").unwrap().size, cluster, "{round}: the repaired size");
    }
}

/// A closed file's map is kept for its next open: what the next handle reads is what the
/// file holds after writes, truncates, unlinks, renames and more closed files than are
/// kept; a kept map never makes a closed file look open.
#[test]
fn a_closed_files_kept_map_stays_true() {
    for (name, mut volume) in volumes() {
        volume.make_directory(SESSION, "/d").unwrap();
        put(&mut volume, "/d/f.txt", &pattern(1, 3000)).unwrap();
        assert_eq!(get(&mut volume, "/d/f.txt").unwrap(), pattern(1, 3000), "{name}");
        // Grown through another handle after the reader closed.
        let (writer, _) =
            volume.open(SESSION, "/d/f.txt", OpenFlags::WRITE.union(OpenFlags::APPEND)).unwrap();
        volume.write(SESSION, writer, &pattern(2, 5000)).unwrap();
        volume.close(SESSION, writer).unwrap();
        let mut grown = pattern(1, 3000);
        grown.extend(pattern(2, 5000));
        assert_eq!(get(&mut volume, "/d/f.txt").unwrap(), grown, "{name}");
        // Cut and written again.
        put(&mut volume, "/d/f.txt", &pattern(3, 700)).unwrap();
        assert_eq!(get(&mut volume, "/d/f.txt").unwrap(), pattern(3, 700), "{name}");
        // Unlinked (not busy: no handle has it) and made again.
        volume.unlink(SESSION, "/d/f.txt").unwrap();
        assert_eq!(get(&mut volume, "/d/f.txt"), Err(FsError::NotFound), "{name}");
        put(&mut volume, "/d/f.txt", &pattern(4, 1500)).unwrap();
        assert_eq!(get(&mut volume, "/d/f.txt").unwrap(), pattern(4, 1500), "{name}");
        // Its directory renamed, and a new file where it was.
        volume.rename(SESSION, "/d", "/e").unwrap();
        volume.make_directory(SESSION, "/d").unwrap();
        put(&mut volume, "/d/f.txt", &pattern(5, 900)).unwrap();
        assert_eq!(get(&mut volume, "/d/f.txt").unwrap(), pattern(5, 900), "{name}");
        assert_eq!(get(&mut volume, "/e/f.txt").unwrap(), pattern(4, 1500), "{name}");
        // More closed files than are kept.
        for index in 0..80 {
            put(&mut volume, &format!("/e/g{index}"), &pattern(100 + index, 600)).unwrap();
        }
        for index in 0..80 {
            let path = format!("/e/g{index}");
            assert_eq!(get(&mut volume, &path).unwrap(), pattern(100 + index, 600), "{name}: {path}");
        }
        volume.unlink(SESSION, "/e/g3").unwrap();
        volume.rename(SESSION, "/e/g4", "/e/h4").unwrap();
        assert_eq!(get(&mut volume, "/e/h4").unwrap(), pattern(104, 600), "{name}");
        assert_eq!(volume.open_files(SESSION), 0, "{name}");
        let image = image_of(volume);
        fsck(&image, name).unwrap();
    }
}

/// Handles are distinct across sessions while open, and a closed one is refused.
#[test]
fn handles_are_distinct_and_closed_ones_refused() {
    let mut volume = with_session(fat16());
    volume.open_session(SESSION + 1, everything(), 1 << 20).unwrap();
    put(&mut volume, "/a.txt", &pattern(7, 10)).unwrap();
    let mut seen = Vec::new();
    for round in 0..20 {
        let session = SESSION + (round % 2);
        let (handle, _) = volume.open(session, "/a.txt", OpenFlags::READ).unwrap();
        assert!(!seen.contains(&handle), "handle {handle} given twice");
        seen.push(handle);
    }
    let first = seen[0];
    volume.close(SESSION, first).unwrap();
    assert_eq!(volume.close(SESSION, first), Err(FsError::BadHandle));
    assert_eq!(volume.read(SESSION, first, &mut [0; 4]), Err(FsError::BadHandle));
    // A handle of the other session is not this one's.
    assert_eq!(volume.close(SESSION, seen[1]), Err(FsError::BadHandle));
    volume.close(SESSION + 1, seen[1]).unwrap();
    assert_eq!(volume.open_files(SESSION), 9);
    assert_eq!(volume.open_files(SESSION + 1), 9);
}
