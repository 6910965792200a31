//! System tests of the kernel and the user runtime: the kernel test suite, the syscall
//! fuzzer and the runtime check, each booted as the root task.

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
    SystemTest {
        name: "runtime.heap_trace_rpc",
        about: "a program makes its heap from Untyped, allocates, prints tracing events, and RPC works between threads: capabilities both ways, a deferred answer, malformed requests answered with the typed error",
        run: |qemu, kernel| {
            let mut machine = boot(qemu, kernel, boot_list("test-runtime"))?;
            machine.expect("runtime: heap of 4096 KiB at 0x2000000000", STEP)?;
            machine.expect("runtime: vec sum 499500, string \"lattice-runtime\"; ", STEP)?;
            machine.expect("[test-runtime] INFO runtime: heap ready size=4194304", STEP)?;
            let audit = "[test-runtime] WARN audit: denied by rule connection=7 client=test-runtime";
            machine.expect(audit, STEP)?;
            machine.expect("[test-runtime] INFO runtime: server ready endpoint=", STEP)?;
            machine.expect("runtime: rpc add 2 + 3 = Ok(Sum(5))", STEP)?;
            machine.expect("runtime: capabilities travelled both ways", STEP)?;
            machine.expect("runtime: deferred answer released by another client", STEP)?;
            machine.expect("runtime: malformed request answered with malformed message", STEP)?;
            let verdict = machine.expect(" passed", STEP)?;
            if !verdict.contains("runtime: all ") {
                return Err(format!("runtime checks failed:{verdict}"));
            }
            machine.refute("below the level")?;
            machine.refute("FAILED")?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
];
