//! `test-proc`: drives the process manager through its interface (`proc-api`), as the
//! shell will: spawns programs with arguments and waits for them, sees a fault reported as
//! a status, kills a spinning program, lists processes, asks for a program that does not
//! exist, and spawns more programs than the manager has memory chunks for (which works
//! only if every ended process's memory came back). Its exit status is the number of
//! failed checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use proc_api::{ExitStatus, ProcClient, ProcError, ProcessState};
use userlib::println;

userlib::entry!(main);

fn check(name: &str, ok: bool, failures: &mut i32) {
    if ok {
        println!("test-proc: ok   {name}");
    } else {
        println!("test-proc: FAIL {name}");
        *failures += 1;
    }
}

fn main() -> i32 {
    let Some(proc) = userlib::start::service("proc").map(ProcClient::new) else {
        println!("test-proc: the manifest gives it no process manager");
        return 1;
    };
    let mut failures = 0;

    let spawned = proc.spawn("hello", &["from", "the", "process", "manager"], &[], true);
    let status = spawned.and_then(|pid| proc.wait(pid));
    if status != Ok(ExitStatus::Code(0)) {
        println!("test-proc: hello with arguments: {status:?}");
    }
    check("hello runs with its arguments and exits with 0", status == Ok(ExitStatus::Code(0)), &mut failures);

    let status = proc.spawn("crash", &[], &[], true).and_then(|pid| proc.wait(pid));
    let faulted =
        matches!(&status, Ok(ExitStatus::Faulted { kind, address: 0, .. }) if kind == "store page fault");
    check("a store to address 0 comes back as a fault status", faulted, &mut failures);

    check(
        "an unknown program is NoSuchProgram",
        proc.spawn("nosuch", &[], &[], true) == Err(ProcError::NoSuchProgram),
        &mut failures,
    );

    let spinner = proc.spawn("spin", &[], &[], false);
    let listed = spinner.as_ref().ok().is_some_and(|&pid| {
        proc.list().is_ok_and(|processes| {
            processes.iter().any(|p| p.pid == pid && p.name == "spin" && p.state == ProcessState::Running)
        })
    });
    check("a running program is listed", listed, &mut failures);
    let killed = spinner.and_then(|pid| proc.kill(pid).and_then(|()| proc.wait(pid)));
    check("a killed program's status is Killed", killed == Ok(ExitStatus::Killed), &mut failures);
    check("a collected status is gone", proc.wait(1) == Err(ProcError::NoSuchProcess), &mut failures);

    // More programs than the manager has chunks of memory: only works if each ended
    // process's memory was reclaimed.
    let mut all_ran = true;
    for round in 0..40 {
        let status = proc.spawn("hello", &[], &[], true).and_then(|pid| proc.wait(pid));
        if status != Ok(ExitStatus::Code(0)) {
            println!("test-proc: round {round}: {status:?}");
            all_ran = false;
            break;
        }
    }
    check("40 programs in a row run: memory of ended processes is reclaimed", all_ran, &mut failures);
    println!("test-proc: done, {failures} checks failed");
    failures
}
