//! `hello`: the smallest program, used to show that programs run. It greets with its
//! arguments, if it has any (`hello from the manifest`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use userlib::{print, println};

userlib::entry!(main);

fn main() -> i32 {
    match userlib::start::info() {
        Some(info) if info.argument_count > 0 => {
            print!("hello");
            for argument in info.arguments() {
                print!(" {argument}");
            }
            println!();
        }
        _ => println!("hello, world"),
    }
    0
}
