//! `hold`: opens a session with the console through the security server (the one
//! capability it starts with), says which connection it holds, and keeps using it (a read
//! of nothing, over and over: the console answers it, with `NotForeground` in the
//! background) until a call cannot be made: after `revoke ID` in the shell, the next call
//! finds no capability. It reports that, and stays (yielding) so the shell can
//! see its quota with the donation returned; `kill` ends it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use console_api::{ConsoleClient, ConsoleError};
use grant::Rights;
use security_api::SecurityClient;
use userlib::println;
use userlib::rpc::CapabilitySlot;

userlib::entry!(main);

/// Where the console session goes: a free slot of the program's CNode.
const CONSOLE: usize = 32;
/// A receive slot's CNode 0 means the thread's own CSpace root (a spawned program holds
/// no capability to its CNode).
const CNODE: usize = 0;

fn main() -> i32 {
    let Some(security) = SecurityClient::from_start_info() else {
        println!("hold: started without a session with the security server");
        return 1;
    };
    let into = CapabilitySlot { cnode: CNODE, index: CONSOLE };
    let connection = match security.connect("console", Rights::WRITE, into) {
        Ok(connection) => connection,
        Err(error) => {
            println!("hold: cannot connect to the console: {error}");
            return 1;
        }
    };
    let console = ConsoleClient::new(CONSOLE);
    let _ =
        console.write(alloc::format!("hold: holding connection {connection} to the console\n").as_bytes());
    let mut calls: u64 = 0;
    let error = loop {
        match console.read(0) {
            Err(error @ ConsoleError::Rpc(_)) => break error,
            _ => calls += 1,
        }
    };
    println!("hold: connection {connection} is gone after {calls} calls: {error}");
    loop {
        userlib::syscall::yield_now();
    }
}
