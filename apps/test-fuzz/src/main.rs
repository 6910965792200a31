//! The syscall fuzzer. It runs as the root task (`lattice.boot=test-fuzz`) and supervises
//! an unprivileged thread that issues random syscalls (`fuzzer`) against a small world of
//! its own (`world`).
//!
//! Supervision, without timers: the fuzzer runs at priority 100 next to a watchdog thread
//! of the same priority, which yields in a loop and compares the fuzzer's syscall count
//! before and after. No progress across a yield means the fuzzer is blocked (it waits on
//! an endpoint or notification nobody will use); the watchdog then signals the root task
//! (priority 255), which restarts the fuzzer. Every `CHECK_INTERVAL` syscalls the watchdog
//! asks the root task to call `debug_check`, which walks everything reachable from the root
//! task's CSpace: its own objects, the fuzzer's CNode and thread, and whatever the fuzzer
//! made. An exit or fault of the fuzzer arrives on its fault endpoint and restarts it too;
//! every `RECREATE_EVERY` restarts the world is destroyed and made again.
//!
//! The program prints `fuzz: N syscalls, M restarts, invariants held`, then its one check
//! (`test-fuzz: ok   FUZZ0001 ...`, the `checks` crate's form) and the summary, and exits
//! with the number of failed checks (the machine's exit status). A kernel panic ends the machine
//! with status 101 instead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod fuzzer;
mod world;

use core::sync::atomic::Ordering;

use checks::{Check, Report};
use kernel_abi::bootinfo::{BootInfo, slot};
use kernel_abi::syscall::FAULT_LABEL;
use kernel_abi::{Error, FaultKind, ObjectType, Rights};
use userlib::ipc::{self, Cptr};
use userlib::thread::{self, Spawn};
use userlib::{object, println};

use crate::fuzzer::{CALLS, DONE, OWN_CHECK_FAILURES, RESULTS, SEED, TARGET};
use crate::world::{FUZZER_PRIORITY, WORLD_ROOT_SLOTS, World};

userlib::entry!(main);

/// Syscalls the fuzzer issues in all.
const SYSCALLS: usize = 200_000;
/// Syscalls between two `debug_check`s of the root task.
const CHECK_INTERVAL: usize = 5_000;
/// Restarts between two re-creations of the world.
const RECREATE_EVERY: usize = 200;
/// Badge of the fuzzer's fault endpoint capability.
const FUZZER_BADGE: usize = 1;
/// Watchdog signal bits.
const STALLED: usize = 1;
const CHECKPOINT: usize = 2;

/// The root task's capabilities for supervision.
struct Supervisor {
    world: World,
    faults: Cptr,
    fuzzer_faults: Cptr,
    fuzzer_stack: usize,
    restarts: usize,
    recreations: usize,
    failures: usize,
}

const INVARIANTS: Check = Check::new(
    "FUZZ0001",
    "random syscalls from an unprivileged thread leave the kernel's invariants whole at every debug_check",
);
/// Every check (one: the fuzzer's verdict), printed in the `checks` crate's form.
static CHECKS: [Check; 1] = [INVARIANTS];

fn main() -> i32 {
    let Some(info) = userlib::boot_info() else {
        println!("test-fuzz: no boot info; run me as the root task");
        return 1;
    };
    let mut report = Report::new("test-fuzz", &CHECKS, |line| println!("{line}"));
    match supervise(info) {
        Ok(0) => report.record(&INVARIANTS, None),
        Ok(failures) => report.record(&INVARIANTS, Some(format_args!("{failures} broken invariants"))),
        Err(error) => report.record(&INVARIANTS, Some(format_args!("setting up failed: {error:?}"))),
    }
    i32::try_from(report.finish()).unwrap_or(i32::MAX)
}

/// The largest RAM untyped.
fn pool(info: &BootInfo) -> Cptr {
    let largest = (0..info.untyped_count)
        .filter(|&index| info.untyped[index].is_device == 0)
        .max_by_key(|&index| info.untyped[index].size_bits)
        .unwrap_or(0);
    slot::FIRST_UNTYPED + largest
}

/// The watchdog (see the module doc): signals `notification` (badged per bit) when the
/// fuzzer made no progress across a yield, or crossed a multiple of `CHECK_INTERVAL`.
fn watchdog(capabilities: usize) -> usize {
    let (stalled, checkpoint) = (capabilities & 0xffff, capabilities >> 16);
    loop {
        let before = CALLS.load(Ordering::Acquire);
        userlib::syscall::yield_now();
        let after = CALLS.load(Ordering::Acquire);
        if after == before {
            let _ = ipc::signal(stalled);
        } else if after / CHECK_INTERVAL != before / CHECK_INTERVAL {
            let _ = ipc::signal(checkpoint);
        }
    }
}

fn supervise(info: &BootInfo) -> Result<usize, Error> {
    let pool = pool(info);
    let first = info.first_free_slot;
    let world = World::at(first);
    let [faults, fuzzer_faults, wakeups, stalled, checkpoint, watchdog_thread] =
        core::array::from_fn(|index| first + WORLD_ROOT_SLOTS + index);
    let retype =
        |object_type: ObjectType, slot: Cptr| object::retype(pool, object_type, 0, slot::CNODE, slot, 1);
    retype(ObjectType::Endpoint, faults)?;
    retype(ObjectType::Notification, wakeups)?;
    retype(ObjectType::Thread, watchdog_thread)?;
    object::mint(slot::CNODE, fuzzer_faults, slot::CNODE, faults, Rights::WRITE, FUZZER_BADGE)?;
    object::mint(slot::CNODE, stalled, slot::CNODE, wakeups, Rights::WRITE, STALLED)?;
    object::mint(slot::CNODE, checkpoint, slot::CNODE, wakeups, Rights::WRITE, CHECKPOINT)?;
    // Watchdog signals wake the root task from its wait on the fault endpoint.
    object::bind_notification(slot::THREAD, wakeups)?;

    TARGET.store(SYSCALLS, Ordering::Release);
    let fuzzer_stack = thread::claim_stack().ok_or(Error::NotEnoughMemory)?;
    let watchdog_stack = thread::claim_stack().ok_or(Error::NotEnoughMemory)?;
    let mut supervisor =
        Supervisor { world, faults, fuzzer_faults, fuzzer_stack, restarts: 0, recreations: 0, failures: 0 };
    world.reserve_memory(pool)?;
    world.create()?;
    world.start_fuzzer(fuzzer_faults, fuzzer_stack)?;
    let spawn = Spawn {
        thread: watchdog_thread,
        cspace: slot::CNODE,
        address_space: slot::ADDRESS_SPACE,
        ipc_buffer: (0, 0),
        fault_endpoint: 0,
        priority: FUZZER_PRIORITY,
    };
    thread::start(&spawn, watchdog, stalled | checkpoint << 16, watchdog_stack)?;

    supervisor.run()?;
    object::suspend(watchdog_thread)?;
    object::suspend(world.thread)?;
    supervisor.check("at the end");
    let own = OWN_CHECK_FAILURES.load(Ordering::Acquire);
    if own > 0 {
        println!("fuzz: {own} debug_check calls of the fuzzer reported a broken invariant");
        supervisor.failures += own;
    }
    print_results();
    let calls = CALLS.load(Ordering::Acquire);
    let verdict = if supervisor.failures == 0 { "invariants held" } else { "INVARIANTS BROKEN" };
    println!(
        "fuzz: {calls} syscalls, {} restarts, {} worlds, seed {SEED:#x}: {verdict}",
        supervisor.restarts,
        supervisor.recreations + 1
    );
    Ok(supervisor.failures)
}

/// Prints how often each result came back (blocked calls that were cut short by a restart
/// have none).
fn print_results() {
    userlib::print!("fuzz: results:");
    for (code, count) in RESULTS.iter().enumerate() {
        let count = count.load(Ordering::Acquire);
        if count == 0 {
            continue;
        }
        match code {
            0 => userlib::print!(" ok {count},"),
            _ => match Error::try_from(code) {
                Ok(error) => userlib::print!(" {} {count},", error.name()),
                Err(_) => userlib::print!(" other {count},"),
            },
        }
    }
    println!();
}

impl Supervisor {
    /// Waits for fuzzer exits, faults and watchdog signals until the fuzzer is done.
    fn run(&mut self) -> Result<(), Error> {
        loop {
            let (message, badge) = ipc::receive(self.faults, 0)?;
            if message.label == FAULT_LABEL {
                let done = message.word(0) == FaultKind::Exited as usize
                    && message.word(4) == DONE
                    && CALLS.load(Ordering::Acquire) >= SYSCALLS;
                if done {
                    return Ok(());
                }
                if badge != FUZZER_BADGE {
                    println!("fuzz: fault message with badge {badge:#x}, kind {}", message.word(0));
                    self.failures += 1;
                }
                self.restart()?;
                continue;
            }
            // A wakeup from the watchdog: the word is in the badge.
            if badge & CHECKPOINT != 0 {
                self.check("at a checkpoint");
            }
            if badge & STALLED != 0 {
                self.restart()?;
            }
        }
    }

    /// Restarts the fuzzer where its sequence left off; now and then in a new world.
    fn restart(&mut self) -> Result<(), Error> {
        self.restarts += 1;
        if self.restarts.is_multiple_of(RECREATE_EVERY) {
            self.check("before re-creating the world");
            self.world.destroy()?;
            self.world.create()?;
            self.recreations += 1;
        }
        self.world.start_fuzzer(self.fuzzer_faults, self.fuzzer_stack)
    }

    /// Runs `debug_check`; a broken invariant is a failure.
    fn check(&mut self, when: &str) {
        if let Err(invariant) = userlib::syscall::debug_check() {
            println!(
                "fuzz: kernel invariant {invariant:?} broken {when}, after {} syscalls",
                CALLS.load(Ordering::Acquire)
            );
            self.failures += 1;
        }
    }
}
