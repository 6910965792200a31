//! The client wrapper: one method per request; a send longer than a message goes as
//! several.

use alloc::vec::Vec;

use userlib::ipc::Cptr;
use userlib::rpc::{Client, RpcError};

use crate::{Endpoint, MAX_INLINE_BYTES, Net, NetError, Readiness, Request, Response, SocketInfo};

/// An answer of the wrong kind: the server does not speak this protocol's version.
fn unexpected() -> NetError {
    NetError::Rpc(RpcError::Malformed)
}

/// A client of the network server, through a session capability.
#[derive(Clone, Copy, Debug)]
pub struct NetClient {
    client: Client<Net>,
}

impl NetClient {
    /// A client calling through `endpoint`.
    pub const fn new(endpoint: Cptr) -> Self {
        Self { client: Client::new(endpoint) }
    }

    fn socket(&self, request: &Request) -> Result<(u32, Endpoint), NetError> {
        match self.client.call(request)? {
            Response::Socket { socket, local } => Ok((socket, local)),
            _ => Err(unexpected()),
        }
    }

    /// Listens on TCP `port` with `backlog` connections waiting; returns the listener.
    pub fn tcp_listen(&self, port: u16, backlog: u16) -> Result<u32, NetError> {
        self.socket(&Request::TcpListen { port, backlog }).map(|(socket, _)| socket)
    }

    /// Waits for and takes the next connection of `listener`; returns it and its peer.
    pub fn accept(&self, listener: u32) -> Result<(u32, Endpoint), NetError> {
        match self.client.call(&Request::Accept { socket: listener })? {
            Response::Accepted { socket, peer } => Ok((socket, peer)),
            _ => Err(unexpected()),
        }
    }

    /// Opens a TCP connection to `to` (answers once established).
    pub fn connect(&self, to: Endpoint) -> Result<u32, NetError> {
        self.socket(&Request::Connect { to }).map(|(socket, _)| socket)
    }

    /// Sends all of `bytes` (as many requests as it takes).
    pub fn send(&self, socket: u32, bytes: &[u8]) -> Result<(), NetError> {
        let mut done = 0;
        while done < bytes.len() {
            let end = bytes.len().min(done + MAX_INLINE_BYTES);
            let data = bytes[done..end].to_vec();
            match self.client.call(&Request::Send { socket, data })? {
                Response::Sent { count } if count > 0 => done += count as usize,
                _ => return Err(unexpected()),
            }
        }
        Ok(())
    }

    /// Receives up to `max` bytes (waits for some; empty: the peer closed).
    pub fn receive(&self, socket: u32, max: usize) -> Result<Vec<u8>, NetError> {
        let max = u32::try_from(max.min(MAX_INLINE_BYTES)).unwrap_or(u32::MAX);
        match self.client.call(&Request::Receive { socket, max })? {
            Response::Data(data) => Ok(data),
            _ => Err(unexpected()),
        }
    }

    /// Closes the sending half.
    pub fn shutdown(&self, socket: u32) -> Result<(), NetError> {
        match self.client.call(&Request::Shutdown { socket })? {
            Response::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Closes a socket.
    pub fn close(&self, socket: u32) -> Result<(), NetError> {
        match self.client.call(&Request::Close { socket })? {
            Response::Closed => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Binds a UDP socket to `port`; returns it and its local endpoint.
    pub fn udp_bind(&self, port: u16) -> Result<(u32, Endpoint), NetError> {
        self.socket(&Request::UdpBind { port })
    }

    /// Sends one datagram.
    pub fn send_to(&self, socket: u32, to: Endpoint, bytes: &[u8]) -> Result<(), NetError> {
        if bytes.len() > MAX_INLINE_BYTES {
            return Err(NetError::InvalidArgument);
        }
        match self.client.call(&Request::SendTo { socket, to, data: bytes.to_vec() })? {
            Response::Sent { .. } => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Waits for one datagram; returns its sender and bytes (cut to `max`).
    pub fn receive_from(&self, socket: u32, max: usize) -> Result<(Endpoint, Vec<u8>), NetError> {
        let max = u32::try_from(max.min(MAX_INLINE_BYTES)).unwrap_or(u32::MAX);
        match self.client.call(&Request::ReceiveFrom { socket, max })? {
            Response::Datagram { from, data } => Ok((from, data)),
            _ => Err(unexpected()),
        }
    }

    /// Waits until one of `sockets` can go on, or `timeout_ms` passes.
    pub fn wait(&self, sockets: &[u32], timeout_ms: Option<u32>) -> Result<Vec<Readiness>, NetError> {
        match self.client.call(&Request::Wait { sockets: sockets.to_vec(), timeout_ms })? {
            Response::Ready(ready) => Ok(ready),
            _ => Err(unexpected()),
        }
    }

    /// The session's sockets.
    pub fn list(&self) -> Result<Vec<SocketInfo>, NetError> {
        match self.client.call(&Request::List)? {
            Response::Sockets(sockets) => Ok(sockets),
            _ => Err(unexpected()),
        }
    }
}
