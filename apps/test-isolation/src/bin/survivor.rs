//! `survivor`: runs first, lets the crash programs run and fault, then checks that the kernel
//! still serves it and rejects bad syscall arguments with the right error codes.
//!
//! Boot it as the root task with the crash programs after it
//! (`lattice.boot=survivor,crash,...`): its `yield` puts it behind them in the run queue, so
//! each of them runs and faults while it checks (usually before it continues; a timer tick
//! may preempt one in the middle, and it then faults at one of the later yields). Its exit
//! status is the number of failed checks, which becomes QEMU's exit code.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use userlib::syscall::{self, debug_write_address, undefined};
use userlib::{Error, println};

userlib::entry!(main);

fn check(name: &str, got: Result<usize, Error>, expected: Result<usize, Error>, failures: &mut i32) {
    if got == expected {
        println!("survivor: ok   {name}");
    } else {
        println!("survivor: FAIL {name}: got {got:?}, expected {expected:?}");
        *failures += 1;
    }
}

fn main() -> i32 {
    println!("survivor: yielding to the other boot programs");
    syscall::yield_now();
    println!("survivor: running again");

    let mut failures = 0;
    let stack_byte = 0u8;
    let on_stack = core::ptr::addr_of!(stack_byte) as usize;
    check("debug_write of null", debug_write_address(0, 16), Err(Error::InvalidUserPointer), &mut failures);
    check(
        "debug_write of kernel memory",
        debug_write_address(0xffff_ffff_8020_0000, 16),
        Err(Error::InvalidUserPointer),
        &mut failures,
    );
    check(
        "debug_write wrapping around the address space",
        debug_write_address(usize::MAX - 7, 16),
        Err(Error::InvalidUserPointer),
        &mut failures,
    );
    check(
        "debug_write past the end of user space",
        debug_write_address((1 << 38) - 8, 16),
        Err(Error::InvalidUserPointer),
        &mut failures,
    );
    check(
        "debug_write running off the stack top",
        debug_write_address(0x3f_ffff_0000 - 8, 16),
        Err(Error::InvalidUserPointer),
        &mut failures,
    );
    check(
        "debug_write longer than the limit",
        debug_write_address(on_stack, 1 << 20),
        Err(Error::InvalidArgument),
        &mut failures,
    );
    check("debug_write of an empty slice", debug_write_address(0, 0), Ok(0), &mut failures);
    for (name, number, arguments) in [
        ("undefined syscall 9999", 9999, [1, 2, 3, 4, 5, 6]),
        ("undefined syscall usize::MAX", usize::MAX, [usize::MAX; 6]),
    ] {
        match undefined(number, arguments) {
            Some(result) => check(name, result, Err(Error::InvalidSyscall), &mut failures),
            None => {
                println!("survivor: FAIL {name}: the number is defined");
                failures += 1;
            }
        }
    }
    // The kernel must have preserved our registers and floating-point state across all this.
    let mut sum = 0.0f64;
    for value in 1..=10 {
        sum += 1.0 / f64::from(value);
        syscall::yield_now();
    }
    let expected = 2.928_968_253_968_254f64;
    let fp_ok = (sum - expected).abs() < 1e-12;
    check("floating point across yields", Ok(usize::from(fp_ok)), Ok(1), &mut failures);
    println!("survivor: done, {failures} checks failed");
    failures
}
