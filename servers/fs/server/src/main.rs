//! `fs`: the filesystem server. Its logic is the library (`fs::Volume` over a
//! `fs::BlockDevice`), which the host tests exercise over an in-memory device; the program
//! that drives virtio-blk and serves `fs-api` on the server kit is not wired yet (see
//! CAVEATS.md), so on Lattice this binary only says so and exits with status 1. No
//! manifest starts it.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(lattice_main);

/// On Lattice: the server's main is still to come.
#[cfg(target_os = "none")]
fn lattice_main() -> i32 {
    userlib::println!("fs: the filesystem server's main is not wired to the server kit yet");
    1
}

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("fs: the filesystem server runs on Lattice; `cargo test -p fs` tests its logic");
}
