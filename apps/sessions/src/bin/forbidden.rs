//! `forbidden`: misbehaves towards the security server, the one server it can reach, and
//! reports the answers: first a request that is not one (bytes that do not decode), which
//! must get the typed `Malformed` error while the server goes on serving; then a
//! connection the policy does not give it (the process manager, to spawn programs), which
//! must be denied naming the rule. Exit status 1 is the expected outcome; 0 would mean the
//! policy let it through, 2 that the malformed request was not refused as it should be.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use grant::Rights;
use security_api::{Security, SecurityClient, SecurityError};
use userlib::ipc::{self, Message};
use userlib::println;
use userlib::rpc::{self, CapabilitySlot, Protocol, RpcError};

userlib::entry!(main);

/// A receive slot: CNode 0 means the thread's own CSpace root (a spawned program holds no
/// capability to its CNode); slot 32 is free.
const CNODE: usize = 0;
const FREE_SLOT: usize = 32;

fn main() -> i32 {
    let Some(session) = userlib::start::service("security") else {
        println!("forbidden: started without a session with the security server");
        return 1;
    };
    let security = SecurityClient::new(session);
    // A well-framed message whose bytes are no request: variant 99 of 12.
    let mut garbage = Message::new(Security::LABEL, &[]);
    let answer = rpc::pack(&[99], &mut garbage.words)
        .map_err(|_| kernel_abi::Error::InvalidArgument)
        .and_then(|length| {
            garbage.length = length;
            ipc::call(session, &garbage)
        })
        .map(|reply| rpc::decode_reply::<Security>(&reply));
    match answer {
        Ok(Err(SecurityError::Rpc(RpcError::Malformed))) => {
            println!("forbidden: a malformed request got: {}", SecurityError::Rpc(RpcError::Malformed));
        }
        other => {
            println!("forbidden: a malformed request was not refused as malformed: {other:?}");
            return 2;
        }
    }
    let into = CapabilitySlot { cnode: CNODE, index: FREE_SLOT };
    match security.connect("proc", Rights::SPAWN, into) {
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
