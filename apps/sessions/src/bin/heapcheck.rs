//! `heapcheck`: uses nearly all of its heap, whose pages the process manager makes on first
//! touch, and checks that every byte holds what was written; with `past`, it then reads
//! the word just past the heap, which is no page of its stack or heap, so it must fault
//! there rather than be given a page.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use userlib::println;

userlib::entry!(main);

/// Bytes it fills: most of the 256 KiB heap a spawned program gets.
const BYTES: usize = 200 * 1024;

fn main() -> i32 {
    let past = userlib::start::info().is_some_and(|info| info.arguments().any(|argument| argument == "past"));
    let mut bytes: Vec<u8> = Vec::with_capacity(BYTES);
    bytes.extend((0..BYTES).map(|index| u8::try_from(index % 251).unwrap_or(0)));
    let whole = bytes.iter().enumerate().all(|(index, &byte)| usize::from(byte) == index % 251);
    let sum: u64 = bytes.iter().map(|&byte| u64::from(byte)).sum();
    if !whole {
        println!("heapcheck: the heap does not hold what was written");
        return 1;
    }
    println!("heapcheck: {} KiB of heap written and read back, sum {sum}", BYTES / 1024);
    if past {
        let Some((start, size)) = userlib::heap::region() else {
            println!("heapcheck: no heap region");
            return 1;
        };
        let address = start + size;
        println!("heapcheck: reading past the heap at {address:#x}");
        let _ = userlib::memory::read_word(address);
        println!("heapcheck: the read past the heap did not fault");
        return 3;
    }
    0
}
