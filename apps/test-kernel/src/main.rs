//! The kernel test suite. It runs as the root task (`lattice.boot=test-kernel`), so it holds
//! every capability; each test has an id and a sentence, like sel4test. It prints one line
//! per test in the form every in-system check uses (the `checks` crate:
//! `test-kernel: ok   CNODE0001 ...`, `FAIL ID sentence -- line N: what`, `known` for
//! a known bug), then the summary `test-kernel: N checks, M failed`, and exits with the
//! number of failures, which becomes QEMU's exit status.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod context;
mod sched;
mod tests;

use checks::{Line, Summary, Verdict};
use userlib::println;

userlib::entry!(main);

/// The name the suite's lines start with.
const PROGRAM: &str = "test-kernel";

fn main() -> i32 {
    let Some(info) = userlib::boot_info() else {
        println!("test-kernel: no boot info; run me as the root task");
        return 1;
    };
    let every_test = tests::GROUPS.iter().flat_map(|group| group.iter()).chain(tests::KNOWN_BUGS);
    if let Err(problem) = checks::check_table(every_test.map(|test| (test.id, test.about))) {
        println!("test-kernel: the table of tests: {problem}");
        return 1;
    }
    let mut context = context::Context::new(info);
    let (mut lines, mut failed, mut known) = (0, 0usize, 0);
    let mut print = |verdict, test: &context::Test, failure: Option<&context::Failure>| {
        lines += 1;
        let line = Line { program: PROGRAM, verdict, id: test.id, about: test.about, detail: None };
        match failure {
            None => println!("{line}"),
            Some(failure) => println!(
                "{}",
                Line { detail: Some(format_args!("line {}: {}", failure.line, failure.what)), ..line }
            ),
        }
    };
    for test in tests::GROUPS.iter().flat_map(|group| group.iter()) {
        match context.run(test) {
            Ok(()) => print(Verdict::Passed, test, None),
            Err(failure) => {
                failed += 1;
                print(Verdict::Failed, test, Some(&failure));
            }
        }
    }
    for test in tests::KNOWN_BUGS {
        match context.run(test) {
            Ok(()) => {
                println!("test-kernel: {} passes: a known bug fixed? move it into its group", test.id);
                print(Verdict::Passed, test, None);
            }
            Err(failure) => {
                known += 1;
                print(Verdict::KnownBug, test, Some(&failure));
            }
        }
    }
    if known > 0 {
        println!("test-kernel: {known} known kernel bugs");
    }
    println!("{}", Summary { program: PROGRAM, checks: lines, failed });
    i32::try_from(failed).unwrap_or(i32::MAX)
}
