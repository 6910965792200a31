//! Trap entry and exit.
//!
//! While a user thread runs, `sscratch` holds the address of its [`TrapFrame`]; while the
//! kernel runs, `sscratch` is zero. The vector swaps `t6` with `sscratch`: a non-zero result
//! is a trap from user mode, and the frame is right there to save registers into. The kernel
//! runs with interrupts disabled (`sstatus.SIE` = 0) and is never preempted, so it needs one
//! stack, reset on every entry, and a trap from kernel mode can only be a kernel bug: it
//! switches to a separate emergency stack (the kernel stack may be what overflowed) and
//! panics with the cause.

use core::arch::global_asm;

/// Bytes of kernel stack (boot, then every trap).
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
/// Bytes of stack for reporting a kernel fault.
const EMERGENCY_STACK_SIZE: usize = 16 * 1024;

/// A 16-byte aligned stack.
#[repr(C, align(16))]
pub struct Stack<const N: usize>([u8; N]);

/// The kernel stack. Only the assembly here and in `entry.rs` names it.
#[unsafe(no_mangle)]
pub static mut KERNEL_STACK: Stack<KERNEL_STACK_SIZE> = Stack([0; KERNEL_STACK_SIZE]);
#[unsafe(no_mangle)]
static mut EMERGENCY_STACK: Stack<EMERGENCY_STACK_SIZE> = Stack([0; EMERGENCY_STACK_SIZE]);

/// A user thread's integer registers and program counter, as saved on a trap.
///
/// The layout is fixed: the assembly below stores `x1..x31` at `8 * n` and the program
/// counter at 256. Slot 0 (`x0`) is always zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// `x0`..`x31`.
    pub registers: [usize; 32],
    /// The user program counter (`sepc`).
    pub pc: usize,
}

impl TrapFrame {
    /// Register index of `sp`.
    pub const SP: usize = 2;
    /// Register index of `a0`; `a1`..`a7` follow.
    pub const A0: usize = 10;

    /// Argument/result register `a<n>`.
    pub fn a(&self, n: usize) -> usize {
        self.registers[Self::A0 + n]
    }

    /// Sets argument/result register `a<n>`.
    pub fn set_a(&mut self, n: usize, value: usize) {
        self.registers[Self::A0 + n] = value;
    }
}

global_asm!(
    r#"
    .section .text
    .balign 4
    .globl trap_vector
trap_vector:
    csrrw   t6, sscratch, t6
    beqz    t6, kernel_trap
    sd      x1, 8(t6)
    sd      x2, 16(t6)
    sd      x3, 24(t6)
    sd      x4, 32(t6)
    sd      x5, 40(t6)
    sd      x6, 48(t6)
    sd      x7, 56(t6)
    sd      x8, 64(t6)
    sd      x9, 72(t6)
    sd      x10, 80(t6)
    sd      x11, 88(t6)
    sd      x12, 96(t6)
    sd      x13, 104(t6)
    sd      x14, 112(t6)
    sd      x15, 120(t6)
    sd      x16, 128(t6)
    sd      x17, 136(t6)
    sd      x18, 144(t6)
    sd      x19, 152(t6)
    sd      x20, 160(t6)
    sd      x21, 168(t6)
    sd      x22, 176(t6)
    sd      x23, 184(t6)
    sd      x24, 192(t6)
    sd      x25, 200(t6)
    sd      x26, 208(t6)
    sd      x27, 216(t6)
    sd      x28, 224(t6)
    sd      x29, 232(t6)
    sd      x30, 240(t6)
    csrr    t5, sscratch
    sd      t5, 248(t6)
    csrw    sscratch, zero
    csrr    t5, sepc
    sd      t5, 256(t6)
    la      sp, {stack} + {stack_size}
    mv      a0, t6
    call    {trap_from_user}
    /* fall through: a0 = the frame to resume */

    .globl return_to_user
return_to_user:
    /* sstatus.SPP is 0: every trap handled here came from user mode, and enter_user
       cleared it for the first entry. */
    mv      t6, a0
    ld      t5, 256(t6)
    csrw    sepc, t5
    csrw    sscratch, t6
    ld      x1, 8(t6)
    ld      x2, 16(t6)
    ld      x3, 24(t6)
    ld      x4, 32(t6)
    ld      x5, 40(t6)
    ld      x6, 48(t6)
    ld      x7, 56(t6)
    ld      x8, 64(t6)
    ld      x9, 72(t6)
    ld      x10, 80(t6)
    ld      x11, 88(t6)
    ld      x12, 96(t6)
    ld      x13, 104(t6)
    ld      x14, 112(t6)
    ld      x15, 120(t6)
    ld      x16, 128(t6)
    ld      x17, 136(t6)
    ld      x18, 144(t6)
    ld      x19, 152(t6)
    ld      x20, 160(t6)
    ld      x21, 168(t6)
    ld      x22, 176(t6)
    ld      x23, 184(t6)
    ld      x24, 192(t6)
    ld      x25, 200(t6)
    ld      x26, 208(t6)
    ld      x27, 216(t6)
    ld      x28, 224(t6)
    ld      x29, 232(t6)
    ld      x30, 240(t6)
    ld      x31, 248(t6)
    sret

kernel_trap:
    csrrw   t6, sscratch, t6        # put t6 back, sscratch is zero again
    la      sp, {emergency} + {emergency_size}
    call    {trap_from_kernel}
1:  wfi
    j       1b
"#,
    stack = sym KERNEL_STACK,
    stack_size = const KERNEL_STACK_SIZE,
    emergency = sym EMERGENCY_STACK,
    emergency_size = const EMERGENCY_STACK_SIZE,
    trap_from_user = sym crate::trap_from_user,
    trap_from_kernel = sym trap_from_kernel,
);

unsafe extern "C" {
    fn trap_vector();
    fn return_to_user(frame: *mut TrapFrame) -> !;
}

/// Points `stvec` at the trap vector (direct mode) and marks "in kernel" in `sscratch`.
pub fn install_trap_vector() {
    super::csr::write_stvec(trap_vector as *const () as usize);
    super::csr::write_sscratch(0);
}

/// Enters user mode with the registers in `frame`.
///
/// # Safety
///
/// `frame` must point to a [`TrapFrame`] that stays valid (not moved, not freed) while the
/// thread runs, because the trap vector saves into it; it must belong to the address space
/// currently in `satp`.
pub unsafe fn enter_user(frame: *mut TrapFrame) -> ! {
    // sret returns to the mode in sstatus.SPP; make it user mode for the first entry (every
    // later trap comes from user mode, which leaves SPP at 0).
    super::csr::clear_previous_privilege();
    // SAFETY: the caller guarantees the frame outlives the user run; return_to_user only
    // loads registers from it and executes sret with SPP cleared, so control continues in
    // user mode and comes back only through trap_vector.
    unsafe { return_to_user(frame) }
}

/// A trap taken while the kernel itself was running: always a kernel bug.
extern "C" fn trap_from_kernel() -> ! {
    let cause = super::csr::read_scause();
    panic!(
        "trap in kernel mode: scause {:#x}, sepc {:#x}, stval {:#x}",
        cause,
        super::csr::read_sepc(),
        super::csr::read_stval()
    );
}
