//! System tests of the kernel: the kernel test suite and the syscall fuzzer, each booted
//! as the root task.

use kernel_abi::exit_status;

use crate::tests::{STEP, SystemTest, boot, boot_list, expect_status};

/// The kernel's system tests (run after the general ones).
pub const KERNEL_SYSTEM_TESTS: &[SystemTest] = &[
    SystemTest {
        name: "kernel.suite",
        about: "the kernel test suite (test-kernel as root task) passes every test",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("test-kernel"))?;
            let summary = machine.expect("kernel tests: ", STEP)?;
            let failures: Vec<&str> = summary.lines().filter(|line| line.contains("FAILED")).collect();
            let verdict = machine.expect(" failed", STEP)?;
            if !failures.is_empty() || !verdict.ends_with(" 0 failed") {
                return Err(format!("kernel tests failed: {}{verdict}", failures.join("; ")));
            }
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "kernel.fuzz",
        about: "200 000 random syscalls from an unprivileged thread: no kernel panic, invariants hold throughout",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("test-fuzz"))?;
            // About 1.5 s under TCG; STEP leaves room for a loaded machine.
            machine.expect("fuzz: ", STEP)?;
            machine.expect(" restarts, ", STEP)?;
            let verdict = machine.expect("\n", STEP)?;
            if !verdict.contains(": invariants held") {
                return Err(format!("the fuzzer reports{verdict}"));
            }
            machine.refute("kernel panic")?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
];
