//! Control and status registers the kernel uses, one small function each.
//!
//! Each access is a single `csrr`/`csrw`/`csrs`/`csrc`; none touches memory, so the only
//! thing a caller must think about is what the new value means, which the function names.

use core::arch::asm;

macro_rules! read_csr {
    ($(#[$doc:meta])* $name:ident, $csr:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name() -> usize {
            let value: usize;
            // SAFETY: reading this CSR has no side effects in S-mode.
            unsafe { asm!(concat!("csrr {}, ", $csr), out(reg) value, options(nomem, nostack)) };
            value
        }
    };
}

read_csr!(/// Trap cause.
    read_scause, "scause");
read_csr!(/// Program counter of the trapping instruction.
    read_sepc, "sepc");
read_csr!(/// Faulting address or instruction bits.
    read_stval, "stval");
read_csr!(/// Supervisor status.
    read_sstatus, "sstatus");
read_csr!(/// Pending interrupts.
    read_sip, "sip");
read_csr!(/// The real-time counter, at the device tree's timebase frequency.
    read_time, "time");
read_csr!(/// The current page table (mode, ASID, root).
    read_satp, "satp");

/// Sets the trap vector base.
#[inline(always)]
pub fn write_stvec(value: usize) {
    // SAFETY: the caller passes the address of `trap_vector`, a 4-byte aligned handler.
    unsafe { asm!("csrw stvec, {}", in(reg) value, options(nomem, nostack)) };
}

/// Sets `sscratch` (the current trap frame, or zero in the kernel).
#[inline(always)]
pub fn write_sscratch(value: usize) {
    // SAFETY: sscratch is only interpreted by our trap vector.
    unsafe { asm!("csrw sscratch, {}", in(reg) value, options(nomem, nostack)) };
}

/// Interrupt-enable bit for the supervisor timer.
pub const SIE_TIMER: usize = 1 << 5;
/// Interrupt-enable bit for supervisor external interrupts (the PLIC).
pub const SIE_EXTERNAL: usize = 1 << 9;
/// Pending bit of supervisor external interrupts in `sip`.
pub const SIP_EXTERNAL: usize = 1 << 9;
/// Pending bit of the supervisor timer interrupt in `sip`.
pub const SIP_TIMER: usize = 1 << 5;

/// Enables the interrupt sources in `mask` (they are taken in user mode; the kernel itself
/// runs with `sstatus.SIE` clear and polls `sip` when idle).
#[inline(always)]
pub fn enable_interrupts(mask: usize) {
    // SAFETY: enabling a source only makes traps from user mode possible, which the vector
    // handles.
    unsafe { asm!("csrs sie, {}", in(reg) mask, options(nomem, nostack)) };
}

/// The instructions this hart retired since reset (`instret`).
#[inline(always)]
pub fn read_instret() -> usize {
    let count: usize;
    // SAFETY: reading the counter has no side effects.
    unsafe { asm!("rdinstret {}", out(reg) count, options(nomem, nostack)) };
    count
}

/// Lets user mode read `cycle`, `time` and `instret` (benchmarks read them directly).
#[inline(always)]
pub fn allow_user_counters() {
    // SAFETY: exposes read-only counters to user mode; no kernel state depends on them.
    unsafe { asm!("csrw scounteren, {}", in(reg) 0b111usize, options(nomem, nostack)) };
}

/// Bits of `sstatus.FS`, the floating-point unit state.
pub const SSTATUS_FS_MASK: usize = 0b11 << 13;
/// `sstatus.FS` = Initial.
pub const SSTATUS_FS_INITIAL: usize = 0b01 << 13;
/// `sstatus.FS` = Clean.
pub const SSTATUS_FS_CLEAN: usize = 0b10 << 13;
/// `sstatus.FS` = Dirty.
pub const SSTATUS_FS_DIRTY: usize = 0b11 << 13;

/// Clears `sstatus.SPP`, so that `sret` returns to user mode.
#[inline(always)]
pub fn clear_previous_privilege() {
    // SAFETY: only affects the mode the next sret returns to, which is user mode by design.
    unsafe { asm!("csrc sstatus, {}", in(reg) 1usize << 8, options(nomem, nostack)) };
}

/// Turns the FPU off for user mode (`sstatus.FS` = Off): the next FP instruction traps.
#[inline(always)]
pub fn fpu_off() {
    // SAFETY: only makes user FP instructions trap; the kernel uses no FP registers.
    unsafe { asm!("csrc sstatus, {}", in(reg) SSTATUS_FS_MASK, options(nomem, nostack)) };
}

/// Sets `sstatus.FS` to `state` (one of the `SSTATUS_FS_*` values).
#[inline(always)]
pub fn set_fpu_state(state: usize) {
    // SAFETY: changes only whether FP instructions trap and how dirty state is tracked.
    unsafe {
        asm!(
            "csrc sstatus, {mask}",
            "csrs sstatus, {state}",
            mask = in(reg) SSTATUS_FS_MASK,
            state = in(reg) state & SSTATUS_FS_MASK,
            options(nomem, nostack)
        )
    };
}

/// Switches to the page table `satp` and flushes the TLB.
///
/// # Safety
///
/// The new table must map the kernel (its image, stack and direct map) exactly as the old
/// one does, or the next instruction fetch faults.
#[inline(always)]
pub unsafe fn switch_page_table(satp: usize) {
    // SAFETY: the caller guarantees the kernel half is identical in both tables.
    unsafe { asm!("csrw satp, {}", "sfence.vma", in(reg) satp, options(nostack)) };
}

/// Waits for an interrupt to become pending (it is not taken: `sstatus.SIE` stays clear).
#[inline(always)]
pub fn wait_for_interrupt() {
    // SAFETY: wfi has no architectural effect other than waiting.
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// Flushes every TLB entry of address space `asid`.
#[inline(always)]
pub fn flush_address_space(asid: u16) {
    // SAFETY: sfence.vma only drops cached translations; the next access walks the tables.
    unsafe { asm!("sfence.vma zero, {}", in(reg) usize::from(asid), options(nostack)) };
}

/// Switches to the address space `satp` (with its ASID). Translations of other ASIDs stay
/// cached; they are flushed when an ASID is freed or a mapping removed.
///
/// # Safety
///
/// The new table must map the kernel exactly as the current one does.
#[inline(always)]
pub unsafe fn switch_address_space(satp: usize) {
    // SAFETY: the caller guarantees the kernel half is identical in both tables.
    unsafe { asm!("csrw satp, {}", in(reg) satp, options(nostack)) };
}
