//! System tests of the kernel: the kernel test suite and the syscall fuzzer as root tasks,
//! syscall error paths, preemption and FP state, interrupts reaching a user-level driver.

use kernel_abi::exit_status;

use super::{STEP, SystemTest, boot_list, expect_status};

/// The kernel tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "kernel.suite",
        about: "the kernel test suite (test-kernel as root task) passes every test",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(boot_list("test-kernel"))?;
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
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(boot_list("test-fuzz"))?;
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
        name: "syscall.bad_arguments",
        about: "bad pointers, overlong writes and undefined syscalls return the documented errors",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(boot_list("survivor"))?;
            for check in [
                "ok   debug_write of null",
                "ok   debug_write of kernel memory",
                "ok   debug_write wrapping around the address space",
                "ok   debug_write past the end of user space",
                "ok   debug_write running off the stack top",
                "ok   debug_write longer than the limit",
                "ok   debug_write of an empty slice",
                "ok   undefined syscall 9999",
                "ok   undefined syscall usize::MAX",
                "ok   floating point across yields",
            ] {
                machine.expect(check, STEP)?;
            }
            machine.expect("0 checks failed", STEP)?;
            machine.refute("FAIL")?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "sched.preemption",
        about: "a program that never makes a syscall is preempted by the timer; FP state stays per thread",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(boot_list("survivor,spin"))?;
            machine.expect("survivor: yielding", STEP)?;
            machine.expect("spin: spinning forever", STEP)?;
            machine.expect("survivor: running again", STEP)?;
            machine.expect("survivor: ok   floating point across yields", STEP)?;
            machine.expect("survivor: done, 0 checks failed", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "irq.uart_receive",
        about: "typed keys raise UART interrupts that a user-level driver receives through a notification",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(boot_list("test-irq"))?;
            machine.expect("test-irq: type three keys", STEP)?;
            for key in ["x", "y", "z"] {
                machine.type_text(key)?;
                machine.expect(&format!("test-irq: interrupt (badge 0): got '{key}'"), STEP)?;
            }
            machine.expect("test-irq: done", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
];
