//! `crash`: stores through a null pointer. The kernel must report it and stop only this program.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

userlib::entry!(main);

fn main() -> i32 {
    userlib::println!("crash: storing to address 0");
    userlib::fault::store_to_null()
}
