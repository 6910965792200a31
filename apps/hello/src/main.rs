//! `hello`: the smallest program, used to show that programs run. It greets with its
//! arguments, if it has any (`hello from the manifest`).
//!
//! Started from a manifest that gives it the console (`uses = ["console"]`, so the endpoint
//! is in `server_slots::FIRST_CLIENT`), it greets through the console server; otherwise
//! (as a boot program, or if the console does not answer) through the kernel's debug console.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use core::fmt::Write;

use console_api::ConsoleClient;
use userlib::{print, println};

userlib::entry!(main);

/// Where a server started from the manifest finds its first used service's endpoint
/// (`loader::server_slots::FIRST_CLIENT`).
const FIRST_CLIENT: usize = 16;

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
    greeting.push('\n');
    if ConsoleClient::new(FIRST_CLIENT).write(greeting.as_bytes()).is_err() {
        print!("{greeting}");
    }
    0
}
