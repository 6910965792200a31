//! Deliberate faults, for the programs that test fault containment (`crash` and friends).
//!
//! Each function performs one access the hardware must refuse, so it never returns: the
//! kernel stops the program. They are safe to call because the access cannot succeed.

use core::arch::asm;

/// Stores to address 0. Page zero is never mapped (user space starts at 4 KiB).
pub fn store_to_null() -> ! {
    // SAFETY: address 0 is below kernel_core::layout::USER_START and never mapped, so the
    // store faults and the program is stopped before anything is written.
    unsafe { asm!("sd zero, 0(zero)", options(nostack)) };
    unreachable!("a store to address 0 succeeded")
}

/// Loads from the kernel image, which is mapped without the user bit.
pub fn load_from_kernel() -> ! {
    // SAFETY: the kernel half of every address space is mapped without the user bit, so the
    // load faults; no value is ever produced.
    unsafe {
        asm!("ld t0, 0({address})", address = in(reg) 0xffff_ffff_8020_0000usize, out("t0") _, options(nostack))
    };
    unreachable!("user mode read kernel memory")
}

/// Executes an instruction user mode may not: reading the supervisor status register.
pub fn illegal_instruction() -> ! {
    // SAFETY: csrr of sstatus from user mode raises an illegal-instruction exception; no
    // register is changed.
    unsafe { asm!("csrr t0, sstatus", out("t0") _, options(nostack, nomem)) };
    unreachable!("user mode read sstatus")
}
