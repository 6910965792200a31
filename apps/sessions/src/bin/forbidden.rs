//! `forbidden`: asks the security server for a connection the policy does not give it
//! (the process manager, to spawn programs) and reports the answer: a denial naming the
//! rule, exit status 1. Exit status 0 would mean the policy let it through.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use policy::Rights;
use security_api::SecurityClient;
use userlib::println;
use userlib::rpc::CapabilitySlot;

userlib::entry!(main);

/// Where the session with the security server is (`loader::server_slots::FIRST_CLIENT`).
const SECURITY: usize = 16;
/// A receive slot: CNode 0 means the thread's own CSpace root (a spawned program holds no
/// capability to its CNode); slot 32 is free.
const CNODE: usize = 0;
const FREE_SLOT: usize = 32;

fn main() -> i32 {
    let security = SecurityClient::new(SECURITY);
    let into = CapabilitySlot { cnode: CNODE, index: FREE_SLOT };
    match security.connect("proc", Rights::SPAWN.bits(), into) {
        Ok(connection) => {
            println!("forbidden: the policy let connection {connection} to proc through");
            0
        }
        Err(error) => {
            println!("forbidden: connect to proc: {error}");
            1
        }
    }
}
