//! Host tests of the filesystem server's logic over in-memory devices: names and paths,
//! the cache (eviction, sync order), the volume's operations and refusals, the mount check
//! and repair, clusters kept from reuse until their freeing is synced, paths remembered
//! between requests, and crash replays judged by `fsck.fat`.
#![allow(clippy::cast_possible_truncation, reason = "test images, sectors and clusters are small numbers")]

use std::path::PathBuf;
use std::process::Command;
use std::string::String;
use std::vec::Vec;

use fs_api::{FsError, OpenFlags};
use grant::{FsPath, Rights, Scope};

use crate::device::MemoryDevice;
use crate::volume::Volume;

mod bad_disks;
mod cache;
mod check;
mod crash;
mod data;
mod freed;
mod lookups;
mod names;
mod volume;

/// The session most tests use.
pub(crate) const SESSION: u64 = 1 << 16;
/// A donation that pays for many open files and a shared buffer.
pub(crate) const DONATION: u64 = 256 << 10;
/// A cache big enough that nothing is forced out.
pub(crate) const ROOMY: usize = 4096;

/// A FAT image of `bytes` bytes made by lamfat's own `format_volume` (the FAT type
/// follows from the size; 512-byte clusters when `small_clusters`, so FAT32 fits in 40 MiB).
pub(crate) fn formatted(bytes: usize, small_clusters: bool) -> Vec<u8> {
    let mut image = std::io::Cursor::new(vec![0_u8; bytes]);
    let mut options = lamfat::FormatVolumeOptions::new().volume_id(0x1a77_1ce0);
    if small_clusters {
        options = options.bytes_per_cluster(512);
    }
    lamfat::format_volume(&mut lamfat::StdIoWrapper::new(&mut image), options).expect("lamfat formats");
    image.into_inner()
}

/// An 8 MiB FAT16 volume, mounted with a roomy cache.
pub(crate) fn fat16() -> Volume<MemoryDevice> {
    mount(formatted(8 << 20, false), ROOMY)
}

/// A 40 MiB FAT32 volume (512-byte clusters), mounted with a roomy cache.
pub(crate) fn fat32() -> Volume<MemoryDevice> {
    mount(formatted(40 << 20, true), ROOMY)
}

/// Mounts `image` with a cache of `cache` sectors (it must mount).
pub(crate) fn mount(image: Vec<u8>, cache: usize) -> Volume<MemoryDevice> {
    Volume::mount(MemoryDevice::from_image(image), cache).expect("the volume mounts")
}

/// An fs scope from the policy's words (`"/www"`, `"read write"`).
pub(crate) fn scope(path: &str, rights: &str) -> Scope {
    Scope::fs(FsPath::parse(path).expect("valid path"), Rights::parse(rights).expect("valid rights"))
        .expect("valid scope")
}

/// Every fs right everywhere.
pub(crate) fn everything() -> Scope {
    scope("/", "read write create delete")
}

/// A volume with one session that may do everything.
pub(crate) fn with_session(mut volume: Volume<MemoryDevice>) -> Volume<MemoryDevice> {
    volume.open_session(SESSION, everything(), DONATION).expect("session opens");
    volume
}

/// Writes `bytes` to a new file at `path`, closing it (which syncs).
pub(crate) fn put(volume: &mut Volume<MemoryDevice>, path: &str, bytes: &[u8]) -> Result<(), FsError> {
    let flags = OpenFlags::WRITE.union(OpenFlags::CREATE).union(OpenFlags::TRUNCATE);
    let (handle, _) = volume.open(SESSION, path, flags)?;
    let written = volume.write(SESSION, handle, bytes);
    volume.close(SESSION, handle)?;
    written.map(|_| ())
}

/// The whole file at `path`.
pub(crate) fn get(volume: &mut Volume<MemoryDevice>, path: &str) -> Result<Vec<u8>, FsError> {
    let (handle, size) = volume.open(SESSION, path, OpenFlags::READ)?;
    let mut bytes = vec![0_u8; usize::try_from(size).expect("small")];
    let count = volume.read(SESSION, handle, &mut bytes);
    volume.close(SESSION, handle)?;
    bytes.truncate(count?);
    Ok(bytes)
}

/// Unmounts and returns the image.
pub(crate) fn image_of(volume: Volume<MemoryDevice>) -> Vec<u8> {
    volume.unmount().expect("unmounts").into_image()
}

/// Deterministic bytes that differ from file to file and position to position.
pub(crate) fn pattern(seed: u32, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn fsck_program() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from));
    for directory in candidates {
        let program = directory.join("fsck.fat");
        if program.is_file() {
            return program;
        }
    }
    panic!("fsck.fat is not installed: the crash tests need it (dosfstools; `cargo xtask test` installs it)");
}

/// Runs `fsck.fat -n` on `image` (written to a temporary file): `Ok` with its summary if
/// it is clean (exit status 0, nothing but the banner and the summary), else its findings.
pub(crate) fn fsck(image: &[u8], name: &str) -> Result<String, String> {
    let directory = std::env::temp_dir().join(format!("lattice-fs-tests-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temporary directory");
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = directory.join(format!("{name}-{unique}.img"));
    std::fs::write(&path, image).expect("image written");
    let output = Command::new(fsck_program()).arg("-n").arg(&path).output().expect("fsck.fat runs");
    let _ = std::fs::remove_file(&path);
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let mut summary = None;
    let mut problems = Vec::new();
    for line in text.lines().map(str::trim_end).filter(|line| !line.is_empty()) {
        if line.starts_with("fsck.fat ") && line.ends_with(')') {
            continue;
        }
        if line.contains(" files, ") && line.ends_with(" clusters") {
            summary = Some(line.to_string());
        } else {
            problems.push(line.to_string());
        }
    }
    match (output.status.code(), summary) {
        (Some(0), Some(summary)) if problems.is_empty() => Ok(summary),
        (status, _) => Err(format!("fsck.fat (status {status:?}) found:\n{}", problems.join("\n"))),
    }
}
