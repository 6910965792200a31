//! `greedy`: opens console sessions until the security server refuses one, to show that a
//! client cannot make servers hold more sessions than its quota pays for. Each session
//! costs the console's price (16 KiB) out of this program's quota; it asks without naming a
//! slot for the session capability, so none arrives (the connection stays open all the
//! same: the security server holds its root), and its few capability slots are no limit. It reports how many it opened and the
//! refusal, then waits to be killed (so `free` can show what it donated); its end closes
//! every connection and the donations come back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::ToString;

use grant::Rights;
use security_api::{Request, Response, Security, SecurityError};
use userlib::println;
use userlib::rpc::Client;

userlib::entry!(main);

/// More sessions than any quota pays for: the loop ends by refusal, not by this.
const MOST: u32 = 10_000;

fn main() -> i32 {
    let Some(security) = userlib::start::service("security").map(Client::<Security>::new) else {
        println!("greedy: started without a session with the security server");
        return 1;
    };
    let request = Request::Connect { service: "console".to_string(), rights: Rights::WRITE };
    let mut opened = 0;
    let refusal = loop {
        if opened == MOST {
            break None;
        }
        match security.call(&request) {
            Ok(Response::Connected { .. }) => opened += 1,
            Ok(other) => {
                println!("greedy: an unexpected answer: {other:?}");
                return 1;
            }
            Err(error) => break Some(error),
        }
    };
    match refusal {
        Some(error @ SecurityError::QuotaExceeded { .. }) => {
            println!("greedy: opened {opened} sessions, then: {error}");
        }
        Some(error) => {
            println!("greedy: opened {opened} sessions, then an unexpected refusal: {error}");
            return 1;
        }
        None => {
            println!("greedy: opened {opened} sessions and was never refused");
            return 1;
        }
    }
    loop {
        userlib::syscall::yield_now();
    }
}
