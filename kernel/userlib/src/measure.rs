//! Measuring from user level what happens while a thread is interrupted: an instruction
//! trace that a spinning thread writes, laid out so that its saved registers say exactly
//! how many instructions it had retired when the interrupt came.
//!
//! [`trace_instructions`] runs for ever: an unrolled block of [`TRACE_RECORDS`] pairs
//! `rdinstret a1; sd a1, 8*i(a0)` (uncompressed, 8 bytes each), then a jump back, with the
//! block's address in `a3`. A thread that preempts it reads its registers
//! (`ThreadOp::ReadRegisters`: pc, sp, a0..a3), and [`interrupted_at`] turns pc, `a1` (the
//! last reading) and `a3` into the instruction count at the interrupt: no loop phase
//! blurs it, so the figure is exact and repeats.

#[cfg(target_arch = "riscv64")]
use core::sync::atomic::AtomicUsize;

/// Readings in one pass of the traced block.
pub const TRACE_RECORDS: usize = 64;
/// Bytes of code per reading (`rdinstret` and `sd`, 4 bytes each).
const RECORD_BYTES: usize = 8;

/// Writes the instruction counter into `buffer`, reading after reading, for ever (see the
/// module doc). Run it in a thread of its own at a low priority.
#[cfg(target_arch = "riscv64")]
#[inline(never)]
pub fn trace_instructions(buffer: &'static [AtomicUsize; TRACE_RECORDS]) -> ! {
    // SAFETY: the block writes only the words of `buffer` (offsets 0..8 * TRACE_RECORDS,
    // aligned, as an `AtomicUsize` store would: the words are atomics shared by reference,
    // so plain stores from here race with nothing Rust assumes about them), reads only the
    // counter, uses a0, a1 and a3 and no stack, and never returns.
    unsafe {
        core::arch::asm!(
            ".option push",
            ".option norvc",
            "la a3, 2f",
            "2:",
            ".set lattice_trace_offset, 0",
            ".rept {records}",
            "rdinstret a1",
            "sd a1, lattice_trace_offset(a0)",
            ".set lattice_trace_offset, lattice_trace_offset + 8",
            ".endr",
            "j 2b",
            ".option pop",
            records = const TRACE_RECORDS,
            in("a0") buffer.as_ptr(),
            options(noreturn, nostack),
        )
    }
}

/// The instructions the tracing thread had retired when it was interrupted (as
/// `rdinstret` counts them), from its saved registers `[pc, sp, a0, a1, a2, a3]`; `None`
/// if its pc is not in the traced block.
pub fn interrupted_at(registers: [usize; 6]) -> Option<usize> {
    let [pc, _, _, last_reading, _, block] = registers;
    let offset = pc.checked_sub(block)?;
    let end = TRACE_RECORDS * RECORD_BYTES;
    if offset > end || !offset.is_multiple_of(4) {
        return None;
    }
    let retired_since_reading = if offset == end {
        // At the jump: the last reading and its store retired.
        2
    } else if offset % RECORD_BYTES != 0 {
        // At a store: only the reading before it retired.
        1
    } else if offset == 0 {
        // Back at the first reading: the last pair and the jump retired.
        3
    } else {
        // At a reading: the pair before it retired.
        2
    };
    last_reading.checked_add(retired_since_reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pc_says_how_far_the_pass_got() {
        let block = 0x1000;
        let at = |pc: usize| interrupted_at([pc, 0, 0, 500, 0, block]);
        assert_eq!(at(block + 8 * 5 + 4), Some(501));
        assert_eq!(at(block + 8 * 5), Some(502));
        assert_eq!(at(block + 8 * TRACE_RECORDS), Some(502));
        assert_eq!(at(block), Some(503));
        assert_eq!(at(block - 4), None);
        assert_eq!(at(block + 8 * TRACE_RECORDS + 4), None);
        assert_eq!(at(block + 2), None);
    }
}
