//! The broker against a small policy: admission and labels, registration, grants and
//! denials naming their rule, revocation rights, a process ending, paging, policy swaps.

use alloc::string::ToString;
use alloc::vec::Vec;

use policy::{ConsoleOp, FsOp, FsPath, Rights, compile};
use security_api::SecurityError;

use crate::broker::{Audit, Broker, Closed, FIRST_SPAWNED_CLIENT};
use security_api::SessionNotice;

/// Two system servers, the shell (which manages), a web server that may read files and
/// write to the console, and a tool with no grants.
const POLICY: &str = r#"
levels(["public", "internal"]);
categories(["user", "web"]);
for name in ["fs", "console", "security", "proc"] {
    program(`/sbin/${name}`);
    trusted_service(name, name, `/sbin/${name}`);
}
program("/bin/shell", label("internal", ["user"]));
program("/bin/httpd", "public{web}");
program("/bin/tool");
grant("/bin/shell", "console", console("read write"));
grant("/bin/shell", "fs", fs("/", "read"));
grant("/bin/shell", "security", load_policy());
grant("/bin/httpd", "fs", fs("/www", "read"));
grant("/bin/httpd", "console", console("write"));
grant("/bin/shell", "proc", spawn_programs(["/bin/*"]));
grant("/bin/shell", "security", read_audit());
"#;

/// The line of [`POLICY`] that the swapped-in policy leaves out: httpd loses the console.
const HTTPD_CONSOLE: &str = "grant(\"/bin/httpd\", \"console\", console(\"write\"));\n";

const FS: u64 = 1;
const CONSOLE: u64 = 2;
const SECURITY: u64 = 3;
const PROC: u64 = 4;
const SHELL: u64 = 10;
const HTTPD: u64 = 11;
const TOOL: u64 = 12;

/// What a session costs (every server here charges the same).
const SESSION_BYTES: u64 = 16 << 10;

/// A payer with plenty of quota.
fn free(_: u64, _: &str, _: u64, _: u64, _: u64) -> Result<(), SecurityError> {
    Ok(())
}

fn rights(text: &str) -> Rights {
    Rights::parse(text).expect("rights")
}

fn path(text: &str) -> FsPath {
    FsPath::normalize(text).expect("path")
}

/// A broker with the servers registered and the three programs admitted.
fn system() -> Broker {
    let mut broker = Broker::new(compile(POLICY).expect("policy compiles").policy);
    for (client, path, service) in [
        (FS, "/sbin/fs", "fs"),
        (CONSOLE, "/sbin/console", "console"),
        (SECURITY, "/sbin/security", "security"),
        (PROC, "/sbin/proc", "proc"),
    ] {
        broker.admit(client, path, None).expect("admit server");
        broker.register(client, service, SESSION_BYTES).expect("register");
        if service != "fs" {
            broker.subscribe(client).expect("registered");
        }
    }
    broker.admit(SHELL, "/bin/shell", None).expect("admit shell");
    broker.admit(HTTPD, "/bin/httpd", Some(SHELL)).expect("admit httpd");
    broker.admit(TOOL, "/bin/tool", Some(SHELL)).expect("admit tool");
    broker
}

#[test]
fn a_granted_connection_is_booked_and_audited() {
    let mut broker = system();
    let granted = broker.connect(HTTPD, "fs", rights("read"), free).expect("httpd may read /www");
    assert_eq!(granted.server, FS);
    assert!(matches!(&granted.audit, Audit::Grant { connection, client, label, service, .. }
        if *connection == granted.id && client == "/bin/httpd" && label == "public{web}" && service == "fs"));
    let (listed, more) = broker.list(SHELL, 0, 10);
    assert!(!more);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client, "/bin/httpd");
    assert_eq!(listed[0].client_label, "public{web}");
    let scope = &listed[0].scope;
    assert_eq!((listed[0].id, listed[0].rights), (granted.id, Rights::READ));
    assert!(scope.allows(&path("/www/index.html"), FsOp::Read), "scope {scope}");
    assert!(!scope.allows(&path("/wwwx"), FsOp::Read), "scope {scope}");
    assert!(!scope.allows(&path("/www/index.html"), FsOp::Write), "scope {scope}");
    assert_eq!(scope.to_string(), "fs /www read");
}

#[test]
fn a_denial_names_the_rule_and_books_nothing() {
    let mut broker = system();
    let (error, audit) = *broker.connect(HTTPD, "fs", rights("read write"), free).expect_err("no write");
    let SecurityError::Denied { rule } = &error else { panic!("{error:?}") };
    assert!(rule.contains("/bin/httpd at 14:1"), "the rule names the grant's line: {rule}");
    assert!(matches!(audit, Audit::Deny { ref client, .. } if client == "/bin/httpd"));
    let (error, _) = *broker.connect(TOOL, "console", rights("write"), free).expect_err("no grant");
    assert!(matches!(error, SecurityError::Denied { .. }));
    let (error, _) = *broker.connect(TOOL, "net", Rights::LISTEN, free).expect_err("nobody serves net");
    assert_eq!(error, SecurityError::UnknownService);
    let (error, _) = *broker.connect(99, "fs", Rights::READ, free).expect_err("not admitted");
    assert_eq!(error, SecurityError::NotPermitted);
    assert_eq!(broker.list(SHELL, 0, 10).0.len(), 0);
}

#[test]
fn only_the_declared_server_registers_once() {
    let mut broker = system();
    assert_eq!(broker.register(TOOL, "fs", 0), Err(SecurityError::NotPermitted), "the policy names /sbin/fs");
    assert_eq!(broker.register(FS, "fs", 0), Err(SecurityError::AlreadyRegistered));
    assert_eq!(broker.register(TOOL, "nosuch", 0), Err(SecurityError::UnknownService));
    assert_eq!(broker.admit(TOOL, "/bin/tool", None), Err(SecurityError::NotPermitted), "ids are not reused");
    assert_eq!(broker.subscribe(TOOL), Err(SecurityError::NotPermitted), "only servers take notices");
}

#[test]
fn revoke_by_owner_or_manager_only() {
    let mut broker = system();
    let web = broker.connect(HTTPD, "fs", rights("read"), free).expect("grant").id;
    let shell = broker.connect(SHELL, "console", rights("read"), free).expect("grant").id;
    assert_eq!(broker.revoke(TOOL, web).map(|_| ()), Err(SecurityError::NotPermitted));
    assert_eq!(broker.revoke(HTTPD, shell).map(|_| ()), Err(SecurityError::NotPermitted));
    let (closed, audit) = broker.revoke(SHELL, web).expect("the shell manages connections");
    assert_eq!(closed, Closed { id: web, donation: SESSION_BYTES });
    assert!(
        matches!(audit, Audit::Revoke { connection, ref why } if connection == web && why.contains("/bin/shell"))
    );
    assert_eq!(broker.revoke(SHELL, web).map(|_| ()), Err(SecurityError::NoSuchConnection));
    assert_eq!(broker.revoke(SHELL, shell).map(|(closed, _)| closed.id), Ok(shell));
}

#[test]
fn an_ending_process_closes_its_connections() {
    let mut broker = system();
    let first = broker.connect(HTTPD, "fs", rights("read"), free).expect("grant").id;
    let second = broker.connect(HTTPD, "console", rights("write"), free).expect("grant").id;
    let kept = broker.connect(SHELL, "fs", rights("read"), free).expect("grant").id;
    assert_eq!(broker.depart(SHELL, HTTPD), Err(SecurityError::NotPermitted), "only the process manager");
    let closed: Vec<u64> = broker.depart(PROC, HTTPD).expect("departs").iter().map(|c| c.id).collect();
    assert_eq!(closed, [first, second]);
    let ids: Vec<u64> = broker.list(SHELL, 0, 10).0.iter().map(|c| c.id).collect();
    assert_eq!(ids, [kept]);
}

#[test]
fn listing_pages_in_id_order() {
    let mut broker = system();
    let ids: Vec<u64> =
        (0..5).map(|_| broker.connect(SHELL, "fs", rights("read"), free).expect("grant").id).collect();
    let (page, more) = broker.list(SHELL, 0, 2);
    assert!(more);
    assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..2]);
    let (page, more) = broker.list(SHELL, ids[3], 2);
    assert!(!more);
    assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), ids[4..]);
}

#[test]
fn a_policy_swap_revokes_what_the_new_policy_forbids_and_decides_new_connections_by_it() {
    let mut broker = system();
    let web_fs = broker.connect(HTTPD, "fs", rights("read"), free).expect("grant").id;
    let web_console = broker.connect(HTTPD, "console", rights("write"), free).expect("grant").id;
    assert!(POLICY.contains(HTTPD_CONSOLE));
    let new = compile(&POLICY.replace(HTTPD_CONSOLE, "")).expect("compiles").policy;
    assert_eq!(broker.swap_policy(HTTPD, new.clone()).map(|_| ()), Err(SecurityError::NotPermitted));
    let swap = broker.swap_policy(SHELL, new.clone()).expect("the shell may load policies");
    assert_eq!(swap.revoked, [Closed { id: web_console, donation: SESSION_BYTES }]);
    assert_eq!((swap.loaded.kept, swap.loaded.revoked), (1, 1));
    assert!(
        matches!(swap.audit.first(), Some(Audit::Revoke { connection, .. }) if *connection == web_console)
    );
    assert!(
        matches!(swap.audit.last(), Some(Audit::PolicyLoad { hash, .. }) if *hash == new.content_hash_hex())
    );
    assert_eq!(broker.list(SHELL, 0, 10).0.iter().map(|c| c.id).collect::<Vec<_>>(), [web_fs]);
    let (error, _) = *broker.connect(HTTPD, "console", rights("write"), free).expect_err("new policy");
    assert!(matches!(error, SecurityError::Denied { .. }), "{error:?}");
    assert_eq!(broker.policy().content_hash_hex(), new.content_hash_hex());
}

#[test]
fn servers_that_take_notices_hear_of_opened_and_closed_sessions() {
    let mut broker = system();
    broker.servers_to_signal();
    let id = broker.connect(HTTPD, "console", rights("write"), free).expect("grant").id;
    let quiet = broker.connect(HTTPD, "fs", rights("read"), free).expect("grant").id;
    assert!(broker.servers_to_signal().is_empty(), "opened sessions wait for the server's first request");
    let (notices, more) = broker.take_notices(CONSOLE, 8);
    assert!(!more);
    assert!(
        matches!(&notices[..], [SessionNotice::Opened { connection, client, client_id, donation_bytes, .. }]
        if *connection == id && client == "/bin/httpd" && *client_id == HTTPD && *donation_bytes == SESSION_BYTES)
    );
    broker.revoke(HTTPD, id).expect("its own");
    broker.revoke(HTTPD, quiet).expect("its own");
    assert_eq!(broker.servers_to_signal().len(), 1);
    assert_eq!(broker.take_notices(CONSOLE, 8).0, [SessionNotice::Closed { connection: id }]);
    assert_eq!(broker.take_notices(CONSOLE, 8).0, []);
    assert_eq!(broker.take_notices(FS, 8).0, []);
}

#[test]
fn a_notice_carries_the_grants_scope_narrowed_to_the_rights_asked_for() {
    let mut broker = system();
    // The shell may read and write the console; it asks only to write.
    let id = broker.connect(SHELL, "console", rights("write"), free).expect("grant").id;
    let (notices, _) = broker.take_notices(CONSOLE, 8);
    let [SessionNotice::Opened { connection, rights: granted, scope, .. }] = &notices[..] else {
        panic!("one opened notice: {notices:?}")
    };
    assert_eq!((*connection, *granted), (id, Rights::WRITE));
    assert!(scope.allows_console(ConsoleOp::Write));
    assert!(!scope.allows_console(ConsoleOp::Read), "narrowed to write: {scope}");
    // The process manager's sessions carry the spawn patterns.
    let spawn = broker.connect(SHELL, "proc", rights("spawn"), free).expect("grant").id;
    let (listed, _) = broker.list(SHELL, 0, 10);
    let proc = listed.iter().find(|c| c.id == spawn).expect("listed");
    assert!(proc.scope.allows_spawn("/bin/hello") && !proc.scope.allows_spawn("/sbin/fs"), "{}", proc.scope);
}

#[test]
fn an_unpaid_session_is_refused_and_booked_nowhere() {
    let mut broker = system();
    broker.servers_to_signal();
    let broke = |_: u64, _: &str, _: u64, bytes: u64, _: u64| {
        Err(SecurityError::QuotaExceeded { needed: bytes, free: 0 })
    };
    let (error, audit) = *broker.connect(HTTPD, "console", rights("write"), broke).expect_err("unpaid");
    assert_eq!(error, SecurityError::QuotaExceeded { needed: SESSION_BYTES, free: 0 });
    assert!(matches!(audit, Audit::Deny { ref rule, .. } if rule.contains("quota")));
    assert!(broker.list(SHELL, 0, 10).0.is_empty());
    assert!(broker.servers_to_signal().is_empty());
}

#[test]
fn the_process_manager_admits_spawned_programs_under_their_parents_label() {
    let mut broker = system();
    assert_eq!(broker.admit_spawned(SHELL, "tool", 0).map(|_| ()), Err(SecurityError::NotPermitted));
    let spawn = broker.connect(SHELL, "proc", rights("spawn"), free).expect("the shell may spawn").id;
    let (child, label) = broker.admit_spawned(PROC, "tool", spawn).expect("admitted");
    assert_eq!(child, FIRST_SPAWNED_CLIENT);
    assert_eq!(broker.path_of(child), Some("/bin/tool"));
    assert_eq!(
        broker.policy().label_text(label).to_string(),
        "internal{user}",
        "a tool inherits the shell's label"
    );
    let console = broker.connect(SHELL, "console", rights("read"), free).expect("grant").id;
    assert_eq!(
        broker.admit_spawned(PROC, "tool", console).map(|_| ()),
        Err(SecurityError::NotPermitted),
        "not a proc session"
    );
    let (next, _) = broker.admit_spawned(PROC, "/bin/httpd", 0).expect("admitted");
    assert_eq!(next, child + 1);
}

#[test]
fn a_program_lists_its_own_connections_and_an_auditor_all() {
    let mut broker = system();
    let web = broker.connect(HTTPD, "fs", rights("read"), free).expect("grant").id;
    let shell = broker.connect(SHELL, "fs", rights("read"), free).expect("grant").id;
    assert_eq!(broker.list(HTTPD, 0, 10).0.iter().map(|c| c.id).collect::<Vec<_>>(), [web]);
    assert_eq!(broker.list(SHELL, 0, 10).0.iter().map(|c| c.id).collect::<Vec<_>>(), [web, shell]);
}
