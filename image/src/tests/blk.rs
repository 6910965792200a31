//! System tests of the virtio block driver (`servers/virtio`): `image/systems/test-blk.toml`
//! runs `apps/test-blk` on the last four virtio-mmio transports, with two disks and a
//! network device attached; after the machine stops the host reads what the guest wrote.

use kernel_abi::exit_status;

use super::{Context, STEP, SystemTest, expect_status};
use crate::disk::Image;
use crate::qemu::{Attach, Network};

/// Bytes in a sector.
const SECTOR: usize = 512;
/// Where `test-blk` writes its pattern on the scratch disk, and how many sectors
/// (`apps/test-blk`: `PATTERN_SECTOR`, `PATTERN_SECTORS`), plus the disk's last sector.
const PATTERN_SECTOR: u64 = 1000;
const PATTERN_SECTORS: u64 = 200;
/// The images' sizes.
const FAT_BYTES: u64 = 16 << 20;
const SCRATCH_BYTES: u64 = 1 << 20;

/// Files on the FAT disk (only its boot sector is read; fsck judges the rest).
const FAT_FILES: &[(&str, &[u8])] =
    &[("www/index.html", b"<h1>Lattice</h1>\n"), ("a long file name.txt", b"x\n")];

/// The pattern's byte at `offset` of `sector`: the same formula as `apps/test-blk`'s
/// `pattern`, so a guest that wrote anything else, or anywhere else, is caught.
fn pattern(sector: u64, offset: usize) -> u8 {
    let value = (sector * 31 + offset as u64 * 7 + 0x5A) % 251;
    u8::try_from(value).unwrap_or(0)
}

/// What a sector of the scratch disk must hold after the test: the pattern where it wrote,
/// zeros elsewhere.
fn expected_sector(sector: u64, last: u64) -> Vec<u8> {
    let written = (PATTERN_SECTOR..PATTERN_SECTOR + PATTERN_SECTORS).contains(&sector) || sector == last;
    (0..SECTOR).map(|offset| if written { pattern(sector, offset) } else { 0 }).collect()
}

/// The first sector of `image` (a raw disk) that is not as [`expected_sector`] says.
fn first_wrong_sector(image: &[u8]) -> Option<u64> {
    let last = (image.len() / SECTOR) as u64 - 1;
    image
        .chunks(SECTOR)
        .zip(0u64..)
        .find(|(bytes, sector)| *bytes != expected_sector(*sector, last))
        .map(|(_, sector)| sector)
}

/// `test-blk: transport 0x10008000 (device 3): virtio v1 device id 2` lines: (address, id).
fn transports(transcript: &str) -> Vec<(String, u32)> {
    transcript
        .lines()
        .filter_map(|line| line.strip_prefix("test-blk: transport "))
        .filter_map(|rest| {
            let (address, rest) = rest.split_once(' ')?;
            let id = rest.rsplit_once("device id ")?.1.trim().parse().ok()?;
            Some((address.to_string(), id))
        })
        .collect()
}

/// `test-blk: disk "fat" at 0x10008000: 32768 sectors, read-only` lines, as they are.
fn disks(transcript: &str) -> Vec<&str> {
    transcript.lines().filter_map(|line| line.strip_prefix("test-blk: disk ")).map(str::trim_end).collect()
}

fn driver(cx: &Context) -> Result<(), String> {
    let fat = Image::fat(&cx.scratch("fat.img"), FAT_BYTES, FAT_FILES)?;
    let fat_before = std::fs::read(fat.path()).map_err(|error| error.to_string())?;
    let scratch = Image::raw(&cx.scratch("scratch.img"), SCRATCH_BYTES)?;
    let mut machine = cx.boot(|boot| {
        boot.disk_as(&fat, Attach::serial("fat").read_only())
            .disk_as(&scratch, Attach::serial("scratch"))
            .network(Network::user())
    })?;
    machine.expect("root: started test-blk", STEP)?;
    // BLK0001 found by id and serial, BLK0002 the boot sector, BLK0003 the pattern,
    // BLK0004 refusals, BLK0005 read-only, BLK0006 interrupts, BLK0007 other transports.
    cx.expect_checks(&machine, "test-blk", &[("BLK", 7)])?;
    machine.expect("root: test-blk exited with status 0", STEP)?;
    machine.refute("panicked")?;
    expect_status(&mut machine, exit_status::SUCCESS)?;
    let transcript = machine.transcript();
    drop(machine);

    let seen = transports(&transcript);
    let expected: Vec<(String, u32)> =
        [("0x10005000", 0), ("0x10006000", 1), ("0x10007000", 2), ("0x10008000", 2)]
            .iter()
            .map(|(address, id)| (address.to_string(), *id))
            .collect();
    cx.check(
        "transports_seen",
        "the guest's four transports hold, from the first, nothing, the network device and the two disks, as QEMU placed them",
        if seen == expected { Ok(()) } else { Err(format!("the guest saw {seen:?}")) },
    )?;
    let fat_line = format!("\"fat\" at 0x10008000: {} sectors, read-only", FAT_BYTES / 512);
    let scratch_line = format!("\"scratch\" at 0x10007000: {} sectors", SCRATCH_BYTES / 512);
    // In transport order: the scratch disk's transport comes first.
    let seen = disks(&transcript);
    cx.check(
        "disks_seen",
        "the driver opened the FAT disk (read-only) and the scratch disk with their capacities, at the transports QEMU gave them",
        if seen == [scratch_line.as_str(), fat_line.as_str()] {
            Ok(())
        } else {
            Err(format!("the guest reported {seen:?}, not [{scratch_line:?}, {fat_line:?}]"))
        },
    )?;
    let written = std::fs::read(scratch.path()).map_err(|error| error.to_string())?;
    cx.check(
        "pattern_on_disk",
        "after the machine stopped, the scratch image holds the pattern in sectors 1000..1200 and its last sector, and zeros everywhere else",
        match first_wrong_sector(&written) {
            None => Ok(()),
            Some(sector) => Err(format!("sector {sector} of {} is not as written", scratch.path().display())),
        },
    )?;
    let fat_after = std::fs::read(fat.path()).map_err(|error| error.to_string())?;
    cx.check(
        "fat_unchanged",
        "the read-only FAT image is byte for byte what the host made",
        if fat_after == fat_before { Ok(()) } else { Err("the FAT image changed".into()) },
    )
    // The runner then checks the FAT image with fsck.fat -n.
}

/// The block driver's tests.
pub const TESTS: &[SystemTest] = &[SystemTest {
    name: "blk.driver",
    about: "the virtio block driver finds two disks by device id and serial among transports that also hold a network device and nothing, reads a FAT boot sector, writes a pattern the host finds afterwards, refuses bad requests with typed errors, and completes every request by interrupt",
    system: "test-blk",
    run: driver,
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_image_is_the_pattern_where_written_and_zeros_elsewhere() {
        let sectors = 2048u64;
        let mut image: Vec<u8> =
            (0..sectors).flat_map(|sector| expected_sector(sector, sectors - 1)).collect();
        assert_eq!(first_wrong_sector(&image), None);
        // Sectors 1000..1200 hold the pattern.
        let (start, end) = (1000 * SECTOR, 1200 * SECTOR);
        assert!(image[..start].iter().all(|&byte| byte == 0));
        assert_ne!(expected_sector(PATTERN_SECTOR, sectors - 1), vec![0; SECTOR]);
        // A pattern one sector off is caught, and so is a stray byte.
        image[end + 3] = 1;
        assert_eq!(first_wrong_sector(&image), Some(PATTERN_SECTOR + PATTERN_SECTORS));
        let shifted: Vec<u8> = (0..sectors).flat_map(|sector| expected_sector(sector + 1, sectors)).collect();
        assert_eq!(first_wrong_sector(&shifted), Some(PATTERN_SECTOR - 1));
    }

    #[test]
    fn the_guests_lines_are_read() {
        let transcript = "test-blk: transport 0x10005000 (device 0): virtio v1 device id 0\n\
                          noise\n\
                          test-blk: transport 0x10008000 (device 3): virtio v1 device id 2\n\
                          test-blk: disk \"fat\" at 0x10008000: 32768 sectors, read-only\r\n";
        assert_eq!(transports(transcript), [("0x10005000".to_string(), 0), ("0x10008000".to_string(), 2)]);
        assert_eq!(disks(transcript), ["\"fat\" at 0x10008000: 32768 sectors, read-only"]);
    }
}
