//! The network server's interface (DESIGN.md §4, §7): TCP and UDP sockets on the system's
//! one interface, within what the session's net scope allows.
//!
//! Protocol [`Net`] (label `NETW`), carried by `userlib::rpc` (postcard in one message).
//! Sockets are numbers the server gives out; they belong to the session that made them (a
//! number from another session is `BadSocket`) and close with it.
//!
//! Operations, with the scope they need, whether the server answers at once or later
//! (blocking: a deferred reply, never a spin), and whether repeating them is harmless:
//!
//! | request | scope | answer | blocks | idempotent |
//! | --- | --- | --- | --- | --- |
//! | `TcpListen` | `tcp_listen` covering the port | `Socket` (a listener) | no | no: the second is `AddressInUse` |
//! | `Accept` | none (the listener's) | `Accepted` (a new socket and its peer) | until a connection is established | no: each takes one |
//! | `Connect` | `tcp_connect` covering the destination | `Socket` | until established, refused or timed out | no: each opens a connection |
//! | `Send` | none (the socket's) | `Sent` (bytes taken, at least one) | until there is room | no |
//! | `Receive` | none | `Data` (empty: the peer closed) | until data or the end | no |
//! | `Shutdown` | none | `Done` (the sending half closed, FIN sent) | no | yes |
//! | `Close` | none | `Closed` | no | no: the second is `BadSocket` |
//! | `UdpBind` | some `udp` destination | `Socket` | no | no: the second is `AddressInUse` |
//! | `SendTo` | `udp` covering the destination | `Sent` | until there is room | no |
//! | `ReceiveFrom` | `udp` covering the source (others are dropped) | `Datagram` | until one comes | no |
//! | `Wait` | none | `Ready` (the sockets that can go on, possibly none at the timeout) | until one is ready or the timeout | yes |
//! | `List` | none | `Sockets` (this session's) | no | yes |
//!
//! Refusals by scope are `Denied { grant }`, naming the session's grant and what it lacks
//! (`the grant "net listen 80" gives no tcp listen on port 81`).
//!
//! **Sessions pay for their sockets** with their donation: each socket (a listener's
//! backlog counts one per waiting connection) costs [`TCP_SOCKET_BYTES`] or
//! [`UDP_SOCKET_BYTES`]; past the donation the session is refused (`DonationSpent`) and
//! everyone else goes on being served.
//!
//! **Data** travels inline, at most [`MAX_INLINE_BYTES`] a message (larger sends and
//! receives take several; the shared buffer of the filesystem's protocol is not used yet:
//! CAVEATS.md).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use userlib::rpc::{MAX_PAYLOAD_BYTES, Protocol, RpcError, label};

/// The network's protocol.
#[derive(Debug)]
pub enum Net {}

impl Protocol for Net {
    const NAME: &'static str = "net";
    const LABEL: usize = label(*b"NETW");
    type Request = Request;
    type Response = Response;
    type Error = NetError;
}

/// Most bytes one `Send`, `SendTo`, `Data` or `Datagram` carries: the payload less the
/// variant tags, the socket, an endpoint and the length prefix.
pub const MAX_INLINE_BYTES: usize = MAX_PAYLOAD_BYTES - 24;

/// What a TCP socket costs its session's donation: its receive and send buffers and the
/// socket itself.
pub const TCP_SOCKET_BYTES: u64 = 10 * 1024;

/// What a UDP socket costs: its buffers of datagrams and their metadata.
pub const UDP_SOCKET_BYTES: u64 = 10 * 1024;

/// The most connections a listener keeps waiting to be accepted.
pub const MAX_BACKLOG: u16 = 8;

/// The most sockets one `Wait` names.
pub const MAX_WAIT_SOCKETS: usize = 16;

/// An IPv4 address and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The address, most significant byte first (`[10, 0, 2, 15]`).
    pub address: [u8; 4],
    /// The port.
    pub port: u16,
}

impl core::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.address;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// What a request asks of the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Listen for TCP connections on `port` of the interface's address, keeping up to
    /// `backlog` (1..=[`MAX_BACKLOG`]) waiting to be accepted.
    TcpListen {
        /// The port.
        port: u16,
        /// How many connections may wait.
        backlog: u16,
    },
    /// Takes the next established connection of a listener.
    Accept {
        /// The listener.
        socket: u32,
    },
    /// Opens a TCP connection to `to`.
    Connect {
        /// The destination.
        to: Endpoint,
    },
    /// Sends bytes on a connection (at least one is taken; fewer than given when the send
    /// buffer is nearly full).
    Send {
        /// The connection.
        socket: u32,
        /// The bytes (at most [`MAX_INLINE_BYTES`]).
        #[serde(with = "userlib::rpc::bytes")]
        data: Vec<u8>,
    },
    /// Receives up to `max` bytes of a connection.
    Receive {
        /// The connection.
        socket: u32,
        /// Most bytes wanted (at most [`MAX_INLINE_BYTES`] come).
        max: u32,
    },
    /// Closes the sending half of a connection (the peer reads the end).
    Shutdown {
        /// The connection.
        socket: u32,
    },
    /// Closes a socket of any kind (a connection sends what it holds, then its FIN).
    Close {
        /// The socket.
        socket: u32,
    },
    /// Binds a UDP socket to `port` (0: any free port).
    UdpBind {
        /// The local port.
        port: u16,
    },
    /// Sends one datagram.
    SendTo {
        /// The UDP socket.
        socket: u32,
        /// The destination.
        to: Endpoint,
        /// The bytes (at most [`MAX_INLINE_BYTES`]).
        #[serde(with = "userlib::rpc::bytes")]
        data: Vec<u8>,
    },
    /// Receives one datagram (longer than `max`: cut to `max`).
    ReceiveFrom {
        /// The UDP socket.
        socket: u32,
        /// Most bytes wanted.
        max: u32,
    },
    /// Waits until one of `sockets` has something to read (a listener a connection, a
    /// connection data or its end, a UDP socket a datagram), or `timeout_ms` passes
    /// (`None`: no timeout). Each ready socket also says whether it could send.
    Wait {
        /// The sockets (at most [`MAX_WAIT_SOCKETS`]).
        sockets: Vec<u32>,
        /// How long at most, in milliseconds.
        timeout_ms: Option<u32>,
    },
    /// The session's sockets.
    List,
}

/// What a socket can do now (in a `Ready` answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// The socket.
    pub socket: u32,
    /// A `Receive`, `ReceiveFrom` or `Accept` would answer now.
    pub readable: bool,
    /// A `Send` or `SendTo` would answer now.
    pub writable: bool,
}

/// The kind of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocketKind {
    /// A TCP listener.
    Listener,
    /// A TCP connection.
    Tcp,
    /// A UDP socket.
    Udp,
}

/// One socket, as `List` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    /// Its number.
    pub socket: u32,
    /// Its kind.
    pub kind: SocketKind,
    /// Its local endpoint.
    pub local: Endpoint,
    /// Its peer (a connection's).
    pub peer: Option<Endpoint>,
    /// Its state, as smoltcp names it (`Listen`, `Established`, ...; `Bound` for UDP).
    pub state: String,
}

/// What the network answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A new socket.
    Socket {
        /// Its number.
        socket: u32,
        /// Its local endpoint.
        local: Endpoint,
    },
    /// A connection taken from a listener.
    Accepted {
        /// Its number.
        socket: u32,
        /// Who connected.
        peer: Endpoint,
    },
    /// Bytes taken for sending.
    Sent {
        /// How many.
        count: u32,
    },
    /// Bytes received (none: the peer closed its half).
    Data(#[serde(with = "userlib::rpc::bytes")] Vec<u8>),
    /// A datagram.
    Datagram {
        /// Who sent it.
        from: Endpoint,
        /// Its bytes.
        #[serde(with = "userlib::rpc::bytes")]
        data: Vec<u8>,
    },
    /// Done (a shutdown).
    Done,
    /// The socket is closed.
    Closed,
    /// The sockets that can go on (none: the timeout passed).
    Ready(Vec<Readiness>),
    /// The session's sockets.
    Sockets(Vec<SocketInfo>),
}

/// Why the network refused.
///
/// Variants are only ever added at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetError {
    /// The session's scope does not allow it; `grant` names the grant and what it lacks.
    Denied {
        /// The grant (as the policy writes it) and what is missing.
        grant: String,
    },
    /// The socket is not open in this session, or not of the kind the request needs.
    BadSocket,
    /// Another socket holds that port.
    AddressInUse,
    /// The session's donation pays for no more sockets.
    DonationSpent {
        /// Bytes needed.
        needed: u64,
        /// Bytes left.
        free: u64,
    },
    /// The peer refused or reset the connection.
    Refused,
    /// The connection is not established, or its sending half is closed.
    NotConnected,
    /// Data longer than [`MAX_INLINE_BYTES`], a backlog out of range, a port 0 or too many
    /// sockets to wait on.
    InvalidArgument,
    /// Too many callers wait already; try again.
    Busy,
    /// There is no network: no device, or it failed.
    NoNetwork {
        /// What the server found.
        why: String,
    },
    /// The request or reply could not be carried (malformed, too large, IPC failure).
    Rpc(RpcError),
}

impl From<RpcError> for NetError {
    fn from(error: RpcError) -> Self {
        Self::Rpc(error)
    }
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Denied { grant } => write!(f, "denied: {grant}"),
            Self::BadSocket => f.write_str("bad socket"),
            Self::AddressInUse => f.write_str("address in use"),
            Self::DonationSpent { needed, free } => {
                write!(f, "the session's donation is spent: {needed} bytes needed, {free} free")
            }
            Self::Refused => f.write_str("connection refused or reset"),
            Self::NotConnected => f.write_str("not connected"),
            Self::InvalidArgument => f.write_str("invalid argument"),
            Self::Busy => f.write_str("too many callers waiting"),
            Self::NoNetwork { why } => write!(f, "no network: {why}"),
            Self::Rpc(error) => write!(f, "{error}"),
        }
    }
}

#[cfg(target_arch = "riscv64")]
mod client;
#[cfg(target_arch = "riscv64")]
pub use client::NetClient;

#[cfg(test)]
mod tests;
