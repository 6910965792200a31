//! The client wrapper: one method per request.

use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{Client, RpcError, Transfer};

use crate::{Console, ConsoleError, MAX_CHUNK_BYTES, Request, Response};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> ConsoleError {
    ConsoleError::Rpc(RpcError::Malformed)
}

/// A client of the console, through a session capability.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleClient {
    client: Client<Console>,
}

impl ConsoleClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    /// Writes all of `bytes`, in as many requests as it takes.
    pub fn write(&self, bytes: &[u8]) -> Result<(), ConsoleError> {
        for chunk in bytes.chunks(MAX_CHUNK_BYTES) {
            match self.client.call(&Request::Write { bytes: chunk.to_vec() })? {
                Response::Written { .. } => {}
                _ => return Err(unexpected()),
            }
        }
        Ok(())
    }

    /// Waits for input; returns at most `max` bytes of it.
    pub fn read(&self, max: u32) -> Result<Vec<u8>, ConsoleError> {
        match self.client.call(&Request::Read { max })? {
            Response::Data(bytes) => Ok(bytes),
            _ => Err(unexpected()),
        }
    }

    /// Gives the foreground to process `client` (its security client id; 0: this process);
    /// on Ctrl-C the console signals `interrupt` (a notification capability; `None` for no
    /// signal).
    pub fn set_foreground(&self, client: u64, interrupt: Option<Cptr>) -> Result<(), ConsoleError> {
        let transfer = Transfer { send: interrupt, receive: None };
        match self.client.call_with(&Request::SetForeground { client }, transfer)? {
            (Response::ForegroundSet, _) => Ok(()),
            _ => Err(unexpected()),
        }
    }
}
