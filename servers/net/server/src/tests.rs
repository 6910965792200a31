//! The socket table over smoltcp's loopback device: two sessions of one stack talk to each
//! other through the interface's own address, as a client and echod would.

use super::*;

use grant::{Destination, PortRange};
use smoltcp::phy::{Loopback, Medium};

const SERVER: u64 = 1 << 16;
const CLIENT: u64 = (1 << 16) + 1;
const HERE: Endpoint = Endpoint { address: [10, 0, 2, 15], port: 7 };

struct World {
    device: Loopback,
    stack: Stack,
    now: i64,
}

fn scope(text: &[&str]) -> Scope {
    let mut scope = Scope::empty(grant::ServiceKind::Net);
    for item in text {
        let part = if let Some(port) = item.strip_prefix("listen ") {
            Scope::tcp_listen(PortRange::parse(port).unwrap())
        } else if let Some(destination) = item.strip_prefix("connect ") {
            Scope::tcp_connect(Destination::parse(destination).unwrap())
        } else if let Some(destination) = item.strip_prefix("udp ") {
            Scope::udp(Destination::parse(destination).unwrap())
        } else {
            panic!("{item}")
        };
        scope.merge(&part).unwrap();
    }
    scope
}

impl World {
    fn new() -> World {
        let mut device = Loopback::new(Medium::Ip);
        let address = Address { gateway: None, ..Address::QEMU_USER };
        let mut stack = Stack::new(&mut device, HardwareAddress::Ip, address, 0);
        stack.open_session(SERVER, scope(&["listen 7", "udp *:*"]), 128 << 10);
        stack.open_session(CLIENT, scope(&["connect *:*", "udp 10.0.2.15:7"]), 64 << 10);
        World { device, stack, now: 0 }
    }

    fn poll(&mut self) {
        for _ in 0..8 {
            self.now += 1;
            self.stack.poll(&mut self.device, self.now);
        }
    }

    fn done(&mut self, connection: u64, request: Request) -> Result<Response, NetError> {
        match self.stack.serve(connection, request) {
            Step::Done(result) => result,
            Step::Wait(waiting) => self.finish(connection, waiting),
        }
    }

    /// Polls until a waiting request answers (at most 200 rounds).
    fn finish(&mut self, connection: u64, waiting: Waiting) -> Result<Response, NetError> {
        for _ in 0..200 {
            self.poll();
            if let Some(result) = self.stack.resume(connection, &waiting) {
                return result;
            }
        }
        panic!("{waiting:?} never answered");
    }

    fn socket(&mut self, connection: u64, request: Request) -> u32 {
        match self.done(connection, request) {
            Ok(Response::Socket { socket, .. }) => socket,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_connection_is_accepted_and_echoed_and_its_end_is_seen() {
    let mut world = World::new();
    let listener = world.socket(SERVER, Request::TcpListen { port: 7, backlog: 2 });
    let accept = match world.stack.serve(SERVER, Request::Accept { socket: listener }) {
        Step::Wait(waiting) => waiting,
        other => panic!("an accept with nobody connecting waits: {other:?}"),
    };
    let client = world.socket(CLIENT, Request::Connect { to: HERE });
    let Ok(Response::Accepted { socket: served, peer }) = world.finish(SERVER, accept) else { panic!() };
    assert_eq!(peer.address, [10, 0, 2, 15]);
    assert!(
        world.stack.all_sockets().iter().any(|(session, info)| *session == SERVER && info.socket == served)
    );

    assert_eq!(
        world.done(CLIENT, Request::Send { socket: client, data: b"hello".to_vec() }),
        Ok(Response::Sent { count: 5 })
    );
    let Ok(Response::Data(data)) = world.done(SERVER, Request::Receive { socket: served, max: 100 }) else {
        panic!()
    };
    assert_eq!(data, b"hello");
    world.done(SERVER, Request::Send { socket: served, data }).unwrap();
    assert_eq!(
        world.done(CLIENT, Request::Receive { socket: client, max: 100 }),
        Ok(Response::Data(b"hello".to_vec()))
    );

    assert_eq!(world.done(CLIENT, Request::Shutdown { socket: client }), Ok(Response::Done));
    assert_eq!(
        world.done(SERVER, Request::Receive { socket: served, max: 100 }),
        Ok(Response::Data(Vec::new())),
        "the end"
    );
    assert_eq!(world.done(SERVER, Request::Close { socket: served }), Ok(Response::Closed));
    assert_eq!(world.done(SERVER, Request::Close { socket: served }), Err(NetError::BadSocket));
}

#[test]
fn a_backlog_keeps_several_connections_until_they_are_accepted() {
    let mut world = World::new();
    let listener = world.socket(SERVER, Request::TcpListen { port: 7, backlog: 3 });
    let clients: Vec<u32> = (0..3).map(|_| world.socket(CLIENT, Request::Connect { to: HERE })).collect();
    let mut ports = Vec::new();
    for _ in &clients {
        let Ok(Response::Accepted { peer, .. }) = world.done(SERVER, Request::Accept { socket: listener })
        else {
            panic!()
        };
        ports.push(peer.port);
    }
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 3, "three different connections");
    // The backlog is refilled: a fourth connects too.
    world.socket(CLIENT, Request::Connect { to: HERE });
    assert!(matches!(
        world.done(SERVER, Request::Accept { socket: listener }),
        Ok(Response::Accepted { .. })
    ));
}

#[test]
fn udp_datagrams_are_echoed_and_a_wait_sees_them() {
    let mut world = World::new();
    let server = world.socket(SERVER, Request::UdpBind { port: 7 });
    let client = world.socket(CLIENT, Request::UdpBind { port: 0 });
    assert!(
        matches!(
            world.stack.serve(SERVER, Request::Wait { sockets: vec![server], timeout_ms: None }),
            Step::Wait(_)
        ),
        "nothing to read: the wait waits"
    );
    assert_eq!(
        world.done(SERVER, Request::Wait { sockets: vec![server], timeout_ms: Some(5) }),
        Ok(Response::Ready(Vec::new())),
        "until its timeout"
    );
    world.done(CLIENT, Request::SendTo { socket: client, to: HERE, data: b"ping".to_vec() }).unwrap();
    world.poll();
    let Ok(Response::Ready(ready)) =
        world.done(SERVER, Request::Wait { sockets: vec![server], timeout_ms: Some(10) })
    else {
        panic!()
    };
    assert!(ready.iter().any(|readiness| readiness.socket == server && readiness.readable));
    let Ok(Response::Datagram { from, data }) =
        world.done(SERVER, Request::ReceiveFrom { socket: server, max: 100 })
    else {
        panic!()
    };
    assert_eq!(data, b"ping");
    world.done(SERVER, Request::SendTo { socket: server, to: from, data }).unwrap();
    assert_eq!(
        world.done(CLIENT, Request::ReceiveFrom { socket: client, max: 100 }),
        Ok(Response::Datagram { from: HERE, data: b"ping".to_vec() })
    );
}

#[test]
fn the_scope_refuses_naming_the_grant_and_changes_nothing() {
    let mut world = World::new();
    let refused = world.done(SERVER, Request::TcpListen { port: 81, backlog: 1 });
    assert_eq!(
        refused,
        Err(NetError::Denied {
            grant: "the grant \"net listen 7, udp *:*\" gives no tcp listen on port 81".to_string()
        })
    );
    let Err(NetError::Denied { grant }) = world.done(SERVER, Request::Connect { to: HERE }) else { panic!() };
    assert!(grant.ends_with("gives no tcp connect to 10.0.2.15:7"), "{grant}");
    let Err(NetError::Denied { grant }) = world.done(CLIENT, Request::TcpListen { port: 7, backlog: 1 })
    else {
        panic!()
    };
    assert!(grant.contains("gives no tcp listen on port 7"), "{grant}");
    let client = world.socket(CLIENT, Request::UdpBind { port: 0 });
    let elsewhere = Endpoint { address: [10, 0, 2, 3], port: 53 };
    let Err(NetError::Denied { grant }) =
        world.done(CLIENT, Request::SendTo { socket: client, to: elsewhere, data: vec![1] })
    else {
        panic!()
    };
    assert!(grant.contains("udp to 10.0.2.3:53"), "{grant}");
    assert_eq!(world.stack.charged(SERVER), Some(0), "nothing was made");
    // Sockets of another session are not there.
    assert_eq!(world.done(SERVER, Request::Close { socket: client }), Err(NetError::BadSocket));
}

#[test]
fn a_spent_donation_is_refused_and_others_are_still_served() {
    let mut world = World::new();
    world.stack.open_session(3, scope(&["udp *:*"]), 3 * UDP_SOCKET_BYTES);
    for _ in 0..3 {
        world.socket(3, Request::UdpBind { port: 0 });
    }
    assert_eq!(
        world.done(3, Request::UdpBind { port: 0 }),
        Err(NetError::DonationSpent { needed: UDP_SOCKET_BYTES, free: 0 })
    );
    world.socket(CLIENT, Request::UdpBind { port: 0 });
    // Closing the session gives everything back.
    world.stack.close_session(3);
    assert_eq!(world.stack.charged(3), None);
    assert_eq!(world.stack.socket_count(), 1);
    assert!(matches!(world.stack.serve(3, Request::List), Step::Done(Err(NetError::Denied { .. }))));
}

#[test]
fn a_closed_session_takes_its_connections_and_listeners_with_it() {
    let mut world = World::new();
    let listener = world.socket(SERVER, Request::TcpListen { port: 7, backlog: 1 });
    let client = world.socket(CLIENT, Request::Connect { to: HERE });
    world.done(SERVER, Request::Accept { socket: listener }).unwrap();
    world.stack.close_session(SERVER);
    world.poll();
    // The client sees the reset as the end.
    assert_eq!(
        world.done(CLIENT, Request::Receive { socket: client, max: 10 }),
        Ok(Response::Data(Vec::new()))
    );
    // The port is free again.
    world.stack.open_session(SERVER, scope(&["listen 7"]), 64 << 10);
    world.socket(SERVER, Request::TcpListen { port: 7, backlog: 1 });
}

#[test]
fn bad_arguments_are_typed_errors() {
    let mut world = World::new();
    assert_eq!(
        world.done(SERVER, Request::TcpListen { port: 7, backlog: 0 }),
        Err(NetError::InvalidArgument)
    );
    assert_eq!(
        world.done(SERVER, Request::TcpListen { port: 7, backlog: 99 }),
        Err(NetError::InvalidArgument)
    );
    assert_eq!(world.done(SERVER, Request::Accept { socket: 42 }), Err(NetError::BadSocket));
    let long = vec![0; MAX_INLINE_BYTES + 1];
    assert_eq!(world.done(SERVER, Request::Send { socket: 1, data: long }), Err(NetError::InvalidArgument));
    world.socket(SERVER, Request::TcpListen { port: 7, backlog: 1 });
    assert_eq!(world.done(SERVER, Request::TcpListen { port: 7, backlog: 1 }), Err(NetError::AddressInUse));
    let wait = Request::Wait { sockets: vec![1; MAX_WAIT_SOCKETS + 1], timeout_ms: None };
    assert_eq!(world.done(SERVER, wait), Err(NetError::InvalidArgument));
}
