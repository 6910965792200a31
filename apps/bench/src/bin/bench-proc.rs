//! `bench-proc`: user-level benchmarks over the process manager, run in the `bench` system
//! (`image/systems/bench.toml`) under QEMU `-icount`.
//!
//! - `spawn`: from just before the `Spawn` request to the first code of the new program
//!   (`started` exits with the instruction count it started at). The manager builds the
//!   whole process in that time: address space, ELF segments copied, stack, heap, start
//!   info page, capabilities, thread.
//! - `spawn.wait`: a whole round, from `Spawn` to `Wait` answered with the status (the
//!   program's start-up, its exit fault message, the memory reclaimed by revoke). `started`
//!   is a bare name the bench disk has no `/bin` file for, so it comes from the boot
//!   archive after the manager's lookup of `/bin/started` (not found).
//! - `spawn.disk`, `spawn.wait.disk`: the same for the copy of `started` on the bench disk,
//!   `/bench/started`: the manager reads the file (open, the headers, the segments, close)
//!   through its filesystem session into its heap before it builds the process.
//! - `conn.setup`: from just before the `Connect` request to the security server (for the
//!   process manager, `proc`) to its answer with the session capability in hand: the
//!   policy's decision, the donor charging the session to this program, the capability
//!   minted, the audit event. The server is not signalled: its kit takes the session's
//!   notice at the first request. From then on a call is possible.
//! - `conn.first_call`: the same, through the first call on the new session answered (a
//!   `List`): the process manager's kit takes the session notice (and the donation) from
//!   the security server and the donor first, then it answers.
//!
//! The manifest gives it the process manager (for `spawn`, as the shell has it) and its
//! security session (for `conn.*`), found by name in its start info; each connection is
//! revoked after its round, so the donation comes back.
//! Prints `bench NAME INSTRUCTIONS` lines like the kernel benchmarks, then `bench done`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use loader::server_slots;
use proc_api::{ExitStatus, ProcClient};
use security_api::SecurityClient;
use userlib::println;
use userlib::rpc::CapabilitySlot;
use userlib::syscall::instructions_retired;

userlib::entry!(main);

/// Rounds per figure; the first warms the manager (its heap, its spare reply objects).
const ROUNDS: usize = 6;
/// The right to spawn.
const SPAWN: grant::Rights = grant::Rights::SPAWN;

/// The bench disk's copy of `started` (the harness puts it there).
const DISK_PROGRAM: &str = "/bench/started";

fn main() -> i32 {
    let Some(proc) = userlib::start::service("proc").map(ProcClient::new) else { return 1 };
    for (program, suffix) in [("started", ""), (DISK_PROGRAM, ".disk")] {
        match spawn_rounds(&proc, program) {
            Ok((spawn, round)) => {
                report(&format!("spawn{suffix}"), &spawn[1..]);
                report(&format!("spawn.wait{suffix}"), &round[1..]);
            }
            Err(why) => {
                println!("bench-proc: {why}");
                return 1;
            }
        }
    }
    let Some(security) = SecurityClient::from_start_info() else { return 1 };
    let session = CapabilitySlot { cnode: server_slots::CNODE, index: server_slots::FIRST_FREE };
    let mut setup = [0u64; ROUNDS];
    let mut first_call = [0u64; ROUNDS];
    for index in 0..ROUNDS {
        let before = instructions_retired();
        let connected = security.connect("proc", SPAWN, session);
        let ready = instructions_retired();
        let Ok(connection) = connected else {
            println!("bench-proc: connecting to proc failed: {connected:?}");
            return 1;
        };
        let listed = ProcClient::new(session.index).list();
        let answered = instructions_retired();
        if let Err(error) = listed {
            println!("bench-proc: the first call on connection {connection} failed: {error}");
            return 1;
        }
        setup[index] = ready - before;
        first_call[index] = answered - before;
        // Revoking empties the slot (the capability was a child of the broker's).
        if let Err(error) = security.revoke(connection) {
            println!("bench-proc: revoking connection {connection} failed: {error}");
            return 1;
        }
    }
    report("conn.setup", &setup[1..]);
    report("conn.first_call", &first_call[1..]);
    if let Err(why) = files(&security) {
        println!("bench-proc: the filesystem benchmarks failed: {why}");
        return 1;
    }
    println!("bench done");
    0
}

/// [`ROUNDS`] spawns of `program`, each waited for: the instructions to its first code
/// (`started` exits with the count it began at) and to the answered `Wait`.
fn spawn_rounds(proc: &ProcClient, program: &str) -> Result<([u64; ROUNDS], [u64; ROUNDS]), String> {
    let mut spawn = [0u64; ROUNDS];
    let mut round = [0u64; ROUNDS];
    for index in 0..ROUNDS {
        let before = instructions_retired();
        let status = proc.spawn(program, &[], &[], true).and_then(|pid| proc.wait(pid));
        let after = instructions_retired();
        let Ok(ExitStatus::Code(started)) = status else {
            return Err(format!("spawning `{program}` failed: {status:?}"));
        };
        let Some(taken) = u64::try_from(started).ok().and_then(|started| started.checked_sub(before)) else {
            return Err(format!("`{program}` began at {started}, before the request at {before}"));
        };
        spawn[index] = taken;
        round[index] = after - before;
    }
    Ok((spawn, round))
}

/// The file the filesystem benchmarks read (the harness puts it on the bench disk).
const SMALL_FILE: &str = "/bench/small.txt";

/// `fs.open_close`: from before an `Open` of a small file to the answer of its `Close`;
/// `fs.read_small`: the same with a read of its first 100 bytes between. The first round
/// warms the server (its cache holds the file's sectors afterwards), so the figures count
/// the server's work, not the disk's.
fn files(security: &SecurityClient) -> Result<(), String> {
    use fs_api::{FsClient, OpenFlags};
    let slot = CapabilitySlot { cnode: server_slots::CNODE, index: server_slots::FIRST_FREE + 1 };
    security.connect("fs", grant::Rights::READ, slot).map_err(|error| format!("connect to fs: {error}"))?;
    let fs = FsClient::new(slot.index);
    let mut open_close = [0u64; ROUNDS];
    let mut read_small = [0u64; ROUNDS];
    let mut buffer = [0u8; 100];
    for index in 0..ROUNDS {
        let before = instructions_retired();
        let (handle, _) = fs.open(SMALL_FILE, OpenFlags::READ).map_err(|error| format!("open: {error}"))?;
        fs.close(handle).map_err(|error| format!("close: {error}"))?;
        open_close[index] = instructions_retired() - before;
        let before = instructions_retired();
        let (handle, _) = fs.open(SMALL_FILE, OpenFlags::READ).map_err(|error| format!("open: {error}"))?;
        let read = fs.read(handle, &mut buffer).map_err(|error| format!("read: {error}"))?;
        fs.close(handle).map_err(|error| format!("close: {error}"))?;
        read_small[index] = instructions_retired() - before;
        if read != buffer.len() {
            return Err(format!("read {read} bytes of {SMALL_FILE}, not {}", buffer.len()));
        }
    }
    report("fs.open_close", &open_close[1..]);
    report("fs.read_small", &read_small[1..]);
    bulk(security)
}

/// The large file `fs.write_mib` writes and `fs.read_mib` reads back.
const LARGE_FILE: &str = "/bench/large.bin";
/// Its size in MiB, and the size of each write and read (Linux's figures are for 16 MiB in
/// 64 KiB pieces, then an `fsync`).
const LARGE_MIB: usize = 16;
const PIECE_BYTES: usize = 64 * 1024;

/// `fs.write_mib`: per MiB of writing [`LARGE_MIB`] MiB in [`PIECE_BYTES`] pieces through
/// the session's shared buffer, then a `Sync` answered (everything on the device);
/// `fs.read_mib`: per MiB of reading it back in the same pieces. The sector cache holds
/// 256 KiB, so the read is cold but for its last pieces. The buffer is attached first (16
/// `AttachBuffer` calls, not counted).
fn bulk(security: &SecurityClient) -> Result<(), String> {
    use fs_api::{FsClient, OpenFlags};
    let slot = CapabilitySlot { cnode: server_slots::CNODE, index: server_slots::FIRST_FREE + 2 };
    let rights = grant::Rights::READ.union(grant::Rights::WRITE).union(grant::Rights::CREATE);
    security.connect("fs", rights, slot).map_err(|error| format!("connect to fs for writing: {error}"))?;
    let mut fs = FsClient::new(slot.index);
    let mut next = server_slots::FIRST_FREE + 3;
    let attached = fs.attach_buffer(|| {
        next += 1;
        Some(CapabilitySlot { cnode: server_slots::CNODE, index: next - 1 })
    });
    let bytes = attached.map_err(|error| format!("attach the shared buffer: {error}"))?;
    if bytes < PIECE_BYTES as u64 {
        return Err(format!("the shared buffer holds {bytes} bytes, less than a piece"));
    }
    let piece: alloc::vec::Vec<u8> =
        (0..PIECE_BYTES).map(|index| u8::try_from(index % 251).unwrap_or(0)).collect();
    let pieces = (LARGE_MIB << 20) / PIECE_BYTES;
    let create = OpenFlags::WRITE.union(OpenFlags::CREATE).union(OpenFlags::TRUNCATE);
    let (handle, _) = fs.open(LARGE_FILE, create).map_err(|error| format!("create: {error}"))?;
    let before = Work::start();
    for _ in 0..pieces {
        fs.write(handle, &piece).map_err(|error| format!("write: {error}"))?;
    }
    fs.sync().map_err(|error| format!("sync: {error}"))?;
    let written = before.done();
    fs.close(handle).map_err(|error| format!("close: {error}"))?;
    let (handle, size) = fs.open(LARGE_FILE, OpenFlags::READ).map_err(|error| format!("open: {error}"))?;
    if size != (LARGE_MIB << 20) as u64 {
        return Err(format!("{LARGE_FILE} has {size} bytes after writing {} MiB", LARGE_MIB));
    }
    let mut into = alloc::vec![0u8; PIECE_BYTES];
    let mut total = 0;
    let before = Work::start();
    loop {
        let count = fs.read(handle, &mut into).map_err(|error| format!("read: {error}"))?;
        total += count;
        if count < into.len() {
            break;
        }
    }
    let read = before.done();
    fs.close(handle).map_err(|error| format!("close: {error}"))?;
    // Every piece is the same: the last whole one read is still in `into`.
    if total != LARGE_MIB << 20 || into != piece {
        return Err(format!("read back {total} bytes of {LARGE_FILE}, or not what was written"));
    }
    report("fs.write_mib", &[written / LARGE_MIB as u64]);
    report("fs.read_mib", &[read / LARGE_MIB as u64]);
    Ok(())
}

/// Instructions of work from a start: every instruction retired less those retired while
/// nothing could run (the kernel waiting for the disk's interrupt: under `-icount` with
/// `sleep=off` the clock races through timer ticks meanwhile, as many as the host takes to
/// complete the request, so counting them would measure the host).
struct Work {
    instructions: u64,
    idle: u64,
}

impl Work {
    fn start() -> Work {
        Work { idle: userlib::syscall::idle_instructions(), instructions: instructions_retired() }
    }

    fn done(&self) -> u64 {
        let instructions = instructions_retired() - self.instructions;
        instructions.saturating_sub(userlib::syscall::idle_instructions() - self.idle)
    }
}

/// Prints the lowest figure, with every figure when they differ.
fn report(name: &str, samples: &[u64]) {
    let lowest = samples.iter().copied().min().unwrap_or(0);
    if samples.iter().all(|&sample| sample == lowest) {
        println!("bench {name} {lowest}");
    } else {
        println!("bench {name} {lowest} (varied: {samples:?})");
    }
}
