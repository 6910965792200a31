//! Saving and restoring user floating-point registers.
//!
//! The kernel is compiled for rv64imac, so it never uses FP registers itself; they always
//! hold the state of the thread that used them last (the owner). The owner's state is saved
//! when it leaves the processor with `sstatus.FS` = Dirty; any other thread runs with the
//! FPU off, and its first FP instruction traps so that its state is loaded then (see
//! `Scheduler::load` and `Scheduler::fpu_trap`). Threads that never use FP never pay.

use super::csr;
use core::arch::global_asm;

/// The F/D register file and `fcsr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FpState {
    /// `f0`..`f31`.
    pub registers: [u64; 32],
    /// Floating-point control and status.
    pub fcsr: u64,
}

global_asm!(
    r#"
    .section .text
    .option push
    .option arch, +d
    .globl fpu_save_registers
fpu_save_registers:
    fsd f0, 0(a0)
    fsd f1, 8(a0)
    fsd f2, 16(a0)
    fsd f3, 24(a0)
    fsd f4, 32(a0)
    fsd f5, 40(a0)
    fsd f6, 48(a0)
    fsd f7, 56(a0)
    fsd f8, 64(a0)
    fsd f9, 72(a0)
    fsd f10, 80(a0)
    fsd f11, 88(a0)
    fsd f12, 96(a0)
    fsd f13, 104(a0)
    fsd f14, 112(a0)
    fsd f15, 120(a0)
    fsd f16, 128(a0)
    fsd f17, 136(a0)
    fsd f18, 144(a0)
    fsd f19, 152(a0)
    fsd f20, 160(a0)
    fsd f21, 168(a0)
    fsd f22, 176(a0)
    fsd f23, 184(a0)
    fsd f24, 192(a0)
    fsd f25, 200(a0)
    fsd f26, 208(a0)
    fsd f27, 216(a0)
    fsd f28, 224(a0)
    fsd f29, 232(a0)
    fsd f30, 240(a0)
    fsd f31, 248(a0)
    frcsr t0
    sd t0, 256(a0)
    ret

    .globl fpu_load_registers
fpu_load_registers:
    fld f0, 0(a0)
    fld f1, 8(a0)
    fld f2, 16(a0)
    fld f3, 24(a0)
    fld f4, 32(a0)
    fld f5, 40(a0)
    fld f6, 48(a0)
    fld f7, 56(a0)
    fld f8, 64(a0)
    fld f9, 72(a0)
    fld f10, 80(a0)
    fld f11, 88(a0)
    fld f12, 96(a0)
    fld f13, 104(a0)
    fld f14, 112(a0)
    fld f15, 120(a0)
    fld f16, 128(a0)
    fld f17, 136(a0)
    fld f18, 144(a0)
    fld f19, 152(a0)
    fld f20, 160(a0)
    fld f21, 168(a0)
    fld f22, 176(a0)
    fld f23, 184(a0)
    fld f24, 192(a0)
    fld f25, 200(a0)
    fld f26, 208(a0)
    fld f27, 216(a0)
    fld f28, 224(a0)
    fld f29, 232(a0)
    fld f30, 240(a0)
    fld f31, 248(a0)
    ld t0, 256(a0)
    fscsr t0
    ret
    .option pop
"#
);

unsafe extern "C" {
    fn fpu_save_registers(state: *mut FpState);
    fn fpu_load_registers(state: *const FpState);
}

/// Saves the FP registers into `state`.
pub fn save(state: &mut FpState) {
    csr::set_fpu_state(csr::SSTATUS_FS_INITIAL);
    // SAFETY: FS is on, so the FP instructions execute; `state` is a valid, exclusive
    // FpState that the assembly fills with exactly 33 doublewords.
    unsafe { fpu_save_registers(state) };
}

/// Loads the FP registers from `state` and marks them clean, so that a later write by the
/// thread marks them dirty again.
pub fn load(state: &FpState) {
    csr::set_fpu_state(csr::SSTATUS_FS_INITIAL);
    // SAFETY: FS is on; the assembly reads exactly 33 doublewords from a valid FpState.
    unsafe { fpu_load_registers(state) };
    csr::set_fpu_state(csr::SSTATUS_FS_CLEAN);
}
