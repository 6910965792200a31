//! The client wrapper: one method per request.

use alloc::string::ToString;
use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{CapabilitySlot, Client, RpcError, Transfer};

use crate::{Donor, DonorError, MemoryInfo, Request, Response};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> DonorError {
    DonorError::Rpc(RpcError::Malformed)
}

/// A client of the donor, through a session or manifest capability.
#[derive(Clone, Copy, Debug)]
pub struct DonorClient {
    client: Client<Donor>,
}

impl DonorClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    /// A quota of `bytes` for process `pid` (the process manager only); its Untyped
    /// arrives in `into`. Returns the bytes granted.
    pub fn grant(
        &self,
        client: u64,
        pid: u32,
        program: &str,
        bytes: u64,
        into: CapabilitySlot,
    ) -> Result<u64, DonorError> {
        let request = Request::Grant { client, pid, program: program.to_string(), bytes };
        match self.client.call_with(&request, Transfer { send: None, receive: Some(into) })? {
            (Response::Granted { bytes }, true) => Ok(bytes),
            // The Untyped did not arrive: the caller's capability lacks GRANT.
            (Response::Granted { .. }, false) => Err(DonorError::NotPermitted),
            _ => Err(unexpected()),
        }
    }

    /// Process `client` uses `bytes` of its quota (the process manager only).
    pub fn report(&self, client: u64, bytes: u64) -> Result<(), DonorError> {
        match self.client.call(&Request::Report { client, bytes })? {
            Response::Reported => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Process `client` ended (the process manager only); returns the bytes freed.
    pub fn release(&self, client: u64) -> Result<u64, DonorError> {
        match self.client.call(&Request::Release { client })? {
            Response::Released { bytes } => Ok(bytes),
            _ => Err(unexpected()),
        }
    }

    /// Charges connection `connection`'s session to client `client` (the security server
    /// only).
    pub fn charge(
        &self,
        client: u64,
        program: &str,
        connection: u64,
        bytes: u64,
        server: u64,
    ) -> Result<(), DonorError> {
        let request = Request::Charge { client, program: program.to_string(), connection, bytes, server };
        match self.client.call(&request)? {
            Response::Charged => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Gives back what connection `connection` was charged (the security server only).
    pub fn reclaim(&self, connection: u64) -> Result<u64, DonorError> {
        match self.client.call(&Request::Reclaim { connection })? {
            Response::Reclaimed { bytes } => Ok(bytes),
            _ => Err(unexpected()),
        }
    }

    /// The memory donated for `connection`, to its server (the caller); the Untyped arrives
    /// in `into`. Returns its size.
    pub fn take(&self, connection: u64, into: CapabilitySlot) -> Result<u64, DonorError> {
        match self
            .client
            .call_with(&Request::Take { connection }, Transfer { send: None, receive: Some(into) })?
        {
            (Response::Taken { bytes }, true) => Ok(bytes),
            // The Untyped did not arrive: the caller's capability lacks GRANT.
            (Response::Taken { .. }, false) => Err(DonorError::NotPermitted),
            _ => Err(unexpected()),
        }
    }

    /// A CPU budget for process `client` (the process manager only); its scheduling
    /// context arrives in `into`. Returns (budget, period) in microseconds.
    pub fn budget(&self, client: u64, into: CapabilitySlot) -> Result<(u32, u32), DonorError> {
        match self
            .client
            .call_with(&Request::Budget { client }, Transfer { send: None, receive: Some(into) })?
        {
            (Response::Budget { budget_us, period_us }, true) => Ok((budget_us, period_us)),
            (Response::Budget { .. }, false) => Err(DonorError::NotPermitted),
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
            let last = page.per_process.last().map(|process| process.client);
            let (total, free, more) = (page.total, page.free, page.more);
            processes.extend(page.per_process);
            match last {
                // A page must move forward, or a confused server would keep us here.
                Some(client) if more && client > after => after = client,
                _ => return Ok(MemoryInfo { total, free, per_process: processes, more: false }),
            }
        }
    }
}
