//! The volume's operations and refusals: long names, renames, scopes, a full disk,
//! directories, open files and donations, shared buffers, devices that hold no volume.

use fs_api::{FileKind, FsError, OpenFlags, Place, Request, Response, SeekFrom, Source};

use super::*;

const RW: OpenFlags = OpenFlags::READ.union(OpenFlags::WRITE);
const NEW: OpenFlags = OpenFlags::WRITE.union(OpenFlags::CREATE);

#[test]
fn long_names_survive_a_remount_and_keep_their_case() {
    for (name, volume) in [("fat16", fat16()), ("fat32", fat32())] {
        let mut volume = with_session(volume);
        volume.make_directory(SESSION, "/Home").unwrap();
        volume.make_directory(SESSION, "/Home/a directory with a rather long name").unwrap();
        let files = [
            ("/Home/a directory with a rather long name/Notes for the Meeting.txt", pattern(1, 3000)),
            ("/Home/naïve ünïcödé.md", pattern(2, 10)),
            ("/short.txt", pattern(3, 0)),
            ("/Home/x", pattern(4, 70_000)),
        ];
        for (path, bytes) in &files {
            put(&mut volume, path, bytes).unwrap();
        }
        let image = image_of(volume);
        fsck(&image, name).unwrap();
        let mut volume = with_session(mount(image, ROOMY));
        assert!(!volume.mounted().repair.changed(), "{name}: a clean unmount needs no repair");
        for (path, bytes) in &files {
            assert_eq!(&get(&mut volume, path).unwrap(), bytes, "{name}: {path}");
        }
        // Any case finds the file; the listing shows the case it was made with.
        assert_eq!(get(&mut volume, "/home/NAÏVE ÜNÏCÖDÉ.MD").unwrap(), pattern(2, 10));
        let listing = volume.read_directory(SESSION, "/home", 0, |_| true).unwrap().0;
        let names: Vec<&str> = listing.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(names, ["a directory with a rather long name", "naïve ünïcödé.md", "x"], "{name}");
        assert_eq!(listing[0].kind, FileKind::Directory);
        assert_eq!(listing[2].size, 70_000);
        let status = volume
            .stat(SESSION, "/HOME/A DIRECTORY WITH A RATHER LONG NAME/notes for the meeting.TXT")
            .unwrap();
        assert_eq!(status.name, "Notes for the Meeting.txt");
        assert_eq!(status.size, 3000);
    }
}

#[test]
fn renames_move_files_and_directories_across_directories() {
    for (name, volume) in [("fat16", fat16()), ("fat32", fat32())] {
        let mut volume = with_session(volume);
        for directory in ["/a", "/a/inner", "/b"] {
            volume.make_directory(SESSION, directory).unwrap();
        }
        put(&mut volume, "/a/inner/a file with a long name.txt", &pattern(5, 1500)).unwrap();
        put(&mut volume, "/a/one", b"one").unwrap();
        volume.rename(SESSION, "/a/one", "/b/the first file, renamed").unwrap();
        volume.rename(SESSION, "/a/inner", "/b/moved directory").unwrap();
        assert_eq!(volume.stat(SESSION, "/a/one"), Err(FsError::NotFound));
        assert_eq!(volume.stat(SESSION, "/a/inner"), Err(FsError::NotFound));
        assert_eq!(get(&mut volume, "/b/the first file, renamed").unwrap(), b"one");
        assert_eq!(
            get(&mut volume, "/b/moved directory/a file with a long name.txt").unwrap(),
            pattern(5, 1500)
        );
        // Into the root and back under another parent, whose `..` changes each time.
        volume.rename(SESSION, "/b/moved directory", "/top").unwrap();
        volume.rename(SESSION, "/top", "/a/back").unwrap();
        put(&mut volume, "/a/back/new", b"new").unwrap();
        let image = image_of(volume);
        // fsck checks every `..`.
        fsck(&image, name).unwrap();
        let mut volume = with_session(mount(image, ROOMY));
        assert_eq!(get(&mut volume, "/a/back/a file with a long name.txt").unwrap(), pattern(5, 1500));
    }
}

#[test]
fn a_rename_that_is_refused_leaves_the_volume_unchanged() {
    let mut volume = with_session(fat16());
    volume.make_directory(SESSION, "/dir").unwrap();
    volume.make_directory(SESSION, "/dir/sub").unwrap();
    put(&mut volume, "/dir/source.txt", b"keep me").unwrap();
    put(&mut volume, "/other.txt", b"other").unwrap();
    let (open, _) = volume.open(SESSION, "/other.txt", OpenFlags::READ).unwrap();
    volume.sync().unwrap();
    let before = volume.with_device(|device| device.image().to_vec());
    let too_long = format!("/dir/{}", "n".repeat(256));
    let cases: Vec<(&str, &str, FsError)> = vec![
        ("/dir/source.txt", "/dir/bad:name.txt", FsError::InvalidName { name: "bad:name.txt".into() }),
        ("/dir/source.txt", "/dir/trailing dot.", FsError::InvalidName { name: "trailing dot.".into() }),
        ("/dir/source.txt", &too_long, FsError::NameTooLong),
        ("/dir/source.txt", "/missing/x.txt", FsError::NotFound),
        ("/dir/source.txt", "/other.txt", FsError::Exists),
        ("/dir/source.txt", "/OTHER.TXT", FsError::Exists),
        ("/dir/missing.txt", "/dir/y.txt", FsError::NotFound),
        ("/dir", "/dir/sub/dir", FsError::InvalidName { name: "/dir/sub/dir".into() }),
        ("/other.txt", "/dir/other.txt", FsError::Busy),
        ("/", "/x", FsError::InvalidName { name: "/".into() }),
    ];
    for (from, to, expected) in cases {
        assert_eq!(volume.rename(SESSION, from, to), Err(expected), "{from} -> {to}");
        volume.sync().unwrap();
        assert!(
            volume.with_device(|device| device.image() == before.as_slice()),
            "{from} -> {to} changed the disk"
        );
    }
    assert_eq!(get(&mut volume, "/dir/source.txt").unwrap(), b"keep me");
    volume.close(SESSION, open).unwrap();
}

#[test]
fn every_path_is_asked_of_the_scope_after_normalising() {
    let mut volume = with_session(fat16());
    for directory in ["/www", "/etc", "/tmp"] {
        volume.make_directory(SESSION, directory).unwrap();
    }
    put(&mut volume, "/www/index.html", b"<h1>hi</h1>").unwrap();
    put(&mut volume, "/etc/policy", b"secret").unwrap();
    put(&mut volume, "/tmp/scratch", b"scratch").unwrap();
    const WEB: u64 = SESSION + 1;
    let mut web = scope("/www", "read");
    web.merge(&scope("/tmp", "read write create delete")).unwrap();
    volume.open_session(WEB, web, DONATION).unwrap();
    let read = |volume: &mut Volume<MemoryDevice>, path: &str| {
        volume.open(WEB, path, OpenFlags::READ).map(|(handle, _)| volume.close(WEB, handle))
    };
    let allowed = [
        "/www/index.html",
        "/www/./index.html",
        "//www//index.html",
        "/tmp/../www/index.html",
        "/tmp/scratch",
    ];
    for path in allowed {
        assert!(read(&mut volume, path).is_ok(), "{path}");
    }
    let denied_reads =
        ["/www/../etc/policy", "/WWW/index.html", "/Www/index.html", "/etc/policy", "/", "/wwwx"];
    for path in denied_reads {
        match read(&mut volume, path) {
            Err(FsError::Denied { grant }) => assert!(grant.contains("fs /www read"), "{path}: {grant}"),
            other => panic!("{path}: {other:?}"),
        }
        assert!(matches!(volume.stat(WEB, path), Err(FsError::Denied { .. })), "stat {path}");
    }
    let before = {
        volume.sync().unwrap();
        volume.with_device(|device| device.image().to_vec())
    };
    let denied_changes: Vec<Result<(), FsError>> = vec![
        volume.open(WEB, "/www/index.html", RW).map(|_| ()),
        volume.open(WEB, "/www/new.html", NEW).map(|_| ()),
        volume.open(WEB, "/www/../etc/policy", OpenFlags::WRITE.union(OpenFlags::TRUNCATE)).map(|_| ()),
        volume.unlink(WEB, "/www/index.html"),
        volume.unlink(WEB, "/tmp/../etc/policy"),
        volume.make_directory(WEB, "/www/sub"),
        volume.remove_directory(WEB, "/etc"),
        volume.rename(WEB, "/tmp/scratch", "/www/scratch"),
        volume.rename(WEB, "/www/index.html", "/tmp/index.html"),
        volume.rename(WEB, "/TMP/scratch", "/tmp/y"),
        volume.read_directory(WEB, "/etc", 0, |_| true).map(|_| ()),
    ];
    for (index, result) in denied_changes.into_iter().enumerate() {
        assert!(matches!(result, Err(FsError::Denied { .. })), "case {index}: {result:?}");
    }
    volume.sync().unwrap();
    assert!(volume.with_device(|device| device.image() == before.as_slice()), "a denial changed the disk");
    // What the scope gives works, and a narrower scope holds from the next request.
    volume.make_directory(WEB, "/tmp/mine").unwrap();
    let (handle, _) = volume.open(WEB, "/tmp/mine/file", NEW.union(OpenFlags::READ)).unwrap();
    volume.write(WEB, handle, b"abc").unwrap();
    volume.set_scope(WEB, scope("/www", "read")).unwrap();
    assert!(matches!(volume.write(WEB, handle, b"d"), Err(FsError::Denied { .. })));
    assert!(matches!(volume.read(WEB, handle, &mut [0; 4]), Err(FsError::Denied { .. })));
    volume.close(WEB, handle).unwrap();
}

#[test]
fn a_full_volume_refuses_with_no_space_and_stays_whole() {
    // 1 MiB: FAT12 with 512-byte clusters.
    let mut volume = with_session(mount(formatted(1 << 20, true), ROOMY));
    let status = volume.stat_fs().unwrap();
    assert_eq!(status.fat, fs_api::FatKind::Fat12);
    let (handle, _) = volume.open(SESSION, "/filler", NEW).unwrap();
    let chunk = pattern(9, 64 * 1024);
    let mut written = 0_u64;
    loop {
        match volume.write(SESSION, handle, &chunk) {
            Ok(count) => written += count as u64,
            Err(error) => {
                assert_eq!(error, FsError::NoSpace);
                break;
            }
        }
    }
    // The refused write wrote nothing; what fits still goes in, to the last cluster.
    assert_eq!(volume.stat(SESSION, "/filler").unwrap().size, written);
    let free = u64::from(volume.stat_fs().unwrap().free_clusters);
    let rest = pattern(10, usize::try_from(free * 512).unwrap());
    volume.write(SESSION, handle, &rest).unwrap();
    assert_eq!(volume.stat_fs().unwrap().free_clusters, 0);
    assert_eq!(volume.write(SESSION, handle, b"x"), Err(FsError::NoSpace));
    volume.close(SESSION, handle).unwrap();
    assert_eq!(volume.make_directory(SESSION, "/dir"), Err(FsError::NoSpace));
    assert_eq!(volume.open(SESSION, "/new", NEW).map(|_| ()), Err(FsError::NoSpace));
    let image = image_of(volume);
    fsck(&image, "full").unwrap();
    let mut volume = with_session(mount(image, ROOMY));
    let mut expected = Vec::new();
    while (expected.len() as u64) < written {
        expected.extend_from_slice(&chunk);
    }
    expected.extend_from_slice(&rest);
    assert_eq!(get(&mut volume, "/filler").unwrap(), expected);
}

#[test]
fn directories_and_files_are_told_apart() {
    let mut volume = with_session(fat16());
    volume.make_directory(SESSION, "/dir").unwrap();
    put(&mut volume, "/dir/file", b"x").unwrap();
    let cases: Vec<(Result<(), FsError>, FsError)> = vec![
        (volume.remove_directory(SESSION, "/dir"), FsError::NotEmpty),
        (volume.unlink(SESSION, "/dir"), FsError::IsADirectory),
        (volume.remove_directory(SESSION, "/dir/file"), FsError::NotADirectory),
        (volume.open(SESSION, "/dir", OpenFlags::READ).map(|_| ()), FsError::IsADirectory),
        (volume.open(SESSION, "/", OpenFlags::READ).map(|_| ()), FsError::IsADirectory),
        (volume.stat(SESSION, "/dir/file/below").map(|_| ()), FsError::NotADirectory),
        (volume.make_directory(SESSION, "/dir"), FsError::Exists),
        (volume.make_directory(SESSION, "/DIR"), FsError::Exists),
        (volume.make_directory(SESSION, "/missing/dir"), FsError::NotFound),
        (volume.remove_directory(SESSION, "/"), FsError::Busy),
        (volume.read_directory(SESSION, "/dir/file", 0, |_| true).map(|_| ()), FsError::NotADirectory),
        (
            volume
                .open(SESSION, "/dir/file", NEW.union(OpenFlags::EXCLUSIVE).union(OpenFlags::CREATE))
                .map(|_| ()),
            FsError::Exists,
        ),
    ];
    for (index, (got, expected)) in cases.into_iter().enumerate() {
        assert_eq!(got, Err(expected), "case {index}");
    }
    volume.unlink(SESSION, "/dir/file").unwrap();
    volume.remove_directory(SESSION, "/dir").unwrap();
    assert_eq!(volume.stat(SESSION, "/dir"), Err(FsError::NotFound));
    fsck(&image_of(volume), "directories").unwrap();
}

#[test]
fn open_files_are_paid_for_and_written_by_one_handle_at_a_time() {
    let mut volume = with_session(fat16());
    put(&mut volume, "/a.txt", b"hello").unwrap();
    const OTHER: u64 = SESSION + 1;
    volume.open_session(OTHER, everything(), 3 * fs_api::OPEN_FILE_BYTES).unwrap();
    let (writer, _) = volume.open(SESSION, "/a.txt", RW).unwrap();
    assert_eq!(volume.open(OTHER, "/a.txt", RW), Err(FsError::Busy));
    assert_eq!(volume.open(OTHER, "/A.TXT", OpenFlags::WRITE), Err(FsError::Busy));
    assert_eq!(volume.open(SESSION, "/a.txt", OpenFlags::WRITE), Err(FsError::Busy));
    assert_eq!(volume.unlink(OTHER, "/a.txt"), Err(FsError::Busy));
    // Readers may come and go; the session's donation pays for three handles.
    let readers: Vec<u32> =
        (0..3).map(|_| volume.open(OTHER, "/a.txt", OpenFlags::READ).unwrap().0).collect();
    assert_eq!(volume.open(OTHER, "/a.txt", OpenFlags::READ), Err(FsError::TooManyOpenFiles { open: 3 }));
    assert_eq!(volume.attach_buffer(OTHER), Err(FsError::DonationSpent { needed: 4096, free: 0 }));
    // Everyone else is still served.
    volume.seek(SESSION, writer, SeekFrom::End(0)).unwrap();
    volume.write(SESSION, writer, b", world").unwrap();
    let mut bytes = [0_u8; 32];
    let count = volume.read(OTHER, readers[0], &mut bytes).unwrap();
    assert_eq!(&bytes[..count], b"hello, world");
    // Handles are the session's own, and do what they were opened for.
    assert_eq!(volume.read(SESSION, readers[1], &mut bytes), Err(FsError::BadHandle));
    assert_eq!(volume.write(OTHER, readers[1], b"x"), Err(FsError::BadHandle));
    assert_eq!(volume.close(SESSION, 9999), Err(FsError::BadHandle));
    volume.close(OTHER, readers[2]).unwrap();
    volume.open(OTHER, "/a.txt", OpenFlags::READ).unwrap();
    volume.close(SESSION, writer).unwrap();
    volume.open(OTHER, "/a.txt", OpenFlags::WRITE.union(OpenFlags::APPEND)).map(|_| ()).unwrap_err();
    volume.close_session(OTHER).unwrap();
    let (writer, _) = volume.open(SESSION, "/a.txt", OpenFlags::WRITE.union(OpenFlags::APPEND)).unwrap();
    volume.write(SESSION, writer, b"!").unwrap();
    volume.close(SESSION, writer).unwrap();
    assert_eq!(get(&mut volume, "/a.txt").unwrap(), b"hello, world!");
    for flags in [
        OpenFlags::NONE,
        OpenFlags::READ.union(OpenFlags::TRUNCATE),
        OpenFlags::READ.union(OpenFlags::EXCLUSIVE),
    ] {
        assert_eq!(volume.open(SESSION, "/a.txt", flags), Err(FsError::InvalidFlags), "{flags:?}");
    }
}

#[test]
fn seeks_stay_inside_the_file_and_truncate_empties_it() {
    let mut volume = with_session(fat16());
    put(&mut volume, "/f", b"0123456789").unwrap();
    let (handle, size) = volume.open(SESSION, "/f", RW).unwrap();
    assert_eq!(size, 10);
    assert_eq!(volume.seek(SESSION, handle, SeekFrom::End(-3)), Ok(7));
    let mut bytes = [0_u8; 8];
    assert_eq!(volume.read(SESSION, handle, &mut bytes), Ok(3));
    assert_eq!(&bytes[..3], b"789");
    assert_eq!(volume.read(SESSION, handle, &mut bytes), Ok(0));
    assert_eq!(volume.seek(SESSION, handle, SeekFrom::Start(11)), Err(FsError::InvalidSeek));
    assert_eq!(volume.seek(SESSION, handle, SeekFrom::Current(-11)), Err(FsError::InvalidSeek));
    assert_eq!(volume.seek(SESSION, handle, SeekFrom::Start(2)), Ok(2));
    volume.write(SESSION, handle, b"ab").unwrap();
    volume.close(SESSION, handle).unwrap();
    assert_eq!(get(&mut volume, "/f").unwrap(), b"01ab456789");
    let (handle, size) = volume.open(SESSION, "/f", OpenFlags::WRITE.union(OpenFlags::TRUNCATE)).unwrap();
    assert_eq!(size, 0);
    volume.close(SESSION, handle).unwrap();
    assert_eq!(get(&mut volume, "/f").unwrap(), b"");
    fsck(&image_of(volume), "truncate").unwrap();
}

#[test]
fn requests_are_served_with_inline_and_shared_data_and_paged_listings() {
    let mut volume = with_session(fat32());
    let mut shared = vec![0_u8; 64 * 1024];
    let serve = |volume: &mut Volume<MemoryDevice>, request: Request, shared: &mut [u8]| {
        volume.serve(SESSION, request, shared)
    };
    assert_eq!(serve(&mut volume, Request::Close { handle: 99 }, &mut [][..]), Err(FsError::BadHandle));
    // Before the buffer is attached, shared ranges are refused.
    let Ok(Response::Opened { handle, .. }) = serve(
        &mut volume,
        Request::Open { path: "/big.bin".into(), flags: NEW.union(OpenFlags::READ) },
        &mut shared,
    ) else {
        panic!("open")
    };
    let write_shared = Request::Write { handle, from: Source::Shared { offset: 0, length: 4096 } };
    assert_eq!(serve(&mut volume, write_shared.clone(), &mut shared), Err(FsError::BadBuffer));
    assert_eq!(
        serve(&mut volume, Request::AttachBuffer { page: 0 }, &mut shared),
        Ok(Response::BufferAttached { bytes: 64 * 1024 })
    );
    let data = pattern(11, 64 * 1024);
    shared.copy_from_slice(&data);
    let whole = Request::Write { handle, from: Source::Shared { offset: 0, length: 64 * 1024 } };
    assert_eq!(serve(&mut volume, whole, &mut shared), Ok(Response::Written { count: 64 * 1024 }));
    let outside = Request::Write { handle, from: Source::Shared { offset: 60 * 1024, length: 8 * 1024 } };
    assert_eq!(serve(&mut volume, outside, &mut shared), Err(FsError::BadBuffer));
    serve(&mut volume, Request::Write { handle, from: Source::Inline(b"tail".to_vec()) }, &mut shared)
        .unwrap();
    serve(&mut volume, Request::Seek { handle, to: SeekFrom::Start(0) }, &mut shared).unwrap();
    shared.fill(0);
    let read = Request::Read { handle, into: Place::Shared { offset: 1024, length: 63 * 1024 } };
    assert_eq!(serve(&mut volume, read, &mut shared), Ok(Response::Transferred { count: 63 * 1024 }));
    assert_eq!(&shared[1024..], &data[..63 * 1024]);
    serve(&mut volume, Request::Seek { handle, to: SeekFrom::End(-6) }, &mut shared).unwrap();
    let inline = Request::Read { handle, into: Place::Inline { max: 100_000 } };
    let Ok(Response::Data(bytes)) = serve(&mut volume, inline, &mut shared) else { panic!("read") };
    assert_eq!(bytes, [&data[data.len() - 2..], b"tail"].concat());
    assert_eq!(serve(&mut volume, Request::Close { handle }, &mut shared), Ok(Response::Closed));
    assert_eq!(serve(&mut volume, Request::Sync, &mut shared), Ok(Response::Synced));
    // A directory of long names comes in pages that each fit a reply.
    volume.make_directory(SESSION, "/many").unwrap();
    let names: Vec<String> =
        (0..60).map(|index| format!("a file with a long name, number {index:03}.txt")).collect();
    for name in &names {
        put(&mut volume, &format!("/many/{name}"), b"").unwrap();
    }
    let mut listed = Vec::new();
    let mut pages = 0;
    loop {
        let request = Request::ReadDirectory { path: "/many".into(), start: listed.len() as u32 };
        let Ok(Response::Directory { entries, more }) = volume.serve(SESSION, request, &mut [][..]) else {
            panic!("list")
        };
        assert!(userlib::rpc::reply_fits::<fs_api::Fs>(&Response::Directory {
            entries: entries.clone(),
            more
        }));
        pages += 1;
        listed.extend(entries.into_iter().map(|entry| entry.name));
        if !more {
            break;
        }
    }
    assert!(pages > 2, "{pages} pages");
    assert_eq!(listed, names);
    let Ok(Response::FsStatus(status)) = volume.serve(SESSION, Request::StatFs, &mut [][..]) else {
        panic!("statfs")
    };
    assert_eq!(status.fat, fs_api::FatKind::Fat32);
    assert!(status.free_clusters < status.total_clusters);
}

#[test]
fn damaged_boot_sectors_and_tables_never_panic() {
    let valid = formatted(8 << 20, false);
    for round in 0..300_u32 {
        let mut image = valid.clone();
        let noise = pattern(round, 16);
        // Damage the boot sector and the start of the table and the root directory.
        let targets = [
            11 + (round as usize % 40),
            0x200 * 4 + (round as usize % 64),
            0x200 * 36 + (round as usize % 512),
        ];
        for (index, target) in targets.iter().enumerate() {
            image[*target] = noise[index];
        }
        if let Ok(volume) = Volume::mount(MemoryDevice::from_image(image), 64) {
            let mut volume = with_session(volume);
            let _ = volume.read_directory(SESSION, "/", 0, |_| true);
            let _ = put(&mut volume, "/after damage.txt", b"x");
            let _ = volume.unmount();
        }
    }
}
