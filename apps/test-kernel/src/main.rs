//! The kernel test suite. It runs as the root task (`lattice.boot=test-kernel`), so it holds
//! every capability; each test has an id and a sentence, like sel4test. It prints one line
//! per test and exits with the number of failures, which becomes QEMU's exit status.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

mod context;
mod sched;
mod tests;

use userlib::println;

userlib::entry!(main);

fn main() -> i32 {
    let Some(info) = userlib::boot_info() else {
        println!("test-kernel: no boot info; run me as the root task");
        return 1;
    };
    let mut context = context::Context::new(info);
    let mut failed = 0;
    let mut passed = 0;
    for test in tests::GROUPS.iter().flat_map(|group| group.iter()) {
        match context.run(test) {
            Ok(()) => {
                passed += 1;
                println!("test {} ok: {}", test.id, test.about);
            }
            Err(failure) => {
                failed += 1;
                println!("test {} FAILED: {} (line {}: {})", test.id, test.about, failure.line, failure.what);
            }
        }
    }
    let mut known = 0;
    for test in tests::KNOWN_BUGS {
        match context.run(test) {
            Ok(()) => {
                println!("test {} ok (known bug fixed? move it into its group): {}", test.id, test.about)
            }
            Err(failure) => {
                known += 1;
                println!(
                    "test {} KNOWN BUG: {} (line {}: {})",
                    test.id, test.about, failure.line, failure.what
                );
            }
        }
    }
    println!("kernel tests: {passed} passed, {failed} failed, {known} known kernel bugs");
    failed
}
