//! The root task: the first user program, started by the kernel.
//!
//! It will hold every capability at boot and start the system from the manifest. Until the
//! kernel has capabilities it greets, shows that user mode can use the FPU and the
//! instruction counter, and exits; its exit status becomes the machine's.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use userlib::println;

userlib::entry!(main);

fn main() -> i32 {
    let start = userlib::syscall::instructions_retired();
    println!("root: hello from user mode");
    // Floating point works in user mode (the kernel saves and restores the registers).
    let mut area = 0.0f64;
    for step in 0..1000 {
        let x = (f64::from(step) + 0.5) / 1000.0;
        area += 4.0 / (1.0 + x * x) / 1000.0;
    }
    let elapsed = userlib::syscall::instructions_retired() - start;
    println!("root: pi is about {area:.3}; that took {elapsed} instructions");
    println!("root: nothing more to start yet; exiting");
    0
}
