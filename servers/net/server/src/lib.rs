//! The network server's logic, without the kernel: one interface (smoltcp over any
//! `smoltcp::phy::Device`: virtio-net in the system, a loopback in the host tests) and a
//! table of sockets, each owned by the session that made it.
//!
//! [`Stack::serve`] answers a request now ([`Step::Done`]) or says it must wait
//! ([`Step::Wait`]); the server keeps the caller waiting (a deferred reply) and asks
//! [`Stack::resume`] again after each [`Stack::poll`] until it answers. Nothing here
//! blocks or spins.
//!
//! Invariants:
//! - every socket in the table belongs to one open session, and closing the session
//!   aborts and removes all of them;
//! - a session's charged bytes are the sum of its sockets' costs (a listener's waiting
//!   sockets included) and never exceed its donation: a socket that would is refused
//!   (`DonationSpent`) before anything is made;
//! - every listen, connect, bind and send-to is checked against the session's scope before
//!   it changes anything; a refusal names the grant;
//! - a closed TCP connection stays in smoltcp's set until its FIN exchange ends
//!   (`lingering`), paid by the server, not the session.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use grant::Scope;
use net_api::{
    Endpoint, MAX_BACKLOG, MAX_INLINE_BYTES, MAX_WAIT_SOCKETS, NetError, Readiness, Request, Response,
    SocketInfo, SocketKind, TCP_SOCKET_BYTES, UDP_SOCKET_BYTES,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};

pub use smoltcp;

/// Bytes of a TCP socket's receive and of its send buffer.
pub const TCP_BUFFER_BYTES: usize = 4096;
/// Datagrams and bytes a UDP socket holds each way.
pub const UDP_DATAGRAMS: usize = 8;
/// Bytes of a UDP socket's buffers each way.
pub const UDP_BUFFER_BYTES: usize = 4096;
/// Local ports for outgoing connections and `UdpBind { port: 0 }`.
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

/// The interface's address and route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// The interface's address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default route (QEMU user networking's 10.0.2.2).
    pub gateway: Option<Ipv4Addr>,
}

impl Address {
    /// QEMU user networking's: 10.0.2.15/24 via 10.0.2.2.
    pub const QEMU_USER: Address = Address {
        address: Ipv4Addr::new(10, 0, 2, 15),
        prefix: 24,
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
    };
}

/// The answer to a request, or that it must wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The answer.
    Done(Result<Response, NetError>),
    /// The caller waits; ask [`Stack::resume`] with this after each poll.
    Wait(Waiting),
}

/// A request that waits, as [`Stack::resume`] takes it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// An accept on a listener.
    Accept {
        /// The listener.
        socket: u32,
    },
    /// A connect in progress.
    Connect {
        /// The new socket.
        socket: u32,
    },
    /// A send waiting for room.
    Send {
        /// The connection.
        socket: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A receive waiting for data.
    Receive {
        /// The connection.
        socket: u32,
        /// Most bytes.
        max: u32,
    },
    /// A datagram send waiting for room.
    SendTo {
        /// The UDP socket.
        socket: u32,
        /// Where to.
        to: Endpoint,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A receive of a datagram.
    ReceiveFrom {
        /// The UDP socket.
        socket: u32,
        /// Most bytes.
        max: u32,
    },
    /// A wait on several sockets, until `deadline` (milliseconds of the stack's clock).
    Wait {
        /// The sockets.
        sockets: Vec<u32>,
        /// When it answers with nothing ready.
        deadline: Option<i64>,
    },
}

impl Waiting {
    /// When it gives up by itself (a wait's timeout), in milliseconds of the stack's clock.
    pub fn deadline(&self) -> Option<i64> {
        match self {
            Waiting::Wait { deadline, .. } => *deadline,
            _ => None,
        }
    }
}

/// One socket of the table.
#[derive(Debug)]
enum Entry {
    /// A listener: its port and the smoltcp sockets listening (or established and not yet
    /// accepted), oldest first.
    Listener { port: u16, backlog: Vec<SocketHandle>, size: u16 },
    /// A connection.
    Tcp { handle: SocketHandle },
    /// A UDP socket.
    Udp { handle: SocketHandle, port: u16 },
}

#[derive(Debug)]
struct Owned {
    connection: u64,
    entry: Entry,
}

/// A session's books.
#[derive(Debug)]
struct SessionBooks {
    scope: Scope,
    donation: u64,
    charged: u64,
}

/// The interface, its sockets and the sessions that own them.
pub struct Stack {
    interface: Interface,
    sockets: SocketSet<'static>,
    address: Address,
    sessions: BTreeMap<u64, SessionBooks>,
    table: BTreeMap<u32, Owned>,
    /// Closed connections finishing their FIN exchange.
    lingering: Vec<SocketHandle>,
    next_socket: u32,
    next_port: u16,
    now: Instant,
}

/// What the grant says, for a refusal: `the grant "net listen 7, udp *:*"`.
fn grant_text(scope: &Scope) -> String {
    let mut parts = Vec::new();
    for range in scope.listen_ports() {
        parts.push(format!("listen {range}"));
    }
    for destination in scope.connect_destinations() {
        parts.push(format!("connect {destination}"));
    }
    for destination in scope.udp_destinations() {
        parts.push(format!("udp {destination}"));
    }
    if parts.is_empty() {
        "the session has no net grant".to_string()
    } else {
        format!("the grant \"net {}\"", parts.join(", "))
    }
}

fn denied(scope: &Scope, what: String) -> NetError {
    NetError::Denied { grant: format!("{} gives no {what}", grant_text(scope)) }
}

fn endpoint(endpoint: IpEndpoint) -> Endpoint {
    let IpAddress::Ipv4(address) = endpoint.addr;
    Endpoint { address: address.octets(), port: endpoint.port }
}

fn ip_endpoint(endpoint: Endpoint) -> IpEndpoint {
    IpEndpoint::new(IpAddress::Ipv4(Ipv4Addr::from(endpoint.address)), endpoint.port)
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER_BYTES]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER_BYTES]),
    );
    // A peer that vanishes does not keep the socket for ever.
    socket.set_timeout(Some(smoltcp::time::Duration::from_secs(60)));
    socket
}

fn udp_socket() -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_DATAGRAMS], vec![0; UDP_BUFFER_BYTES]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_DATAGRAMS], vec![0; UDP_BUFFER_BYTES]),
    )
}

impl Stack {
    /// The interface over `device` with `hardware` (Ethernet with the NIC's MAC, or IP for a
    /// loopback) and `address`, at time `now` (milliseconds).
    pub fn new<D: Device + ?Sized>(
        device: &mut D,
        hardware: HardwareAddress,
        address: Address,
        now: i64,
    ) -> Stack {
        let now = Instant::from_millis(now);
        let mut config = Config::new(hardware);
        config.random_seed = 0x5eed_1a77_1ce0_0001 ^ now.total_millis() as u64;
        let mut interface = Interface::new(config, device, now);
        interface.update_ip_addrs(|addresses| {
            let _ = addresses.push(IpCidr::new(IpAddress::Ipv4(address.address), address.prefix));
        });
        if let Some(gateway) = address.gateway {
            let _ = interface.routes_mut().add_default_ipv4_route(gateway);
        }
        Stack {
            interface,
            sockets: SocketSet::new(Vec::new()),
            address,
            sessions: BTreeMap::new(),
            table: BTreeMap::new(),
            lingering: Vec::new(),
            next_socket: 1,
            next_port: *EPHEMERAL.start(),
            now,
        }
    }

    /// The interface's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Sends and receives what the device and the sockets have, at `now` (milliseconds).
    /// Returns whether any socket may have changed (then resume the waiting requests).
    pub fn poll<D: Device + ?Sized>(&mut self, device: &mut D, now: i64) -> bool {
        self.now = Instant::from_millis(now);
        let changed = self.interface.poll(self.now, device, &mut self.sockets)
            == smoltcp::iface::PollResult::SocketStateChanged;
        self.refill_backlogs();
        self.drop_lingering();
        changed
    }

    /// How long until the stack wants [`Stack::poll`] again (retransmissions, timeouts),
    /// in milliseconds; `None`: only when a frame comes or a request changes something.
    pub fn poll_delay(&mut self, now: i64) -> Option<u64> {
        self.interface.poll_delay(Instant::from_millis(now), &self.sockets).map(|delay| delay.total_millis())
    }

    /// Opens a session's books: its scope and donation.
    pub fn open_session(&mut self, connection: u64, scope: Scope, donation: u64) {
        self.sessions.insert(connection, SessionBooks { scope, donation, charged: 0 });
    }

    /// Closes a session: every socket of it is aborted and removed.
    pub fn close_session(&mut self, connection: u64) {
        self.sessions.remove(&connection);
        let sockets: Vec<u32> = self
            .table
            .iter()
            .filter(|(_, owned)| owned.connection == connection)
            .map(|(id, _)| *id)
            .collect();
        for socket in sockets {
            if let Some(owned) = self.table.remove(&socket) {
                self.remove_entry(owned.entry, true);
            }
        }
    }

    /// Bytes the session has spent of its donation.
    pub fn charged(&self, connection: u64) -> Option<u64> {
        self.sessions.get(&connection).map(|books| books.charged)
    }

    /// Sockets in the table (all sessions).
    pub fn socket_count(&self) -> usize {
        self.table.len()
    }

    /// Every socket with its session (for a listing).
    pub fn all_sockets(&self) -> Vec<(u64, SocketInfo)> {
        self.table.iter().map(|(id, owned)| (owned.connection, self.info(*id, owned))).collect()
    }

    fn info(&self, socket: u32, owned: &Owned) -> SocketInfo {
        let local_address = self.address.address.octets();
        match &owned.entry {
            Entry::Listener { port, .. } => SocketInfo {
                socket,
                kind: SocketKind::Listener,
                local: Endpoint { address: local_address, port: *port },
                peer: None,
                state: "Listen".to_string(),
            },
            Entry::Tcp { handle } => {
                let tcp = self.sockets.get::<tcp::Socket>(*handle);
                SocketInfo {
                    socket,
                    kind: SocketKind::Tcp,
                    local: tcp
                        .local_endpoint()
                        .map_or(Endpoint { address: local_address, port: 0 }, endpoint),
                    peer: tcp.remote_endpoint().map(endpoint),
                    state: format!("{:?}", tcp.state()),
                }
            }
            Entry::Udp { port, .. } => SocketInfo {
                socket,
                kind: SocketKind::Udp,
                local: Endpoint { address: local_address, port: *port },
                peer: None,
                state: "Bound".to_string(),
            },
        }
    }

    /// Charges `bytes` to the session, or refuses.
    fn charge(&mut self, connection: u64, bytes: u64) -> Result<(), NetError> {
        let books = self.sessions.get_mut(&connection).ok_or(NetError::BadSocket)?;
        let free = books.donation.saturating_sub(books.charged);
        if bytes > free {
            return Err(NetError::DonationSpent { needed: bytes, free });
        }
        books.charged += bytes;
        Ok(())
    }

    fn refund(&mut self, connection: u64, bytes: u64) {
        if let Some(books) = self.sessions.get_mut(&connection) {
            books.charged = books.charged.saturating_sub(bytes);
        }
    }

    fn scope(&self, connection: u64) -> Result<&Scope, NetError> {
        self.sessions.get(&connection).map(|books| &books.scope).ok_or(NetError::BadSocket)
    }

    fn insert(&mut self, connection: u64, entry: Entry) -> u32 {
        let socket = self.next_socket;
        self.next_socket = self.next_socket.wrapping_add(1).max(1);
        self.table.insert(socket, Owned { connection, entry });
        socket
    }

    fn owned(&self, connection: u64, socket: u32) -> Result<&Entry, NetError> {
        match self.table.get(&socket) {
            Some(owned) if owned.connection == connection => Ok(&owned.entry),
            _ => Err(NetError::BadSocket),
        }
    }

    fn tcp_handle(&self, connection: u64, socket: u32) -> Result<SocketHandle, NetError> {
        match self.owned(connection, socket)? {
            Entry::Tcp { handle } => Ok(*handle),
            _ => Err(NetError::BadSocket),
        }
    }

    fn udp_handle(&self, connection: u64, socket: u32) -> Result<SocketHandle, NetError> {
        match self.owned(connection, socket)? {
            Entry::Udp { handle, .. } => Ok(*handle),
            _ => Err(NetError::BadSocket),
        }
    }

    fn port_in_use(&self, port: u16, udp: bool) -> bool {
        self.table.values().any(|owned| match &owned.entry {
            Entry::Listener { port: used, .. } => !udp && *used == port,
            Entry::Udp { port: used, .. } => udp && *used == port,
            Entry::Tcp { handle } => {
                !udp && self
                    .sockets
                    .get::<tcp::Socket>(*handle)
                    .local_endpoint()
                    .is_some_and(|local| local.port == port)
            }
        })
    }

    fn ephemeral_port(&mut self, udp: bool) -> u16 {
        for _ in EPHEMERAL {
            let port = self.next_port;
            self.next_port = if port == *EPHEMERAL.end() { *EPHEMERAL.start() } else { port + 1 };
            if !self.port_in_use(port, udp) {
                return port;
            }
        }
        *EPHEMERAL.start()
    }

    fn listening_socket(&mut self, port: u16) -> Option<SocketHandle> {
        let mut socket = tcp_socket();
        socket.listen(IpListenEndpoint { addr: None, port }).ok()?;
        Some(self.sockets.add(socket))
    }

    /// Answers `request` of session `connection`, or says it waits.
    pub fn serve(&mut self, connection: u64, request: Request) -> Step {
        if !self.sessions.contains_key(&connection) {
            return Step::Done(Err(NetError::Denied { grant: "no session: it has closed".to_string() }));
        }
        let waiting = match request {
            Request::TcpListen { port, backlog } => {
                return Step::Done(self.listen(connection, port, backlog));
            }
            Request::Accept { socket } => Waiting::Accept { socket },
            Request::Connect { to } => match self.connect(connection, to) {
                Ok(socket) => Waiting::Connect { socket },
                Err(error) => return Step::Done(Err(error)),
            },
            Request::Send { socket, data } => {
                if data.len() > MAX_INLINE_BYTES {
                    return Step::Done(Err(NetError::InvalidArgument));
                }
                Waiting::Send { socket, data }
            }
            Request::Receive { socket, max } => Waiting::Receive { socket, max },
            Request::Shutdown { socket } => {
                return Step::Done(self.tcp_handle(connection, socket).map(|handle| {
                    self.sockets.get_mut::<tcp::Socket>(handle).close();
                    Response::Done
                }));
            }
            Request::Close { socket } => return Step::Done(self.close(connection, socket)),
            Request::UdpBind { port } => return Step::Done(self.bind(connection, port)),
            Request::SendTo { socket, to, data } => {
                if data.len() > MAX_INLINE_BYTES {
                    return Step::Done(Err(NetError::InvalidArgument));
                }
                let Ok(scope) = self.scope(connection) else { return Step::Done(Err(NetError::BadSocket)) };
                if !scope.allows_udp(Ipv4Addr::from(to.address), to.port) {
                    return Step::Done(Err(denied(scope, format!("udp to {to}"))));
                }
                Waiting::SendTo { socket, to, data }
            }
            Request::ReceiveFrom { socket, max } => Waiting::ReceiveFrom { socket, max },
            Request::Wait { sockets, timeout_ms } => {
                if sockets.len() > MAX_WAIT_SOCKETS {
                    return Step::Done(Err(NetError::InvalidArgument));
                }
                if sockets.iter().any(|socket| self.owned(connection, *socket).is_err()) {
                    return Step::Done(Err(NetError::BadSocket));
                }
                let deadline = timeout_ms.map(|ms| self.now.total_millis() + i64::from(ms));
                Waiting::Wait { sockets, deadline }
            }
            Request::List => {
                let sockets = self
                    .table
                    .iter()
                    .filter(|(_, owned)| owned.connection == connection)
                    .map(|(id, owned)| self.info(*id, owned))
                    .collect();
                return Step::Done(Ok(Response::Sockets(sockets)));
            }
        };
        match self.resume(connection, &waiting) {
            Some(result) => Step::Done(result),
            None => Step::Wait(waiting),
        }
    }

    /// Tries a waiting request again: its answer, or `None` while it still waits.
    pub fn resume(&mut self, connection: u64, waiting: &Waiting) -> Option<Result<Response, NetError>> {
        if !self.sessions.contains_key(&connection) {
            return Some(Err(NetError::BadSocket));
        }
        match waiting {
            Waiting::Accept { socket } => self.accept(connection, *socket),
            Waiting::Connect { socket } => {
                let handle = match self.tcp_handle(connection, *socket) {
                    Ok(handle) => handle,
                    Err(error) => return Some(Err(error)),
                };
                let tcp = self.sockets.get::<tcp::Socket>(handle);
                match tcp.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => None,
                    tcp::State::Closed => {
                        let _ = self.close(connection, *socket);
                        Some(Err(NetError::Refused))
                    }
                    _ => Some(Ok(Response::Socket {
                        socket: *socket,
                        local: tcp.local_endpoint().map_or(Endpoint { address: [0; 4], port: 0 }, endpoint),
                    })),
                }
            }
            Waiting::Send { socket, data } => {
                let handle = match self.tcp_handle(connection, *socket) {
                    Ok(handle) => handle,
                    Err(error) => return Some(Err(error)),
                };
                let tcp = self.sockets.get_mut::<tcp::Socket>(handle);
                if !tcp.may_send() {
                    return Some(Err(match tcp.state() {
                        tcp::State::SynSent | tcp::State::SynReceived => return None,
                        _ => NetError::NotConnected,
                    }));
                }
                if data.is_empty() {
                    return Some(Ok(Response::Sent { count: 0 }));
                }
                match tcp.send_slice(data) {
                    Ok(0) => None,
                    Ok(count) => Some(Ok(Response::Sent { count: u32::try_from(count).unwrap_or(u32::MAX) })),
                    Err(_) => Some(Err(NetError::NotConnected)),
                }
            }
            Waiting::Receive { socket, max } => {
                let handle = match self.tcp_handle(connection, *socket) {
                    Ok(handle) => handle,
                    Err(error) => return Some(Err(error)),
                };
                let tcp = self.sockets.get_mut::<tcp::Socket>(handle);
                let max = (*max as usize).min(MAX_INLINE_BYTES);
                if tcp.can_recv() && max > 0 {
                    let mut data = vec![0; max];
                    return match tcp.recv_slice(&mut data) {
                        Ok(count) => {
                            data.truncate(count);
                            Some(Ok(Response::Data(data)))
                        }
                        Err(_) => Some(Ok(Response::Data(Vec::new()))),
                    };
                }
                match tcp.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => None,
                    _ if !tcp.may_recv() => Some(Ok(Response::Data(Vec::new()))),
                    _ => None,
                }
            }
            Waiting::SendTo { socket, to, data } => {
                let handle = match self.udp_handle(connection, *socket) {
                    Ok(handle) => handle,
                    Err(error) => return Some(Err(error)),
                };
                let udp = self.sockets.get_mut::<udp::Socket>(handle);
                if !udp.can_send() {
                    return None;
                }
                match udp.send_slice(data, ip_endpoint(*to)) {
                    Ok(()) => {
                        Some(Ok(Response::Sent { count: u32::try_from(data.len()).unwrap_or(u32::MAX) }))
                    }
                    Err(udp::SendError::BufferFull) => None,
                    Err(udp::SendError::Unaddressable) => Some(Err(NetError::InvalidArgument)),
                }
            }
            Waiting::ReceiveFrom { socket, max } => {
                let handle = match self.udp_handle(connection, *socket) {
                    Ok(handle) => handle,
                    Err(error) => return Some(Err(error)),
                };
                let Ok(scope) = self.scope(connection) else { return Some(Err(NetError::BadSocket)) };
                let scope = scope.clone();
                let udp = self.sockets.get_mut::<udp::Socket>(handle);
                while let Ok((bytes, metadata)) = udp.recv() {
                    let from = endpoint(metadata.endpoint);
                    if !scope.allows_udp(Ipv4Addr::from(from.address), from.port) {
                        continue; // a source the grant does not cover: dropped
                    }
                    let length = bytes.len().min(*max as usize).min(MAX_INLINE_BYTES);
                    return Some(Ok(Response::Datagram { from, data: bytes[..length].to_vec() }));
                }
                None
            }
            Waiting::Wait { sockets, deadline } => {
                let ready: Vec<Readiness> =
                    sockets.iter().filter_map(|socket| self.readiness(connection, *socket)).collect();
                if !ready.is_empty() {
                    return Some(Ok(Response::Ready(ready)));
                }
                match deadline {
                    Some(deadline) if self.now.total_millis() >= *deadline => {
                        Some(Ok(Response::Ready(Vec::new())))
                    }
                    _ => None,
                }
            }
        }
    }

    fn readiness(&self, connection: u64, socket: u32) -> Option<Readiness> {
        let (readable, writable) = match self.owned(connection, socket) {
            Err(_) => (true, true), // a socket closed meanwhile: the next call says so
            Ok(Entry::Listener { backlog, .. }) => {
                let ready = backlog.iter().any(|handle| {
                    matches!(
                        self.sockets.get::<tcp::Socket>(*handle).state(),
                        tcp::State::Established | tcp::State::CloseWait
                    )
                });
                (ready, false)
            }
            Ok(Entry::Tcp { handle }) => {
                let tcp = self.sockets.get::<tcp::Socket>(*handle);
                (tcp.can_recv() || !tcp.may_recv() && tcp.state() != tcp::State::SynSent, tcp.can_send())
            }
            Ok(Entry::Udp { handle, .. }) => {
                let udp = self.sockets.get::<udp::Socket>(*handle);
                (udp.can_recv(), udp.can_send())
            }
        };
        // A wait is for something to read (an accept, data, an end, a datagram): an idle
        // socket is nearly always writable, and a wait that answered for that would spin.
        readable.then_some(Readiness { socket, readable, writable })
    }

    fn listen(&mut self, connection: u64, port: u16, backlog: u16) -> Result<Response, NetError> {
        if port == 0 || backlog == 0 || backlog > MAX_BACKLOG {
            return Err(NetError::InvalidArgument);
        }
        let scope = self.scope(connection)?;
        if !scope.allows_listen(port) {
            return Err(denied(scope, format!("tcp listen on port {port}")));
        }
        if self.port_in_use(port, false) {
            return Err(NetError::AddressInUse);
        }
        self.charge(connection, TCP_SOCKET_BYTES * u64::from(backlog))?;
        let mut handles = Vec::new();
        for _ in 0..backlog {
            match self.listening_socket(port) {
                Some(handle) => handles.push(handle),
                None => break,
            }
        }
        let socket = self.insert(connection, Entry::Listener { port, backlog: handles, size: backlog });
        Ok(Response::Socket { socket, local: Endpoint { address: self.address.address.octets(), port } })
    }

    fn accept(&mut self, connection: u64, socket: u32) -> Option<Result<Response, NetError>> {
        let (position, handle) = {
            let Entry::Listener { backlog, .. } = (match self.owned(connection, socket) {
                Ok(entry) => entry,
                Err(error) => return Some(Err(error)),
            }) else {
                return Some(Err(NetError::BadSocket));
            };
            backlog.iter().enumerate().find_map(|(position, handle)| {
                matches!(
                    self.sockets.get::<tcp::Socket>(*handle).state(),
                    tcp::State::Established | tcp::State::CloseWait
                )
                .then_some((position, *handle))
            })?
        };
        if let Some(Owned { entry: Entry::Listener { backlog, .. }, .. }) = self.table.get_mut(&socket) {
            backlog.remove(position);
        }
        let peer = self.sockets.get::<tcp::Socket>(handle).remote_endpoint().map(endpoint);
        let accepted = self.insert(connection, Entry::Tcp { handle });
        // The accepted socket keeps the charge it had in the backlog; the backlog's new
        // listening socket is charged afresh (refill_backlogs).
        self.refill_backlogs();
        Some(Ok(Response::Accepted {
            socket: accepted,
            peer: peer.unwrap_or(Endpoint { address: [0; 4], port: 0 }),
        }))
    }

    /// Puts a listening socket back for every one a listener's backlog lost (accepted),
    /// as far as its session's donation pays.
    fn refill_backlogs(&mut self) {
        let listeners: Vec<(u32, u64, u16, usize, u16)> = self
            .table
            .iter()
            .filter_map(|(id, owned)| match &owned.entry {
                Entry::Listener { port, backlog, size } => {
                    Some((*id, owned.connection, *port, backlog.len(), *size))
                }
                _ => None,
            })
            .collect();
        for (id, connection, port, length, size) in listeners {
            for _ in length..usize::from(size) {
                if self.charge(connection, TCP_SOCKET_BYTES).is_err() {
                    break;
                }
                let Some(handle) = self.listening_socket(port) else {
                    self.refund(connection, TCP_SOCKET_BYTES);
                    break;
                };
                if let Some(Owned { entry: Entry::Listener { backlog, .. }, .. }) = self.table.get_mut(&id) {
                    backlog.push(handle);
                }
            }
        }
    }

    fn connect(&mut self, connection: u64, to: Endpoint) -> Result<u32, NetError> {
        let scope = self.scope(connection)?;
        if !scope.allows_connect(Ipv4Addr::from(to.address), to.port) {
            return Err(denied(scope, format!("tcp connect to {to}")));
        }
        if to.port == 0 {
            return Err(NetError::InvalidArgument);
        }
        self.charge(connection, TCP_SOCKET_BYTES)?;
        let port = self.ephemeral_port(false);
        let mut socket = tcp_socket();
        if socket.connect(self.interface.context(), ip_endpoint(to), port).is_err() {
            self.refund(connection, TCP_SOCKET_BYTES);
            return Err(NetError::InvalidArgument);
        }
        let handle = self.sockets.add(socket);
        Ok(self.insert(connection, Entry::Tcp { handle }))
    }

    fn bind(&mut self, connection: u64, port: u16) -> Result<Response, NetError> {
        let scope = self.scope(connection)?;
        if scope.udp_destinations().is_empty() {
            return Err(denied(scope, "udp".to_string()));
        }
        let port = if port == 0 { self.ephemeral_port(true) } else { port };
        if self.port_in_use(port, true) {
            return Err(NetError::AddressInUse);
        }
        self.charge(connection, UDP_SOCKET_BYTES)?;
        let mut socket = udp_socket();
        if socket.bind(port).is_err() {
            self.refund(connection, UDP_SOCKET_BYTES);
            return Err(NetError::InvalidArgument);
        }
        let handle = self.sockets.add(socket);
        let socket = self.insert(connection, Entry::Udp { handle, port });
        Ok(Response::Socket { socket, local: Endpoint { address: self.address.address.octets(), port } })
    }

    fn close(&mut self, connection: u64, socket: u32) -> Result<Response, NetError> {
        self.owned(connection, socket)?;
        let Some(owned) = self.table.remove(&socket) else { return Err(NetError::BadSocket) };
        let cost = match &owned.entry {
            Entry::Listener { backlog, .. } => TCP_SOCKET_BYTES * backlog.len() as u64,
            Entry::Tcp { .. } => TCP_SOCKET_BYTES,
            Entry::Udp { .. } => UDP_SOCKET_BYTES,
        };
        self.refund(connection, cost);
        self.remove_entry(owned.entry, false);
        Ok(Response::Closed)
    }

    /// Removes an entry's smoltcp sockets: a connection closes gracefully (it lingers until
    /// its FIN exchange ends) unless `abort`.
    fn remove_entry(&mut self, entry: Entry, abort: bool) {
        match entry {
            Entry::Listener { backlog, .. } => {
                for handle in backlog {
                    self.sockets.get_mut::<tcp::Socket>(handle).abort();
                    self.lingering.push(handle);
                }
            }
            Entry::Tcp { handle } => {
                let tcp = self.sockets.get_mut::<tcp::Socket>(handle);
                if abort {
                    tcp.abort()
                } else {
                    tcp.close()
                }
                self.lingering.push(handle);
            }
            Entry::Udp { handle, .. } => {
                self.sockets.remove(handle);
            }
        }
    }

    /// Removes the lingering sockets that are done.
    fn drop_lingering(&mut self) {
        let sockets = &mut self.sockets;
        self.lingering.retain(|handle| {
            let state = sockets.get::<tcp::Socket>(*handle).state();
            if matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                sockets.remove(*handle);
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests;
