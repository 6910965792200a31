//! Every request, response and error survives the wire; malformed bytes give the typed
//! error; the largest page of connections fits one reply.

use alloc::string::ToString;
use alloc::vec;

use grant::{Destination, FsPath, PortRange, ProgramPattern, ServiceKind};

use userlib::ipc::Message;
use userlib::rpc::{self, MAX_PAYLOAD_BYTES, REPLY_LABEL, RpcError};

use super::*;

fn requests() -> Vec<Request> {
    vec![
        Request::Connect { service: "fs".to_string(), rights: Rights::READ.union(Rights::WRITE) },
        Request::Register { service: "net".to_string(), session_bytes: 16384 },
        Request::Revoke { connection: u64::MAX },
        Request::ListConnections { after: 17 },
        Request::LoadPolicy { source: "level(\"secret\");".to_string() },
        Request::Admit { program: "hello".to_string(), parent_connection: 1 << 16 },
        Request::Depart { client: 1000 },
        Request::Notices,
        Request::Subscribe,
        Request::ReadAudit { after: 3 },
    ]
}

fn connection(id: u64) -> ConnectionInfo {
    ConnectionInfo {
        id,
        client: "/bin/httpd".to_string(),
        client_label: "public".to_string(),
        service: "fs".to_string(),
        rights: Rights::READ,
        scope: Scope::fs(FsPath::parse("/www").unwrap(), Rights::READ).unwrap(),
        donation_bytes: 16384,
    }
}

fn responses() -> Vec<Response> {
    vec![
        Response::Connected { connection: 7 },
        Response::Registered,
        Response::Subscribed,
        Response::Revoked,
        Response::Connections { connections: vec![connection(1), connection(2)], more: true },
        Response::PolicyLoaded(PolicyLoaded { kept: 3, revoked: 2, instructions: 123_456 }),
        Response::Admitted { client: 1001, label: "internal{user}".to_string() },
        Response::Departed { closed: 2 },
        Response::Notices { notices: notices(), more: false },
        Response::Audit { records: audit_records(), more: true },
    ]
}

fn errors() -> Vec<SecurityError> {
    vec![
        SecurityError::Denied { rule: "no rule allows httpd → net".to_string() },
        SecurityError::UnknownService,
        SecurityError::NotPermitted,
        SecurityError::NoSuchConnection,
        SecurityError::AlreadyRegistered,
        SecurityError::MissingCapability,
        SecurityError::InvalidPolicy { line: 12, message: "unknown level".to_string() },
        SecurityError::OutOfResources,
        SecurityError::Rpc(RpcError::TooLarge),
        SecurityError::QuotaExceeded { needed: 16384, free: 4096 },
    ]
}

#[test]
fn every_request_round_trips() {
    for request in requests() {
        let message = rpc::encode_request::<Security>(&request).unwrap();
        assert_eq!(message.label, Security::LABEL);
        assert_eq!(rpc::decode_request::<Security>(&message), Ok(request));
    }
}

#[test]
fn every_answer_round_trips() {
    let results = responses().into_iter().map(Ok).chain(errors().into_iter().map(Err));
    for result in results {
        let message = rpc::encode_reply::<Security>(&result);
        assert_eq!(rpc::decode_reply::<Security>(&message), result);
    }
}

fn notices() -> Vec<SessionNotice> {
    vec![
        SessionNotice::Opened {
            connection: 9,
            client_id: 1001,
            rights: Rights::LISTEN,
            client: "/bin/httpd".to_string(),
            label: "public".to_string(),
            scope: Scope::tcp_listen(PortRange::new(80, 80).unwrap()),
            donation_bytes: 65536,
        },
        SessionNotice::Closed { connection: 9 },
    ]
}

fn audit_records() -> Vec<AuditRecord> {
    let events = [
        Audit::Grant {
            connection: 1 << 16,
            client: "/bin/shell".to_string(),
            label: "internal{user}".to_string(),
            service: "console".to_string(),
            rule: "the grant of console to /bin/shell at 37:5".to_string(),
        },
        Audit::Deny {
            client: "/bin/forbidden".to_string(),
            label: "internal{user}".to_string(),
            service: "proc".to_string(),
            rule: "the program is not declared in the policy, so it has no grants".to_string(),
        },
        Audit::Revoke { connection: 1 << 16, why: "revoked at the request of /bin/shell".to_string() },
        Audit::End { connection: 1 << 16, client: "/bin/hold".to_string() },
        Audit::PolicyLoad { hash: "ab".repeat(32), kept: 3, revoked: 1 },
    ];
    events.into_iter().zip(1..).map(|(event, seq)| AuditRecord { seq, event }).collect()
}

#[test]
fn a_page_of_typical_audit_records_fits_a_reply() {
    let page = Response::Audit { records: audit_records(), more: true };
    assert!(rpc::reply_fits::<Security>(&page));
}

#[test]
fn a_page_of_typical_notices_fits_a_reply() {
    let page = Response::Notices { notices: notices().into_iter().cycle().take(8).collect(), more: true };
    assert!(rpc::reply_fits::<Security>(&page));
}

#[test]
fn malformed_bytes_give_the_typed_error() {
    // An unknown request variant.
    let mut message = Message::new(Security::LABEL, &[]);
    message.length = rpc::pack(&[200], &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Security>(&message), Err(RpcError::Malformed));
    // A reply cut short.
    let reply = rpc::encode_reply::<Security>(&Ok(Response::Connected { connection: 1 << 40 }));
    let cut = Message::new(REPLY_LABEL, &reply.words()[..reply.length - 1]);
    assert_eq!(rpc::decode_reply::<Security>(&cut), Err(SecurityError::Rpc(RpcError::Malformed)));
    // A reply that is valid bytes for another type.
    let other = rpc::encode(REPLY_LABEL, &Ok::<u8, u8>(9)).unwrap();
    assert_eq!(rpc::decode_reply::<Security>(&other), Err(SecurityError::Rpc(RpcError::Malformed)));
    // Another protocol's request.
    let other = rpc::encode(rpc::label(*b"XXXX"), &Request::Notices).unwrap();
    assert_eq!(rpc::decode_request::<Security>(&other), Err(RpcError::WrongProtocol));
}

#[test]
fn labels_are_distinct() {
    let labels = [Security::LABEL, REPLY_LABEL, kernel_abi::syscall::FAULT_LABEL];
    for (index, label) in labels.iter().enumerate() {
        assert!(!labels[index + 1..].contains(label));
    }
}

#[test]
fn a_page_of_typical_connections_fits_a_reply() {
    // Servers trim pages with `reply_fits`; a dozen typical entries must fit in one.
    let page = Response::Connections { connections: (1..=12).map(connection).collect(), more: true };
    assert!(rpc::reply_fits::<Security>(&page));
    let too_many = Response::Connections { connections: (1..=40).map(connection).collect(), more: true };
    assert!(!rpc::reply_fits::<Security>(&too_many));
    let policy = Request::LoadPolicy { source: "x".repeat(MAX_PAYLOAD_BYTES - 4) };
    assert!(rpc::fits(&policy));
}

/// The shell's session scopes under `policy/default.rhai`, the largest the shipped policies
/// grant one program for one service, and a net scope with every kind of entry.
fn large_scopes() -> Vec<Scope> {
    let fs =
        |path: &str, rights: &str| Scope::fs(FsPath::parse(path).unwrap(), Rights::parse(rights).unwrap());
    let mut files = fs("/", "read").unwrap();
    for path in ["/home", "/tmp", "/var/cache/a-rather-long-directory-name"] {
        files.merge(&fs(path, "read write create delete").unwrap()).unwrap();
    }
    let mut net = Scope::tcp_listen(PortRange::parse("7000-7001").unwrap());
    for destination in ["*:*", "10.0.0.0/8:443"] {
        net.merge(&Scope::tcp_connect(Destination::parse(destination).unwrap())).unwrap();
        net.merge(&Scope::udp(Destination::parse(destination).unwrap())).unwrap();
    }
    vec![
        files,
        net,
        Scope::spawn(ProgramPattern::parse("/bin/*").unwrap()),
        Scope::plain(ServiceKind::Console, Rights::READ.union(Rights::WRITE)).unwrap(),
        Scope::memory(16 << 20).unwrap(),
    ]
}

#[test]
fn rights_that_name_no_right_do_not_decode() {
    // `Connect { service: "fs", rights: 1 << 12 }`, written by hand: variant 0, the name,
    // then the bits as a varint.
    let mut bytes = vec![0, 2, b'f', b's'];
    bytes.extend_from_slice(&[0x80, 0x20]);
    let mut message = Message::new(Security::LABEL, &[]);
    message.length = rpc::pack(&bytes, &mut message.words).unwrap();
    assert_eq!(rpc::decode_request::<Security>(&message), Err(RpcError::Malformed));
    // The same bytes with a right that exists decode.
    let good = [0, 2, b'f', b's', 0x01];
    message.length = rpc::pack(&good, &mut message.words).unwrap();
    assert_eq!(
        rpc::decode_request::<Security>(&message),
        Ok(Request::Connect { service: "fs".to_string(), rights: Rights::READ })
    );
}

#[test]
fn a_page_of_notices_with_large_scopes_fits_a_reply() {
    let notices: Vec<SessionNotice> = large_scopes()
        .into_iter()
        .cycle()
        // The security server pages notices by 8 (`broker::NOTICE_PAGE`).
        .take(8)
        .zip(1 << 16..)
        .map(|(scope, connection)| SessionNotice::Opened {
            connection,
            client_id: 1001,
            rights: scope.rights(),
            client: "/bin/a-program-with-a-long-name".to_string(),
            label: "internal{user,web}".to_string(),
            scope,
            donation_bytes: 16 << 10,
        })
        .collect();
    let page = Response::Notices { notices: notices.clone(), more: true };
    assert!(rpc::reply_fits::<Security>(&page));
    assert_eq!(rpc::decode_reply::<Security>(&rpc::encode_reply::<Security>(&Ok(page.clone()))), Ok(page));
}
