//! `touch FILE...`: makes empty files where there are none. The work is `coreutils::TOUCH` (host-tested);
//! this is the program around it: see `coreutils::lattice`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(main);

#[cfg(target_os = "none")]
fn main() -> i32 {
    coreutils::lattice::main(&coreutils::TOUCH)
}

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("touch: runs on Lattice; `cargo test -p coreutils` tests it here");
}
