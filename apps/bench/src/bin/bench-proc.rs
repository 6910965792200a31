//! `bench-proc`: user-level benchmarks over the process manager, run in the `bench` system
//! (`image/systems/bench.toml`) under QEMU `-icount`.
//!
//! - `spawn`: from just before the `Spawn` request to the first code of the new program
//!   (`started` exits with the instruction count it started at). The manager builds the
//!   whole process in that time: address space, ELF segments copied, stack, heap, start
//!   info page, capabilities, thread.
//! - `spawn.wait`: a whole round, from `Spawn` to `Wait` answered with the status (the
//!   program's start-up, its exit fault message, the memory reclaimed by revoke).
//!
//! Prints `bench NAME INSTRUCTIONS` lines like the kernel benchmarks, then `bench done`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use loader::server_slots;
use proc_api::{ExitStatus, ProcClient};
use userlib::println;
use userlib::syscall::instructions_retired;

userlib::entry!(main);

/// Rounds per figure; the first warms the manager (its heap, its spare reply objects).
const ROUNDS: usize = 6;

fn main() -> i32 {
    let proc = ProcClient::new(server_slots::FIRST_CLIENT);
    let mut spawn = [0u64; ROUNDS];
    let mut round = [0u64; ROUNDS];
    for index in 0..ROUNDS {
        let before = instructions_retired();
        let status = proc.spawn("started", &[], &[], true).and_then(|pid| proc.wait(pid));
        let after = instructions_retired();
        let Ok(ExitStatus::Code(started)) = status else {
            println!("bench-proc: spawning `started` failed: {status:?}");
            return 1;
        };
        let Some(taken) = u64::try_from(started).ok().and_then(|started| started.checked_sub(before)) else {
            println!("bench-proc: `started` began at {started}, before the request at {before}");
            return 1;
        };
        spawn[index] = taken;
        round[index] = after - before;
    }
    report("spawn", &spawn[1..]);
    report("spawn.wait", &round[1..]);
    println!("bench done");
    0
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
