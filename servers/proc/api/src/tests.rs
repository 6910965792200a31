//! Every request, response and error survives the wire; malformed bytes give the typed
//! error; a page of processes fits one reply.

use alloc::string::ToString;
use alloc::vec;

use userlib::ipc::Message;
use userlib::rpc::{self, MAX_PAYLOAD_BYTES, REPLY_LABEL, RpcError};

use super::*;

fn requests() -> Vec<Request> {
    vec![
        Request::Spawn {
            program: "/bin/httpd".to_string(),
            args: vec!["--port".to_string(), "80".to_string()],
            env: vec![("HOME".to_string(), "/home".to_string())],
            foreground: false,
        },
        Request::Wait { pid: 3 },
        Request::Kill { pid: u32::MAX },
        Request::List { after: 0 },
        Request::Memory,
    ]
}

fn process(pid: Pid) -> ProcessInfo {
    ProcessInfo {
        pid,
        name: "/bin/httpd".to_string(),
        state: ProcessState::Running,
        label: "public".to_string(),
        quota_bytes: 4 << 20,
        used_bytes: 300_000,
        parent: 1,
    }
}

fn responses() -> Vec<Response> {
    vec![
        Response::Spawned { pid: 4, client: 1004 },
        Response::Exited { pid: 4, status: ExitStatus::Code(-1) },
        Response::Exited {
            pid: 5,
            status: ExitStatus::Faulted { kind: "store page fault".to_string(), pc: 0x11896, address: 0 },
        },
        Response::Exited { pid: 6, status: ExitStatus::Killed },
        Response::Killed,
        Response::Processes {
            processes: vec![process(1), ProcessInfo { state: ProcessState::Exited, ..process(2) }],
            more: false,
        },
        Response::Memory { total_bytes: 60 << 20, free_bytes: 56 << 20 },
    ]
}

fn errors() -> Vec<ProcError> {
    vec![
        ProcError::NoSuchProgram,
        ProcError::BadElf("not RISC-V".to_string()),
        ProcError::NoSuchProcess,
        ProcError::OutOfMemory,
        ProcError::NotPermitted,
        ProcError::ArgumentsTooLong,
        ProcError::AlreadyWaiting,
        ProcError::Rpc(RpcError::Ipc(14)),
        ProcError::TooLarge { bytes: 3 << 20, limit: 2 << 20 },
        ProcError::Unreadable("the device failed".to_string()),
    ]
}

#[test]
fn every_request_round_trips() {
    for request in requests() {
        let message = rpc::encode_request::<Proc>(&request).unwrap();
        assert_eq!(message.label, Proc::LABEL);
        assert_eq!(rpc::decode_request::<Proc>(&message), Ok(request));
    }
}

#[test]
fn every_answer_round_trips() {
    let results = responses().into_iter().map(Ok).chain(errors().into_iter().map(Err));
    for result in results {
        let message = rpc::encode_reply::<Proc>(&result);
        assert_eq!(rpc::decode_reply::<Proc>(&message), result);
    }
}

#[test]
fn malformed_bytes_give_the_typed_error() {
    let mut message = Message::new(Proc::LABEL, &[]);
    // Spawn, program "x", then a truncated argument list.
    message.length = rpc::pack(&[0, 1, b'x', 3, 1], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Proc>(&message), Err(RpcError::Malformed));
    // Invalid UTF-8 in a program name.
    message.length = rpc::pack(&[0, 1, 0xff, 0, 0, 0], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Proc>(&message), Err(RpcError::Malformed));
    let reply = rpc::encode_reply::<Proc>(&Ok(Response::Spawned { pid: 1 << 20, client: 1 << 40 }));
    let cut = Message::new(REPLY_LABEL, &reply.words()[..reply.length - 1]);
    assert_eq!(rpc::decode_reply::<Proc>(&cut), Err(ProcError::Rpc(RpcError::Malformed)));
    let mut unknown = Message::new(REPLY_LABEL, &[]);
    unknown.length = rpc::pack(&[0, 9], &mut unknown.words).unwrap();
    assert_eq!(rpc::decode_reply::<Proc>(&unknown), Err(ProcError::Rpc(RpcError::Malformed)));
}

#[test]
fn the_label_is_its_own() {
    assert!(![REPLY_LABEL, kernel_abi::syscall::FAULT_LABEL].contains(&Proc::LABEL));
}

#[test]
fn pages_and_spawns_fit_a_message() {
    let page = Response::Processes { processes: (1..=15).map(process).collect(), more: true };
    assert!(rpc::reply_fits::<Proc>(&page));
    let long = Request::Spawn {
        program: "/bin/sh".to_string(),
        args: vec!["y".repeat(100); 20],
        env: vec![],
        foreground: true,
    };
    assert!(!rpc::fits(&long));
    assert_eq!(rpc::encode_request::<Proc>(&long).unwrap_err(), RpcError::TooLarge);
    let short = Request::Spawn {
        program: "/bin/sh".to_string(),
        args: vec!["y".repeat(40); 20],
        env: vec![],
        foreground: true,
    };
    assert!(
        rpc::fits(&short) && rpc::encode_request::<Proc>(&short).unwrap().length <= MAX_PAYLOAD_BYTES / 8 + 1
    );
}
