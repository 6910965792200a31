//! `crash-illegal`: executes a supervisor-only instruction.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

userlib::entry!(main);

fn main() -> i32 {
    userlib::println!("crash-illegal: reading sstatus from user mode");
    userlib::fault::illegal_instruction()
}
