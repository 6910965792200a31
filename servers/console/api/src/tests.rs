//! Every request, response and error survives the wire; malformed bytes give the typed
//! error; a full chunk fits both ways.

use alloc::vec;

use userlib::ipc::Message;
use userlib::rpc::{self, REPLY_LABEL, RpcError};

use super::*;

#[test]
fn every_request_round_trips() {
    let requests = [
        Request::Write { bytes: b"hello\n".to_vec() },
        Request::Read { max: 128 },
        Request::SetForeground { client: 1007 },
    ];
    for request in requests {
        let message = rpc::encode_request::<Console>(&request).unwrap();
        assert_eq!(message.label, Console::LABEL);
        assert_eq!(rpc::decode_request::<Console>(&message), Ok(request));
    }
}

#[test]
fn every_answer_round_trips() {
    let results = [
        Ok(Response::Written { count: 6 }),
        Ok(Response::Data(vec![b'l', b's', b'\r'])),
        Ok(Response::ForegroundSet),
        Err(ConsoleError::NotForeground),
        Err(ConsoleError::NotPermitted),
        Err(ConsoleError::Busy),
        Err(ConsoleError::Interrupted),
        Err(ConsoleError::Rpc(RpcError::WrongProtocol)),
    ];
    for result in results {
        let message = rpc::encode_reply::<Console>(&result);
        assert_eq!(rpc::decode_reply::<Console>(&message), result);
    }
}

#[test]
fn malformed_bytes_give_the_typed_error() {
    let mut message = Message::new(Console::LABEL, &[]);
    // Write, claiming 100 bytes but carrying 2.
    message.length = rpc::pack(&[0, 100, 1, 2], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Console>(&message), Err(RpcError::Malformed));
    // Read with a u32 varint that never ends.
    message.length = rpc::pack(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Console>(&message), Err(RpcError::Malformed));
    let garbage = Message::new(REPLY_LABEL, &[3, 0x00ff_ffff]);
    assert_eq!(rpc::decode_reply::<Console>(&garbage), Err(ConsoleError::Rpc(RpcError::Malformed)));
}

#[test]
fn a_full_chunk_fits_both_ways() {
    let write = Request::Write { bytes: vec![0xaa; MAX_CHUNK_BYTES] };
    assert!(rpc::fits(&write));
    assert_eq!(rpc::decode_request::<Console>(&rpc::encode_request::<Console>(&write).unwrap()), Ok(write));
    let data = Response::Data(vec![0x55; MAX_CHUNK_BYTES]);
    assert!(rpc::reply_fits::<Console>(&data));
    assert!(!rpc::fits(&Request::Write { bytes: vec![0; rpc::MAX_PAYLOAD_BYTES] }));
}

#[test]
fn the_label_is_its_own() {
    assert!(![REPLY_LABEL, kernel_abi::syscall::FAULT_LABEL].contains(&Console::LABEL));
}
