//! `survivor`: runs first, lets the crash programs run and fault, then checks that the kernel
//! still serves it and rejects bad syscall arguments with the right error codes.
//!
//! Boot it as the root task with the crash programs after it
//! (`lattice.boot=survivor,crash,...`): its `yield` puts it behind them in the run queue, so
//! each of them runs and faults while it checks (usually before it continues; a timer tick
//! may preempt one in the middle, and it then faults at one of the later yields). Each check
//! has an id and a sentence (its table is [`CHECKS`]) and prints one line
//! (`survivor: ok   SURVIVOR0001 ...`, the `checks` crate's form); its exit status is the
//! number of failed checks, which becomes QEMU's exit code.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use checks::{Check, Report};
use userlib::syscall::{self, debug_write_address, undefined};
use userlib::{Error, println};

userlib::entry!(main);

const NULL: Check = Check::new("SURVIVOR0001", "debug_write of null is InvalidUserPointer");
const KERNEL_MEMORY: Check = Check::new("SURVIVOR0002", "debug_write of kernel memory is InvalidUserPointer");
const WRAPPING: Check =
    Check::new("SURVIVOR0003", "debug_write wrapping around the address space is InvalidUserPointer");
const PAST_USER_SPACE: Check =
    Check::new("SURVIVOR0004", "debug_write past the end of user space is InvalidUserPointer");
const OFF_THE_STACK: Check =
    Check::new("SURVIVOR0005", "debug_write running off the stack top is InvalidUserPointer");
const TOO_LONG: Check = Check::new("SURVIVOR0006", "debug_write longer than the limit is InvalidArgument");
const EMPTY: Check =
    Check::new("SURVIVOR0007", "debug_write of an empty slice writes 0 bytes, whatever the address");
const UNDEFINED: Check = Check::new("SURVIVOR0008", "undefined syscall 9999 is InvalidSyscall");
const UNDEFINED_MAX: Check = Check::new("SURVIVOR0009", "undefined syscall usize::MAX is InvalidSyscall");
const FLOATING_POINT: Check =
    Check::new("SURVIVOR0010", "floating point state survives ten yields to other programs");
/// Every check, in the order they run.
static CHECKS: [Check; 10] = [
    NULL,
    KERNEL_MEMORY,
    WRAPPING,
    PAST_USER_SPACE,
    OFF_THE_STACK,
    TOO_LONG,
    EMPTY,
    UNDEFINED,
    UNDEFINED_MAX,
    FLOATING_POINT,
];

fn main() -> i32 {
    println!("survivor: yielding to the other boot programs");
    syscall::yield_now();
    println!("survivor: running again");

    let mut report = Report::new("survivor", &CHECKS, |line| println!("{line}"));
    let stack_byte = 0u8;
    let on_stack = core::ptr::addr_of!(stack_byte) as usize;
    report.check_eq(&NULL, debug_write_address(0, 16), Err(Error::InvalidUserPointer));
    report.check_eq(
        &KERNEL_MEMORY,
        debug_write_address(0xffff_ffff_8020_0000, 16),
        Err(Error::InvalidUserPointer),
    );
    report.check_eq(&WRAPPING, debug_write_address(usize::MAX - 7, 16), Err(Error::InvalidUserPointer));
    report.check_eq(&PAST_USER_SPACE, debug_write_address((1 << 38) - 8, 16), Err(Error::InvalidUserPointer));
    report.check_eq(
        &OFF_THE_STACK,
        debug_write_address(0x3f_ffff_0000 - 8, 16),
        Err(Error::InvalidUserPointer),
    );
    report.check_eq(&TOO_LONG, debug_write_address(on_stack, 1 << 20), Err(Error::InvalidArgument));
    report.check_eq(&EMPTY, debug_write_address(0, 0), Ok(0));
    for (check, number, arguments) in
        [(&UNDEFINED, 9999, [1, 2, 3, 4, 5, 6]), (&UNDEFINED_MAX, usize::MAX, [usize::MAX; 6])]
    {
        // `None`: the number is defined, which is a failure of its own.
        report.check_eq(check, undefined(number, arguments), Some(Err(Error::InvalidSyscall)));
    }
    // The kernel must have preserved our registers and floating-point state across all this.
    let mut sum = 0.0f64;
    for value in 1..=10 {
        sum += 1.0 / f64::from(value);
        syscall::yield_now();
    }
    let expected = 2.928_968_253_968_254f64;
    report.check(&FLOATING_POINT, (sum - expected).abs() < 1e-12, sum);
    i32::try_from(report.finish()).unwrap_or(i32::MAX)
}
