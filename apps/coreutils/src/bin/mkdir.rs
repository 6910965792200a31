//! `mkdir [-p] DIRECTORY...`: makes directories (`-p`: and their missing parents). The work is `coreutils::MKDIR` (host-tested);
//! this is the program around it: see `coreutils::lattice`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
userlib::entry!(main);

#[cfg(target_os = "none")]
fn main() -> i32 {
    coreutils::lattice::main(&coreutils::MKDIR)
}

/// On the host this binary only says where it runs: the library is what the tests use.
#[cfg(not(target_os = "none"))]
fn main() {
    println!("mkdir: runs on Lattice; `cargo test -p coreutils` tests it here");
}
