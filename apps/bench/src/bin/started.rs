//! `started`: exits with the instruction count at which it started
//! (`userlib::start::started_at`), so `bench-proc` can measure a spawn from the request to
//! the new program's first code.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

userlib::entry!(main);

fn main() -> usize {
    usize::try_from(userlib::start::started_at()).unwrap_or(usize::MAX)
}
