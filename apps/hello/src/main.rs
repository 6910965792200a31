//! `hello`: prints a greeting with its arguments, if it has any (`hello from the manifest`),
//! through the kernel's debug console, which needs no capability: a program starts with
//! only its session with the security server.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use core::fmt::Write;

use userlib::println;

userlib::entry!(main);

fn main() -> i32 {
    let Some(info) = userlib::start::info() else {
        println!("hello, world");
        return 0;
    };
    let mut greeting = String::from("hello");
    if info.argument_count == 0 {
        greeting.push_str(", world");
    }
    for argument in info.arguments() {
        let _ = write!(greeting, " {argument}");
    }
    println!("{greeting}");
    0
}
