//! System tests of the kernel: the kernel test suite and the syscall fuzzer as root tasks,
//! syscall error paths, preemption and FP state, interrupts reaching a user-level driver.

use kernel_abi::exit_status;

use super::{STEP, SystemTest, boot_list, expect_status};
use crate::check_lines::Expected;

/// The kernel suite's tests by group (`apps/test-kernel/src/tests/`): `CNODE0001` to
/// `CNODE0012` and so on. A test added to a group is added here; one that stops running is
/// missing from the suite's lines and fails `kernel.suite`.
pub const KERNEL_SUITE: Expected<'static> = &[
    ("UNTYPED", 14),
    ("CNODE", 12),
    ("IPC", 21),
    ("NTFN", 9),
    ("TIMER", 8),
    ("THREAD", 18),
    ("VSPACE", 14),
    ("SYSCALL", 8),
    ("SCHED", 4),
];

/// `survivor`'s checks (`apps/test-isolation/src/bin/survivor.rs`), which three tests read.
pub const SURVIVOR: Expected<'static> = &[("SURVIVOR", 10)];

/// The kernel tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "kernel.suite",
        about: "the kernel test suite (test-kernel as root task) passes every test",
        system: "bare",
        run: |cx| {
            let machine = &mut cx.boot(boot_list("test-kernel"))?;
            cx.expect_checks(machine, "test-kernel", KERNEL_SUITE)?;
            expect_status(machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "kernel.fuzz",
        about: "200 000 random syscalls from an unprivileged thread: no kernel panic, invariants hold throughout",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("test-fuzz"))?;
            // About 1.5 s under TCG; STEP leaves room for a loaded machine.
            machine.expect("fuzz: ", STEP)?;
            machine.expect(" restarts, ", STEP)?;
            let verdict = machine.expect("\n", STEP)?;
            if !verdict.contains(": invariants held") {
                return Err(format!("the fuzzer reports{verdict}"));
            }
            cx.expect_checks(&machine, "test-fuzz", &[("FUZZ", 1)])?;
            machine.refute("kernel panic")?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "syscall.bad_arguments",
        about: "bad pointers, overlong writes and undefined syscalls return the documented errors",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("survivor"))?;
            // SURVIVOR0001..9: debug_write of null, of kernel memory, wrapping around, past
            // user space, off the stack top, longer than the limit, empty; undefined
            // syscalls 9999 and usize::MAX. SURVIVOR0010: FP state across yields.
            cx.expect_checks(&machine, "survivor", SURVIVOR)?;
            machine.refute("FAIL")?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "sched.preemption",
        about: "a program that never makes a syscall is preempted by the timer; FP state stays per thread",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("survivor,spin"))?;
            // The survivor yields to spin, or a tick preempts it first on a busy host: either
            // way spin spins for ever, and the survivor runs again only by preemption.
            machine.expect("spin: spinning forever", STEP)?;
            machine.expect("survivor: running again", STEP)?;
            // SURVIVOR0010 is FP state across the yields, with spin running between them.
            cx.expect_checks(&machine, "survivor", SURVIVOR)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "irq.uart_receive",
        about: "typed keys raise UART interrupts that a user-level driver receives through a notification",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("test-irq"))?;
            // IRQ0001 the UART's registers, IRQ0002 its interrupt handed out once and bound;
            // IRQ0003 the three keys typed here.
            let mut checks = cx.program_checks("test-irq", &[("IRQ", 3)])?;
            checks.until(&machine, "IRQ0002")?;
            machine.expect("test-irq: type three keys", STEP)?;
            for key in ["x", "y", "z"] {
                machine.type_text(key)?;
                machine.expect(&format!("test-irq: interrupt (badge 0): got '{key}'"), STEP)?;
            }
            machine.expect("test-irq: done", STEP)?;
            checks.finish(&machine)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
];
