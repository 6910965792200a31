//! `test-proc`: drives the process manager through its interface (`proc-api`), as the
//! shell will: spawns programs with arguments and waits for them, sees a fault reported as
//! a status, kills a spinning program, lists processes, asks for a program that does not
//! exist, and spawns more programs than the manager has memory chunks for (which works
//! only if every ended process's memory came back). Each check has an id and a sentence
//! (its table is [`CHECKS`]) and prints one line (`test-proc: ok   PROC0001 ...`, the
//! `checks` crate's form); its exit status is the number of failed checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use checks::{Check, Report};
use proc_api::{ExitStatus, ProcClient, ProcError, ProcessState};
use userlib::println;

userlib::entry!(main);

const HELLO: Check = Check::new("PROC0001", "hello runs with its arguments and exits with 0");
const FAULT: Check = Check::new("PROC0002", "a store to address 0 comes back as a fault status");
const NO_SUCH_PROGRAM: Check = Check::new("PROC0003", "an unknown program is NoSuchProgram");
const LISTED: Check = Check::new("PROC0004", "a running program is listed");
const KILLED: Check = Check::new("PROC0005", "a killed program's status is Killed");
const COLLECTED: Check = Check::new("PROC0006", "a collected status is gone");
const RECLAIMED: Check =
    Check::new("PROC0007", "40 programs in a row run: memory of ended processes is reclaimed");
/// Every check, in the order they run.
static CHECKS: [Check; 7] = [HELLO, FAULT, NO_SUCH_PROGRAM, LISTED, KILLED, COLLECTED, RECLAIMED];

fn main() -> i32 {
    let Some(proc) = userlib::start::service("proc").map(ProcClient::new) else {
        println!("test-proc: the manifest gives it no process manager");
        return 1;
    };
    let mut report = Report::new("test-proc", &CHECKS, |line| println!("{line}"));

    let spawned = proc.spawn("hello", &["from", "the", "process", "manager"], &[], true);
    let status = spawned.and_then(|pid| proc.wait(pid));
    report.check_eq(&HELLO, status, Ok(ExitStatus::Code(0)));

    let status = proc.spawn("crash", &[], &[], true).and_then(|pid| proc.wait(pid));
    let faulted =
        matches!(&status, Ok(ExitStatus::Faulted { kind, address: 0, .. }) if kind == "store page fault");
    report.check(&FAULT, faulted, &status);

    report.check_eq(&NO_SUCH_PROGRAM, proc.spawn("nosuch", &[], &[], true), Err(ProcError::NoSuchProgram));

    let spinner = proc.spawn("spin", &[], &[], false);
    let listed = spinner.as_ref().ok().is_some_and(|&pid| {
        proc.list().is_ok_and(|processes| {
            processes.iter().any(|p| p.pid == pid && p.name == "spin" && p.state == ProcessState::Running)
        })
    });
    report.check(&LISTED, listed, &spinner);
    let killed = spinner.and_then(|pid| proc.kill(pid).and_then(|()| proc.wait(pid)));
    report.check_eq(&KILLED, killed, Ok(ExitStatus::Killed));
    report.check_eq(&COLLECTED, proc.wait(1), Err(ProcError::NoSuchProcess));

    // More programs than the manager has chunks of memory: only works if each ended
    // process's memory was reclaimed.
    let mut stopped = None;
    for round in 0..40 {
        let status = proc.spawn("hello", &[], &[], true).and_then(|pid| proc.wait(pid));
        if status != Ok(ExitStatus::Code(0)) {
            stopped = Some((round, status));
            break;
        }
    }
    report.check(&RECLAIMED, stopped.is_none(), &stopped);
    i32::try_from(report.finish()).unwrap_or(i32::MAX)
}
