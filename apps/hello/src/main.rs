//! `hello`: the smallest program, used to show that programs run.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

userlib::entry!(main);

fn main() -> i32 {
    userlib::println!("hello, world");
    0
}
