//! The donor's books: quotas granted from the memory, sessions paid from quotas and given
//! back, boot servers' allowances, a process's end returning everything.

use donor_api::DonorError;

use crate::{BOOT_ALLOWANCE, Ledger};

const MIB: u64 = 1 << 20;
const SHELL: u64 = 3;
const HELLO: u64 = 1000;
/// The server the sessions here are with.
const CONSOLE: u64 = 1;

#[test]
fn quotas_come_out_of_the_memory_and_go_back() {
    let mut ledger = Ledger::new(8 * MIB);
    ledger.grant(HELLO, 1, "hello", 4 * MIB).expect("fits");
    ledger.grant(HELLO + 1, 2, "spin", 4 * MIB).expect("fits");
    assert_eq!(ledger.grant(HELLO + 2, 3, "third", 4 * MIB), Err(DonorError::OutOfMemory));
    assert_eq!(ledger.grant(HELLO, 4, "again", MIB), Err(DonorError::NotPermitted), "one quota per client");
    assert_eq!(ledger.memory(0, 8).free, 0);
    assert_eq!(ledger.release(HELLO), Ok(4 * MIB));
    assert_eq!(ledger.release(HELLO), Err(DonorError::NoSuchClient));
    assert_eq!(ledger.memory(0, 8).free, 4 * MIB);
}

#[test]
fn a_session_is_paid_from_the_quota_and_given_back() {
    let mut ledger = Ledger::new(8 * MIB);
    ledger.grant(HELLO, 1, "hello", 4 * MIB).expect("fits");
    ledger.report(HELLO, 3 * MIB).expect("known");
    assert_eq!(
        ledger.charge(HELLO, "/bin/hello", 1 << 16, 512 << 10, CONSOLE),
        Ok(true),
        "a quota has memory"
    );
    let quota = ledger.memory(0, 8).per_process[0].quota;
    assert_eq!((quota.granted, quota.used, quota.free), (4 * MIB, 3 * MIB, 512 << 10));
    assert_eq!(ledger.charge(HELLO, "/bin/hello", 1 << 16, 1, CONSOLE), Err(DonorError::AlreadyCharged));
    assert_eq!(
        ledger.charge(HELLO, "/bin/hello", (1 << 16) + 1, MIB, CONSOLE),
        Err(DonorError::QuotaExceeded { free: 512 << 10 }),
        "a client cannot pay for more than it has"
    );
    assert_eq!(ledger.memory(0, 8).per_process[0].donated, 512 << 10, "a refused charge books nothing");
    assert_eq!(ledger.reclaim(1 << 16), 512 << 10);
    assert_eq!(ledger.reclaim(1 << 16), 0, "once");
    assert_eq!(ledger.memory(0, 8).per_process[0].donated, 0);
}

#[test]
fn a_boot_server_pays_from_its_allowance_and_no_memory_moves() {
    let mut ledger = Ledger::new(8 * MIB);
    assert_eq!(
        ledger.charge(SHELL, "/bin/shell", 1 << 16, 16 << 10, CONSOLE),
        Ok(false),
        "no memory behind an allowance"
    );
    let memory = ledger.memory(0, 8);
    assert_eq!(memory.free, 8 * MIB);
    let shell = &memory.per_process[0];
    assert_eq!((shell.client, shell.pid, shell.program.as_str()), (SHELL, 0, "/bin/shell"));
    assert_eq!(shell.quota.free, BOOT_ALLOWANCE - (16 << 10));
    assert_eq!(
        ledger.charge(HELLO, "/bin/hello", 2 << 16, 1, CONSOLE),
        Err(DonorError::NoSuchClient),
        "spawned: quota first"
    );
    assert_eq!(ledger.release(SHELL), Ok(0));
    assert_eq!(ledger.memory(0, 8).free, 8 * MIB);
}

#[test]
fn an_ended_process_takes_its_charges_with_it() {
    let mut ledger = Ledger::new(8 * MIB);
    ledger.grant(HELLO, 1, "hello", 4 * MIB).expect("fits");
    ledger.charge(HELLO, "/bin/hello", 1 << 16, 4096, CONSOLE).expect("paid");
    ledger.release(HELLO).expect("ends");
    assert_eq!(ledger.reclaim(1 << 16), 0, "nothing to give back to");
}

#[test]
fn accounts_page_in_client_order() {
    let mut ledger = Ledger::new(64 * MIB);
    for index in 0..5 {
        ledger.grant(HELLO + index, 1 + u32::try_from(index).expect("small"), "p", MIB).expect("fits");
    }
    let first = ledger.memory(0, 2);
    assert!(first.more);
    assert_eq!(
        first.per_process.iter().map(|p| p.client).collect::<alloc::vec::Vec<_>>(),
        [HELLO, HELLO + 1]
    );
    let last = ledger.memory(HELLO + 3, 2);
    assert!(!last.more);
    assert_eq!(last.per_process.len(), 1);
}

#[test]
fn a_process_donates_at_most_half_its_quota() {
    let mut ledger = Ledger::new(8 * MIB);
    ledger.grant(HELLO, 1, "hello", 4 * MIB).expect("fits");
    ledger.report(HELLO, 256 << 10).expect("known");
    ledger.charge(HELLO, "/bin/hello", 1 << 16, 2 * MIB, CONSOLE).expect("the donation half");
    assert_eq!(
        ledger.charge(HELLO, "/bin/hello", (1 << 16) + 1, 4096, CONSOLE),
        Err(DonorError::QuotaExceeded { free: 0 }),
        "the other half is the process's own memory"
    );
}

#[test]
fn only_the_connections_server_takes_its_memory_once() {
    let mut ledger = Ledger::new(8 * MIB);
    ledger.grant(HELLO, 1, "hello", 4 * MIB).expect("fits");
    ledger.charge(HELLO, "/bin/hello", 1 << 16, 16 << 10, CONSOLE).expect("paid");
    assert_eq!(ledger.take(CONSOLE + 1, 1 << 16), Err(DonorError::NotPermitted), "another server");
    assert_eq!(ledger.take(CONSOLE, 2 << 16), Err(DonorError::NotPermitted), "no such connection");
    assert_eq!(ledger.take(CONSOLE, 1 << 16), Ok(16 << 10));
    assert_eq!(ledger.take(CONSOLE, 1 << 16), Err(DonorError::NotPermitted), "once");
    assert_eq!(ledger.reclaim(1 << 16), 16 << 10);
    assert_eq!(ledger.take(CONSOLE, 1 << 16), Err(DonorError::NotPermitted), "gone with its charge");
}
