//! System tests of disks that hold no usable volume: none at all, a blank one, another
//! file system, the system disk cut to half its size, random bytes. In each the default
//! system boots as usual: the filesystem server says why it has no volume, the shell comes
//! up with what the boot archive holds (the servers and the shell: every other program is
//! the disk's), `cd /www` and starting a program (`ls /`, `hello`) are answered at once
//! with `NoVolume` and the reason, and nothing panics. The fs library's host tests
//! (`servers/fs/server/src/tests/bad_disks.rs`) go through the same kinds and more.
//!
//! These disks are attached as bad ([`Image::bad`]): the runner does not `fsck.fat` them
//! after the machine stops (they are not meant to be volumes). Each test checks instead
//! that the disk is byte for byte what the host made: a server that found no volume wrote
//! nothing.

use kernel_abi::exit_status;

use super::{Context, PROMPT, STEP, SystemTest, expect_status, system_disk_attach};
use crate::disk::Image;
use crate::systest::Machine;

/// What the default system's fs server prints when it has no volume, before the reason.
const NO_VOLUME: &str = "[fs] WARN fs::program: no volume: ";

/// The bad disks, one test each.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "disk.missing",
        about: "with no disk attached the fs server says it found none, the shell comes up, ls / and cd /www are answered NoVolume with that reason, and nothing panics",
        system: "virt",
        run: |cx| bad_disk(cx, None, "no disk: no block device behind the transports this server was given"),
    },
    SystemTest {
        name: "disk.blank",
        about: "with a disk of zeros the fs server says it is blank, the shell comes up, ls / and cd /www are answered NoVolume with that reason, nothing panics, and the disk is left as it was",
        system: "virt",
        run: |cx| {
            let image = Image::bad(&cx.scratch("blank.img"), &vec![0; 1 << 20])?;
            bad_disk(cx, Some(image), "the disk is blank: its first sector is all zeros (no FAT boot sector)")
        },
    },
    SystemTest {
        name: "disk.not_fat",
        about: "with a disk holding an ext2 superblock the fs server says it is ext, not FAT, the shell comes up, ls / and cd /www are answered NoVolume with that reason, nothing panics, and the disk is left as it was",
        system: "virt",
        run: |cx| {
            let image = Image::bad(&cx.scratch("ext.img"), &ext_looking(4 << 20))?;
            bad_disk(cx, Some(image), "the disk holds an ext2/3/4 file system, not FAT")
        },
    },
    SystemTest {
        name: "disk.truncated",
        about: "with the system disk cut to half its size (boot sector and tables whole, their chains running into clusters past the end) the fs server refuses it at mount saying how short it is, the shell comes up, ls / and cd /www are answered NoVolume with that reason, nothing panics, and the disk is left as it was",
        system: "virt",
        run: |cx| {
            let whole = cx.system_disk("whole.img")?;
            let bytes = std::fs::read(whole.path()).map_err(|error| error.to_string())?;
            let half = bytes.get(..bytes.len() / 2).ok_or("an empty system disk")?;
            let image = Image::bad(&cx.scratch("half.img"), half)?;
            let (sectors, kept) = (crate::system_disk::SIZE / 512, half.len() / 512);
            let reason = format!(
                "the disk is truncated: its FAT volume's boot sector says {sectors} sectors ({} MiB), the device has {kept} ({} MiB)",
                crate::system_disk::SIZE >> 20,
                half.len() >> 20
            );
            bad_disk(cx, Some(image), &reason)
        },
    },
    SystemTest {
        name: "disk.random",
        about: "with a disk of seeded random bytes the fs server says it is not FAT, the shell comes up, ls / and cd /www are answered NoVolume with that reason, nothing panics, and the disk is left as it was",
        system: "virt",
        run: |cx| {
            let image = Image::bad(&cx.scratch("random.img"), &noise(0x1a77_1ce0, 4 << 20))?;
            bad_disk(
                cx,
                Some(image),
                "the disk is not FAT: its first sector has no boot signature (55 AA at byte 510)",
            )
        },
    },
];

/// Boots the default system with `disk` (or none) as its system disk and checks that the
/// fs server gives `reason`, the shell works without files, and the disk is unchanged.
fn bad_disk(cx: &Context, disk: Option<Image>, reason: &str) -> Result<(), String> {
    let before = match &disk {
        Some(image) => Some(std::fs::read(image.path()).map_err(|error| error.to_string())?),
        None => None,
    };
    let mut machine = cx.boot(|boot| match &disk {
        Some(image) => boot.disk_as(image, system_disk_attach()),
        None => boot,
    })?;
    cx.step("fs_says_why", "the fs server prints that it has no volume and why", || {
        let line = format!("{NO_VOLUME}{reason}; every file request is answered NoVolume");
        machine.expect(&line, STEP).map(|_| ())
    })?;
    cx.step("shell_comes_up", "the shell prints its banner and prompt", || {
        machine.expect("Lattice shell. Type `help` for the list of builtins.", STEP)?;
        machine.expect(PROMPT, STEP).map(|_| ())
    })?;
    cx.step(
        "ls_no_volume",
        "ls / cannot be loaded from /bin: the process manager is answered at once with no volume and the reason, status 126",
        || {
            has(&say(&mut machine, "ls /")?, &format!("lattice: cannot run ls: cannot read the program: no volume: {reason}"))?;
            has(&say(&mut machine, "echo status $?")?, "status 126")
        },
    )?;
    cx.step("cd_no_volume", "cd /www is refused the same way and the working directory stays /", || {
        has(&say(&mut machine, "cd /www")?, &format!("cd: /www: no volume: {reason}"))?;
        has(&say(&mut machine, "pwd")?, "/\n")
    })?;
    cx.step(
        "programs_say_why",
        "hello, which only the disk holds, is refused the same way and the shell goes on",
        || {
            has(
                &say(&mut machine, "hello")?,
                &format!("lattice: cannot run hello: cannot read the program: no volume: {reason}"),
            )?;
            has(&say(&mut machine, "echo still here")?, "still here")
        },
    )?;
    machine.type_line("exit 0")?;
    machine.expect("root: shell exited with status 0", STEP)?;
    expect_status(&mut machine, exit_status::SUCCESS)?;
    cx.check("no_panic", "nothing in the machine's output panicked", machine.refute("panic"))?;
    drop(machine);
    if let (Some(image), Some(before)) = (&disk, before) {
        let after = std::fs::read(image.path()).map_err(|error| error.to_string())?;
        cx.check(
            "disk_unchanged",
            "after the machine stopped the disk is byte for byte what the host made",
            if after == before { Ok(()) } else { Err(format!("{} changed", image.path().display())) },
        )?;
    }
    Ok(())
}

/// Zeros with an ext2 superblock's magic number (0xEF53 at byte 56 of the superblock at
/// byte 1024, where every ext2/3/4 file system keeps it) and its first two counts: what
/// the fs server names from a disk `mkfs.ext2` made, without the host tool.
fn ext_looking(bytes: usize) -> Vec<u8> {
    let mut image = vec![0_u8; bytes];
    let superblock = 1024;
    let blocks = u32::try_from(bytes / 1024).unwrap_or(u32::MAX);
    image[superblock..superblock + 4].copy_from_slice(&2048_u32.to_le_bytes());
    image[superblock + 4..superblock + 8].copy_from_slice(&blocks.to_le_bytes());
    image[superblock + 56..superblock + 58].copy_from_slice(&0xEF53_u16.to_le_bytes());
    image
}

/// `length` random bytes from `seed` (xorshift64): the same every run.
fn noise(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

/// Types `line` at the prompt (the last one seen) and returns what came up to the next.
fn say(machine: &mut Machine, line: &str) -> Result<String, String> {
    machine.type_line(line)?;
    machine.expect(PROMPT, STEP)
}

/// `text` holds `needle`.
fn has(text: &str, needle: &str) -> Result<(), String> {
    if text.contains(needle) { Ok(()) } else { Err(format!("expected {needle:?} in {text:?}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bad_disks_are_what_they_say() {
        let ext = ext_looking(4 << 20);
        assert_eq!(&ext[1080..1082], &[0x53, 0xEF]);
        assert!(ext[..1024].iter().all(|&byte| byte == 0), "no boot sector");
        let random = noise(0x1a77_1ce0, 4 << 20);
        assert_eq!(random, noise(0x1a77_1ce0, 4 << 20), "seeded");
        assert_ne!(&random[510..512], &[0x55, 0xAA], "no boot signature by chance");
        let zeros = random.iter().filter(|&&byte| byte == 0).count();
        assert!(zeros < random.len() / 128, "{zeros} zero bytes");
    }
}
