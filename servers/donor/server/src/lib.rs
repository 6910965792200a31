//! The resource donor's books (DESIGN.md §6), kept apart from kernel objects so the host
//! tests check every rule: each process's quota (what it was granted, what its own
//! objects use, what it donated), each connection's charge, and the memory not granted.
//!
//! The program around the [`Ledger`] holds the memory itself: equal chunks of Untyped, one
//! per process quota. Half a chunk is the process's own memory (moved to the process
//! manager); the other half pays for the process's sessions, so what a process may donate
//! is that half ([`Ledger::charge`] refuses beyond it). A boot server pays from an
//! allowance the donor sets aside from a chunk of its own.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use donor_api::{DonorError, MemoryInfo, ProcessMemory, QuotaInfo};

/// What a boot server (started by the root task from the manifest, with memory the
/// manifest gave it) may donate to sessions: it has no quota from the donor, so its
/// sessions are paid from this allowance, booked like any quota.
pub const BOOT_ALLOWANCE: u64 = 1 << 20;

/// Most processes one `Free` answer lists.
pub const FREE_PAGE: usize = 8;

/// One account: a process's quota, or a boot server's allowance.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    /// The process's pid (0 for a boot server).
    pid: u32,
    program: String,
    granted: u64,
    used: u64,
    donated: u64,
    /// Whether memory backs it (a quota) or it is a boot server's allowance.
    backed: bool,
    /// What it may donate in all (half its quota, or the allowance).
    reserve: u64,
}

impl Account {
    fn free(&self) -> u64 {
        self.granted.saturating_sub(self.used).saturating_sub(self.donated)
    }

    /// What it may still donate.
    fn donatable(&self) -> u64 {
        self.reserve.saturating_sub(self.donated).min(self.free())
    }
}

/// A connection's charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Charge {
    client: u64,
    server: u64,
    bytes: u64,
    taken: bool,
}

/// The books.
#[derive(Debug)]
pub struct Ledger {
    /// Bytes of memory the donor owns.
    total: u64,
    /// Bytes granted as quotas (memory that left the donor).
    granted: u64,
    /// Accounts by security client id.
    accounts: BTreeMap<u64, Account>,
    /// Charges by connection id.
    charges: BTreeMap<u64, Charge>,
}

impl Ledger {
    /// Books for `total` bytes, nothing granted.
    pub fn new(total: u64) -> Self {
        Self { total, granted: 0, accounts: BTreeMap::new(), charges: BTreeMap::new() }
    }

    /// A quota of `bytes` for process `pid` of `program`, security client `client`. The
    /// caller has the memory; the books say it left the donor.
    pub fn grant(&mut self, client: u64, pid: u32, program: &str, bytes: u64) -> Result<(), DonorError> {
        if self.accounts.contains_key(&client) {
            return Err(DonorError::NotPermitted);
        }
        if bytes > self.total - self.granted {
            return Err(DonorError::OutOfMemory);
        }
        self.granted += bytes;
        let account = Account {
            pid,
            program: String::from(program),
            granted: bytes,
            used: 0,
            donated: 0,
            backed: true,
            reserve: bytes / 2,
        };
        self.accounts.insert(client, account);
        Ok(())
    }

    /// Process `client` uses `bytes` of its quota for its own objects.
    pub fn report(&mut self, client: u64, bytes: u64) -> Result<(), DonorError> {
        let account = self.accounts.get_mut(&client).ok_or(DonorError::NoSuchClient)?;
        account.used = bytes.min(account.granted);
        Ok(())
    }

    /// Process `client` ended: its quota returns (with whatever its sessions were
    /// charged; their connections are gone with it). Returns the bytes freed.
    pub fn release(&mut self, client: u64) -> Result<u64, DonorError> {
        let account = self.accounts.remove(&client).ok_or(DonorError::NoSuchClient)?;
        self.charges.retain(|_, charge| charge.client != client);
        let bytes = if account.backed { account.granted } else { 0 };
        self.granted -= bytes;
        Ok(bytes)
    }

    /// Client `client` (`program`) pays `bytes` for connection `connection`, served by
    /// `server`. A client the donor has no quota for is a boot server: it gets
    /// [`BOOT_ALLOWANCE`] to pay from. Returns whether memory backs the account (a quota)
    /// or not (an allowance).
    pub fn charge(
        &mut self,
        client: u64,
        program: &str,
        connection: u64,
        bytes: u64,
        server: u64,
    ) -> Result<bool, DonorError> {
        if self.charges.contains_key(&connection) {
            return Err(DonorError::AlreadyCharged);
        }
        if client >= security_api::FIRST_SPAWNED_CLIENT && !self.accounts.contains_key(&client) {
            return Err(DonorError::NoSuchClient);
        }
        let account = self.accounts.entry(client).or_insert_with(|| Account {
            pid: 0,
            program: String::from(program),
            granted: BOOT_ALLOWANCE,
            used: 0,
            donated: 0,
            backed: false,
            reserve: BOOT_ALLOWANCE,
        });
        if bytes > account.donatable() {
            return Err(DonorError::QuotaExceeded { free: account.donatable() });
        }
        account.donated += bytes;
        self.charges.insert(connection, Charge { client, server, bytes, taken: false });
        Ok(account.backed)
    }

    /// `caller` takes the memory of connection `connection`: only its server, once.
    /// Returns the bytes.
    pub fn take(&mut self, caller: u64, connection: u64) -> Result<u64, DonorError> {
        let charge = self.charges.get_mut(&connection).ok_or(DonorError::NotPermitted)?;
        if charge.server != caller || charge.taken {
            return Err(DonorError::NotPermitted);
        }
        charge.taken = true;
        Ok(charge.bytes)
    }

    /// Connection `connection` closed: its charge returns to its client. Returns the
    /// bytes (0 if it was never charged, or its client already ended).
    pub fn reclaim(&mut self, connection: u64) -> u64 {
        let Some(charge) = self.charges.remove(&connection) else { return 0 };
        if let Some(account) = self.accounts.get_mut(&charge.client) {
            account.donated -= charge.bytes;
        }
        charge.bytes
    }

    /// The memory, with the accounts of clients above `after` (at most `limit`).
    pub fn memory(&self, after: u64, limit: usize) -> MemoryInfo {
        let mut accounts = self.accounts.range(after.saturating_add(1)..);
        let per_process: Vec<ProcessMemory> = accounts
            .by_ref()
            .take(limit)
            .map(|(&client, account)| ProcessMemory {
                client,
                pid: account.pid,
                program: account.program.clone(),
                quota: QuotaInfo { granted: account.granted, used: account.used, free: account.free() },
                donated: account.donated,
            })
            .collect();
        MemoryInfo {
            total: self.total,
            free: self.total - self.granted,
            per_process,
            more: accounts.next().is_some(),
        }
    }
}

#[cfg(test)]
mod tests;
