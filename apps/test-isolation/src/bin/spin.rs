//! `spin`: computes forever, in integer and floating-point registers, without a single
//! syscall. Only the timer can take the processor away from it, so another program
//! finishing proves preemption works; that program's floating-point results staying right
//! proves the kernel keeps each thread's FP registers apart.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

userlib::entry!(main);

fn main() -> i32 {
    userlib::println!("spin: spinning forever");
    let mut integer = 1u64;
    let mut real = [1.5f64, -2.25, 3.125, 1e10];
    loop {
        integer = black_box(integer.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        for value in &mut real {
            *value = black_box(*value * 1.000_000_1 + 0.5);
        }
    }
}
