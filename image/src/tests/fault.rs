//! System tests of user faults: reported, the faulting thread stopped, everything else going
//! on; a faulting root task stops the machine.

use kernel_abi::exit_status;

use super::kernel::SURVIVOR;
use super::{STEP, SystemTest, boot_list, expect_status};

/// The fault tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "fault.contained",
        about: "three faulting programs are reported and stopped; the kernel and another program go on",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("survivor,crash,crash-kernel-read,crash-illegal"))?;
            machine.expect("survivor: yielding", STEP)?;
            // SURVIVOR0001..10: bad syscall arguments refused, FP state across yields.
            cx.expect_checks(&machine, "survivor", SURVIVOR)?;
            expect_status(&mut machine, exit_status::SUCCESS)?;
            // The round-robin tick may interleave the programs differently from run to run
            // (a crash program preempted in the middle of its message), so the lines are
            // checked for once the machine stopped, not their order.
            let transcript = machine.transcript();
            for line in [
                "[kernel] fault: crash: store page fault at 0x0, pc 0x",
                "[kernel] fault: crash-kernel-read: load page fault at 0xffffffff80200000, pc 0x",
                "[kernel] fault: crash-illegal: illegal instruction (instruction 0x",
                "; thread stopped",
                "survivor: running again",
            ] {
                if !transcript.contains(line) {
                    return Err(format!("no {line:?} in the output"));
                }
            }
            machine.refute("kernel panic")
        },
    },
    SystemTest {
        name: "fault.root_task",
        about: "a faulting root task is reported and the machine powers off with status 3",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("crash"))?;
            machine.expect("[kernel] fault: crash: store page fault at 0x0", STEP)?;
            machine.expect("[kernel] the root task is gone; powering off", STEP)?;
            expect_status(&mut machine, exit_status::ROOT_TASK_FAULTED)
        },
    },
];
