//! Safe wrappers for the system calls of `kernel_abi::Syscall`.
//!
//! Each wrapper passes arguments as the ABI says (number in `a7`, arguments in `a0`..`a5`,
//! error in `a0`, value in `a1`) and turns the result into a `Result`.

use core::arch::asm;
use kernel_abi::{Error, Syscall};

/// The registers of an IPC-family syscall: `a0`..`a6`.
pub type Registers = [usize; 7];

/// Issues system call `number` with `a0`..`a6` = `registers`; returns `a0`..`a6` as the
/// kernel left them.
///
/// # Safety
///
/// As for [`raw`]: the call may make the kernel write to the caller's memory as the ABI
/// says (the IPC buffer, a received capability's slot).
#[inline(always)]
pub unsafe fn raw_registers(number: usize, registers: Registers) -> Registers {
    let [mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6] = registers;
    // SAFETY: ecall traps into the kernel, which follows the register convention: it reads
    // a0..a7 and may rewrite a0..a6; everything else is preserved.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") a0,
            inlateout("a1") a1,
            inlateout("a2") a2,
            inlateout("a3") a3,
            inlateout("a4") a4,
            inlateout("a5") a5,
            inlateout("a6") a6,
            in("a7") number,
            options(nostack),
        );
    }
    [a0, a1, a2, a3, a4, a5, a6]
}

/// Issues system call `number` with `arguments`; returns `(a0, a1)`.
///
/// # Safety
///
/// The call must not let the kernel write to memory the caller's Rust code considers owned
/// elsewhere. Every call defined so far only reads user memory, but later calls (receive
/// buffers) write it, so raw access stays unsafe.
#[inline(always)]
pub unsafe fn raw(number: usize, arguments: [usize; 6]) -> (usize, usize) {
    let error: usize;
    let value: usize;
    // SAFETY: ecall traps into the kernel, which preserves every register except a0 and a1
    // (the ABI's register convention) and touches memory only as the caller allowed.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") arguments[0] => error,
            inlateout("a1") arguments[1] => value,
            in("a2") arguments[2],
            in("a3") arguments[3],
            in("a4") arguments[4],
            in("a5") arguments[5],
            in("a7") number,
            options(nostack),
        );
    }
    (error, value)
}

pub(crate) fn result(error: usize, value: usize) -> Result<usize, Error> {
    match error {
        0 => Ok(value),
        // An unknown code means a newer kernel; report it as the nearest meaning.
        code => Err(Error::try_from(code).unwrap_or(Error::InvalidArgument)),
    }
}

/// Writes `bytes` to the kernel debug console. Returns the number of bytes written.
pub fn debug_write(bytes: &[u8]) -> Result<usize, Error> {
    debug_write_address(bytes.as_ptr() as usize, bytes.len())
}

/// `debug_write` with a raw address: the kernel checks it. Safe because the kernel only
/// reads the named memory; used by tests that hand the kernel bad pointers.
pub fn debug_write_address(address: usize, length: usize) -> Result<usize, Error> {
    // SAFETY: DebugWrite only reads user memory; it never writes any.
    let (error, value) = unsafe { raw(Syscall::DebugWrite as usize, [address, length, 0, 0, 0, 0]) };
    result(error, value)
}

/// Ends the program with `status`.
pub fn exit(status: usize) -> ! {
    // SAFETY: Exit touches no user memory and does not return.
    unsafe { raw(Syscall::Exit as usize, [status, 0, 0, 0, 0, 0]) };
    unreachable!("the kernel returned from exit")
}

/// Gives the processor to the next ready thread of the same priority.
pub fn yield_now() {
    // SAFETY: Yield touches no user memory.
    unsafe { raw(Syscall::Yield as usize, [0; 6]) };
}

/// Issues a syscall number the ABI does not define, with `arguments`, and returns the
/// kernel's answer. Returns `None` without a call for numbers that are defined, since their
/// arguments could name memory. Used by tests of the kernel's error paths.
pub fn undefined(number: usize, arguments: [usize; 6]) -> Option<Result<usize, Error>> {
    if Syscall::try_from(number).is_ok() {
        return None;
    }
    // SAFETY: the kernel rejects an undefined number before looking at any argument.
    let (error, value) = unsafe { raw(number, arguments) };
    Some(result(error, value))
}

/// Issues system call `number` with `a0`..`a6` = `registers`, whatever they say, and
/// returns `a0`..`a6` as the kernel left them. For the syscall fuzzer (`apps/test-fuzz`).
///
/// Safe to call because of what the kernel may do on behalf of any syscall, valid or not:
/// it writes the caller's registers `a0`..`a6` (returned here, never memory), the caller's
/// IPC buffer (through the frame capability in the thread's own slot; the runtime reaches
/// it only by copying words through [`crate::ipc::ipc_buffer`], never by reference), and
/// capability slots (kernel memory). It never writes user memory named by
/// an argument. Number 1 (`exit`) ends the thread, and an invocation of the thread's own
/// capability could move its pc or stack; a thread that fuzzes must therefore not hold a
/// capability to itself (or to anything that shares its address space), and whoever
/// supervises it treats its exit like a fault.
pub fn fuzz(number: usize, registers: Registers) -> Registers {
    // SAFETY: as the doc comment argues: the kernel writes only registers, the IPC buffer
    // page (not referenced by Rust code across the call) and kernel memory.
    unsafe { raw_registers(number, registers) }
}

/// [`instructions_retired`] as a machine word (for storing in shared pages).
#[inline(always)]
pub fn instruction_count() -> usize {
    let count: usize;
    // SAFETY: reading instret has no side effects; the kernel enabled it in scounteren.
    unsafe { asm!("rdinstret {}", out(reg) count, options(nomem, nostack)) };
    count
}

/// Instructions this hart has retired (exact under QEMU `-icount`; the kernel lets user
/// mode read the counter).
#[inline(always)]
pub fn instructions_retired() -> u64 {
    let count: u64;
    // SAFETY: reading instret has no side effects; the kernel enabled it in scounteren.
    unsafe { asm!("rdinstret {}", out(reg) count, options(nomem, nostack)) };
    count
}

/// The instructions the processor retired while no thread could run, since boot (the
/// kernel waiting for interrupts): a benchmark subtracts the change over its span from the
/// change of [`instructions_retired`] to count work, not the wait for a device.
pub fn idle_instructions() -> u64 {
    // SAFETY: IdleInstructions only reads a kernel counter.
    let (_, value) = unsafe { raw(Syscall::IdleInstructions as usize, [0; 6]) };
    value as u64
}

/// Asks the kernel to check its invariants over everything reachable from this thread's
/// CSpace. Returns the number of slots checked, or the invariant that failed.
pub fn debug_check() -> Result<usize, kernel_abi::syscall::Invariant> {
    use kernel_abi::syscall::Invariant;
    // SAFETY: DebugCheck only reads kernel state.
    let (error, value) = unsafe { raw(Syscall::DebugCheck as usize, [0; 6]) };
    if error == 0 {
        return Ok(value);
    }
    Err(match value {
        2 => Invariant::Queues,
        3 => Invariant::UntypedWatermark,
        4 => Invariant::ReferenceCounts,
        _ => Invariant::DerivationTree,
    })
}
