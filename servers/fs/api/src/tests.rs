//! Every request, response and error survives the wire; malformed bytes and unknown flag
//! bits give the typed error; a full inline chunk and a typical directory page fit a
//! message.

use alloc::string::ToString;
use alloc::vec;

use userlib::ipc::Message;
use userlib::rpc::{self, REPLY_LABEL, RpcError};

use super::*;

fn requests() -> Vec<Request> {
    vec![
        Request::Open { path: "/www/index.html".to_string(), flags: OpenFlags::READ },
        Request::Read { handle: 3, into: Place::Inline { max: 512 } },
        Request::Read { handle: 3, into: Place::Shared { offset: 4096, length: 65536 } },
        Request::Write { handle: 4, from: Source::Inline(b"hello".to_vec()) },
        Request::Write { handle: 4, from: Source::Shared { offset: 0, length: 8192 } },
        Request::Seek { handle: 4, to: SeekFrom::End(-3) },
        Request::Seek { handle: 4, to: SeekFrom::Start(u64::MAX) },
        Request::Seek { handle: 4, to: SeekFrom::Current(i64::MIN) },
        Request::Stat { path: "/".to_string() },
        Request::ReadDirectory { path: "/home/user".to_string(), start: 40 },
        Request::MakeDirectory { path: "/home/user/notes".to_string() },
        Request::RemoveDirectory { path: "/tmp/x".to_string() },
        Request::Unlink { path: "/tmp/a file with a long name.txt".to_string() },
        Request::Rename { from: "/tmp/a".to_string(), to: "/home/user/b".to_string() },
        Request::Sync,
        Request::StatFs,
        Request::Close { handle: u32::MAX },
        Request::AttachBuffer { page: 3 },
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::Opened { handle: 1, size: 1 << 32 },
        Response::Data(vec![1, 2, 3]),
        Response::Transferred { count: 65536 },
        Response::Written { count: 5 },
        Response::Position { offset: 77 },
        Response::Status(Metadata {
            name: "index.html".to_string(),
            kind: FileKind::File,
            size: 1234,
            modified: "1980-01-01 00:00:00".to_string(),
        }),
        Response::Directory { entries: listing(3), more: true },
        Response::Done,
        Response::Synced,
        Response::FsStatus(FsStatus {
            fat: FatKind::Fat32,
            cluster_bytes: 4096,
            total_clusters: 65525,
            free_clusters: 100,
            read_only: false,
        }),
        Response::Closed,
        Response::BufferAttached { bytes: MAX_BUFFER_BYTES },
    ]
}

fn errors() -> Vec<FsError> {
    vec![
        FsError::NotFound,
        FsError::Exists,
        FsError::NotADirectory,
        FsError::IsADirectory,
        FsError::NotEmpty,
        FsError::NoSpace,
        FsError::InvalidName { name: "bad:name".to_string() },
        FsError::NameTooLong,
        FsError::ReadOnly,
        FsError::TooManyOpenFiles { open: 16 },
        FsError::BadHandle,
        FsError::Busy,
        FsError::Denied { grant: "fs /www read gives no write at /www/x".to_string() },
        FsError::NoVolume { why: "no FAT boot sector".to_string() },
        FsError::Io,
        FsError::Rpc(RpcError::TooLarge),
        FsError::BadBuffer,
        FsError::DonationSpent { needed: 65536, free: 1024 },
        FsError::InvalidSeek,
        FsError::Corrupted,
        FsError::InvalidFlags,
    ]
}

fn listing(count: usize) -> Vec<DirectoryEntry> {
    (0..count)
        .map(|index| DirectoryEntry {
            name: alloc::format!("a file with a rather long name, number {index:03}.txt"),
            kind: if index % 3 == 0 { FileKind::Directory } else { FileKind::File },
            size: 1 << 20,
        })
        .collect()
}

#[test]
fn every_request_round_trips() {
    for request in requests() {
        let message = rpc::encode_request::<Fs>(&request).unwrap();
        assert_eq!(message.label, Fs::LABEL);
        assert_eq!(rpc::decode_request::<Fs>(&message), Ok(request));
    }
}

#[test]
fn every_answer_round_trips() {
    let results = responses().into_iter().map(Ok).chain(errors().into_iter().map(Err));
    for result in results {
        let message = rpc::encode_reply::<Fs>(&result);
        assert_eq!(rpc::decode_reply::<Fs>(&message), result);
    }
}

#[test]
fn every_flag_combination_round_trips_and_unknown_bits_do_not_decode() {
    for bits in 0..=u8::MAX {
        let request = Request::Open { path: "/a".to_string(), flags: OpenFlags(bits) };
        let message = rpc::encode_request::<Fs>(&request).unwrap();
        let decoded = rpc::decode_request::<Fs>(&message);
        if OpenFlags::from_bits(bits).is_some() {
            assert_eq!(decoded, Ok(request));
        } else {
            assert_eq!(decoded, Err(RpcError::Malformed), "bits {bits:#x}");
        }
    }
    assert!(OpenFlags::READ.union(OpenFlags::WRITE).contains(OpenFlags::WRITE));
    assert!(!OpenFlags::READ.contains(OpenFlags::WRITE));
}

#[test]
fn malformed_bytes_give_the_typed_error() {
    let mut message = Message::new(Fs::LABEL, &[]);
    // An unknown request variant.
    message.length = rpc::pack(&[200], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Fs>(&message), Err(RpcError::Malformed));
    // An inline write claiming 100 bytes and carrying 2.
    message.length = rpc::pack(&[2, 1, 0, 100, 1, 2], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Fs>(&message), Err(RpcError::Malformed));
    // A reply cut short.
    let reply = rpc::encode_reply::<Fs>(&Ok(Response::Opened { handle: 1, size: 1 << 40 }));
    let cut = Message::new(REPLY_LABEL, &reply.words()[..reply.length - 1]);
    assert_eq!(rpc::decode_reply::<Fs>(&cut), Err(FsError::Rpc(RpcError::Malformed)));
    // Another protocol's request.
    let other = rpc::encode(rpc::label(*b"XXXX"), &Request::<String>::Sync).unwrap();
    assert_eq!(rpc::decode_request::<Fs>(&other), Err(RpcError::WrongProtocol));
}

#[test]
fn a_full_inline_chunk_fits_both_ways() {
    let write: Request =
        Request::Write { handle: u32::MAX, from: Source::Inline(vec![0xaa; MAX_INLINE_BYTES]) };
    assert!(rpc::fits(&write));
    let data = Response::Data(vec![0x55; MAX_INLINE_BYTES]);
    assert!(rpc::reply_fits::<Fs>(&data));
    let too_much: Request = Request::Write { handle: 1, from: Source::Inline(vec![0; MAX_PAYLOAD_BYTES]) };
    assert!(!rpc::fits(&too_much));
}

#[test]
fn a_page_of_long_names_fits_a_reply() {
    // The server trims pages with `reply_fits`; a dozen entries with long names fit.
    assert!(rpc::reply_fits::<Fs>(&Response::Directory { entries: listing(12), more: true }));
    assert!(!rpc::reply_fits::<Fs>(&Response::Directory { entries: listing(40), more: true }));
    // One entry with the longest name fits on its own, so every page brings one.
    let longest =
        DirectoryEntry { name: "é".repeat(MAX_NAME_BYTES / 2), kind: FileKind::File, size: u64::MAX };
    assert!(rpc::reply_fits::<Fs>(&Response::Directory { entries: vec![longest], more: true }));
}

#[test]
fn the_label_is_its_own() {
    assert!(![REPLY_LABEL, kernel_abi::syscall::FAULT_LABEL].contains(&Fs::LABEL));
}

/// A request with borrowed paths, as [`FsClient`] sends it.
fn borrowed(request: &Request) -> Request<&str> {
    match request {
        Request::Open { path, flags } => Request::Open { path, flags: *flags },
        Request::Read { handle, into } => Request::Read { handle: *handle, into: *into },
        Request::Write { handle, from } => Request::Write { handle: *handle, from: from.clone() },
        Request::Seek { handle, to } => Request::Seek { handle: *handle, to: *to },
        Request::Stat { path } => Request::Stat { path },
        Request::ReadDirectory { path, start } => Request::ReadDirectory { path, start: *start },
        Request::MakeDirectory { path } => Request::MakeDirectory { path },
        Request::RemoveDirectory { path } => Request::RemoveDirectory { path },
        Request::Unlink { path } => Request::Unlink { path },
        Request::Rename { from, to } => Request::Rename { from, to },
        Request::Sync => Request::Sync,
        Request::StatFs => Request::StatFs,
        Request::Close { handle } => Request::Close { handle: *handle },
        Request::AttachBuffer { page } => Request::AttachBuffer { page: *page },
    }
}

#[test]
fn borrowed_requests_encode_as_the_protocols() {
    for request in requests() {
        let owned = rpc::encode_request::<Fs>(&request).unwrap();
        let sent = rpc::encode(Fs::LABEL, &borrowed(&request)).unwrap();
        assert_eq!((sent.label, sent.words()), (owned.label, owned.words()), "{request:?}");
        assert_eq!(rpc::decode_request::<Fs>(&sent), Ok(request));
    }
}

#[test]
fn file_bytes_keep_the_wire_format_of_a_byte_sequence() {
    // What the protocol was before the bytes went as one string: a plain Vec<u8> field.
    #[derive(serde::Serialize)]
    enum Before {
        #[allow(dead_code)]
        Inline(Vec<u8>),
    }
    let bytes: Vec<u8> = (0..=255).collect();
    let now = postcard::to_allocvec(&crate::Source::Inline(bytes.clone())).unwrap();
    let before = postcard::to_allocvec(&Before::Inline(bytes.clone())).unwrap();
    assert_eq!(now, before);
    let back: crate::Source = postcard::from_bytes(&before).unwrap();
    assert_eq!(back, crate::Source::Inline(bytes));
    let data: crate::Response =
        postcard::from_bytes(&postcard::to_allocvec(&crate::Response::Data(vec![7; 900])).unwrap()).unwrap();
    assert_eq!(data, crate::Response::Data(vec![7; 900]));
}
