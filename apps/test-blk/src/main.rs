//! `test-blk`: the virtio block driver (`servers/virtio`) in a running system.
//!
//! A server of `image/systems/test-blk.toml` that drives the last four virtio-mmio
//! transports of QEMU virt. The system test `blk.driver` attaches a FAT image (read-only,
//! serial `fat`), a blank raw image (serial `scratch`) and a network device, so the
//! transports hold, from the last: the FAT disk, the scratch disk, the network device,
//! nothing. The program finds the disks by device id and serial, never by position,
//! reads the FAT disk's boot sector, writes a pattern to the scratch disk ([`pattern`]:
//! sectors [`PATTERN_SECTOR`].. and the last one), flushes and reads it back, and checks
//! the refusals; every request completes by interrupt. It prints one line per transport
//! and per disk for the harness, which after the machine stops finds the pattern in the
//! scratch image and runs `fsck.fat -n` on the FAT image.
//!
//! Each check has an id and a sentence (its table is [`CHECKS`]) and prints one line
//! (`test-blk: ok   BLK0001 ...`, the `checks` crate's form); it exits with the number of
//! failed checks.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

use checks::Check;

/// The first sector of the scratch disk the pattern goes to.
pub const PATTERN_SECTOR: u64 = 1000;
/// How many sectors from there (100 KiB: four requests of at most 32 KiB).
pub const PATTERN_SECTORS: u64 = 200;

/// The pattern's byte at `offset` of `sector` (the harness computes the same:
/// `image/src/tests/blk.rs`).
pub fn pattern(sector: u64, offset: usize) -> u8 {
    let value = (sector * 31 + offset as u64 * 7 + 0x5A) % 251;
    u8::try_from(value).unwrap_or(0)
}

const FOUND: Check = Check::new(
    "BLK0001",
    "the driver finds the two block devices by virtio device id among its four transports and tells them apart by serial",
);
const BOOT_SECTOR: Check = Check::new(
    "BLK0002",
    "sector 0 of the FAT disk ends in the boot signature 0x55AA and its BPB gives 512 bytes per sector",
);
const PATTERN: Check = Check::new(
    "BLK0003",
    "a pattern written to 200 sectors of the scratch disk (four requests) and to its last sector, then flushed, reads back the same",
);
const REFUSED: Check = Check::new(
    "BLK0004",
    "requests past the end, of part of a sector or of nothing are refused with OutOfRange and Misaligned, and reach no device",
);
const READ_ONLY: Check =
    Check::new("BLK0005", "a write to the read-only FAT disk is refused with ReadOnly and reaches no device");
const INTERRUPTS: Check = Check::new(
    "BLK0006",
    "every request completed on its device's interrupt: each was taken after at least one interrupt, none timed out",
);
const NOT_BLOCK: Check = Check::new(
    "BLK0007",
    "the transports without a block device are refused with NotBlock naming their device id, and with both disks open no block device is left",
);
/// Every check, in the order they run.
static CHECKS: [Check; 7] = [FOUND, BOOT_SECTOR, PATTERN, REFUSED, READ_ONLY, INTERRUPTS, NOT_BLOCK];

#[cfg(target_os = "none")]
userlib::entry!(guest::main);

/// On the host this binary only says where it runs.
#[cfg(not(target_os = "none"))]
fn main() {
    let _ = &CHECKS;
    println!(
        "test-blk: runs on Lattice (cargo xtask test blk); the pattern starts {}",
        pattern(PATTERN_SECTOR, 0)
    );
}

#[cfg(target_os = "none")]
mod guest {
    extern crate alloc;

    use alloc::vec;
    use alloc::vec::Vec;

    use checks::Report;
    use kit::Kit;
    use userlib::println;
    use virtio::{BlockError, Config, SECTOR_SIZE, VirtioBlock};

    use super::*;

    /// The notification bits the disks use (two each), clear of the kit's own.
    const FIRST_BIT: usize = 1 << 4;

    type Checks = Report<7, fn(core::fmt::Arguments<'_>)>;

    fn print(line: core::fmt::Arguments<'_>) {
        println!("{line}");
    }

    pub(crate) fn main() -> i32 {
        let mut report: Checks = Report::new("test-blk", &CHECKS, print);
        match Kit::<()>::start(kit::Config::new("test-blk")) {
            Ok(kit) => run(&kit, &mut report),
            Err(error) => report.check(&FOUND, false, error),
        }
        i32::try_from(report.finish()).unwrap_or(i32::MAX)
    }

    fn run(kit: &Kit<()>, report: &mut Checks) {
        let config = Config::new(FIRST_BIT);
        match virtio::transports(&config) {
            Ok(transports) => {
                for transport in &transports {
                    println!(
                        "test-blk: transport {:#x} (device {}): virtio v{} device id {}",
                        transport.physical_address(),
                        transport.index(),
                        transport.version(),
                        transport.device_id()
                    );
                }
            }
            Err(error) => println!("test-blk: the transports: {error}"),
        }
        let mut disks = match virtio::open_block_devices(kit, &config) {
            Ok(disks) => disks,
            Err(error) => return report.check(&FOUND, false, error),
        };
        for disk in &disks {
            println!(
                "test-blk: disk {:?} at {:#x}: {} sectors{}",
                disk.serial().as_str(),
                disk.physical_address(),
                disk.capacity(),
                if disk.read_only() { ", read-only" } else { "" }
            );
        }
        let serials: Vec<_> = disks.iter().map(|disk| disk.serial()).collect();
        let fat = disks.iter().position(|disk| disk.serial().as_str() == "fat");
        let scratch = disks.iter().position(|disk| disk.serial().as_str() == "scratch");
        let (Some(fat), Some(scratch), 2) = (fat, scratch, disks.len()) else {
            return report.check(&FOUND, false, serials);
        };
        report.check(&FOUND, true, ());
        let (first, second) = disks.split_at_mut(fat.max(scratch));
        let (fat, scratch) = if fat < scratch {
            (&mut first[fat], &mut second[0])
        } else {
            (&mut second[0], &mut first[scratch])
        };

        boot_sector(fat, report);
        write_pattern(scratch, report);
        refusals(fat, scratch, report);
        let (fat_stats, scratch_stats) = (fat.statistics(), scratch.statistics());
        println!("test-blk: fat {fat_stats:?}");
        println!("test-blk: scratch {scratch_stats:?}");
        let interrupt_driven = [fat_stats, scratch_stats].iter().all(|stats| {
            stats.completed == stats.requests && stats.interrupts >= stats.completed && stats.timeouts == 0
        });
        report.check(&INTERRUPTS, interrupt_driven && scratch_stats.flushes == 1, (fat_stats, scratch_stats));
        others(kit, &config, report);
    }

    fn boot_sector(fat: &mut VirtioBlock, report: &mut Checks) {
        let mut sector = [0u8; SECTOR_SIZE];
        match fat.read(0, &mut sector) {
            Ok(()) => {
                let signature = [sector[510], sector[511]];
                let bytes_per_sector = u16::from_le_bytes([sector[11], sector[12]]);
                report.check_eq(&BOOT_SECTOR, (signature, bytes_per_sector), ([0x55, 0xAA], 512));
            }
            Err(error) => report.check(&BOOT_SECTOR, false, error),
        }
    }

    /// Fills `buffer` with the pattern of the sectors from `first`.
    fn fill(buffer: &mut [u8], first: u64) {
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = pattern(first + (index / SECTOR_SIZE) as u64, index % SECTOR_SIZE);
        }
    }

    fn write_pattern(scratch: &mut VirtioBlock, report: &mut Checks) {
        let length = usize::try_from(PATTERN_SECTORS).unwrap_or(0) * SECTOR_SIZE;
        let mut data = vec![0u8; length];
        fill(&mut data, PATTERN_SECTOR);
        let last = scratch.capacity().saturating_sub(1);
        let mut last_data = [0u8; SECTOR_SIZE];
        fill(&mut last_data, last);
        let written = scratch
            .write(PATTERN_SECTOR, &data)
            .and_then(|()| scratch.write(last, &last_data))
            .and_then(|()| scratch.flush());
        if let Err(error) = written {
            return report.check(&PATTERN, false, error);
        }
        let mut back = vec![0xEEu8; length];
        let mut last_back = [0xEEu8; SECTOR_SIZE];
        match scratch.read(PATTERN_SECTOR, &mut back).and_then(|()| scratch.read(last, &mut last_back)) {
            Ok(()) => {
                let first_difference = back.iter().zip(&data).position(|(got, wrote)| got != wrote);
                report.check(&PATTERN, first_difference.is_none() && last_back == last_data, first_difference)
            }
            Err(error) => report.check(&PATTERN, false, error),
        }
    }

    fn refusals(fat: &mut VirtioBlock, scratch: &mut VirtioBlock, report: &mut Checks) {
        let before = scratch.statistics().requests;
        let capacity = scratch.capacity();
        let mut sector = [0u8; SECTOR_SIZE];
        let mut two = [0u8; 2 * SECTOR_SIZE];
        let mut part = [0u8; 100];
        let got = [
            scratch.read(capacity, &mut sector),
            scratch.read(capacity - 1, &mut two),
            scratch.write(u64::MAX, &sector),
            scratch.read(0, &mut part),
            scratch.write(0, &[]),
        ];
        let expected = [
            Err(BlockError::OutOfRange { sector: capacity, sectors: 1, capacity }),
            Err(BlockError::OutOfRange { sector: capacity - 1, sectors: 2, capacity }),
            Err(BlockError::OutOfRange { sector: u64::MAX, sectors: 1, capacity }),
            Err(BlockError::Misaligned { length: 100 }),
            Err(BlockError::Misaligned { length: 0 }),
        ];
        let sent = scratch.statistics().requests - before;
        report.check(&REFUSED, got == expected && sent == 0, (got, sent));

        let before = fat.statistics().requests;
        let refused = fat.write(0, &sector);
        let sent = fat.statistics().requests - before;
        report.check(
            &READ_ONLY,
            refused == Err(BlockError::ReadOnly) && sent == 0 && fat.read_only(),
            (refused, sent),
        );
    }

    fn others(kit: &Kit<()>, config: &Config, report: &mut Checks) {
        let refusals: Result<Vec<_>, _> = virtio::transports(config).map(|left| {
            left.into_iter()
                .map(|slot| {
                    let id = slot.device_id();
                    (id, VirtioBlock::open(kit, config, slot).err())
                })
                .collect()
        });
        let again = virtio::open_block_devices(kit, config).err();
        match refusals {
            Ok(refusals) => {
                let named = refusals
                    .iter()
                    .all(|(id, error)| *error == Some(BlockError::NotBlock { device_id: *id }));
                let ids: Vec<u32> = refusals.iter().map(|(id, _)| *id).collect();
                report.check(
                    &NOT_BLOCK,
                    named && ids == [0, 1] && again == Some(BlockError::NoDevice),
                    (refusals, again),
                );
            }
            Err(error) => report.check(&NOT_BLOCK, false, error),
        }
    }
}
