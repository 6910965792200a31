//! System tests of booting: the banner and the devices read from the device tree, another
//! program as the root task, a missing boot program, the kernel panic path.

use kernel_abi::exit_status;

use super::{STEP, SystemTest, boot_list, exit_shell, expect_status};

/// The boot tests, in the order they run.
pub const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "boot.banner",
        about: "the kernel prints its version, the memory map and the devices of QEMU virt",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(|boot| boot)?;
            machine.expect(&format!("Lattice kernel {}", env!("CARGO_PKG_VERSION")), STEP)?;
            machine.expect("on riscv-virtio,qemu", STEP)?;
            machine.expect("harts: 0; booted on hart 0; timebase 10000000 Hz", STEP)?;
            machine.expect("memory map:", STEP)?;
            machine.expect("ram       0x0080000000..0x0090000000    256 MiB", STEP)?;
            machine.expect("reserved  0x0080000000..", STEP)?;
            machine.expect("kernel    0x0080200000..", STEP)?;
            machine.expect("devices:", STEP)?;
            machine.expect("uart      ns16550a at 0x10000000, irq 10", STEP)?;
            machine.expect("plic      at 0xc000000, 96 sources", STEP)?;
            machine.expect("virtio    mmio at 0x10001000, irq 1", STEP)?;
            machine.expect("virtio    mmio at 0x10008000, irq 8", STEP)?;
            machine.expect("exit      sifive,test at 0x100000", STEP)?;
            exit_shell(&mut machine)
        },
    },
    SystemTest {
        name: "boot.device_tree_not_constants",
        about: "with -m 384M -smp 2 the banner shows 384 MiB and two harts",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(|boot| boot.memory("384M").harts(2))?;
            // OpenSBI picks the boot hart by lottery, so either may boot the kernel.
            machine.expect("harts: 0 1; booted on hart ", STEP)?;
            machine.expect("ram       0x0080000000..0x0098000000    384 MiB", STEP)?;
            exit_shell(&mut machine)
        },
    },
    SystemTest {
        name: "boot.exit_status",
        about: "another program as root task: its exit status is reported",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("hello"))?;
            machine.expect("hello, world", STEP)?;
            machine.expect("[kernel] hello exited with status 0", STEP)?;
            expect_status(&mut machine, exit_status::SUCCESS)
        },
    },
    SystemTest {
        name: "boot.missing_program",
        about: "a boot program missing from the archive is a clear boot failure",
        system: "bare",
        run: |cx| {
            let mut machine = cx.boot(boot_list("hello,nosuch"))?;
            machine.expect(
                "[kernel] boot program `nosuch` is not in the boot archive; it holds: root hello",
                STEP,
            )?;
            machine.expect("[kernel] boot failed: missing boot program `nosuch`", STEP)?;
            machine.refute("hello, world")?;
            expect_status(&mut machine, exit_status::BOOT_FAILURE)
        },
    },
    SystemTest {
        name: "panic.reports_location",
        about: "a kernel panic prints its cause and location and fails the machine",
        system: "virt",
        run: |cx| {
            let mut machine = cx.boot(|boot| boot.bootargs(Some("lattice.selftest=panic".into())))?;
            machine.expect("[kernel] kernel panic at kernel/kern/src/main.rs:", STEP)?;
            machine.expect(": deliberate panic requested by lattice.selftest=panic", STEP)?;
            expect_status(&mut machine, exit_status::KERNEL_PANIC)
        },
    },
];
