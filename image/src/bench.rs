//! `cargo xtask bench`: boots QEMU with `-icount shift=0,sleep=off -smp 1` (`sleep=on` for the
//! system with a disk, whose waits for the host's I/O must not race the clock), where the
//! guest's instruction counter counts exactly, so every figure repeats bit for bit (the
//! two that wait for the disk within half a percent, idle instructions excluded):
//!
//! - the kernel benchmarks: the `bench` program as the root task (of the `bare` system);
//! - the user-level ones: the `bench` system (`image/systems/bench.toml`, `bench-proc`
//!   driving the process manager: `spawn`, `spawn.wait` from the boot archive,
//!   `spawn.wait.disk` from the bench disk; the connections; the filesystem);
//! - `boot.to_prompt`: the default system, from reset (the hart's counter starts at 0)
//!   to the shell's `ready` event, just before it prints its banner and first prompt.
//!
//! Runs everything twice, checks the runs agree, prints a table and writes
//! `target/bench/results.json`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::build;
use crate::qemu::{self, Boot, Console};
use crate::systest::Machine;

/// What seL4 measures on the same QEMU machine (from the issue), for the table.
const SEL4_REFERENCE: &[(&str, u64)] = &[("ipc.call.cross_as", 235), ("ipc.replyrecv.cross_as", 274)];

/// One figure.
#[derive(Debug, PartialEq, Eq)]
pub struct Figure {
    /// Stable name, `area.what`.
    pub name: String,
    /// Guest instructions.
    pub instructions: u64,
}

/// Reads `bench <name> <instructions>` lines.
pub fn parse(transcript: &str) -> Vec<Figure> {
    transcript
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("bench ")?.split_whitespace();
            let name = words.next()?;
            let instructions = words.next()?.parse().ok()?;
            Some(Figure { name: name.to_string(), instructions })
        })
        .collect()
}

/// The JSON document: `{"results": [{"name": ..., "instructions": N}, ...]}`.
pub fn to_json(figures: &[Figure]) -> String {
    let mut json = String::from("{\n  \"results\": [\n");
    for (index, figure) in figures.iter().enumerate() {
        let comma = if index + 1 < figures.len() { "," } else { "" };
        let _ = writeln!(
            json,
            "    {{\"name\": \"{}\", \"instructions\": {}}}{comma}",
            figure.name, figure.instructions
        );
    }
    json.push_str("  ]\n}\n");
    json
}

/// The shell's event at the end of boot: `[shell] INFO shell::lattice: ready instret=N`.
const READY_EVENT: &str = "shell::lattice: ready instret=";

/// Starts QEMU under `-icount` on `kernel`.
fn start(qemu: &Path, kernel: &Path, bootargs: Option<&str>) -> Result<Machine, String> {
    start_with(qemu, kernel, bootargs, None)
}

/// [`start`] with a disk attached.
fn start_with(
    qemu: &Path,
    kernel: &Path,
    bootargs: Option<&str>,
    disk: Option<&crate::disk::Image>,
) -> Result<Machine, String> {
    let mut boot = Boot::new(kernel).bootargs(bootargs.map(str::to_string));
    if let Some(disk) = disk {
        boot = boot.disk(disk);
    }
    let mut command = boot.command(qemu, Console::Piped);
    // With a disk, the guest waits for the host's I/O: `sleep=off` would race the clock
    // through timer ticks meanwhile, past the driver's timeout when the host is slow, so
    // the clock follows real time while idle (`sleep=on`). The work's instruction counts
    // are the same either way; the idle ones are subtracted (`IdleInstructions`).
    command.args(["-icount", if disk.is_some() { "shift=0,sleep=on" } else { "shift=0,sleep=off" }]);
    Machine::start(command)
}

/// Boots a benchmark program (the root task, or a system's) and reads its figures.
fn run_benchmarks(qemu: &Path, kernel: &Path, bootargs: Option<&str>) -> Result<Vec<Figure>, String> {
    run_benchmarks_with(qemu, kernel, bootargs, None)
}

/// [`run_benchmarks`] with a disk attached (the bench system's, for the fs figures).
fn run_benchmarks_with(
    qemu: &Path,
    kernel: &Path,
    bootargs: Option<&str>,
    disk: Option<&crate::disk::Image>,
) -> Result<Vec<Figure>, String> {
    let mut machine = start_with(qemu, kernel, bootargs, disk)?;
    let transcript = machine.expect("bench done", Duration::from_secs(300))?;
    let status = machine.expect_exit(Duration::from_secs(60))?;
    if status != 0 {
        return Err(format!("the benchmarks ended with status {status}"));
    }
    if let Some(line) = transcript.lines().find(|line| line.contains("(varied")) {
        println!("note: {line}");
    }
    Ok(parse(&transcript))
}

/// Boots the default system to the shell's prompt: `boot.to_prompt`.
fn boot_to_prompt(qemu: &Path, kernel: &Path) -> Result<Figure, String> {
    let mut machine = start(qemu, kernel, None)?;
    let transcript = machine.expect("lattice$ ", Duration::from_secs(120))?;
    parse_ready(&transcript).ok_or_else(|| format!("no `{READY_EVENT}` line before the prompt"))
}

/// Reads the shell's ready event.
fn parse_ready(transcript: &str) -> Option<Figure> {
    let line = transcript.lines().find(|line| line.contains(READY_EVENT))?;
    let (_, count) = line.split_once(READY_EVENT)?;
    let instructions = count.split_whitespace().next()?.parse().ok()?;
    Some(Figure { name: "boot.to_prompt".into(), instructions })
}

/// Where the bench disk keeps the program `spawn.wait.disk` starts: a path, so the process
/// manager reads it from the disk, while the bare name `started` of `spawn.wait` comes from
/// the boot archive (the disk has no `/bin/started`).
pub const DISK_PROGRAM: &str = "bench/started";

/// The bench system's disk: a small FAT image, made afresh, holding the file the fs
/// benchmarks read (`/bench/small.txt`, 400 bytes), with room for the 16 MiB file
/// `fs.write_mib` writes, and the program `spawn.wait.disk` starts ([`DISK_PROGRAM`], the
/// same `started` the boot archive holds).
fn bench_disk() -> Result<crate::disk::Image, String> {
    let root = crate::build::workspace_root();
    let directory = root.join("target").join("bench");
    std::fs::create_dir_all(&directory).map_err(|error| format!("{}: {error}", directory.display()))?;
    let small: Vec<u8> = (0..400u32).map(|index| b'a' + (index % 26) as u8).collect();
    let program = root.join("target").join(build::USER_TARGET).join("release").join("started");
    let started = std::fs::read(&program).map_err(|error| format!("read {}: {error}", program.display()))?;
    crate::disk::Image::fat(
        &directory.join("bench-disk.img"),
        48 << 20,
        &[("bench/small.txt", &small), (DISK_PROGRAM, &started)],
    )
}

/// Every figure, once.
fn run_once(qemu: &Path, default: &Path, bare: &Path, bench_system: &Path) -> Result<Vec<Figure>, String> {
    let mut figures = run_benchmarks(qemu, bare, Some("lattice.boot=bench"))?;
    if figures.is_empty() {
        return Err("the kernel benchmarks reported nothing".into());
    }
    let disk = bench_disk()?;
    let user = run_benchmarks_with(qemu, bench_system, None, Some(&disk))?;
    if user.is_empty() {
        return Err("the user-level benchmarks reported nothing".into());
    }
    figures.extend(user);
    figures.push(boot_to_prompt(qemu, default)?);
    Ok(figures)
}

/// Whether two runs' figures agree: exactly, but for the ones that wait for the disk
/// (`fs.write_mib`, `fs.read_mib`), within half a percent. Those exclude the instructions
/// retired while idle (`IdleInstructions`), but how many timer ticks land in their work
/// still depends on how long the host takes per request (the clock jumps while idle).
fn agree(first: &Figure, second: &Figure) -> bool {
    if first.name != second.name {
        return false;
    }
    if first.name.ends_with("_mib") {
        first.instructions.abs_diff(second.instructions) <= first.instructions / 200
    } else {
        first.instructions == second.instructions
    }
}

/// Runs the benchmarks.
pub fn run() -> Result<(), String> {
    let qemu = qemu::ensure_installed()?;
    let default = build::build_all()?.kernel_image;
    let bare = build::build_system("bare")?.kernel_image;
    let bench_system = build::build_system("bench")?.kernel_image;
    println!("running the benchmarks twice under -icount shift=0,sleep=off");
    let first = run_once(&qemu, &default, &bare, &bench_system)?;
    let second = run_once(&qemu, &default, &bare, &bench_system)?;
    println!("{:<40} {:>12}  note", "benchmark", "instructions");
    for figure in &first {
        let note = SEL4_REFERENCE
            .iter()
            .find(|(name, _)| *name == figure.name)
            .map(|(_, sel4)| format!("seL4 on the same machine: {sel4}"))
            .unwrap_or_default();
        println!("{:<40} {:>12}  {note}", figure.name, figure.instructions);
    }
    let directory = build::workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("create {}: {error}", directory.display()))?;
    let path = directory.join("results.json");
    std::fs::write(&path, to_json(&first)).map_err(|error| format!("write {}: {error}", path.display()))?;
    println!("wrote {}", path.display());
    if first.len() != second.len() || first.iter().zip(&second).any(|(a, b)| !agree(a, b)) {
        let differing: Vec<String> = first
            .iter()
            .zip(&second)
            .filter(|(a, b)| !agree(a, b))
            .map(|(a, b)| format!("{} ({} then {})", a.name, a.instructions, b.instructions))
            .collect();
        return Err(format!("the two runs disagree: not deterministic: {}", differing.join(", ")));
    }
    println!("both runs gave the same figures");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_figures_and_writes_the_documented_json() {
        let transcript = "boot\nbench ipc.call.cross_as 916\nbench revoke.1 2300 (varied: [1, 2])\nbench bad\nbench done\n";
        let figures = parse(transcript);
        assert_eq!(
            figures,
            [
                Figure { name: "ipc.call.cross_as".into(), instructions: 916 },
                Figure { name: "revoke.1".into(), instructions: 2300 },
            ]
        );
        let json = to_json(&figures);
        assert!(json.starts_with("{\n  \"results\": [\n"));
        assert!(json.contains("{\"name\": \"ipc.call.cross_as\", \"instructions\": 916},"));
        assert!(json.contains("{\"name\": \"revoke.1\", \"instructions\": 2300}\n"));
    }

    #[test]
    fn reads_the_shell_ready_event() {
        let transcript = "proc: ready\n[shell] INFO shell::lattice: ready instret=81234567\nLattice shell.\n";
        assert_eq!(
            parse_ready(transcript),
            Some(Figure { name: "boot.to_prompt".into(), instructions: 81_234_567 })
        );
        assert_eq!(parse_ready("[shell] INFO shell::lattice: ready instret=x\n"), None);
        assert_eq!(parse_ready("no shell here\n"), None);
    }
}
