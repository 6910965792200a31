//! `crash-kernel-read`: loads from the kernel image, which user mode may not read.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

userlib::entry!(main);

fn main() -> i32 {
    userlib::println!("crash-kernel-read: reading kernel memory");
    userlib::fault::load_from_kernel()
}
