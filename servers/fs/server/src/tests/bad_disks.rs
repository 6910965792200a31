//! Disks that hold no usable volume, one kind per test (what the system tests `disk.*`
//! attach in QEMU): empty, blank, another file system, truncated, random bytes, sectors that
//! cannot be read. Each is refused at mount with a reason a person can act on, or mounted
//! and served with typed errors; none panics or loops.

use super::*;
use crate::device::{BlockDevice, DeviceError, SECTOR_SIZE};

/// The reason `image` is refused at mount (it must be refused).
fn refusal(image: Vec<u8>) -> String {
    match Volume::mount(MemoryDevice::from_image(image), ROOMY) {
        Err(FsError::NoVolume { why }) => why,
        Err(other) => panic!("refused with {other:?}, not NoVolume"),
        Ok(volume) => panic!("mounted: {volume:?}"),
    }
}

/// An ext2 superblock's worth of an image: zeros, with the magic number (0xEF53) where
/// every ext2/3/4 superblock keeps it (byte 56 of the superblock at byte 1024) and a few
/// plausible fields; no boot sector signature.
fn ext_looking(bytes: usize) -> Vec<u8> {
    let mut image = vec![0_u8; bytes];
    let superblock = 1024;
    image[superblock..superblock + 4].copy_from_slice(&2048_u32.to_le_bytes()); // inodes
    image[superblock + 4..superblock + 8].copy_from_slice(&((bytes / 1024) as u32).to_le_bytes()); // blocks
    image[superblock + 56..superblock + 58].copy_from_slice(&0xEF53_u16.to_le_bytes());
    image
}

#[test]
fn an_empty_disk_is_named_empty() {
    assert_eq!(refusal(Vec::new()), "the disk is empty (0 sectors)");
    // Less than a sector is no sector.
    assert_eq!(refusal(vec![0xAA; 300]), "the disk is empty (0 sectors)");
}

#[test]
fn a_blank_disk_is_named_blank() {
    for sectors in [1, 3, 2048] {
        let why = refusal(vec![0; sectors * SECTOR_SIZE]);
        assert_eq!(why, "the disk is blank: its first sector is all zeros (no FAT boot sector)");
    }
}

#[test]
fn other_file_systems_are_named() {
    assert_eq!(refusal(ext_looking(1 << 20)), "the disk holds an ext2/3/4 file system, not FAT");
    let mut ntfs = vec![0_u8; 1 << 20];
    ntfs[..11].copy_from_slice(b"\xEB\x52\x90NTFS    ");
    ntfs[11..13].copy_from_slice(&512_u16.to_le_bytes());
    ntfs[13] = 8;
    ntfs[510] = 0x55;
    ntfs[511] = 0xAA;
    assert_eq!(refusal(ntfs), "the disk holds an NTFS volume, not FAT");
    let mut exfat = vec![0_u8; 1 << 20];
    exfat[..11].copy_from_slice(b"\xEB\x76\x90EXFAT   ");
    exfat[510] = 0x55;
    exfat[511] = 0xAA;
    assert_eq!(refusal(exfat), "the disk holds an exFAT volume, not FAT12, FAT16 or FAT32");
    // A partition table (an MBR with one FAT partition from sector 2048): the volume is not
    // at the first sector, where it must be.
    let mut partitioned = vec![0_u8; 2 << 20];
    let entry = 446;
    partitioned[entry] = 0x80;
    partitioned[entry + 4] = 0x0C;
    partitioned[entry + 8..entry + 12].copy_from_slice(&2048_u32.to_le_bytes());
    partitioned[entry + 12..entry + 16].copy_from_slice(&2048_u32.to_le_bytes());
    partitioned[510] = 0x55;
    partitioned[511] = 0xAA;
    let why = refusal(partitioned);
    assert_eq!(
        why,
        "the disk has a partition table: only a FAT volume that starts at the disk's first sector is read"
    );
}

#[test]
fn random_bytes_are_not_fat() {
    for seed in 0..40 {
        let why = refusal(pattern(seed, 64 << 10));
        // One chance in 65 536 that random bytes end in the signature: these seeds do not.
        assert_eq!(
            why, "the disk is not FAT: its first sector has no boot signature (55 AA at byte 510)",
            "seed {seed}"
        );
    }
    // Random bytes that happen to have the signature and a jump are refused for the
    // parameters that follow.
    let mut lucky = pattern(99, 1 << 20);
    lucky[0] = 0xEB;
    lucky[510] = 0x55;
    lucky[511] = 0xAA;
    let why = refusal(lucky);
    assert!(why.starts_with("the disk is not a usable FAT volume: its boot sector"), "{why}");
    let mut signed = pattern(12, 1 << 20);
    signed[510] = 0x55;
    signed[511] = 0xAA;
    let why = refusal(signed);
    assert!(why.starts_with("the disk is not"), "{why}");
    let mut no_jump = pattern(98, 1 << 20);
    no_jump[0] = 0x00;
    no_jump[446..510].fill(0);
    no_jump[510] = 0x55;
    no_jump[511] = 0xAA;
    assert_eq!(
        refusal(no_jump),
        "the disk is not FAT: its boot sector does not start with a jump instruction"
    );
}

#[test]
fn a_truncated_volume_is_refused_saying_how_short() {
    for (name, image) in [
        ("FAT12", formatted(2 << 20, false)),
        ("FAT16", formatted(8 << 20, false)),
        ("FAT32", formatted(40 << 20, true)),
    ] {
        let total = image.len() / SECTOR_SIZE;
        let layout = {
            let mut boot = [0_u8; SECTOR_SIZE];
            boot.copy_from_slice(&image[..SECTOR_SIZE]);
            crate::Layout::parse(&boot, total as u64).unwrap()
        };
        // Cut inside the data, the tables, the root directory, to a few sectors, to one.
        let cuts = [
            total / 2,
            total - 1,
            layout.first_data_sector as usize + 1,
            layout.reserved_sectors as usize + 1,
            8,
            1,
        ];
        for cut in cuts {
            let why = refusal(image[..cut * SECTOR_SIZE].to_vec());
            assert!(
                why.starts_with(&format!(
                    "the disk is truncated: its FAT volume's boot sector says {total} sectors"
                )),
                "{name} cut to {cut}: {why}"
            );
            assert!(why.contains(&format!("the device has {cut}")), "{name} cut to {cut}: {why}");
        }
    }
    let why = refusal(formatted(8 << 20, false)[..4 << 20].to_vec());
    assert_eq!(
        why,
        "the disk is truncated: its FAT volume's boot sector says 16384 sectors (8 MiB), the device has 8192 (4 MiB)"
    );
}

#[test]
fn a_damaged_boot_sector_or_a_dead_device_is_refused_saying_so() {
    let mut bad_geometry = formatted(8 << 20, false);
    bad_geometry[13] = 3;
    assert_eq!(
        refusal(bad_geometry),
        "the disk is not a usable FAT volume: its boot sector gives 3 sectors per cluster, not a power of two up to 128"
    );
    let mut gone = MemoryDevice::from_image(formatted(8 << 20, false));
    gone.cut();
    match Volume::mount(gone, ROOMY) {
        Err(FsError::NoVolume { why }) => assert_eq!(why, "cannot read the boot sector: the device is gone"),
        other => panic!("{other:?}"),
    }
}

/// The first sector of `image` that starts with `bytes` (where a file's data begins).
fn sector_holding(image: &[u8], bytes: &[u8]) -> u64 {
    let sector = image.chunks(SECTOR_SIZE).position(|sector| sector.starts_with(&bytes[..32]));
    sector.expect("the data is on the image") as u64
}

/// A volume cut short whose boot sector was then made to agree (a careless resize): the
/// file whose clusters ran past the new end is cut where the volume ends, the rest are
/// whole, and the volume is clean afterwards.
#[test]
fn a_volume_cut_short_with_a_boot_sector_that_agrees_is_repaired_at_mount() {
    // FAT16 of 16 MiB: it stays FAT16 when cut to 10 MiB (more than 4 085 clusters).
    let mut volume = with_session(mount(formatted(16 << 20, false), ROOMY));
    let early = pattern(40, 3000);
    let late = pattern(41, 12 << 20);
    put(&mut volume, "/early.bin", &early).unwrap();
    volume.make_directory(SESSION, "/late").unwrap();
    put(&mut volume, "/late/big.bin", &late).unwrap();
    let image = image_of(volume);
    let kept = 10 << 20;
    assert!(sector_holding(&image, &late) < (kept / SECTOR_SIZE) as u64, "the file starts before the cut");
    let mut cut = image[..kept].to_vec();
    let sectors = (kept / SECTOR_SIZE) as u16;
    assert_ne!(u16::from_le_bytes([cut[19], cut[20]]), 0, "the size is in the 16-bit field");
    cut[19..21].copy_from_slice(&sectors.to_le_bytes());
    let mut volume = with_session(mount(cut, ROOMY));
    let repair = volume.mounted().repair;
    assert!(repair.broken_chains >= 1 && repair.sizes_cut >= 1, "{repair:?}");
    assert_eq!(get(&mut volume, "/early.bin").unwrap(), early);
    let survived = get(&mut volume, "/late/big.bin").unwrap();
    assert!(!survived.is_empty() && survived.len() < late.len(), "{} bytes", survived.len());
    assert_eq!(survived, late[..survived.len()]);
    // The cut file filled the volume: removed, its space takes new files.
    assert_eq!(put(&mut volume, "/after.bin", &pattern(42, 1 << 20)), Err(FsError::NoSpace));
    volume.unlink(SESSION, "/late/big.bin").unwrap();
    put(&mut volume, "/after.bin", b"after the cut").unwrap();
    let image = image_of(volume);
    fsck(&image, "cut-and-agreeing").unwrap();
}

/// A device whose sectors from `unreadable` on cannot be read (a disk with bad sectors, or
/// one that lies about its size): reads there fail, the rest works.
struct BadSectors {
    inner: MemoryDevice,
    unreadable: std::ops::Range<u64>,
}

impl BlockDevice for BadSectors {
    fn sectors(&self) -> u64 {
        self.inner.sectors()
    }

    fn read_sectors(&mut self, first: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
        let end = first + (buffer.len() / SECTOR_SIZE) as u64;
        if first < self.unreadable.end && self.unreadable.start < end {
            return Err(DeviceError::Failed);
        }
        self.inner.read_sectors(first, buffer)
    }

    fn write_sectors(&mut self, first: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.inner.write_sectors(first, data)
    }

    fn flush(&mut self) -> Result<(), DeviceError> {
        self.inner.flush()
    }
}

#[test]
fn unreadable_sectors_are_refused_at_mount_or_answered_with_io_errors() {
    let mut volume = with_session(fat16());
    let first = pattern(50, 4000);
    let second = pattern(51, 20_000);
    put(&mut volume, "/first.bin", &first).unwrap();
    put(&mut volume, "/second.bin", &second).unwrap();
    let layout = volume.layout().clone();
    let image = image_of(volume);
    // The allocation table cannot be read: refused, saying where.
    let table = layout.fat_sector(0);
    let device = BadSectors { inner: MemoryDevice::from_image(image.clone()), unreadable: table..table + 1 };
    match Volume::mount(device, ROOMY) {
        Err(FsError::NoVolume { why }) => {
            assert_eq!(why, "the mount check could not read the volume: the device failed")
        }
        other => panic!("{other:?}"),
    }
    // The second file's data cannot be read: the volume mounts, that file's reads are
    // `Io`, everything else works.
    let second_data = sector_holding(&image, &second);
    let device =
        BadSectors { inner: MemoryDevice::from_image(image), unreadable: second_data..second_data + 8 };
    let mut volume = Volume::mount(device, ROOMY).expect("the tables and directories read");
    volume.open_session(SESSION, everything(), DONATION).unwrap();
    let (handle, size) = volume.open(SESSION, "/second.bin", OpenFlags::READ).unwrap();
    assert_eq!(size, second.len() as u64);
    let mut bytes = vec![0_u8; second.len()];
    assert_eq!(volume.read(SESSION, handle, &mut bytes), Err(FsError::Io));
    volume.close(SESSION, handle).unwrap();
    let (handle, _) = volume.open(SESSION, "/first.bin", OpenFlags::READ).unwrap();
    let mut bytes = vec![0_u8; first.len()];
    assert_eq!(volume.read(SESSION, handle, &mut bytes), Ok(first.len()));
    assert_eq!(bytes, first);
    volume.close(SESSION, handle).unwrap();
}

/// Random sectors behind a valid boot sector: the tables and directories are noise. The
/// mount check repairs what it can or the mount is refused; whatever mounts answers every
/// request with a value or a typed error. Nothing panics or loops.
#[test]
fn random_sectors_behind_a_fat_boot_sector_never_panic_or_loop() {
    for (name, valid) in [("FAT16", formatted(8 << 20, false)), ("FAT32", formatted(40 << 20, true))] {
        // A few seeds each: a mount of noise repairs tens of thousands of entries.
        for seed in 0..3 {
            let mut image = pattern(1000 + seed, valid.len());
            let keep = if name == "FAT32" { 32 * SECTOR_SIZE } else { SECTOR_SIZE };
            image[..keep].copy_from_slice(&valid[..keep]);
            let Ok(volume) = Volume::mount(MemoryDevice::from_image(image), 256) else { continue };
            let mut volume = with_session(volume);
            if let Ok(entries) = volume.read_directory(SESSION, "/", 0, |_| true) {
                for entry in entries.0.iter().take(8) {
                    let path = format!("/{}", entry.name);
                    let _ = volume.stat(SESSION, &path);
                    // A bounded read: a noise entry's size can be anything up to 4 GiB.
                    if let Ok((handle, _)) = volume.open(SESSION, &path, OpenFlags::READ) {
                        let _ = volume.read(SESSION, handle, &mut [0; 4096]);
                        let _ = volume.close(SESSION, handle);
                    }
                }
            }
            let _ = put(&mut volume, "/written after noise.txt", b"x");
            let _ = volume.sync();
            let _ = volume.unmount();
        }
    }
}
