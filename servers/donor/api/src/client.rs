//! The client wrapper: one method per request.

use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{Client, RpcError};

use crate::{Donor, DonorError, MemoryInfo, QuotaInfo, Request, Response};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> DonorError {
    DonorError::Rpc(RpcError::Malformed)
}

/// A client of the donor, through a session capability.
#[derive(Clone, Copy, Debug)]
pub struct DonorClient {
    client: Client<Donor>,
}

impl DonorClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    /// The caller's quota.
    pub fn quota(&self) -> Result<QuotaInfo, DonorError> {
        match self.client.call(&Request::Quota)? {
            Response::Quota(quota) => Ok(quota),
            _ => Err(unexpected()),
        }
    }

    /// Donates `bytes` to the server of `connection`; returns the bytes donated.
    pub fn donate(&self, connection: u64, bytes: u64) -> Result<u64, DonorError> {
        match self.client.call(&Request::Donate { to_connection: connection, bytes })? {
            Response::Donated { bytes } => Ok(bytes),
            _ => Err(unexpected()),
        }
    }

    /// Takes back what was donated to `connection`; returns the bytes.
    pub fn reclaim(&self, connection: u64) -> Result<u64, DonorError> {
        match self.client.call(&Request::Reclaim { connection })? {
            Response::Reclaimed { bytes } => Ok(bytes),
            _ => Err(unexpected()),
        }
    }

    /// The system's memory with every process (asking page by page).
    pub fn free(&self) -> Result<MemoryInfo, DonorError> {
        let mut processes = Vec::new();
        let mut after = 0;
        loop {
            let Response::Memory(page) = self.client.call(&Request::Free { after })? else {
                return Err(unexpected());
            };
            let last = page.per_process.last().map(|process| process.pid);
            let (total, free, more) = (page.total, page.free, page.more);
            processes.extend(page.per_process);
            match last {
                // A page must move forward, or a confused server would keep us here.
                Some(pid) if more && pid > after => after = pid,
                _ => return Ok(MemoryInfo { total, free, per_process: processes, more: false }),
            }
        }
    }
}
