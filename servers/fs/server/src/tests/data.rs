//! The data path: reads and writes at any position of files larger than the cache, against
//! a model; growth, truncation, readers beside a writer; the free count kept right; and
//! how few device requests a cold read takes.

use fs_api::{FsError, OpenFlags, SeekFrom};

use super::*;

const RW: OpenFlags = OpenFlags::READ.union(OpenFlags::WRITE);

/// A small deterministic generator (xorshift64).
struct Dice(u64);

impl Dice {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// The three FAT types, each with a cache much smaller than the file tested on it.
fn volumes() -> Vec<(&'static str, Vec<u8>, usize)> {
    vec![
        ("fat12", formatted(4 << 20, true), 48),
        ("fat16", formatted(8 << 20, false), 64),
        ("fat32", formatted(40 << 20, true), 96),
    ]
}

fn read_all(volume: &mut Volume<MemoryDevice>, handle: u32, length: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; length];
    let mut done = 0;
    while done < length {
        let count = volume.read(SESSION, handle, &mut bytes[done..]).unwrap();
        if count == 0 {
            break;
        }
        done += count;
    }
    bytes.truncate(done);
    bytes
}

#[test]
fn reads_and_writes_anywhere_in_a_file_larger_than_the_cache_match_a_model() {
    for (name, image, cache) in volumes() {
        let mut volume = with_session(mount(image, cache));
        let path = "/a file larger than the cache.bin";
        let (handle, _) = volume.open(SESSION, path, RW.union(OpenFlags::CREATE)).unwrap();
        let mut model = pattern(40, 300 * 1024 + 123);
        volume.write(SESSION, handle, &model).unwrap();
        let mut dice = Dice(0x5eed_0000 + cache as u64);
        for step in 0..300 {
            let position = dice.below(model.len() as u64 + 1);
            assert_eq!(volume.seek(SESSION, handle, SeekFrom::Start(position)), Ok(position));
            let position = position as usize;
            let length = 1 + dice.below(if step % 10 == 0 { 70_000 } else { 5000 }) as usize;
            if dice.below(2) == 0 {
                let bytes = pattern(1000 + step, length);
                volume.write(SESSION, handle, &bytes).unwrap();
                let end = position + length;
                if end > model.len() {
                    model.resize(end, 0);
                }
                model[position..end].copy_from_slice(&bytes);
            } else {
                let expected = &model[position..(position + length).min(model.len())];
                let bytes = read_all(&mut volume, handle, length);
                assert!(bytes == expected, "{name}, step {step}: {length} bytes at {position}");
            }
        }
        assert_eq!(volume.stat(SESSION, path).unwrap().size, model.len() as u64);
        volume.close(SESSION, handle).unwrap();
        assert!(get(&mut volume, path).unwrap() == model, "{name}: the whole file");
        let image = image_of(volume);
        fsck(&image, name).unwrap();
        let mut again = with_session(mount(image, ROOMY));
        assert!(!again.mounted().repair.changed(), "{name}: {}", again.mounted().repair);
        assert!(get(&mut again, path).unwrap() == model, "{name}: after a remount");
    }
}

#[test]
fn a_file_grown_by_many_writes_reads_back_and_the_free_count_stays_right() {
    for (name, image, cache) in volumes() {
        let mut volume = with_session(mount(image, cache));
        let free_before = volume.stat_fs().unwrap().free_clusters;
        volume.make_directory(SESSION, "/grown").unwrap();
        let (handle, _) =
            volume.open(SESSION, "/grown/many pieces", OpenFlags::WRITE.union(OpenFlags::CREATE)).unwrap();
        // A second file grows between them, so the chains interleave.
        let (other, _) =
            volume.open(SESSION, "/grown/beside", OpenFlags::WRITE.union(OpenFlags::CREATE)).unwrap();
        let mut expected = Vec::new();
        for piece in 0..200 {
            let bytes = pattern(2000 + piece, 3001);
            volume.write(SESSION, handle, &bytes).unwrap();
            expected.extend_from_slice(&bytes);
            if piece % 7 == 0 {
                volume.write(SESSION, other, &pattern(3000 + piece, 700)).unwrap();
            }
        }
        volume.close(SESSION, handle).unwrap();
        volume.close(SESSION, other).unwrap();
        assert!(get(&mut volume, "/grown/many pieces").unwrap() == expected, "{name}");
        let status = volume.stat_fs().unwrap();
        let cluster = u64::from(status.cluster_bytes);
        let used = (expected.len() as u64).div_ceil(cluster) + (29 * 700_u64).div_ceil(cluster);
        // The directory takes a cluster.
        assert_eq!(u64::from(free_before - status.free_clusters), used + 1, "{name}");
        let image = image_of(volume);
        fsck(&image, name).unwrap();
        let mut again = with_session(mount(image, ROOMY));
        assert!(!again.mounted().repair.changed(), "{name}: {}", again.mounted().repair);
        assert_eq!(
            again.stat_fs().unwrap().free_clusters,
            status.free_clusters,
            "{name}: the count on the disk"
        );
        assert!(get(&mut again, "/grown/many pieces").unwrap() == expected, "{name}");
        // Removing them gives every cluster back.
        again.unlink(SESSION, "/grown/many pieces").unwrap();
        again.unlink(SESSION, "/grown/beside").unwrap();
        again.remove_directory(SESSION, "/grown").unwrap();
        assert_eq!(again.stat_fs().unwrap().free_clusters, free_before, "{name}");
        fsck(&image_of(again), name).unwrap();
    }
}

#[test]
fn a_truncated_file_is_written_again_from_the_start() {
    for (name, image, cache) in volumes() {
        let mut volume = with_session(mount(image, cache));
        let free_before = volume.stat_fs().unwrap().free_clusters;
        put(&mut volume, "/again", &pattern(50, 150_000)).unwrap();
        // A reader holds it while it is truncated and written: it sees the new contents.
        let (reader, _) = volume.open(SESSION, "/again", OpenFlags::READ).unwrap();
        let flags = RW.union(OpenFlags::TRUNCATE);
        let (writer, size) = volume.open(SESSION, "/again", flags).unwrap();
        assert_eq!(size, 0);
        assert_eq!(volume.stat_fs().unwrap().free_clusters, free_before, "{name}: the chain is freed");
        let fresh = pattern(51, 20_000);
        volume.write(SESSION, writer, &fresh[..5000]).unwrap();
        volume.write(SESSION, writer, &fresh[5000..]).unwrap();
        assert!(read_all(&mut volume, reader, 30_000) == fresh, "{name}: the reader sees the new file");
        volume.seek(SESSION, writer, SeekFrom::Start(100)).unwrap();
        assert!(read_all(&mut volume, writer, 100) == fresh[100..200], "{name}");
        volume.close(SESSION, writer).unwrap();
        volume.close(SESSION, reader).unwrap();
        let image = image_of(volume);
        fsck(&image, name).unwrap();
        let mut again = with_session(mount(image, ROOMY));
        assert!(!again.mounted().repair.changed(), "{name}: {}", again.mounted().repair);
        assert!(get(&mut again, "/again").unwrap() == fresh, "{name}");
    }
}

#[test]
fn two_readers_at_different_positions_follow_the_writer() {
    for (name, image, cache) in volumes() {
        let mut volume = with_session(mount(image, cache));
        let path = "/shared/the file";
        volume.make_directory(SESSION, "/shared").unwrap();
        let (writer, _) = volume.open(SESSION, path, OpenFlags::WRITE.union(OpenFlags::CREATE)).unwrap();
        let mut model = pattern(60, 10_000);
        volume.write(SESSION, writer, &model).unwrap();
        let (first, _) = volume.open(SESSION, path, OpenFlags::READ).unwrap();
        let (second, _) = volume.open(SESSION, path, OpenFlags::READ).unwrap();
        // Only one writer.
        assert_eq!(volume.open(SESSION, path, OpenFlags::WRITE).map(|_| ()), Err(FsError::Busy));
        volume.seek(SESSION, second, SeekFrom::Start(5000)).unwrap();
        let (mut at_first, mut at_second) = (0_usize, 5000_usize);
        for round in 0..40_u32 {
            // The writer appends and rewrites a piece in the middle.
            let bytes = pattern(4000 + round, 4099);
            volume.write(SESSION, writer, &bytes).unwrap();
            model.extend_from_slice(&bytes);
            let middle = (round as usize * 3779) % model.len().saturating_sub(600);
            volume.seek(SESSION, writer, SeekFrom::Start(middle as u64)).unwrap();
            let patch = pattern(5000 + round, 600);
            volume.write(SESSION, writer, &patch).unwrap();
            model[middle..middle + 600].copy_from_slice(&patch);
            volume.seek(SESSION, writer, SeekFrom::End(0)).unwrap();
            for (handle, at, length) in [(first, &mut at_first, 3000), (second, &mut at_second, 7000)] {
                let bytes = read_all(&mut volume, handle, length);
                let end = (*at + length).min(model.len());
                assert!(bytes == model[*at..end], "{name}, round {round}: {length} at {at}");
                *at = end;
            }
        }
        for handle in [writer, first, second] {
            volume.close(SESSION, handle).unwrap();
        }
        assert!(get(&mut volume, path).unwrap() == model, "{name}");
        fsck(&image_of(volume), name).unwrap();
    }
}

#[test]
fn a_cold_read_of_64_kib_takes_few_device_requests() {
    for (name, image, _) in volumes() {
        let mut volume = with_session(mount(image, ROOMY));
        let data = pattern(70, 256 * 1024);
        put(&mut volume, "/cold", &data).unwrap();
        let mut volume = with_session(mount(image_of(volume), ROOMY));
        let (handle, _) = volume.open(SESSION, "/cold", OpenFlags::READ).unwrap();
        volume.seek(SESSION, handle, SeekFrom::Start(64 * 1024)).unwrap();
        let before = volume.with_device(|device| device.read_requests());
        let bytes = read_all(&mut volume, handle, 64 * 1024);
        let requests = volume.with_device(|device| device.read_requests()) - before;
        assert!(bytes == data[64 * 1024..128 * 1024], "{name}");
        // A file written in one go lies in one run: one request of 128 sectors.
        assert!(requests <= 2, "{name}: {requests} device requests for a cold 64 KiB read");
    }
}

/// Not a test of correctness: how long the data path takes on the host (`cargo test -p fs
/// --release -- --ignored --nocapture timing`).
#[test]
#[ignore = "a timing experiment"]
fn timing_of_a_mebibyte_written_and_read_in_64_kib_pieces() {
    let mut volume = with_session(mount(formatted(40 << 20, false), 512));
    let piece = pattern(80, 64 * 1024);
    let started = std::time::Instant::now();
    let (handle, _) = volume.open(SESSION, "/timed", OpenFlags::WRITE.union(OpenFlags::CREATE)).unwrap();
    for _ in 0..16 {
        volume.write(SESSION, handle, &piece).unwrap();
    }
    volume.close(SESSION, handle).unwrap();
    let written = started.elapsed();
    let mut volume = with_session(mount(image_of(volume), 512));
    let started = std::time::Instant::now();
    let (handle, _) = volume.open(SESSION, "/timed", OpenFlags::READ).unwrap();
    let mut buffer = vec![0_u8; 64 * 1024];
    for _ in 0..16 {
        assert_eq!(volume.read(SESSION, handle, &mut buffer).unwrap(), buffer.len());
    }
    volume.close(SESSION, handle).unwrap();
    let read = started.elapsed();
    println!("1 MiB in 64 KiB pieces: written and synced in {written:?}, read cold in {read:?}");
}
