//! The Lattice user runtime: what every user program links.
//!
//! - [`entry!`] makes a function the program's entry point; its return value is the exit
//!   status.
//! - [`syscall`] has one safe wrapper per system call.
//! - [`print!`] and [`println!`] write to the kernel debug console.
//! - A panic prints its message and location and exits with status 101.
//!
//! This crate and the kernel are the only places user-level `unsafe` may live: programs,
//! servers and the shell `forbid(unsafe_code)` and reach the machine through here.
#![no_std]

pub mod fault;
pub mod print;
pub mod syscall;

pub use kernel_abi::Error;

/// The exit status of a program that panicked.
pub const PANIC_EXIT_STATUS: usize = 101;

/// Declares `main` (a `fn() -> i32` or `fn() -> usize`) as the program's entry point.
///
/// ```ignore
/// userlib::entry!(main);
/// fn main() -> i32 { userlib::println!("hello"); 0 }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn _start() -> ! {
            $crate::syscall::exit($main() as usize)
        }
    };
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(location) => println!("panic at {}:{}: {}", location.file(), location.line(), info.message()),
        None => println!("panic: {}", info.message()),
    }
    syscall::exit(PANIC_EXIT_STATUS)
}
