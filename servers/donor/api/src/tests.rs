//! Every request, response and error survives the wire; malformed bytes give the typed
//! error; a page of processes fits one reply.

use alloc::vec;

use userlib::ipc::Message;
use userlib::rpc::{self, REPLY_LABEL, RpcError};

use super::*;

fn process(pid: u32) -> ProcessMemory {
    ProcessMemory {
        client: u64::from(pid) + 1000,
        pid,
        program: "httpd".into(),
        quota: QuotaInfo { granted: 8 << 20, used: 3 << 20, free: 5 << 20 },
        donated: 64 << 10,
    }
}

#[test]
fn every_request_round_trips() {
    let requests = [
        Request::Grant { client: 1001, pid: 3, program: "hello".into(), bytes: 4 << 20 },
        Request::Report { client: 1001, bytes: 300 << 10 },
        Request::Release { client: 1001 },
        Request::Charge {
            client: 1001,
            program: "/bin/hello".into(),
            connection: 1 << 16,
            bytes: 16384,
            server: 1,
        },
        Request::Take { connection: 1 << 16 },
        Request::Budget { client: 1001 },
        Request::Reclaim { connection: 12 },
        Request::Free { after: 0 },
    ];
    for request in requests {
        let message = rpc::encode_request::<Donor>(&request).unwrap();
        assert_eq!(message.label, Donor::LABEL);
        assert_eq!(rpc::decode_request::<Donor>(&message), Ok(request));
    }
}

#[test]
fn every_answer_round_trips() {
    let results = [
        Ok(Response::Granted { bytes: 4 << 20 }),
        Ok(Response::Reported),
        Ok(Response::Released { bytes: 4 << 20 }),
        Ok(Response::Charged),
        Ok(Response::Taken { bytes: 16384 }),
        Ok(Response::Budget { budget_us: 50_000, period_us: 100_000 }),
        Ok(Response::Reclaimed { bytes: 0 }),
        Ok(Response::Memory(MemoryInfo {
            total: 256 << 20,
            free: 100 << 20,
            per_process: vec![process(1), process(2)],
            more: false,
        })),
        Err(DonorError::QuotaExceeded { free: 12 }),
        Err(DonorError::NoSuchClient),
        Err(DonorError::AlreadyCharged),
        Err(DonorError::NotPermitted),
        Err(DonorError::OutOfMemory),
        Err(DonorError::Rpc(RpcError::Malformed)),
    ];
    for result in results {
        let message = rpc::encode_reply::<Donor>(&result);
        assert_eq!(rpc::decode_reply::<Donor>(&message), result);
    }
}

#[test]
fn malformed_bytes_give_the_typed_error() {
    let mut message = Message::new(Donor::LABEL, &[]);
    // Donate with the byte count missing.
    message.length = rpc::pack(&[1, 12], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Donor>(&message), Err(RpcError::Malformed));
    // Quota with a byte too many.
    message.length = rpc::pack(&[0, 0], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Donor>(&message), Err(RpcError::Malformed));
    let mut reply = Message::new(REPLY_LABEL, &[]);
    // Ok(Memory) with a process list that claims 1000 entries.
    reply.length = rpc::pack(&[0, 5, 1, 1, 0xe8, 0x07], &mut reply.words).unwrap();
    assert_eq!(rpc::decode_reply::<Donor>(&reply), Err(DonorError::Rpc(RpcError::Malformed)));
}

#[test]
fn a_page_of_processes_fits_a_reply() {
    let page = MemoryInfo {
        total: 1 << 30,
        free: 1 << 29,
        per_process: (1..=8)
            .map(|pid| ProcessMemory { program: "a-long-program-name".into(), ..process(pid) })
            .collect(),
        more: true,
    };
    // The donor answers 8 accounts a page (`donor::FREE_PAGE`).
    assert!(rpc::reply_fits::<Donor>(&Response::Memory(page)));
}

#[test]
fn the_label_is_its_own() {
    assert!(![REPLY_LABEL, kernel_abi::syscall::FAULT_LABEL].contains(&Donor::LABEL));
}
