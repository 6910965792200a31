//! Every request, response and error survives the wire; malformed bytes give the typed
//! error; a full inline send and a full wait fit a message.

use alloc::string::ToString;
use alloc::vec;

use userlib::ipc::Message;
use userlib::rpc::{self, RpcError};

use super::*;

const PEER: Endpoint = Endpoint { address: [10, 0, 2, 2], port: 51234 };

fn requests() -> Vec<Request> {
    vec![
        Request::TcpListen { port: 7, backlog: 4 },
        Request::Accept { socket: 1 },
        Request::Connect { to: PEER },
        Request::Send { socket: 2, data: vec![0xAB; MAX_INLINE_BYTES] },
        Request::Receive { socket: 2, max: u32::MAX },
        Request::Shutdown { socket: 2 },
        Request::Close { socket: u32::MAX },
        Request::UdpBind { port: 0 },
        Request::SendTo { socket: 3, to: PEER, data: vec![7; MAX_INLINE_BYTES] },
        Request::ReceiveFrom { socket: 3, max: 1500 },
        Request::Wait {
            sockets: (0..MAX_WAIT_SOCKETS).map(|n| u32::try_from(n).unwrap() * 1000).collect(),
            timeout_ms: Some(u32::MAX),
        },
        Request::Wait { sockets: vec![], timeout_ms: None },
        Request::List,
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::Socket { socket: 1, local: Endpoint { address: [10, 0, 2, 15], port: 7 } },
        Response::Accepted { socket: 4, peer: PEER },
        Response::Sent { count: 1 },
        Response::Data(vec![1; MAX_INLINE_BYTES]),
        Response::Data(vec![]),
        Response::Datagram { from: PEER, data: vec![2; MAX_INLINE_BYTES] },
        Response::Done,
        Response::Closed,
        Response::Ready(vec![Readiness { socket: 4, readable: true, writable: false }]),
        Response::Sockets(vec![SocketInfo {
            socket: 1,
            kind: SocketKind::Listener,
            local: Endpoint { address: [10, 0, 2, 15], port: 7 },
            peer: None,
            state: "Listen".to_string(),
        }]),
    ]
}

fn errors() -> Vec<NetError> {
    vec![
        NetError::Denied { grant: "the grant \"net listen 80\" gives no tcp listen on port 81".to_string() },
        NetError::BadSocket,
        NetError::AddressInUse,
        NetError::DonationSpent { needed: TCP_SOCKET_BYTES, free: 100 },
        NetError::Refused,
        NetError::NotConnected,
        NetError::InvalidArgument,
        NetError::Busy,
        NetError::NoNetwork { why: "no network device".to_string() },
        NetError::Rpc(RpcError::TooLarge),
    ]
}

#[test]
fn every_request_round_trips_in_one_message() {
    for request in requests() {
        let message = rpc::encode_request::<Net>(&request).unwrap();
        assert_eq!(message.label, Net::LABEL);
        assert_eq!(rpc::decode_request::<Net>(&message), Ok(request));
    }
}

#[test]
fn every_answer_round_trips() {
    let results = responses().into_iter().map(Ok).chain(errors().into_iter().map(Err));
    for result in results {
        let message = rpc::encode_reply::<Net>(&result);
        assert_eq!(rpc::decode_reply::<Net>(&message), result);
    }
}

#[test]
fn malformed_requests_are_typed_errors() {
    let message = Message::new(Net::LABEL, &[usize::MAX]);
    assert!(rpc::decode_request::<Net>(&message).is_err());
    let wrong = Message::new(label(*b"FSYS"), &[]);
    assert_eq!(rpc::decode_request::<Net>(&wrong), Err(RpcError::WrongProtocol));
}

#[test]
fn errors_say_what_went_wrong() {
    assert!(NetError::DonationSpent { needed: 1, free: 0 }.to_string().contains("donation is spent"));
    assert_eq!(Endpoint { address: [127, 0, 0, 1], port: 8007 }.to_string(), "127.0.0.1:8007");
}
